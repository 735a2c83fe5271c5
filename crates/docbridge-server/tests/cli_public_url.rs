//! The command line run beside a server prints Base API URLs at the address that server really
//! serves on, when no public URL is configured: `serve` records it in the registry.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A `docbridge` command with only the configuration given here.
fn docbridge(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
        command.env_remove(key);
    }
    command.env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0");
    command.args(["--data-dir", data_dir.to_str().expect("UTF-8 path")]);
    command
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn integration_add_prints_the_address_the_server_serves_on() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = docbridge(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docbridge starts");
    let stdout = server.stdout.take().expect("piped stdout");
    let _server = Killed(server);
    // The first start prints the default integration's Base API URL, with the port it got.
    let base_api_url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.trim().strip_prefix("Base API URL:").map(|url| url.trim().to_owned()))
        .expect("the first start prints a Base API URL");
    let served = base_api_url.strip_suffix("/webhooks/default").expect("the default integration's URL").to_owned();
    assert_ne!(served, "http://127.0.0.1:8080", "port 0 gives another port than the default");

    let output = docbridge(dir.path())
        .args(["integration", "add", "--name", "Second", "--auth", "apikey", "--json"])
        .output()
        .expect("docbridge integration add runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let added: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(added["base_api_url"], format!("{served}/webhooks/second"));

    // A configured public URL still wins.
    let output = docbridge(dir.path())
        .env("DOCBRIDGE_PUBLIC_URL", "https://docs.example.com")
        .args(["integration", "show", "second", "--json"])
        .output()
        .expect("docbridge integration show runs");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(shown["base_api_url"], "https://docs.example.com/webhooks/second");
}

/// A supervisor that stops reading the server's output (closes the pipe) after the ApiKey line
/// must not stop the server: the lines printed after it are dropped, not a panic.
#[tokio::test]
async fn the_server_serves_on_when_its_output_is_no_longer_read() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = docbridge(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docbridge starts");
    let stdout = server.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let base_api_url = lines
        .find_map(|line| line.trim().strip_prefix("Base API URL:").map(|url| url.trim().to_owned()))
        .expect("the first start prints a Base API URL");
    drop(lines); // The pipe is closed with lines still to come.
    let mut server = Killed(server);
    let health = format!("{}/healthz", base_api_url.strip_suffix("/webhooks/default").expect("default URL"));
    let client = reqwest::Client::new();
    let mut healthy = false;
    for _ in 0..600 {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("docbridge exited with {status} once its output was closed");
        }
        if client.get(&health).send().await.is_ok_and(|r| r.status().is_success()) {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(healthy, "docbridge answers /healthz");
    assert!(server.0.try_wait().expect("the process can be polled").is_none(), "docbridge is still running");
}
