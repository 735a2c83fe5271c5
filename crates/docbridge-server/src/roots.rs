//! Where an integration's library may live (issue #13 finding 10). A folder library serves every
//! file under its root, so a root that is (or holds) the data directory serves `docbridge.db`
//! and its signing keys, and a root that holds or sits inside another integration's root serves
//! that integration's documents to the wrong callers. Roots are compared after resolving
//! symbolic links, so a link cannot disguise a forbidden folder.
//!
//! Checked when an integration is added or its root edited (CLI, admin API, admin page), and
//! again at start for the integrations already registered: one that breaks the rules is not
//! served (its calls fail, with one log line at start saying why) while the others are.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use docbridge_registry::{Integration, Registry, RegistryError};

/// The folder of the data directory where `docbridge integration add` puts a library whose
/// root it is not given (`<data-dir>/libraries/<slug>`).
pub const LIBRARIES_DIR: &str = "libraries";

/// The rules for folder roots: never the data directory or above it, inside it only within
/// the default library's folder (`<data-dir>/documents` unless `[storage] root` says
/// otherwise) or [`LIBRARIES_DIR`], and within `[storage] roots_under` when that is set.
#[derive(Debug, Clone)]
pub struct RootPolicy {
    data_dir: PathBuf,
    default_root: PathBuf,
    roots_under: Option<PathBuf>,
}

impl RootPolicy {
    /// `roots_under` empty means anywhere (outside the data directory).
    pub fn new(data_dir: &Path, default_root: &Path, roots_under: &str) -> Self {
        RootPolicy {
            data_dir: data_dir.to_path_buf(),
            default_root: default_root.to_path_buf(),
            roots_under: (!roots_under.trim().is_empty()).then(|| PathBuf::from(roots_under.trim())),
        }
    }

    /// Checks where a folder root is, on its own.
    pub fn check_placement(&self, root: &Path) -> Result<(), String> {
        let root = resolved(root).map_err(|e| format!("cannot resolve {}: {e}", root.display()))?;
        let data = resolved(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
        let default = resolved(&self.default_root).unwrap_or_else(|_| self.default_root.clone());
        let libraries = data.join(LIBRARIES_DIR);
        if data.starts_with(&root) {
            return Err(format!("{} is or contains the data directory {}", root.display(), data.display()));
        }
        if root.starts_with(&data) && !root.starts_with(&default) && !root.starts_with(&libraries) {
            return Err(format!("{} is inside the data directory {}", root.display(), data.display()));
        }
        if let Some(parent) = &self.roots_under {
            let parent = resolved(parent).unwrap_or_else(|_| parent.clone());
            if !root.starts_with(&parent) {
                return Err(format!("{} is not under {} ([storage] roots_under)", root.display(), parent.display()));
            }
        }
        Ok(())
    }

    /// Checks a root of `kind` for the integration `slug` (new or edited) against the rules and
    /// against the other integrations' roots of the same kind.
    pub fn check(&self, slug: &str, kind: &str, root: &str, others: &[Integration]) -> Result<(), String> {
        if kind == "fs" {
            self.check_placement(Path::new(root))?;
        }
        for other in others.iter().filter(|o| o.slug != slug && o.storage_kind == kind) {
            if overlap(kind, root, &other.storage_root) {
                return Err(format!(
                    "{root} overlaps the library of the integration {:?} ({})",
                    other.slug, other.storage_root
                ));
            }
        }
        Ok(())
    }

    /// As [`RootPolicy::check`], as the registry's input error on the `root` field.
    pub async fn check_new(
        &self,
        registry: &Registry,
        slug: &str,
        kind: &str,
        root: &str,
    ) -> Result<(), RegistryError> {
        let others = registry.integrations().await?;
        self.check(slug, kind, root, &others).map_err(|reason| RegistryError::InvalidInput { field: "root", reason })
    }

    /// The registered integrations that break the rules, with why: each is checked against
    /// the rules and against the integrations registered before it, so of two overlapping
    /// libraries the older one is still served.
    pub async fn refused(&self, registry: &Registry) -> Result<HashMap<i64, String>, RegistryError> {
        let mut all = registry.integrations().await?;
        all.sort_by_key(|i| i.id);
        let mut refused = HashMap::new();
        for (n, integration) in all.iter().enumerate() {
            if integration.storage_kind == "memory" {
                continue;
            }
            let earlier: Vec<Integration> = all[..n].iter().filter(|i| !refused.contains_key(&i.id)).cloned().collect();
            if let Err(reason) =
                self.check(&integration.slug, &integration.storage_kind, &integration.storage_root, &earlier)
            {
                refused.insert(integration.id, format!("integration {:?}: {reason}", integration.slug));
            }
        }
        Ok(refused)
    }
}

/// Whether one root holds the other (or they are the same): folders after resolving links,
/// S3 prefixes and the remote stores' folders and prefixes by their `/`-separated segments.
fn overlap(kind: &str, a: &str, b: &str) -> bool {
    if kind == "fs" {
        let (Ok(a), Ok(b)) = (resolved(Path::new(a)), resolved(Path::new(b))) else { return false };
        return a.starts_with(&b) || b.starts_with(&a);
    }
    let segments = |p: &str| p.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let (a, b) = (segments(a), segments(b));
    a.starts_with(&b) || b.starts_with(&a)
}

/// An absolute path with every symbolic link resolved. A root need not exist yet (it is
/// created when added): its deepest existing ancestor is resolved and the rest appended, with
/// `..` taken lexically (nothing below that ancestor exists to be a link).
fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let base = loop {
        match existing.canonicalize() {
            Ok(base) => break base,
            Err(_) => {
                let Some(parent) = existing.parent() else { return Ok(absolute) };
                rest.push(existing.file_name().map(|n| n.to_owned()));
                existing = parent;
            }
        }
    };
    let mut out = base;
    for name in rest.into_iter().rev() {
        match name {
            Some(name) if Path::new(&name).components().all(|c| matches!(c, Component::Normal(_))) => out.push(name),
            // `file_name` is `None` for a trailing `..`.
            _ => {
                out.pop();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary folder (kept while the first value lives) and its canonical path.
    fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().canonicalize().unwrap();
        (dir, path)
    }

    #[test]
    fn resolves_links_and_missing_folders() {
        let (_dir, real) = canonical_tempdir();
        std::fs::create_dir(real.join("a")).unwrap();
        std::os::unix::fs::symlink(real.join("a"), real.join("link")).unwrap();
        assert_eq!(resolved(&real.join("link/new/deeper")).unwrap(), real.join("a/new/deeper"));
        assert_eq!(resolved(&real.join("a/missing/../x")).unwrap(), real.join("a/x"));
    }

    #[test]
    fn placement_rules() {
        let (_dir, base) = canonical_tempdir();
        let data = base.join("data");
        std::fs::create_dir_all(data.join("documents")).unwrap();
        std::os::unix::fs::symlink(&data, base.join("innocent")).unwrap();
        let policy = RootPolicy::new(&data, &data.join("documents"), "");
        for bad in [data.clone(), base.clone(), base.join("innocent"), data.join("cache"), PathBuf::from("/")] {
            assert!(policy.check_placement(&bad).is_err(), "{} must be refused", bad.display());
        }
        for good in [data.join("documents"), data.join("libraries/team"), base.join("elsewhere")] {
            assert_eq!(policy.check_placement(&good), Ok(()), "{}", good.display());
        }
        let confined = RootPolicy::new(&data, &data.join("documents"), base.join("srv").to_str().unwrap());
        assert!(confined.check_placement(&base.join("srv/team")).is_ok());
        let err = confined.check_placement(&base.join("etc")).unwrap_err();
        assert!(err.contains("roots_under"), "{err}");
    }

    #[test]
    fn overlaps() {
        let (_dir, base) = canonical_tempdir();
        std::fs::create_dir_all(base.join("one/inner")).unwrap();
        std::os::unix::fs::symlink(base.join("one/inner"), base.join("alias")).unwrap();
        let p = |s: &str| base.join(s).display().to_string();
        assert!(overlap("fs", &p("one"), &p("one/inner")));
        assert!(overlap("fs", &p("one/inner"), &p("one")));
        assert!(overlap("fs", &p("alias"), &p("one")), "through a link");
        assert!(!overlap("fs", &p("one"), &p("two")));
        assert!(!overlap("fs", &p("one"), &p("one-more")), "a name prefix is not a folder prefix");
        assert!(overlap("s3", "team/a", "team"));
        assert!(!overlap("s3", "team-a", "team"));
    }
}
