//! Runs the storage conformance suite (`docbridge_storage::suite`) on every adapter of this crate:
//! the filesystem and memory adapters always, and the remote ones (`RemoteStorage`: OpenDAL's
//! stores and SFTP) against each real store that the environment names (`.ci/webdav.sh`,
//! `.ci/sftp.sh`, `.ci/azurite.sh`, `.ci/gcs.sh` write the variables); without them, each of
//! those cases prints that it was skipped.

#[cfg(unix)]
mod fs {
    docbridge_storage::storage_conformance_tests!(async { docbridge_storage::suite::temp_fs() });
}

mod memory {
    docbridge_storage::storage_conformance_tests!(async { (docbridge_storage::MemoryStorage::new(), ()) });
}

/// A library of its own in a real store, for one test, removed when the test ends.
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs", feature = "sftp"))]
mod remote {
    use docbridge_storage::{RemoteConfig, RemoteStorage};

    /// `DOCBRIDGE_TEST_<NAME>`, if set and not empty.
    pub fn var(name: &str) -> Option<String> {
        std::env::var(format!("DOCBRIDGE_TEST_{name}")).ok().filter(|v| !v.is_empty())
    }

    /// Removes the test's folder or prefix from the store.
    pub struct Cleanup(RemoteStorage);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let library = self.0.clone();
            // The test's runtime is ending: a runtime of its own does the removal.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                let _ = runtime.block_on(library.remove_root());
            })
            .join();
        }
    }

    /// Leftovers of interrupted uploads in `.docbridge/tmp/` go once older than the grace
    /// period, and only they: a fresh one stays, and so does everything else.
    #[cfg(any(feature = "webdav", feature = "sftp"))]
    pub async fn sweeps_old_leftovers(config: Option<RemoteConfig>, test: &str) {
        use docbridge_storage::suite::{content, internal, put, stream_of};
        use docbridge_storage::{Storage, TEMP_GRACE, WriteMode};
        let Some((library, _cleanup)) = library(config).await else {
            eprintln!("{test}: skipped: no server");
            return;
        };
        put(&library, "kept.txt", b"kept").await;
        let leftover = internal(&["tmp", "interrupted.upload"]);
        library.write(&leftover, stream_of(b"half".to_vec()), WriteMode::CreateNew, None).await.expect("a leftover");
        // Younger than the grace period: kept, as an upload in progress would be.
        assert_eq!(library.resume_interrupted_operations().await.expect("resuming"), 0);
        assert_eq!(library.sweep_temp(TEMP_GRACE).await.expect("a sweep"), 0);
        assert!(library.stat(&leftover).await.is_ok(), "a fresh leftover was removed");
        // Older than a grace of one second (modification times have whole seconds).
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(library.sweep_temp(std::time::Duration::from_secs(1)).await.expect("a sweep"), 1);
        assert!(library.stat(&leftover).await.is_err(), "the old leftover is still there");
        assert_eq!(content(&library, "kept.txt").await, b"kept");
        assert_eq!(library.list(&docbridge_storage::StoragePath::root()).await.expect("the root").len(), 1);
    }

    /// A fresh library under a unique folder of the store `config` names; `None` without one.
    pub async fn library(config: Option<RemoteConfig>) -> Option<(RemoteStorage, Cleanup)> {
        let config = config?;
        let store = RemoteStorage::connect(&config).expect("the store's configuration");
        let root = format!("conformance-{}", uuid::Uuid::new_v4());
        let library = store.within(&root).expect("a library root");
        library.create_root().await.expect("creating the library's root");
        Some((library.clone(), Cleanup(library)))
    }
}

#[cfg(feature = "webdav")]
mod webdav {
    use super::remote::{library, var};
    use docbridge_storage::{RemoteConfig, Secret};

    /// `WEBDAV` (wsgidav) or `WEBDAV2` (Apache mod_dav).
    pub fn config(server: &str) -> Option<RemoteConfig> {
        Some(RemoteConfig::Webdav {
            endpoint: var(&format!("{server}_ENDPOINT"))?,
            username: var(&format!("{server}_USERNAME")).unwrap_or_default(),
            password: Secret::new(var(&format!("{server}_PASSWORD")).unwrap_or_default()),
        })
    }

    mod wsgidav {
        docbridge_storage::storage_conformance_tests!(super::library(super::config("WEBDAV")));
    }

    mod apache {
        docbridge_storage::storage_conformance_tests!(super::library(super::config("WEBDAV2")));
    }

    /// A move whose answer was lost (the store moved the file, the connection closed before
    /// the client heard it) is retried by OpenDAL, and the retry finds no source: the write
    /// that commits by that move, and a rename, still succeed, on both servers. Without it a
    /// `Replace` failed with "no such file or folder", as it did once in CI under load.
    // Two workers: the library's cleanup blocks one thread while it goes through the proxy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_move_whose_answer_was_lost_is_not_taken_for_a_missing_file() {
        use docbridge_storage::Storage;
        use docbridge_storage::suite::{content, path};

        for server in ["WEBDAV", "WEBDAV2"] {
            let Some(RemoteConfig::Webdav { endpoint, username, password }) = config(server) else {
                eprintln!("a_move_whose_answer_was_lost_is_not_taken_for_a_missing_file: skipped: no {server}");
                continue;
            };
            let (proxy, through) = super::lossy::Proxy::before(&endpoint).await;
            let config = RemoteConfig::Webdav { endpoint: through, username, password };
            let (library, _cleanup) = library(Some(config)).await.expect("a library");

            // Both writes commit by moving the uploaded bytes into place.
            super::lossy::new_file_then_new_version(&library, &proxy, |proxy| proxy.lose_answer_to("MOVE ")).await;
            proxy.lose_answer_to("MOVE ");
            library.rename(&path("new.txt"), &path("moved.txt")).await.unwrap_or_else(|e| {
                panic!("[{server}] a rename whose answer was lost: {e}");
            });
            assert!(proxy.hit(), "[{server}] the proxy lost no answer: the test tested nothing");
            assert_eq!(content(&library, "moved.txt").await, b"second", "[{server}] the renamed file");
            assert!(library.stat(&path("new.txt")).await.is_err(), "[{server}] the old name is gone");
        }
    }

    // Two workers, as the suite's cases: the library's cleanup blocks one thread while it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leftovers_of_interrupted_uploads_are_swept() {
        for server in ["WEBDAV", "WEBDAV2"] {
            super::remote::sweeps_old_leftovers(config(server), "webdav: leftovers_of_interrupted_uploads_are_swept")
                .await;
        }
    }
}

#[cfg(feature = "azblob")]
mod azblob {
    use super::remote::{library, var};
    use docbridge_storage::{RemoteConfig, Secret};

    fn config() -> Option<RemoteConfig> {
        Some(RemoteConfig::Azblob {
            endpoint: var("AZBLOB_ENDPOINT")?,
            container: var("AZBLOB_CONTAINER")?,
            account_name: var("AZBLOB_ACCOUNT_NAME").unwrap_or_default(),
            account_key: Secret::new(var("AZBLOB_ACCOUNT_KEY").unwrap_or_default()),
        })
    }

    docbridge_storage::storage_conformance_tests!(library(config()));

    /// A write that the store took but whose answer was lost on the way back (the connection
    /// closed under the response) is retried by OpenDAL; the store refuses the retry because
    /// the first copy landed. That refusal is the write's own echo, not a conflict: the write
    /// succeeds, for a new file (`If-None-Match: *`) and for a new version (`If-Match`).
    // Two workers: the library's cleanup blocks one thread while it goes through the proxy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_answer_was_lost_is_not_taken_for_a_conflict() {
        use docbridge_storage::suite::{content, path, stream_of};
        use docbridge_storage::{Storage, WriteMode};

        let Some(RemoteConfig::Azblob { endpoint, container, account_name, account_key }) = config() else {
            eprintln!("a_write_whose_answer_was_lost_is_not_taken_for_a_conflict: skipped: no Azurite");
            return;
        };
        // `http://127.0.0.1:PORT/devstoreaccount1`, as `.ci/azurite.sh` writes it.
        let (proxy, through) = super::lossy::Proxy::before(&endpoint).await;
        let config = RemoteConfig::Azblob { endpoint: through, container, account_name, account_key };
        let (library, _cleanup) = library(Some(config)).await.expect("a library");

        // A new file (`If-None-Match: *`), then a new version (`If-Match`).
        super::lossy::new_file_then_new_version(&library, &proxy, |proxy| proxy.lose_next("HTTP/1.1 201")).await;

        // A rename is a copy then a delete on Azure: its copy's answer lost too.
        proxy.lose_next("HTTP/1.1 202");
        library.rename(&path("new.txt"), &path("moved.txt")).await.expect("a rename whose copy's answer was lost");
        assert!(proxy.hit(), "the proxy lost no answer: the test tested nothing");
        assert_eq!(content(&library, "moved.txt").await, b"second");
        assert!(library.stat(&path("new.txt")).await.is_err(), "the old name is gone");
        library
            .write(&path("new.txt"), stream_of(b"second".to_vec()), WriteMode::CreateNew, None)
            .await
            .expect("the old name free again");

        // A real conflict is still one: another writer's file is not taken for this write's.
        let taken = library.write(&path("new.txt"), stream_of(b"third".to_vec()), WriteMode::CreateNew, None).await;
        assert!(matches!(taken, Err(docbridge_storage::StorageError::AlreadyExists(_))), "{taken:?}");
        assert_eq!(content(&library, "new.txt").await, b"second");
    }
}

/// A TCP proxy on 127.0.0.1 that can make one exchange fail the way a network does: it passes
/// bytes both ways and, once armed, closes the client's connection at one point of the next
/// matching exchange. After a lost answer the server has acted on the request and the client
/// never learns it; after a dropped request the server never saw it. Either way the client's
/// retry is what is under test.
#[cfg(any(feature = "azblob", feature = "gcs", feature = "webdav"))]
mod lossy {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use docbridge_storage::suite::{content, path, stream_of};
    use docbridge_storage::{RemoteStorage, Storage, WriteMode};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[derive(Clone, Copy)]
    enum Fault {
        /// Lose the next response whose first bytes are this status line.
        AnswerWithStatus(&'static str),
        /// Lose the answer to the next request whose first bytes are these.
        AnswerTo(&'static str),
        /// Close the connection instead of passing on the next request that starts so.
        Request(&'static str),
    }

    #[derive(Default)]
    struct State {
        armed: Option<Fault>,
        hit: bool,
    }

    pub struct Proxy {
        pub port: u16,
        state: Arc<Mutex<State>>,
    }

    impl Proxy {
        async fn start(upstream: String) -> Proxy {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
            let port = listener.local_addr().expect("its address").port();
            let state = Arc::new(Mutex::new(State::default()));
            let shared = state.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                    tokio::spawn(relay(client, server, shared.clone()));
                }
            });
            Proxy { port, state }
        }

        /// A proxy to the host of `endpoint` (`http://HOST:PORT/path`), and `endpoint` through it.
        pub async fn before(endpoint: &str) -> (Proxy, String) {
            let rest = endpoint.strip_prefix("http://").expect("an http:// endpoint");
            let (upstream, path) = rest.split_once('/').unwrap_or((rest, ""));
            let proxy = Proxy::start(upstream.to_owned()).await;
            let through = format!("http://127.0.0.1:{}/{path}", proxy.port);
            (proxy, through)
        }

        fn arm(&self, fault: Fault) {
            *self.state.lock().unwrap() = State { armed: Some(fault), hit: false };
        }

        /// Loses the next response whose first bytes are `status`.
        pub fn lose_next(&self, status: &'static str) {
            self.arm(Fault::AnswerWithStatus(status));
        }

        /// Loses the answer to the next request that starts with `request` (`"MOVE "`).
        pub fn lose_answer_to(&self, request: &'static str) {
            self.arm(Fault::AnswerTo(request));
        }

        /// Drops the next request that starts with `request`: the server never sees it.
        pub fn drop_request(&self, request: &'static str) {
            self.arm(Fault::Request(request));
        }

        /// Whether the armed fault happened.
        pub fn hit(&self) -> bool {
            self.state.lock().unwrap().hit
        }
    }

    /// Writes `new.txt` (`CreateNew`), then a new version of it (`Replace`), each with the
    /// fault that `arm` sets: both must succeed, the fault must have happened, and the file
    /// must hold what was written.
    pub async fn new_file_then_new_version(library: &RemoteStorage, proxy: &Proxy, arm: impl Fn(&Proxy)) {
        for (mode, bytes) in [(WriteMode::CreateNew, &b"first"[..]), (WriteMode::Replace, &b"second"[..])] {
            arm(proxy);
            let written = library.write(&path("new.txt"), stream_of(bytes.to_vec()), mode, None).await;
            written.unwrap_or_else(|e| panic!("[{}] {mode:?} through a lossy network: {e}", library.kind()));
            assert!(proxy.hit(), "[{}] {mode:?}: the proxy did nothing: the test tested nothing", library.kind());
            assert_eq!(content(library, "new.txt").await, bytes, "[{}] {mode:?}", library.kind());
        }
    }

    /// Whether `chunk` sets off the armed fault `which`; disarms it if so.
    fn fires(state: &Mutex<State>, chunk: &[u8], which: impl Fn(Fault) -> Option<&'static str>) -> bool {
        let mut state = state.lock().unwrap();
        let fires = state.armed.and_then(which).is_some_and(|start| chunk.starts_with(start.as_bytes()));
        if fires {
            *state = State { armed: None, hit: true };
        }
        fires
    }

    async fn relay(client: tokio::net::TcpStream, server: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        // Whether the request in flight on this connection is the one whose answer goes.
        let doomed = Arc::new(AtomicBool::new(false));
        let upward = {
            let (state, doomed) = (state.clone(), doomed.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(n) = client_read.read(&mut buffer).await {
                    let chunk = &buffer[..n];
                    if n == 0 || fires(&state, chunk, |f| if let Fault::Request(r) = f { Some(r) } else { None }) {
                        break;
                    }
                    if fires(&state, chunk, |f| if let Fault::AnswerTo(r) = f { Some(r) } else { None }) {
                        doomed.store(true, Ordering::SeqCst);
                    }
                    if server_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            })
        };
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n) = server_read.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            // HTTP/1.1 without pipelining: a response starts a read of its own, since the next
            // request leaves only once the previous response has been passed on whole.
            let chunk = &buffer[..n];
            let lose = fires(&state, chunk, |f| if let Fault::AnswerWithStatus(s) = f { Some(s) } else { None })
                || (chunk.starts_with(b"HTTP/") && doomed.load(Ordering::SeqCst));
            if lose || client_write.write_all(chunk).await.is_err() {
                break;
            }
        }
        // Dropping both halves closes the client's connection.
        upward.abort();
    }
}

#[cfg(feature = "gcs")]
mod gcs {
    use super::remote::{library, var};
    use docbridge_storage::RemoteConfig;

    fn config() -> Option<RemoteConfig> {
        Some(RemoteConfig::Gcs {
            endpoint: var("GCS_ENDPOINT")?,
            bucket: var("GCS_BUCKET")?,
            credential_file: var("GCS_CREDENTIAL_FILE").unwrap_or_default(),
        })
    }

    docbridge_storage::storage_conformance_tests!(library(config()));

    /// A bucket that does not exist is named as the thing to fix, when the library's root is
    /// created (`integration add`) and when the store is checked (`/readyz`, `doctor`).
    #[tokio::test]
    async fn a_missing_bucket_is_named_in_the_error() {
        use docbridge_storage::{RemoteStorage, Storage};
        let Some(RemoteConfig::Gcs { endpoint, credential_file, .. }) = config() else {
            eprintln!("a_missing_bucket_is_named_in_the_error: skipped: no GCS emulator");
            return;
        };
        let missing = RemoteConfig::Gcs { endpoint, bucket: "docbridge-no-such-bucket".into(), credential_file };
        let store = RemoteStorage::connect(&missing).and_then(|s| s.within("library")).expect("a store");
        for (what, result) in [("create_root", store.create_root().await), ("check", store.check().await)] {
            let error = result.expect_err(what).to_string();
            assert!(error.contains("bucket") && error.contains("exists"), "{what}: {error}");
        }
    }

    /// An upload's last request that never reached the store (the connection closed under it)
    /// is retried by OpenDAL, which first asks the store how much of the upload it holds. Cloud
    /// Storage answers "nothing yet" (308); the emulator completed the upload empty instead,
    /// `.ci/gcs-front.py` now answers as Cloud Storage does. Without that the write failed
    /// ("writer got too much data"), as it did once in CI under load.
    // Two workers: the library's cleanup blocks one thread while it goes through the proxy.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_whose_last_request_was_lost_is_sent_again() {
        let Some(RemoteConfig::Gcs { endpoint, bucket, credential_file }) = config() else {
            eprintln!("an_upload_whose_last_request_was_lost_is_sent_again: skipped: no GCS emulator");
            return;
        };
        let (proxy, through) = super::lossy::Proxy::before(&endpoint).await;
        let (library, _cleanup) =
            library(Some(RemoteConfig::Gcs { endpoint: through, bucket, credential_file })).await.expect("a library");

        // A new file, then a new version: each a resumable upload whose final PUT is dropped.
        super::lossy::new_file_then_new_version(&library, &proxy, |proxy| proxy.drop_request("PUT /upload/")).await;
    }
}

#[cfg(feature = "sftp")]
mod sftp {
    use super::remote::{library, var};
    use docbridge_storage::{RemoteConfig, RemoteStorage, Storage, StorageError, StoragePath};

    /// `.ci/sftp.sh`'s server: the endpoint with the writable folder as its path.
    fn config() -> Option<RemoteConfig> {
        Some(RemoteConfig::Sftp {
            endpoint: format!("{}{}", var("SFTP_ENDPOINT")?, var("SFTP_ROOT").unwrap_or_default()),
            username: var("SFTP_USERNAME").unwrap_or_default(),
            key_file: var("SFTP_KEY_FILE").unwrap_or_default(),
            known_hosts: var("SFTP_KNOWN_HOSTS").unwrap_or_default(),
        })
    }

    docbridge_storage::storage_conformance_tests!(library(config()));

    // Two workers, as the suite's cases: the library's cleanup blocks one thread while it runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leftovers_of_interrupted_uploads_are_swept() {
        super::remote::sweeps_old_leftovers(config(), "sftp: leftovers_of_interrupted_uploads_are_swept").await;
    }

    /// A known_hosts file that does not hold the server's key (another host's key, and a
    /// different key for the right host) makes every call fail: the host is never trusted
    /// silently, and nothing is written.
    #[tokio::test]
    async fn an_unknown_host_key_is_refused() {
        let Some(RemoteConfig::Sftp { endpoint, username, key_file, known_hosts }) = config() else {
            eprintln!("an_unknown_host_key_is_refused: skipped: DOCBRIDGE_TEST_SFTP_ENDPOINT is not set");
            return;
        };
        let real = std::fs::read_to_string(&known_hosts).expect("the server's known_hosts");
        let host = real.split_whitespace().next().expect("a host").to_owned();
        // A well-formed ed25519 key that is not the server's (the key of RFC 8032's test 1).
        let stranger = "AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, contents) in [
            ("empty", String::new()),
            ("other-host", format!("[127.0.0.2]:22 ssh-ed25519 {stranger}\n")),
            ("other-key", format!("{host} ssh-ed25519 {stranger}\n")),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, contents).expect("writing known_hosts");
            let config = RemoteConfig::Sftp {
                endpoint: endpoint.clone(),
                username: username.clone(),
                key_file: key_file.clone(),
                known_hosts: file.display().to_string(),
            };
            let store = RemoteStorage::connect(&config).expect("the configuration");
            let checked = store.check().await;
            let message = match &checked {
                Err(StorageError::Io(e)) => e.to_string(),
                other => panic!("{name}: a host key the file does not hold was accepted: {other:?}"),
            };
            assert!(message.contains("Host key verification failed"), "{name}: {message}");
            let created = store.create_dir(&StoragePath::parse("never").expect("path")).await;
            assert!(created.is_err(), "{name}: a folder was created on an unverified host");
        }
        let probe = RemoteStorage::connect(&config().expect("config")).expect("the configuration");
        assert!(
            matches!(probe.stat(&StoragePath::parse("never").expect("path")).await, Err(StorageError::NotFound(_))),
            "nothing may have been written"
        );
    }
}

/// A store that accepts connections and never answers: every call fails, with an I/O error of
/// kind `TimedOut`, once the configured timeout has passed (it never hangs).
#[cfg(any(feature = "webdav", feature = "sftp"))]
mod hanging_store {
    use std::io::ErrorKind;
    use std::time::Duration;

    use docbridge_storage::{RemoteConfig, RemoteStorage, Storage, StorageError, StoragePath};

    /// A listener on 127.0.0.1 that accepts and holds every connection, silent; it goes with
    /// the test's runtime.
    async fn silent_listener() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        address
    }

    async fn assert_times_out(config: RemoteConfig) {
        let store = RemoteStorage::connect_with_timeout(&config, Duration::from_secs(1)).expect("the configuration");
        let library = store.within("library").expect("a library");
        for (what, result) in [
            ("check", library.check().await),
            ("stat", library.stat(&StoragePath::parse("a.txt").expect("path")).await.map(|_| ())),
        ] {
            match result {
                Err(StorageError::Io(e)) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut, "{} {what}: {e}", config.kind())
                }
                other => panic!("{} {what} on a silent store: {other:?}", config.kind()),
            }
        }
    }

    #[cfg(feature = "webdav")]
    #[tokio::test]
    async fn a_silent_webdav_server_times_out() {
        let address = silent_listener().await;
        assert_times_out(RemoteConfig::Webdav {
            endpoint: format!("http://{address}/dav"),
            username: String::new(),
            password: docbridge_storage::Secret::default(),
        })
        .await;
    }

    #[cfg(feature = "sftp")]
    #[tokio::test]
    async fn a_silent_sftp_server_times_out() {
        let address = silent_listener().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let (key, known_hosts) = (dir.path().join("id"), dir.path().join("known_hosts"));
        std::fs::write(&key, "").expect("a key file");
        std::fs::write(&known_hosts, "").expect("a known_hosts file");
        assert_times_out(RemoteConfig::Sftp {
            endpoint: format!("ssh://{address}"),
            username: "nobody".into(),
            key_file: key.display().to_string(),
            known_hosts: known_hosts.display().to_string(),
        })
        .await;
    }
}
