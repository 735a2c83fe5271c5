//! The data directory's permissions (issue #13 finding 8): the SQLite database holds the
//! link-signing key, the OAuth2 secrets and the admin sessions, so whoever reads it can forge a
//! download link. A fresh directory is made 0700 and a fresh database 0600 (SQLite gives its
//! `-wal` and `-shm` files the database's mode); existing ones are left as the administrator set
//! them, with one warning line each at start when group or others may read them.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The registry database in the data directory, when no `[database] url` is configured.
pub const DATABASE_FILE: &str = "docbridge.db";

/// Permissions of what docbridge creates for itself: the owner's alone.
const PRIVATE_DIR: u32 = 0o700;
const PRIVATE_FILE: u32 = 0o600;

/// Creates `dir` and any missing parents 0700 (the data directory, caches, and library folders
/// docbridge makes, which hold users' documents). An existing folder is not touched.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(PRIVATE_DIR).create(dir)
}

/// The file of a `sqlite://` URL; `None` for other databases and in-memory ones.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:") && !url.contains("mode=memory")).then(|| PathBuf::from(path))
}

/// Creates the database file 0600 if it does not exist yet, before SQLite opens it (SQLite
/// would create it with the umask's 0644, and its `-wal` and `-shm` files with the same mode).
pub fn create_private_database(file: &Path) -> io::Result<()> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(PRIVATE_FILE).open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A path that group or others may read, write or search, with its permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoosePath {
    pub path: PathBuf,
    pub mode: u32,
}

/// The permission bits of a file or folder that group or others may read, write or search, or
/// `None` when only its owner may: the one test for "too open" here and in `docbridge doctor`.
pub fn open_to_others(metadata: &std::fs::Metadata) -> Option<u32> {
    let mode = metadata.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// The data directory and the database's files (with `-wal`, `-shm`, `-journal`) that are open
/// to group or others. Missing files are not reported.
pub fn loose_paths(data_dir: &Path, database: Option<&Path>) -> Vec<LoosePath> {
    let mut paths = vec![data_dir.to_path_buf()];
    if let Some(db) = database {
        paths.push(db.to_path_buf());
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let mode = open_to_others(&std::fs::metadata(&path).ok()?)?;
            Some(LoosePath { path, mode })
        })
        .collect()
}

/// Logs one warning per [`loose_paths`] entry.
pub fn warn_loose(data_dir: &Path, database: Option<&Path>) {
    for loose in loose_paths(data_dir, database) {
        let fix = if loose.path.is_dir() { "chmod 700" } else { "chmod 600" };
        tracing::warn!(
            path = %loose.path.display(),
            mode = format!("{:o}", loose.mode),
            "readable by other users, and it holds (or holds the database with) docbridge's signing keys: {fix} it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn fresh_directories_and_databases_are_private() {
        let base = tempfile::tempdir().unwrap();
        let data = base.path().join("a/b/data");
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&base.path().join("a")), 0o700, "missing parents are made private too");
        let db = data.join(DATABASE_FILE);
        create_private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        assert!(loose_paths(&data, Some(&db)).is_empty());
        // Existing ones are left alone, and reported.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&data).unwrap();
        create_private_database(&db).unwrap();
        assert_eq!(
            loose_paths(&data, Some(&db)),
            [LoosePath { path: data.clone(), mode: 0o755 }, LoosePath { path: db.clone(), mode: 0o644 }]
        );
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o640).open(&wal).unwrap();
        assert_eq!(loose_paths(&data, Some(&db)).len(), 3);
    }

    #[test]
    fn sqlite_files_from_urls() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/d/docbridge.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/d/docbridge.db"))
        );
        assert_eq!(sqlite_file("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
