//! Scale-out (C24): two docbridge processes, each with a data directory of its own, on one
//! database and one S3 bucket, serve the same integration: an `/uploadInit` on one is completed
//! by an `/upload` on the other, a rename on one shows at once in a listing on the other, a
//! search on one finds what was uploaded through the other, an OAuth2 code issued by one is
//! redeemed at the other, `docbridge fsck` beside them agrees with both, and neither keeps
//! anything on its disk but caches.
//!
//! The database is PostgreSQL when `DOCBRIDGE_TEST_POSTGRES_URL` names one (`.ci/postgres.sh`),
//! else a SQLite file the two processes share. S3 is the server named by `DOCBRIDGE_TEST_S3_*`
//! (`.ci/s3.sh`); without one the test prints that it was skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docbridge_registry::{AuthType, DefaultRole, Registry};
use docbridge_server::setup::{self, AddIntegration};
use reqwest::Method;
use serde_json::Value;

use crate::support::oauth_pages;
use crate::support::{Caller, api_call, first_start, send};

/// What the processes share: the database and the bucket, as `DOCBRIDGE_*` variables.
struct Shared {
    env: Vec<(String, String)>,
    database_url: String,
}

/// The S3 server of the environment, as the server's configuration variables.
fn s3_env(prefix: &str) -> Option<Vec<(String, String)>> {
    let var = |name: &str| std::env::var(format!("DOCBRIDGE_TEST_S3_{name}")).ok().filter(|v| !v.is_empty());
    let endpoint = var("ENDPOINT")?;
    let pairs = [
        ("KIND", "s3".to_owned()),
        ("S3__ENDPOINT", endpoint.clone()),
        ("S3__ALLOW_HTTP", endpoint.starts_with("http://").to_string()),
        ("S3__REGION", var("REGION").unwrap_or_else(|| "us-east-1".to_owned())),
        ("S3__BUCKET", var("BUCKET")?),
        ("S3__PREFIX", prefix.to_owned()),
        ("S3__ACCESS_KEY_ID", var("KEY")?),
        ("S3__SECRET_ACCESS_KEY", var("SECRET")?),
    ];
    Some(pairs.into_iter().map(|(k, v)| (format!("DOCBRIDGE_STORAGE__{k}"), v)).collect())
}

impl Shared {
    /// A `docbridge` command on `data_dir` with only the configuration chosen here (nothing
    /// inherited from the test's environment): the shared database and bucket.
    fn command(&self, data_dir: &Path) -> Command {
        let mut command = first_start::docbridge(data_dir);
        command.envs(self.env.iter().cloned());
        command.env("DOCBRIDGE_DATABASE__URL", &self.database_url);
        command
    }
}

/// One `docbridge serve` process.
struct Process {
    child: Child,
    base: String,
    data_dir: PathBuf,
    log: Arc<Mutex<String>>,
}

impl Process {
    /// Starts `docbridge serve` on a port picked by binding and dropping a listener, and polls
    /// `/healthz` until it answers.
    async fn start(shared: &Shared, data_dir: &Path) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut command = shared.command(data_dir);
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("docbridge starts");
        // The log is kept to be shown if the test fails.
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut process =
            Process { child, base: format!("http://127.0.0.1:{port}"), data_dir: data_dir.to_owned(), log };
        let client = reqwest::Client::new();
        for _ in 0..1200 {
            if client.get(format!("{}/healthz", process.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("docbridge exited with {status}:\n{}", process.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docbridge did not become healthy:\n{}", process.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls to one process for one integration.
struct Api<'a> {
    caller: Caller,
    process: &'a Process,
}

impl<'a> Api<'a> {
    fn new(process: &'a Process, slug: &str, key: &str) -> Api<'a> {
        let caller = Caller {
            http: reqwest::Client::new(),
            api: format!("{}/webhooks/{slug}", process.base),
            key: key.to_owned(),
            user: "tester@example.com".to_owned(),
            log: Some(process.log.clone()),
        };
        Api { caller, process }
    }

    /// A call that must answer 200; answers its JSON.
    async fn ok(&self, method: Method, endpoint: &str, query: &[(&str, &str)], body: Option<Vec<u8>>) -> Value {
        let (status, json) = self.caller.call(method, endpoint, query, body).await;
        assert_eq!(status, 200, "{endpoint} {query:?} on {} answered {json}{}", self.process.base, self.caller.log());
        json
    }

    async fn download(&self, id: &str) -> Vec<u8> {
        let caller = &self.caller;
        let request =
            api_call(&caller.http, (&caller.api, &caller.key, &caller.user), Method::GET, "download", &[("id", id)]);
        let reply = send(request).await;
        assert_eq!(reply.status.as_u16(), 200, "download of {id}");
        reply.body.to_vec()
    }

    async fn titles(&self, parent: &str) -> Vec<(String, String)> {
        let listed = self.ok(Method::GET, "files", &[("parentId", parent)], None).await;
        let mut titles: Vec<(String, String)> = listed
            .as_array()
            .expect("a listing is an array")
            .iter()
            .map(|i| (i["title"].as_str().unwrap_or_default().to_owned(), id(i)))
            .collect();
        titles.sort();
        titles
    }
}

fn id(item: &Value) -> String {
    item["id"].as_str().unwrap_or_else(|| panic!("no id in {item}")).to_owned()
}

/// Every file in `dir` and below, relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("readable data directory").map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("below the data directory").display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_serve_one_integration_from_one_database_and_bucket() {
    // Names no other test or earlier run uses: the database and the bucket may be shared.
    let unique: String =
        docbridge_registry::random_id().to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
    let Some(env) = s3_env(&format!("docbridge-tests/scale-out-{unique}")) else {
        eprintln!(
            "two_processes_serve_one_integration: skipped: no S3 server (set DOCBRIDGE_TEST_S3_* or run .ci/s3.sh start)"
        );
        return;
    };
    let shared_dir = tempfile::tempdir().expect("temporary directory");
    let database_url = match std::env::var("DOCBRIDGE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => format!("sqlite://{}?mode=rwc", shared_dir.path().join("shared.db").display()),
    };
    let shared = Shared { env, database_url };

    // An integration of its own (the PostgreSQL database is shared with other tests and runs),
    // registered as an administrator would, stored in S3.
    let registry = Registry::connect(&shared.database_url).await.expect("the database opens");
    let slug = format!("scale-out-{}", &unique[..12]);
    let request = AddIntegration {
        name: format!("Scale-out {unique}"),
        slug: Some(slug.clone()),
        auth: AuthType::ApiKey,
        // Unique too: roots of one registry may not overlap, and other runs' integrations stay.
        root: format!("library-{}", &unique[..12]),
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        default_role: DefaultRole::Editor,
        custom_actions: Vec::new(),
    };
    let (_, credentials) =
        setup::add_integration_of_kind(&registry, "http://127.0.0.1", request, "s3").await.expect("integration");
    let key = credentials.api_key.expect("an ApiKey integration");

    let dir_a = tempfile::tempdir().expect("data directory a");
    let dir_b = tempfile::tempdir().expect("data directory b");
    let a = Process::start(&shared, dir_a.path()).await;
    let b = Process::start(&shared, dir_b.path()).await;
    // By default, one serving thread per core on SQLite; the shared runtime on PostgreSQL,
    // whose pooled connections any request may use (`threads.rs`).
    let expected = if shared.database_url.starts_with("postgres") {
        0
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    for process in [&a, &b] {
        assert_eq!(first_start::serving_threads(process.child.id()).len(), expected, "{}", shared.database_url);
    }
    let (on_a, on_b) = (Api::new(&a, &slug, &key), Api::new(&b, &slug, &key));

    // /uploadInit on one, /upload on the other.
    let init =
        on_a.ok(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "quarterly report.txt")], None).await;
    let file = id(&init);
    let uploaded = on_b.ok(Method::PUT, "upload", &[("id", &file)], Some(b"numbers for the quarter".to_vec())).await;
    assert_eq!(uploaded, serde_json::json!({"result": "success"}));
    assert_eq!(on_a.download(&file).await, b"numbers for the quarter");

    // A rename on one, seen at once in a listing on the other: a file, then a folder.
    let folder = id(&on_b.ok(Method::POST, "createFolder", &[("parentId", "/"), ("name", "Projects")], None).await);
    let inner = id(&on_b.ok(Method::POST, "uploadInit", &[("parentId", &folder), ("filename", "plan.md")], None).await);
    on_b.ok(Method::PUT, "upload", &[("id", &inner)], Some(b"# plan".to_vec())).await;
    // B has looked the file up (and keeps its record in its item cache) before A renames it.
    let title = async |api: &Api, id: &str| api.ok(Method::GET, "metadata", &[("id", id)], None).await["title"].clone();
    assert_eq!(title(&on_b, &file).await, "quarterly report.txt");
    on_a.ok(Method::PUT, "rename", &[("id", &file), ("name", "annual report.txt")], None).await;
    assert_eq!(title(&on_b, &file).await, "annual report.txt", "B's next request sees A's rename");
    on_a.ok(Method::PUT, "rename", &[("id", &folder), ("name", "Archive")], None).await;
    assert_eq!(
        on_b.titles("/").await,
        [("Archive".to_owned(), folder.clone()), ("annual report.txt".to_owned(), file.clone())],
        "B lists A's renames, with the same IDs"
    );
    assert_eq!(on_b.titles(&folder).await, [("plan.md".to_owned(), inner.clone())]);
    assert_eq!(on_b.download(&inner).await, b"# plan");

    // A search on one finds what was uploaded through the other.
    let through_a =
        id(&on_a.ok(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "zebra migration.txt")], None).await);
    on_a.ok(Method::PUT, "upload", &[("id", &through_a)], Some(b"stripes".to_vec())).await;
    let found = on_b.ok(Method::GET, "search", &[("query", "zebra")], None).await;
    let found: Vec<String> = found.as_array().expect("search answers an array").iter().map(id).collect();
    assert_eq!(found, [through_a]);
    let found = on_a.ok(Method::GET, "search", &[("query", "annual")], None).await;
    assert_eq!(found.as_array().map(|items| items.iter().map(id).collect::<Vec<_>>()), Some(vec![file.clone()]));

    // Nothing on either disk but caches.
    for process in [&a, &b] {
        let stray: Vec<String> =
            files_below(&process.data_dir).into_iter().filter(|f| !f.starts_with("cache")).collect();
        assert!(stray.is_empty(), "{} keeps {stray:?} on its disk", process.base);
    }

    // `docbridge fsck`, run as an operator would beside the servers, checks the bucket the
    // servers use: index and storage agree, and nothing is dropped.
    let operator_dir = tempfile::tempdir().expect("operator's data directory");
    let output = shared
        .command(operator_dir.path())
        .args(["fsck", "--integration", &slug, "--json"])
        .output()
        .expect("docbridge fsck runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "fsck: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("fsck --json: {e}: {stdout}"));
    let report = &report[&slug];
    for list in ["indexed", "dropped"] {
        assert_eq!(report[list], serde_json::json!([]), "fsck {list} something on a healthy S3 library: {report}");
    }
    // S3 has no rename: the folder rename copied `plan.md` to a new key, and a copy carries the
    // date of the copy. fsck may bring that date into the index; nothing else may change.
    let updated = report["updated"].as_array().expect("a list of updated items");
    assert!(
        updated.iter().all(|line| line.as_str().is_some_and(|l| l.ends_with(" /Archive/plan.md"))),
        "fsck updated items the renames did not copy: {report}"
    );
    assert_eq!(on_a.download(&file).await, b"numbers for the quarter", "fsck left the files alone");

    // OAuth2 across processes: a user logs in and consents at A, Workfront redeems the code at
    // B, and the bearer token works at both (codes and tokens live in the shared database).
    let oauth_slug = format!("scale-out-oauth-{}", &unique[..12]);
    let redirect_uri = "http://127.0.0.1:9/workfront/callback".to_owned();
    let (_, credentials) = setup::add_integration_of_kind(
        &registry,
        &a.base,
        AddIntegration {
            name: format!("Scale-out OAuth2 {unique}"),
            slug: Some(oauth_slug.clone()),
            auth: AuthType::OAuth2,
            root: format!("oauth-library-{}", &unique[..12]),
            redirect_uris: vec![redirect_uri.clone()],
            request_params: Vec::new(),
            default_role: DefaultRole::Editor,
            custom_actions: Vec::new(),
        },
        "s3",
    )
    .await
    .expect("an OAuth2 integration");
    let (client_id, client_secret) =
        (credentials.client_id.expect("a client ID"), credentials.client_secret.expect("a client secret"));
    let user = format!("ann-{}@example.com", &unique[..12]);
    let password = "correct horse battery staple";
    registry.create_user(&user, &docbridge_auth::hash_password(password).expect("hash")).await.expect("a user");

    let code = oauth_pages::authorization_code(&a.base, &client_id, &redirect_uri, &user, password).await;

    // Redeemed at B.
    let access_token = oauth_pages::access_token(&b.base, &code, &redirect_uri, &client_id, &client_secret).await;
    for process in [&a, &b] {
        let listed = reqwest::Client::new()
            .get(format!("{}/webhooks/{oauth_slug}/files", process.base))
            .query(&[("parentId", "/")])
            .bearer_auth(&access_token)
            .send()
            .await
            .expect("files answers");
        assert_eq!(listed.status().as_u16(), 200, "the bearer token works at {}", process.base);
    }

    // An operator registers an S3 integration from the command line, beside the servers; both
    // serve it at once.
    let cli_slug = format!("scale-out-cli-{}", &unique[..12]);
    let output = shared
        .command(operator_dir.path())
        .args(["integration", "add", "--name", &cli_slug, "--slug", &cli_slug, "--auth", "apikey"])
        .args(["--storage", "s3", "--json"])
        .output()
        .expect("docbridge integration add runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "integration add: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let added: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("integration add --json: {e}: {stdout}"));
    let cli_key = added["api_key"].as_str().expect("an ApiKey");
    let (cli_a, cli_b) = (Api::new(&a, &cli_slug, cli_key), Api::new(&b, &cli_slug, cli_key));
    let note = id(&cli_a.ok(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "note.txt")], None).await);
    cli_a.ok(Method::PUT, "upload", &[("id", &note)], Some(b"in the bucket".to_vec())).await;
    assert_eq!(cli_b.download(&note).await, b"in the bucket");
    assert!(files_below(operator_dir.path()).iter().all(|f| f.starts_with("cache")), "the CLI made no local library");
}
