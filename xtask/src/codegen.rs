//! `cargo xtask codegen`: rewrites the generated files that are committed, `docs/openapi.json`
//! for now, from the code that generates them.
//!
//! The OpenAPI document is built by `docbridge_server::openapi`; xtask does not depend on the
//! server (nothing does, see `docs/ARCHITECTURE.md`), so it asks the server's own drift test to
//! write the file (`UPDATE_GENERATED=1`) and then runs that test again to confirm the result.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable that turns the drift test into a writer.
const UPDATE_VAR: &str = "UPDATE_GENERATED";
/// The test binary and test that compare (or, asked to, write) `docs/openapi.json`.
const OPENAPI_TEST: [&str; 6] =
    ["test", "-p", "docbridge-server", "--test", "it", "openapi::the_committed_document_is_current"];

pub fn run() -> anyhow::Result<()> {
    let root = crate::codegen::workspace_root();
    generate(&root, true)?;
    // Written; now the same test in its checking mode must pass.
    generate(&root, false)?;
    eprintln!("docs/openapi.json is up to date");
    Ok(())
}

/// The workspace's root folder: xtask's own manifest sits one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn generate(root: &Path, write: bool) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(root).args(OPENAPI_TEST);
    if write {
        command.env(UPDATE_VAR, "1");
    } else {
        command.env_remove(UPDATE_VAR);
    }
    eprintln!("$ {}cargo {}", if write { "UPDATE_GENERATED=1 " } else { "" }, OPENAPI_TEST.join(" "));
    let status = command.status()?;
    anyhow::ensure!(status.success(), "the OpenAPI test failed ({status})");
    Ok(())
}
