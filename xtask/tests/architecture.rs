//! Checks the crate dependency arrows of `docs/ARCHITECTURE.md` against `cargo metadata`, and
//! the absences that keep layers apart (only the registry names sea_orm, only the server axum).

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
