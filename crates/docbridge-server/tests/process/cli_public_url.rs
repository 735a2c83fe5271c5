//! The command line run beside a server prints Base API URLs at the address that server really
//! serves on, when no public URL is configured: `serve` records it in the registry. And the
//! server serves on when nobody reads its output any more.

use crate::support::first_start;

use first_start::{FirstStart, docbridge};

#[tokio::test]
async fn integration_add_prints_the_address_the_server_serves_on() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = FirstStart::spawn(dir.path());
    server.wait_healthy().await;
    assert_ne!(server.base, "http://127.0.0.1:8080", "port 0 gives another port than the default");

    let output = docbridge(dir.path())
        .args(["integration", "add", "--name", "Second", "--auth", "apikey", "--json"])
        .output()
        .expect("docbridge integration add runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let added: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(added["base_api_url"], format!("{}/webhooks/second", server.base));

    // A configured public URL still wins.
    let output = docbridge(dir.path())
        .env("DOCBRIDGE_PUBLIC_URL", "https://docs.example.com")
        .args(["integration", "show", "second", "--json"])
        .output()
        .expect("docbridge integration show runs");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(shown["base_api_url"], "https://docs.example.com/webhooks/second");
}

/// A supervisor that does not read the server's output (a closed pipe) must not stop the
/// server: the lines it prints on its first start are dropped, not a panic.
#[tokio::test]
async fn the_server_serves_on_when_its_output_is_no_longer_read() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let mut child = docbridge(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docbridge starts");
    // Closed before the server has printed anything: every line of its first start meets a
    // closed pipe.
    drop(child.stdout.take());
    let mut child = Killed(child);
    first_start::wait_healthy(&mut child.0, &format!("http://127.0.0.1:{port}")).await;
    assert!(child.0.try_wait().expect("the process can be polled").is_none(), "docbridge is still running");
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
