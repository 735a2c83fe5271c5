//! `docbridge user ...`: local users and their roles per integration (C5). Passwords are read
//! from standard input only, so that they never show in `ps` or a shell history.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use docbridge_server::config::Config;
use docbridge_server::setup::{self, Admin, UserView};

use super::print_json;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Register a user (the username Workfront sends, usually an e-mail address).
    Add {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List users with their grants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one user with their grants.
    Show {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's password.
    Passwd {
        username: String,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// Delete a user and their grants.
    Delete {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a user a role in an integration (replacing the one they had there), optionally
    /// confined to a folder, which becomes their root.
    Grant {
        username: String,
        /// The integration's slug.
        #[arg(long)]
        integration: String,
        /// reader (browse and download) or editor (also upload, rename, delete, actions).
        #[arg(long)]
        role: String,
        /// The ID of a folder of the integration (from /files or /metadata) the user is
        /// confined to. IDs may start with `-`.
        #[arg(long, allow_hyphen_values = true)]
        folder: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a user's grant in an integration: they fall back to its default role.
    Revoke {
        username: String,
        #[arg(long)]
        integration: String,
        #[arg(long)]
        json: bool,
    },
}

/// The first line of standard input, without its line ending.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        anyhow::bail!("password: pass --password-stdin and write the password to standard input");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("password: reading standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        anyhow::bail!("password: must not be empty");
    }
    Ok(password)
}

fn print_user(user: &UserView) {
    println!("{}", user.username);
    for grant in &user.grants {
        match &grant.folder {
            Some(folder) => println!("  {:<20} {:<7} folder {folder}", grant.integration, grant.role.as_str()),
            None => println!("  {:<20} {}", grant.integration, grant.role.as_str()),
        }
    }
}

pub async fn run(data_dir: &Path, config: &Config, command: UserCommand) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    let public_url = super::cli_public_url(config, &registry).await;
    let admin = Admin::new(registry, public_url, super::integration::actor());
    match command {
        UserCommand::Add { username, password_stdin, json } => {
            let password = read_password(password_stdin)?;
            let user = admin.add_user(&username, &password).await?;
            if json { print_json(&user)? } else { println!("User {:?} added.", user.username) }
        }
        UserCommand::List { json } => {
            let users = admin.users().await?;
            if json {
                print_json(&users)?;
            } else {
                users.iter().for_each(print_user);
            }
        }
        UserCommand::Show { username, json } => {
            let user = admin.user(&username).await?;
            if json { print_json(&user)? } else { print_user(&user) }
        }
        UserCommand::Passwd { username, password_stdin, json } => {
            let password = read_password(password_stdin)?;
            admin.set_password(&username, &password).await?;
            if json {
                print_json(&serde_json::json!({"status": "updated", "username": username.trim().to_lowercase()}))?;
            } else {
                println!("Password of {:?} changed.", username.trim());
            }
        }
        UserCommand::Delete { username, json } => {
            admin.delete_user(&username).await?;
            if json {
                print_json(&serde_json::json!({"status": "deleted", "username": username.trim().to_lowercase()}))?;
            } else {
                println!("User {:?} deleted.", username.trim());
            }
        }
        UserCommand::Grant { username, integration, role, folder, json } => {
            let role = setup::parse_role(&role)?;
            let grant = admin.grant(&username, &integration, role, folder.as_deref()).await?;
            if json {
                print_json(&grant)?;
            } else {
                let scope = grant.folder.as_deref().map(|f| format!(", confined to folder {f}")).unwrap_or_default();
                println!("{} is {} in {}{scope}.", grant.username, grant.role.as_str(), grant.integration);
            }
        }
        UserCommand::Revoke { username, integration, json } => {
            admin.revoke(&username, &integration).await?;
            if json {
                print_json(
                    &serde_json::json!({"status": "revoked", "username": username.trim().to_lowercase(), "integration": integration}),
                )?;
            } else {
                println!(
                    "{} has no grant in {integration} any more (the integration's default role applies).",
                    username.trim()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::UserCommand;
    use crate::cli::parse;

    /// Item IDs are base64url: one in 64 starts with `-`, and must still be taken as a value.
    #[test]
    fn a_folder_id_may_start_with_a_hyphen() {
        let line = parse::<UserCommand>(&[
            "user",
            "grant",
            "ann@example.com",
            "--integration",
            "team",
            "--role",
            "editor",
            "--folder",
            "-Gg_x",
            "--json",
        ]);
        match line {
            UserCommand::Grant { folder, json, .. } => assert_eq!((folder.as_deref(), json), (Some("-Gg_x"), true)),
            other => panic!("{other:?}"),
        }
    }
}
