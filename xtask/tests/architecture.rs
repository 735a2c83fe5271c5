//! Checks the crate dependency arrows of `docs/ARCHITECTURE.md` against `cargo metadata`, and
//! the absences that keep layers apart (only the registry names sea_orm, only the server axum),
//! and what the library crates' features leave out of a dependent's build (`cargo tree`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Every internal crate and the internal crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("docbridge-protocol", &[]),
    ("docbridge-storage", &["docbridge-protocol"]),
    ("docbridge-registry", &["docbridge-protocol"]),
    ("docbridge-auth", &["docbridge-protocol", "docbridge-registry"]),
    ("docbridge-documents", &["docbridge-protocol", "docbridge-storage", "docbridge-registry", "docbridge-auth"]),
    ("docbridge-client", &["docbridge-protocol"]),
    (
        "docbridge-server",
        &[
            "docbridge-protocol",
            "docbridge-storage",
            "docbridge-registry",
            "docbridge-auth",
            "docbridge-documents",
            "docbridge-client",
        ],
    ),
    ("xtask", &[]),
];

/// External crates that only one internal crate may name (normal dependencies).
const EXCLUSIVE: &[(&str, &str)] = &[
    ("sea-orm", "docbridge-registry"),
    ("sea-orm-migration", "docbridge-registry"),
    ("rusqlite", "docbridge-registry"),
    ("axum", "docbridge-server"),
];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| unreachable!("xtask lives in the workspace"))
}

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// Package name → normal (non-dev, non-build) dependency names.
fn normal_dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = metadata();
    let mut deps = BTreeMap::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let normal: BTreeSet<String> = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().expect("dependency name").to_owned())
            .collect();
        deps.insert(name, normal);
    }
    deps
}

#[test]
fn internal_arrows_are_the_documented_ones() {
    let deps = normal_dependencies();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for (package, uses) in &deps {
        let permitted = allowed
            .get(package.as_str())
            .unwrap_or_else(|| panic!("{package} is not in ALLOWED: add it and to docs/ARCHITECTURE.md"));
        for dep in uses.iter().filter(|d| d.starts_with("docbridge-")) {
            assert!(
                permitted.contains(&dep.as_str()),
                "{package} depends on {dep}, which docs/ARCHITECTURE.md does not allow"
            );
        }
    }
    for (package, _) in ALLOWED {
        assert!(deps.contains_key(*package), "{package} is listed but not in the workspace");
    }
}

#[test]
fn nothing_depends_on_the_server() {
    for (package, uses) in normal_dependencies() {
        assert!(!uses.contains("docbridge-server"), "{package} depends on docbridge-server");
    }
}

#[test]
fn exclusive_external_crates() {
    for (package, uses) in normal_dependencies() {
        for (external, owner) in EXCLUSIVE {
            if uses.contains(*external) {
                assert_eq!(package, *owner, "{package} depends on {external}; only {owner} may");
            }
        }
    }
}

#[test]
fn architecture_doc_names_every_crate() {
    let doc =
        std::fs::read_to_string(workspace_root().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md exists");
    for (package, _) in ALLOWED {
        assert!(doc.contains(&format!("`{package}`")), "docs/ARCHITECTURE.md has no paragraph for `{package}`");
    }
}

/// The contract tags a Rust source cites (`C7`, `C20`): a `C` and digits standing alone, not
/// inside a word or a percent-escape such as `%C0`.
fn cited_tags(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut tags = BTreeSet::new();
    for (i, _) in text.match_indices('C') {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        if before.is_ascii_alphanumeric() || before == b'_' || before == b'%' {
            continue;
        }
        let digits: String = text[i + 1..].chars().take_while(char::is_ascii_digit).collect();
        let after = bytes.get(i + 1 + digits.len()).copied().unwrap_or(b' ');
        if digits.is_empty() || after.is_ascii_alphanumeric() || after == b'_' {
            continue;
        }
        tags.insert(format!("C{digits}"));
    }
    tags
}

fn rust_sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn cited_contract_tags_are_decided_in_protocol_md() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/protocol.md")).expect("docs/protocol.md exists");
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "fuzz"] {
        rust_sources(&workspace_root().join(dir), &mut files);
    }
    let mut checked = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for tag in cited_tags(&text) {
            let anchor = format!("<a id=\"{}\"></a>**{tag}.", tag.to_lowercase());
            assert!(doc.contains(&anchor), "{} cites {tag}, which docs/protocol.md does not define", file.display());
            checked.insert(tag);
        }
    }
    assert!(checked.len() > 20, "the sources cite the contract's tags: {checked:?}");
}

#[test]
fn tags_are_told_from_percent_escapes() {
    let cited = cited_tags("C7 and (C20), C3. but not %C0%AF, ABC1, C1x or NC2");
    assert_eq!(cited, BTreeSet::from(["C20".to_owned(), "C3".to_owned(), "C7".to_owned()]));
}

/// The packages `cargo tree` lists for these arguments, as `name vX.Y.Z` (duplicates removed).
fn tree(args: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["tree", "--prefix", "none", "--format", "{p}", "--offline"])
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split(" (").next())
        .map(|package| package.trim().to_owned())
        .filter(|package| !package.is_empty())
        .collect()
}

fn names_matching<'a>(packages: &'a BTreeSet<String>, prefixes: &[&str]) -> Vec<&'a String> {
    packages.iter().filter(|p| prefixes.iter().any(|prefix| p.starts_with(prefix))).collect()
}

/// What a program that keeps documents on disk must not build: S3's client, any AWS crate, an
/// HTTP client or a TLS stack.
const REMOTE_STACK: &[&str] = &["object_store ", "aws-", "reqwest ", "hyper ", "rustls "];

/// A new project that depends on `docbridge-storage` with its default features gets the
/// filesystem and in-memory adapters only (issue #18). `cargo tree -p` resolves features for that
/// package alone, as a dependent project's build would.
#[test]
fn storage_defaults_build_no_cloud_or_tls_stack() {
    let default = tree(&["-p", "docbridge-storage", "-e", "normal"]);
    assert!(default.iter().any(|p| p.starts_with("docbridge-storage ")), "{default:?}");
    let found = names_matching(&default, REMOTE_STACK);
    assert!(found.is_empty(), "docbridge-storage's default features pull {found:?}: put them behind a feature");
    // The check can fail: with `s3` the same query finds the S3 stack.
    let s3 = tree(&["-p", "docbridge-storage", "-e", "normal", "--features", "s3"]);
    assert!(!names_matching(&s3, &["object_store "]).is_empty(), "with `s3`, object_store is expected: {s3:?}");
}

/// `docbridge-auth` without its default `registry` feature (signing, secrets, password hashing)
/// builds no database.
#[test]
fn auth_without_registry_builds_no_database() {
    let bare = tree(&["-p", "docbridge-auth", "-e", "normal", "--no-default-features"]);
    let found = names_matching(&bare, &["docbridge-registry ", "sea-orm ", "sqlx ", "rusqlite "]);
    assert!(found.is_empty(), "docbridge-auth --no-default-features pulls {found:?}");
    let full = tree(&["-p", "docbridge-auth", "-e", "normal"]);
    assert!(!names_matching(&full, &["sea-orm "]).is_empty(), "with `registry`, sea-orm is expected: {full:?}");
}

/// One rustls crypto provider in the whole build (every member, every target's dependencies):
/// aws-lc-rs, which reqwest and object_store bring; ring must not come back through a default
/// feature (sea-orm's `runtime-tokio-rustls`, rustls' or rcgen's defaults).
#[test]
fn one_crypto_provider() {
    let all = tree(&["--workspace"]);
    assert!(
        names_matching(&all, &["ring "]).is_empty(),
        "ring is in the build: `cargo tree --workspace -i ring` says who pulls it"
    );
    assert!(!names_matching(&all, &["aws-lc-rs "]).is_empty(), "aws-lc-rs is the expected provider: {all:?}");
}
