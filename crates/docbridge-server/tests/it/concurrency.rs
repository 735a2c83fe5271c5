//! Many clients changing one folder at once over real HTTP (issue #8): 16 clients × 25
//! operations (uploads with clashing names, content replacements, renames onto names others
//! want, deletes, listings, searches). Afterwards no name is listed twice, every acknowledged
//! upload reads back with its bytes under its last acknowledged name, nothing unacknowledged
//! appears, and `Library::fsck` finds the index and storage in agreement.

use crate::support::{Caller, in_process};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use in_process::InProcess;
use reqwest::Method;

const CLIENTS: usize = 16;
const OPERATIONS: usize = 25;
/// Few names for many clients, so that they collide.
const NAMES: u64 = 8;

/// The server the clients share.
async fn start_server() -> InProcess {
    // Above the number of clients: this test is about correctness, not the upload limit.
    InProcess::start("concurrency", |settings| settings.max_concurrent_uploads = CLIENTS * 2).await
}

/// A client of `server`, acting as its own user.
fn client(server: &InProcess, n: usize) -> Caller {
    Caller {
        http: reqwest::Client::new(),
        api: server.api.clone(),
        key: server.key.clone(),
        user: format!("client-{n}@example.com"),
        log: None,
    }
}

/// What one client knows it owns: acknowledged items, with their last acknowledged name and bytes.
#[derive(Debug, Default)]
struct Owned {
    items: BTreeMap<String, (String, Vec<u8>)>,
    conflicts: usize,
    requests: usize,
}

/// A small deterministic generator, so that a failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn bytes_for(client: usize, op: usize) -> Vec<u8> {
    let len = 1 + (client * 997 + op * 131) % 20_000;
    (0..len).map(|i| ((i * 7 + client * 13 + op) % 251) as u8).collect()
}

async fn run_client(client: Caller, n: usize, folder: String) -> Owned {
    let mut owned = Owned::default();
    let mut rng = Lcg(n as u64 + 1);
    for op in 0..OPERATIONS {
        let own: Vec<String> = owned.items.keys().cloned().collect();
        let choice = if own.is_empty() { 0 } else { rng.next(10) };
        match choice {
            // Upload a new file under a name others also use.
            0..=3 => {
                let name = format!("doc-{}.txt", rng.next(NAMES));
                let (status, init) =
                    client.call(Method::POST, "uploadInit", &[("parentId", &folder), ("filename", &name)], None).await;
                assert_eq!(status, 200, "uploadInit {name}: {init}");
                let id = init["id"].as_str().unwrap().to_owned();
                let title = init["title"].as_str().unwrap().to_owned();
                let bytes = bytes_for(n, op);
                let (status, body) = client.call(Method::PUT, "upload", &[("id", &id)], Some(bytes.clone())).await;
                owned.requests += 2;
                match status {
                    200 => {
                        owned.items.insert(id, (title, bytes));
                    }
                    // The reserved name was taken by a rename meanwhile (docs/protocol.md).
                    409 => owned.conflicts += 1,
                    other => panic!("upload {title}: {other} {body}"),
                }
            }
            // Replace the content of one of our files.
            4 => {
                let id = &own[rng.next(own.len() as u64) as usize];
                let bytes = bytes_for(n, op + 1000);
                let (status, body) = client.call(Method::PUT, "upload", &[("id", id)], Some(bytes.clone())).await;
                owned.requests += 1;
                assert_eq!(status, 200, "replacing {id}: {body}");
                if let Some(item) = owned.items.get_mut(id) {
                    item.1 = bytes;
                }
            }
            // Rename one of ours onto a name others want.
            5 | 6 => {
                let id = own[rng.next(own.len() as u64) as usize].clone();
                let name = format!("doc-{}.txt", rng.next(NAMES));
                let (status, body) = client.call(Method::PUT, "rename", &[("id", &id), ("name", &name)], None).await;
                owned.requests += 1;
                match status {
                    200 => {
                        if let Some(item) = owned.items.get_mut(&id) {
                            item.0 = name;
                        }
                    }
                    409 => owned.conflicts += 1,
                    other => panic!("rename to {name}: {other} {body}"),
                }
            }
            // Delete one of ours.
            7 => {
                let id = own[rng.next(own.len() as u64) as usize].clone();
                let (status, body) = client.call(Method::PUT, "delete", &[("documentId", &id)], None).await;
                owned.requests += 1;
                assert_eq!(status, 200, "delete {id}: {body}");
                owned.items.remove(&id);
            }
            // Read while others write.
            8 => {
                let (status, listing) = client.call(Method::GET, "files", &[("parentId", &folder)], None).await;
                owned.requests += 1;
                assert_eq!(status, 200);
                let titles: Vec<&str> =
                    listing.as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
                let unique: BTreeSet<&str> = titles.iter().copied().collect();
                assert_eq!(unique.len(), titles.len(), "a listing taken mid-run shows a name twice: {titles:?}");
            }
            _ => {
                let (status, found) =
                    client.call(Method::GET, "search", &[("query", "doc"), ("parentId", &folder)], None).await;
                owned.requests += 1;
                assert_eq!(status, 200, "{found}");
            }
        }
    }
    owned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_in_one_folder_lose_nothing_and_duplicate_nothing() {
    let server = start_server().await;
    let setup_client = client(&server, usize::MAX);
    let (status, folder) =
        setup_client.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "arena")], None).await;
    assert_eq!(status, 200);
    let folder = folder["id"].as_str().unwrap().to_owned();

    let work = async {
        let tasks: Vec<_> =
            (0..CLIENTS).map(|n| tokio::spawn(run_client(client(&server, n), n, folder.clone()))).collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await.unwrap());
        }
        all
    };
    // A guard against a deadlock only: the run takes seconds.
    let results =
        tokio::time::timeout(Duration::from_secs(600), work).await.expect("the clients finished (no deadlock)");

    let expected: HashMap<String, (String, Vec<u8>)> = results.iter().flat_map(|o| o.items.clone()).collect();
    let requests: usize = results.iter().map(|o| o.requests).sum();
    let conflicts: usize = results.iter().map(|o| o.conflicts).sum();
    assert!(requests >= CLIENTS * OPERATIONS, "{requests} requests");
    eprintln!("concurrency: {requests} requests, {conflicts} name conflicts, {} items kept", expected.len());

    let (status, listing) = setup_client.call(Method::GET, "files", &[("parentId", &folder)], None).await;
    assert_eq!(status, 200);
    let listing = listing.as_array().unwrap().clone();
    let titles: Vec<&str> = listing.iter().map(|i| i["title"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = titles.iter().copied().collect();
    assert_eq!(unique.len(), titles.len(), "no name is listed twice: {titles:?}");
    let listed: HashMap<&str, &str> =
        listing.iter().map(|i| (i["id"].as_str().unwrap(), i["title"].as_str().unwrap())).collect();
    let listed_ids: BTreeSet<&str> = listed.keys().copied().collect();
    let expected_ids: BTreeSet<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(listed_ids, expected_ids, "exactly the acknowledged, undeleted items are listed");
    for (id, (name, bytes)) in &expected {
        assert_eq!(listed[id.as_str()], name, "{id} has its last acknowledged name");
        let response = reqwest::Client::new()
            .get(format!("{}/download", server.api))
            .query(&[("id", id)])
            .header("apiKey", &server.key)
            .header("username", "reader@example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.bytes().await.unwrap() == *bytes, "{name} reads back with its last acknowledged bytes");
    }

    // Storage agrees: the folder on disk holds exactly the listed names, and no temporary file.
    let on_disk: BTreeSet<String> = std::fs::read_dir(server.documents().join("arena"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(on_disk, unique.iter().map(|t| (*t).to_owned()).collect::<BTreeSet<_>>());
    let tmp = server.documents().join(".docbridge/tmp");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0, "no temporary file is left behind");

    // And so does the index: fsck has nothing to add, drop or update.
    let integration = server.registry.integration("default").await.unwrap().unwrap();
    let report = server.state.library(&integration).unwrap().fsck().await.unwrap();
    assert!(report.is_clean(), "fsck after the run: {report:?}");
}
