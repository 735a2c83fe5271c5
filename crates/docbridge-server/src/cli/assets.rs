//! `docbridge generate-assets DIR` (hidden): the man pages and shell completions that the Debian
//! package and the tarball ship, generated from the command line's own definition so that they
//! never drift from it. `cargo xtask dist` runs it on the binary it packages.

use std::path::Path;

use anyhow::Context;
use clap_complete::Shell;

/// Writes `DIR/man/docbridge.1` (and one page per subcommand, `docbridge-serve.1` ...) and
/// `DIR/completions/` for bash, zsh and fish.
pub fn write(command: clap::Command, dir: &Path) -> anyhow::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    for folder in [&man, &completions] {
        std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    }
    clap_mangen::generate_to(command.clone(), &man).with_context(|| format!("cannot write {}", man.display()))?;
    let mut command = command;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command, "docbridge", &completions)
            .with_context(|| format!("cannot write the {shell} completion in {}", completions.display()))?;
    }
    Ok(())
}
