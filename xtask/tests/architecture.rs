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
