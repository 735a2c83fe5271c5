//! One chaos run: the setup, the clients and their operations, the faults, and the checks at
//! the end (see the module above for what is checked).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::Value;

use super::cluster::{Node, Services};
use super::model::{self, Anomaly, Entry, Id, Kind, Model, Op, Placed, Seen, State};
use super::{Options, Setup};
use crate::soak::{Answer, encode_query, read_answer};

/// A bound on each client's loop besides the clock.
const MAX_STEPS_PER_CLIENT: u64 = 10_000_000;
/// Attempts to look at an item until one look gets every answer it needs.
const LOOK_ATTEMPTS: usize = 240;
/// Items a client keeps live at most.
const MAX_LIVE_PER_CLIENT: usize = 150;
/// Largest file a client uploads.
const MAX_FILE: usize = 48 * 1024;
/// How long the S3 server is paused.
const S3_PAUSE: Duration = Duration::from_secs(4);
/// After a dependency outage ends, how long a 5xx is still put down to it.
const OUTAGE_GRACE: Duration = Duration::from_secs(15);

/// A derived seed, so that every client and the fault schedule draw from a stream of their own.
fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Every folder's listing, by the folder's ID.
type Tree = BTreeMap<Id, Vec<Entry>>;

/// What a call came to.
enum Reply {
    Answer(Answer),
    /// Nothing reached the server (connection refused): nothing can have changed.
    NotSent,
    /// Sent, then the connection failed or timed out: the server may have acted.
    Cut(String),
}

/// What every thread of the run shares.
struct Shared {
    started: Instant,
    seed: u64,
    key: String,
    addrs: Vec<SocketAddr>,
    ops: Mutex<Vec<Op>>,
    seq: AtomicU64,
    anomalies: Mutex<Vec<Anomaly>>,
    /// When the first anomaly was found, in milliseconds from the start.
    first_anomaly_ms: Mutex<Option<u64>>,
    /// (node, from, to, what) of every 5xx.
    server_errors: Mutex<Vec<(usize, Instant, Instant, String)>>,
    /// Dependency outages (PostgreSQL restarting, S3 paused): from, to.
    outages: Mutex<Vec<(Instant, Instant)>>,
    counts: Mutex<BTreeMap<String, u64>>,
    cli: CliCommand,
}

/// How to run a `docbridge` command beside the servers (trash restore, fsck).
struct CliCommand {
    binary: PathBuf,
    data_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl CliCommand {
    fn run(&self, args: &[&str]) -> Result<Value, String> {
        let mut command = std::process::Command::new(&self.binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DOCBRIDGE_") {
                command.env_remove(name);
            }
        }
        let output = command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.env.iter().cloned())
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!("{}: {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }
}

/// One call of the provider API, as `Shared::call` sends it.
#[derive(Clone, Copy)]
struct Request<'a> {
    method: &'static str,
    endpoint: &'a str,
    query: &'a [(&'a str, &'a str)],
    body: &'a [u8],
}

impl<'a> Request<'a> {
    fn new(method: &'static str, endpoint: &'a str, query: &'a [(&'a str, &'a str)]) -> Self {
        Request { method, endpoint, query, body: b"" }
    }

    fn with_body(self, body: &'a [u8]) -> Self {
        Request { body, ..self }
    }
}

impl Shared {
    fn ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn log(&self, client: usize, what: String, ids: Vec<Id>, outcome: String) {
        let op = Op { seq: self.seq.fetch_add(1, Ordering::Relaxed), client, at_ms: self.ms(), what, ids, outcome };
        self.ops.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }

    fn count(&self, what: &str) {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()).entry(what.to_owned()).or_default() += 1;
    }

    fn anomaly(&self, anomaly: Anomaly) {
        let ms = self.ms();
        eprintln!("chaos: ANOMALY (seed {}) at +{ms} ms: {} {:?}", self.seed, anomaly.message, anomaly.ids);
        self.first_anomaly_ms.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(ms);
        self.anomalies.lock().unwrap_or_else(|e| e.into_inner()).push(anomaly);
    }

    /// One call on a fresh connection: a kept-alive one to a process killed since would make
    /// every failure ambiguous.
    fn call(&self, node: usize, request: Request<'_>) -> Reply {
        let Request { method, endpoint, query, body } = request;
        let target = format!("/webhooks/default/{endpoint}?{}", encode_query(query));
        let from = Instant::now();
        let reply = exchange(self.addrs[node], &self.key, method, &target, body);
        if let Reply::Answer(answer) = &reply
            && answer.status >= 500
        {
            let what =
                format!("{method} {endpoint} {query:?}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
            self.server_errors.lock().unwrap_or_else(|e| e.into_inner()).push((node, from, Instant::now(), what));
        }
        reply
    }
}

fn exchange(addr: SocketAddr, key: &str, method: &str, target: &str, body: &[u8]) -> Reply {
    let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else { return Reply::NotSent };
    let sent = (|| -> std::io::Result<Answer> {
        // Longer than the servers' request timeout and the S3 pause together.
        stream.set_read_timeout(Some(Duration::from_secs(90)))?;
        stream.set_write_timeout(Some(Duration::from_secs(90)))?;
        let mut stream = std::io::BufReader::new(stream);
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\napiKey: {key}\r\nusername: chaos@example.com\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.get_mut().write_all(head.as_bytes())?;
        stream.get_mut().write_all(body)?;
        read_answer(&mut stream)
    })();
    match sent {
        Ok(answer) => Reply::Answer(answer),
        Err(e) => Reply::Cut(e.to_string()),
    }
}

fn json(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

fn kind_of(value: &Value) -> Kind {
    if value["kind"].as_str() == Some("folder") { Kind::Folder } else { Kind::File }
}

fn entries_of(answer: &Answer) -> Option<Vec<Entry>> {
    let list = json(answer);
    list.as_array().map(|items| {
        items
            .iter()
            .map(|i| Entry {
                id: i["id"].as_str().unwrap_or_default().to_owned(),
                name: i["title"].as_str().unwrap_or_default().to_owned(),
                kind: kind_of(i),
            })
            .collect()
    })
}

/// What a mutation came to.
enum Outcome {
    Ack(Answer),
    /// A 4xx: refused, nothing changed.
    Refused(Answer),
    Uncertain,
}

/// One client: its folders, its model, its random stream.
struct Client {
    n: usize,
    rng: StdRng,
    model: Model,
    shared: Arc<Shared>,
    /// Its own folder and the two its move actions target (`c<n>/a`, `c<n>/b`); never renamed,
    /// moved or deleted.
    fixed: [Id; 3],
    counter: u64,
    /// A `/createFolder` whose answer was lost: its ID shows in the first listing of `parent`,
    /// or never.
    unknown_folders: Vec<(Id, String)>,
}

impl Client {
    fn node(&mut self) -> usize {
        self.rng.random_range(0..self.shared.addrs.len())
    }

    fn other_node(&mut self, than: usize) -> usize {
        let count = self.shared.addrs.len();
        if count == 1 { 0 } else { (than + self.rng.random_range(1..count)) % count }
    }

    fn bytes(&mut self) -> Vec<u8> {
        let len = self.rng.random_range(1..=MAX_FILE);
        let mut bytes = vec![0; len];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    fn log(&self, what: String, ids: Vec<Id>, outcome: String) {
        self.shared.log(self.n, what, ids, outcome);
    }

    fn anomaly(&mut self, anomaly: Anomaly) {
        for id in &anomaly.ids {
            self.model.quarantine(id);
        }
        self.shared.anomaly(anomaly);
    }

    /// A mutation through `node`; while nothing is sent (the process is down), through another.
    fn mutate(&mut self, what: &str, ids: &[Id], mut node: usize, request: Request<'_>) -> Outcome {
        for attempt in 0..40 {
            match self.shared.call(node, request) {
                Reply::NotSent => {
                    node = self.other_node(node);
                    if attempt > 2 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                Reply::Cut(e) => {
                    self.log(format!("{what} via {node}"), ids.to_vec(), format!("cut: {e}"));
                    self.shared.count("uncertain");
                    return Outcome::Uncertain;
                }
                Reply::Answer(answer) if (200..300).contains(&answer.status) => {
                    self.log(format!("{what} via {node}"), ids.to_vec(), format!("{}", answer.status));
                    self.shared.count(what.split(' ').next().unwrap_or(what));
                    return Outcome::Ack(answer);
                }
                Reply::Answer(answer) if answer.status >= 500 || answer.status == 408 => {
                    let e = format!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
                    self.log(format!("{what} via {node}"), ids.to_vec(), e.clone());
                    self.shared.count("uncertain");
                    return Outcome::Uncertain;
                }
                Reply::Answer(answer) if answer.status == 429 => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Reply::Answer(answer) => {
                    self.log(
                        format!("{what} via {node}"),
                        ids.to_vec(),
                        format!("{} {}", answer.status, String::from_utf8_lossy(&answer.body)),
                    );
                    self.shared.count("refused");
                    return Outcome::Refused(answer);
                }
            }
        }
        self.log(what.to_owned(), ids.to_vec(), "no process answered".into());
        Outcome::Refused(Answer { status: 0, headers: HashMap::new(), body: Vec::new() })
    }

    /// A read through `node`, `None` unless answered.
    fn read(&mut self, node: usize, endpoint: &str, query: &[(&str, &str)]) -> Option<Answer> {
        match self.shared.call(node, Request::new("GET", endpoint, query)) {
            Reply::Answer(a) if a.status < 500 && a.status != 408 && a.status != 429 => Some(a),
            _ => None,
        }
    }

    /// A listing of `folder` through `node`: `Some(None)` for a 404.
    fn list(&mut self, node: usize, folder: &str) -> Option<Option<Vec<Entry>>> {
        let answer = self.read(node, "files", &[("parentId", folder)])?;
        match answer.status {
            200 => entries_of(&answer).map(Some),
            404 => Some(None),
            _ => None,
        }
    }

    /// Checks a listing of an own folder, adopting a folder whose creation's answer was lost.
    fn check_listing(&mut self, folder: &str, entries: &[Entry]) {
        let pending: Vec<(Id, String)> = self.unknown_folders.iter().filter(|(p, _)| p == folder).cloned().collect();
        for (parent, name) in pending {
            if let Some(e) =
                entries.iter().find(|e| e.name == name && e.kind == Kind::Folder && !self.model.knows(&e.id))
            {
                let placed = Placed {
                    parent: parent.clone(),
                    name: name.clone(),
                    kind: Kind::Folder,
                    content: None,
                    name_may_vary: false,
                };
                self.model.acknowledged(&e.id, State::Live(placed));
                self.log(format!("adopt folder {name:?}"), vec![e.id.clone()], "created".into());
            }
            self.unknown_folders.retain(|(p, n)| !(p == &parent && n == &name));
        }
        for anomaly in self.model.check_listing(folder, entries) {
            self.anomaly(anomaly);
        }
    }

    /// One look at `id` through `node`: metadata, the bytes of a file, the listing of every
    /// folder it may be in. `None` unless every call was answered.
    fn look(&mut self, node: usize, id: &str) -> Option<Seen> {
        self.look_with(node, id, None)
    }

    /// A look that takes the listings from `tree` (a walk through the same process) when given.
    fn look_with(&mut self, node: usize, id: &str, tree: Option<&Tree>) -> Option<Seen> {
        let mut seen = Seen::default();
        let answer = self.read(node, "metadata", &[("id", id)])?;
        match answer.status {
            200 => {
                let meta = json(&answer);
                seen.metadata = Some((meta["title"].as_str().unwrap_or_default().to_owned(), kind_of(&meta)));
            }
            404 => {}
            _ => return None,
        }
        let may_be_file = seen.metadata.as_ref().is_some_and(|(_, k)| *k == Kind::File)
            || self.model.candidates(id).iter().any(|c| c.live().is_some_and(|p| p.kind == Kind::File));
        if may_be_file {
            let answer = self.read(node, "download", &[("id", id)])?;
            if answer.status == 200 {
                seen.content = Some(model::digest(&answer.body));
            }
        }
        for parent in self.model.parents_to_look_into(id) {
            if let Some(tree) = tree {
                let names = tree.get(&parent).into_iter().flatten().filter(|e| e.id == id).map(|e| e.name.clone());
                seen.listed.insert(parent.clone(), names.collect());
                continue;
            }
            let listing = self.list(node, &parent)?;
            let entries = listing.unwrap_or_default();
            seen.listed.insert(parent.clone(), entries.iter().filter(|e| e.id == id).map(|e| e.name.clone()).collect());
            if self.model.owns_folder(&parent) && self.model.settled(&parent).is_some_and(|s| s.live().is_some()) {
                self.check_listing(&parent, &entries);
            }
        }
        Some(seen)
    }

    /// Looks at `id` until a look is complete, and checks it against the model.
    fn verify(&mut self, id: &str, avoid: Option<usize>) {
        for attempt in 0..LOOK_ATTEMPTS {
            let node = match avoid {
                Some(n) if attempt == 0 => self.other_node(n),
                _ => self.node(),
            };
            if self.model.is_quarantined(id) {
                return;
            }
            if let Some(seen) = self.look(node, id) {
                if let Err(mut anomaly) = self.model.observe(id, &seen) {
                    anomaly.message = format!("through process {node}: {}", anomaly.message);
                    // A second look tells a state that the first look's own calls completed
                    // (still a finding: the first call should have) from one that stays wrong.
                    match self.look(node, id).map(|again| self.model.observe(id, &again)) {
                        Some(Ok(())) => {
                            anomaly.message.push_str("; a second look right after matched the model (transient)");
                            self.shared.anomaly(anomaly);
                        }
                        _ => {
                            anomaly.message.push_str("; a second look did not match either");
                            self.anomaly(anomaly);
                        }
                    }
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A random settled item that `filter` accepts; the filter is given the model, so that it can
    /// look at other items (a folder's children, a parent) while `pick` holds `self`.
    fn pick(&mut self, filter: impl Fn(&Model, &Id, &State) -> bool) -> Option<(Id, State)> {
        let fixed = self.fixed.clone();
        let choices = self.model.settled_where(|_| true);
        let choices: Vec<_> = choices
            .into_iter()
            .filter(|(id, s)| !fixed.contains(id) && !self.model.is_quarantined(id) && filter(&self.model, id, s))
            .collect();
        if choices.is_empty() {
            return None;
        }
        Some(choices[self.rng.random_range(0..choices.len())].clone())
    }

    fn pick_folder(&mut self) -> Id {
        let folders: Vec<Id> = self
            .model
            .settled_where(|s| s.live().is_some_and(|p| p.kind == Kind::Folder))
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| self.model.owns_folder(id) && !self.model.is_quarantined(id))
            .collect();
        if folders.is_empty() {
            return self.fixed[0].clone();
        }
        folders[self.rng.random_range(0..folders.len())].clone()
    }

    fn fresh_name(&mut self, prefix: &str, ext: &str) -> String {
        self.counter += 1;
        format!("c{} {prefix} {}{ext}", self.n, self.counter)
    }

    fn step(&mut self) {
        let live = self.model.settled_where(|s| s.live().is_some()).len();
        match self.rng.random_range(0..100) {
            // Bounded, so that a long run's final checks stay short: past it, uploads delete.
            0..20 if live >= MAX_LIVE_PER_CLIENT => self.delete(),
            0..20 => self.upload_new(),
            20..30 => self.new_version(),
            30..42 => self.rename(),
            42..52 => self.move_item(),
            52..58 => self.create_folder(),
            58..66 => self.delete(),
            66..70 => self.restore(),
            70..82 => {
                let folder = self.pick_folder();
                let node = self.node();
                if let Some(Some(entries)) = self.list(node, &folder) {
                    self.shared.count("list");
                    self.check_listing(&folder, &entries);
                }
            }
            82..88 => self.search(),
            _ => self.download(),
        }
    }

    fn upload_new(&mut self) {
        let folder = self.pick_folder();
        let taken: Vec<String> = {
            let mut names: Vec<String> = self.model.names_in(&folder).into_iter().collect();
            names.sort();
            names
        };
        // Now and then a name already taken: the default policy must give a free one.
        let name = if !taken.is_empty() && self.rng.random_bool(0.15) {
            taken[self.rng.random_range(0..taken.len())].clone()
        } else {
            self.fresh_name("file", ".bin")
        };
        let init_node = self.node();
        let init = self.mutate(
            &format!("uploadInit {name:?} in {folder}"),
            std::slice::from_ref(&folder),
            init_node,
            Request::new("POST", "uploadInit", &[("parentId", &folder), ("filename", &name)]),
        );
        let Outcome::Ack(answer) = init else {
            if let Outcome::Refused(a) = init {
                self.unexpected_refusal("uploadInit", &[folder], &a);
            }
            return;
        };
        let meta = json(&answer);
        let (Some(id), Some(title)) =
            (meta["id"].as_str().map(str::to_owned), meta["title"].as_str().map(str::to_owned))
        else {
            self.anomaly(Anomaly { ids: vec![folder], message: format!("uploadInit answered no id or title: {meta}") });
            return;
        };
        if !model::is_free_variant(&name, &title) || (title != name && !taken.contains(&name)) {
            self.anomaly(Anomaly {
                ids: vec![id.clone()],
                message: format!("uploadInit of {name:?} named it {title:?}"),
            });
        }
        if self.model.knows(&id) {
            self.anomaly(Anomaly { ids: vec![id.clone()], message: "uploadInit answered an ID already in use".into() });
            return;
        }
        self.log(format!("reserved {title:?} in {folder}"), vec![id.clone()], "200".into());
        self.model.acknowledged(&id, State::Reserved { parent: folder.clone(), name: title.clone() });
        let bytes = self.bytes();
        let node = self.other_node(init_node);
        let after = State::Live(Placed {
            parent: folder,
            name: title,
            kind: Kind::File,
            content: Some(model::digest(&bytes)),
            name_may_vary: false,
        });
        self.put_content("upload", &id, node, &bytes, after);
    }

    /// Sends `bytes` as the content of `id` through `node`, for `what`; success makes it `after`.
    fn put_content(&mut self, what: &str, id: &Id, node: usize, bytes: &[u8], after: State) {
        let query = [("id", id.as_str())];
        let request = Request::new("PUT", "upload", &query).with_body(bytes);
        self.finish(&format!("{what} {} bytes", bytes.len()), id, node, request, after);
    }

    /// Sends a mutation of `id` whose success makes it `after`, records the outcome in the
    /// model and checks it at once through another process.
    fn finish(&mut self, what: &str, id: &Id, node: usize, request: Request<'_>, after: State) {
        match self.mutate(what, std::slice::from_ref(id), node, request) {
            Outcome::Ack(answer) => {
                let failure = json(&answer)["status"].as_str() == Some("failure");
                if failure {
                    self.anomaly(Anomaly {
                        ids: vec![id.clone()],
                        message: format!("{what}: 200 but failure: {}", String::from_utf8_lossy(&answer.body)),
                    });
                    return;
                }
                self.model.acknowledged(id, after);
            }
            Outcome::Refused(answer) => {
                self.unexpected_refusal(what, std::slice::from_ref(id), &answer);
                return;
            }
            Outcome::Uncertain => self.model.uncertain(id, after),
        }
        self.verify(id, Some(node));
    }

    fn unexpected_refusal(&mut self, what: &str, ids: &[Id], answer: &Answer) {
        if answer.status == 0 {
            return;
        }
        self.anomaly(Anomaly {
            ids: ids.to_vec(),
            message: format!("{what} refused: {} {}", answer.status, String::from_utf8_lossy(&answer.body)),
        });
    }

    fn new_version(&mut self) {
        let Some((id, State::Live(p))) = self.pick(|_, _, s| s.live().is_some_and(|p| p.kind == Kind::File)) else {
            return;
        };
        let bytes = self.bytes();
        let node = self.node();
        let after = State::Live(Placed { content: Some(model::digest(&bytes)), ..p });
        self.put_content("new version", &id, node, &bytes, after);
    }

    fn rename(&mut self) {
        let Some((id, State::Live(p))) = self.pick(|_, _, s| s.live().is_some()) else { return };
        let siblings: Vec<String> = {
            let mut names: Vec<String> = self.model.names_in(&p.parent).into_iter().filter(|n| *n != p.name).collect();
            names.sort();
            names
        };
        let node = self.node();
        if !siblings.is_empty() && self.rng.random_bool(0.1) {
            // A taken name: 409, and nothing changes.
            let name = siblings[self.rng.random_range(0..siblings.len())].clone();
            let what = format!("rename to taken {name:?}");
            match self.mutate(
                &what,
                std::slice::from_ref(&id),
                node,
                Request::new("PUT", "rename", &[("id", &id), ("name", &name)]),
            ) {
                Outcome::Refused(a) if a.status == 409 || a.status == 0 => {}
                Outcome::Refused(a) => self.unexpected_refusal(&what, std::slice::from_ref(&id), &a),
                Outcome::Ack(a) => self.anomaly(Anomaly {
                    ids: vec![id.clone()],
                    message: format!("{what} was accepted: {}", String::from_utf8_lossy(&a.body)),
                }),
                Outcome::Uncertain => {}
            }
            self.verify(&id, Some(node));
            return;
        }
        let ext = if p.kind == Kind::File { ".bin" } else { "" };
        let name = self.fresh_name("renamed", ext);
        let after = State::Live(Placed { name: name.clone(), ..p });
        self.finish(
            &format!("rename to {name:?}"),
            &id,
            node,
            Request::new("PUT", "rename", &[("id", &id), ("name", &name)]),
            after,
        );
    }

    fn move_item(&mut self) {
        let Some((id, State::Live(p))) = self.pick(|_, _, s| s.live().is_some()) else { return };
        let (action, target) =
            if self.rng.random_bool(0.5) { ("a", self.fixed[1].clone()) } else { ("b", self.fixed[2].clone()) };
        let name = format!("to-{}-{action}", self.n);
        let taken = self.model.names_in(&target).contains(&p.name);
        let after = if p.parent == target {
            State::Live(p)
        } else {
            State::Live(Placed { parent: target, name_may_vary: taken, ..p })
        };
        let node = self.node();
        self.finish(
            &format!("move ({name})"),
            &id,
            node,
            Request::new("GET", "customAction", &[("name", &name), ("id", &id)]),
            after,
        );
    }

    fn create_folder(&mut self) {
        let parent = self.pick_folder();
        let name = self.fresh_name("folder", "");
        let node = self.node();
        match self.mutate(
            &format!("createFolder {name:?} in {parent}"),
            std::slice::from_ref(&parent),
            node,
            Request::new("POST", "createFolder", &[("parentId", &parent), ("name", &name)]),
        ) {
            Outcome::Ack(answer) => {
                let meta = json(&answer);
                let Some(id) = meta["id"].as_str().map(str::to_owned) else {
                    self.anomaly(Anomaly {
                        ids: vec![parent],
                        message: format!("createFolder answered no id: {meta}"),
                    });
                    return;
                };
                if self.model.knows(&id) {
                    self.anomaly(Anomaly {
                        ids: vec![id],
                        message: "createFolder answered an ID already in use".into(),
                    });
                    return;
                }
                self.log(format!("folder {name:?} in {parent}"), vec![id.clone()], "200".into());
                self.model.acknowledged(
                    &id,
                    State::Live(Placed { parent, name, kind: Kind::Folder, content: None, name_may_vary: false }),
                );
                self.verify(&id, Some(node));
            }
            Outcome::Refused(a) => self.unexpected_refusal("createFolder", &[parent], &a),
            Outcome::Uncertain => {
                self.unknown_folders.push((parent.clone(), name));
                for _ in 0..LOOK_ATTEMPTS {
                    let node = self.node();
                    if let Some(Some(entries)) = self.list(node, &parent) {
                        self.check_listing(&parent, &entries);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
    }

    fn delete(&mut self) {
        // Files, and folders the model knows to be empty.
        let picked =
            self.pick(|model, id, s| s.live().is_some_and(|p| p.kind == Kind::File || model.children_of(id) == 0));
        let Some((id, State::Live(p))) = picked else { return };
        let node = self.node();
        self.finish("delete", &id, node, Request::new("PUT", "delete", &[("id", &id)]), State::Deleted { was: p });
    }

    fn restore(&mut self) {
        let picked = self.pick(|model, _, s| match s {
            State::Deleted { was } => model.settled(&was.parent).is_some_and(|s| s.live().is_some()),
            _ => false,
        });
        let Some((id, State::Deleted { was })) = picked else { return };
        // Restoring is an administrator's command, beside the servers (no HTTP endpoint).
        let listed = match self.shared.cli.run(&["trash", "list", "--json"]) {
            Ok(list) => list,
            Err(e) => {
                self.log("trash list".into(), vec![id.clone()], format!("failed: {e}"));
                return;
            }
        };
        let entries: Vec<&Value> = listed
            .as_array()
            .map(|a| a.iter().filter(|e| e["item_id"].as_str() == Some(id.as_str())).collect())
            .unwrap_or_default();
        let [entry] = entries.as_slice() else {
            self.anomaly(Anomaly {
                ids: vec![id.clone()],
                message: format!("{} trash entries for one deleted item", entries.len()),
            });
            return;
        };
        let trash_id = entry["trash_id"].as_str().unwrap_or_default().to_owned();
        let taken = self.model.names_in(&was.parent).contains(&was.name);
        match self.shared.cli.run(&["trash", "restore", &trash_id, "--json"]) {
            Ok(done) => {
                let name = done["name"].as_str().unwrap_or_default().to_owned();
                self.log("trash restore".into(), vec![id.clone()], format!("restored as {name:?}"));
                self.shared.count("restore");
                if !model::is_free_variant(&was.name, &name) {
                    self.anomaly(Anomaly {
                        ids: vec![id.clone()],
                        message: format!("restored {:?} as {name:?}", was.name),
                    });
                    return;
                }
                self.model.acknowledged(&id, State::Live(Placed { name, name_may_vary: false, ..was }));
            }
            Err(e) => {
                self.log("trash restore".into(), vec![id.clone()], format!("failed: {e}"));
                self.shared.count("uncertain");
                self.model.uncertain(&id, State::Live(Placed { name_may_vary: taken, ..was }));
            }
        }
        self.verify(&id, None);
    }

    fn search(&mut self) {
        let Some((id, State::Live(p))) = self.pick(|_, _, s| s.live().is_some()) else { return };
        let node = self.node();
        let Some(answer) = self.read(node, "search", &[("query", &p.name), ("parentId", &self.fixed[0].clone())])
        else {
            return;
        };
        self.shared.count("search");
        let Some(results) = entries_of(&answer) else {
            self.anomaly(Anomaly { ids: vec![id], message: format!("search answered {}", answer.status) });
            return;
        };
        let mut seen = std::collections::HashSet::new();
        for result in &results {
            if !seen.insert(result.id.clone()) {
                self.anomaly(Anomaly {
                    ids: vec![result.id.clone()],
                    message: format!("search for {:?} listed it twice", p.name),
                });
            }
            if let Some(State::Live(q)) = self.model.settled(&result.id)
                && q.name != result.name
            {
                let message =
                    format!("search for {:?} found it as {:?}; the model says {:?}", p.name, result.name, q.name);
                self.anomaly(Anomaly { ids: vec![result.id.clone()], message });
            }
        }
    }

    fn download(&mut self) {
        let Some((id, State::Live(p))) = self.pick(|_, _, s| s.live().is_some_and(|p| p.kind == Kind::File)) else {
            return;
        };
        let node = self.node();
        let Some(answer) = self.read(node, "download", &[("id", &id)]) else { return };
        self.shared.count("download");
        if answer.status != 200 || Some(model::digest(&answer.body)) != p.content {
            let message = format!(
                "download through process {node}: {} with {} bytes; the model says {:?}",
                answer.status,
                answer.body.len(),
                p.content
            );
            self.anomaly(Anomaly { ids: vec![id], message });
        }
    }
}

/// Faults while the clients run: kills and restarts, PostgreSQL restarts (one by default), one
/// S3 pause.
struct Faults {
    kills: u64,
    postgres_restarts: u64,
    s3_pauses: u64,
    errors: Vec<String>,
}

fn faults(
    options: &Options,
    nodes: &[Node],
    services: &Services,
    binary: &Path,
    shared: &Shared,
    stop: &AtomicBool,
) -> Faults {
    let mut rng = StdRng::seed_from_u64(sub_seed(options.seed, 1_000));
    let mut report = Faults { kills: 0, postgres_restarts: 0, s3_pauses: 0, errors: Vec::new() };
    let run = Duration::from_secs(options.seconds);
    let mut postgres_at = postgres_restart_times(run, options.postgres_restarts).into_iter().peekable();
    let s3_at = run.mul_f64(0.7);
    let mut s3_done = false;
    let mut next_kill = next_kill_at(&mut rng, options, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        let now = shared.started.elapsed();
        for node in nodes {
            if let Err(e) = node.running() {
                shared.anomaly(Anomaly { ids: vec![], message: e.clone() });
                report.errors.push(e);
                if let Err(e) = node.start(services, binary, options.rescan_secs) {
                    report.errors.push(format!("{e:#}"));
                }
            }
        }
        if postgres_at.next_if(|&at| now >= at).is_some() {
            let from = Instant::now();
            match services.restart_postgres() {
                Ok(true) => {
                    report.postgres_restarts += 1;
                    shared.log(usize::MAX, "FAULT: PostgreSQL restarted (immediate)".into(), vec![], "done".into());
                }
                Ok(false) => {}
                Err(e) => report.errors.push(format!("{e:#}")),
            }
            shared.outages.lock().unwrap_or_else(|e| e.into_inner()).push((from, Instant::now()));
        }
        if !s3_done && now >= s3_at {
            s3_done = true;
            let from = Instant::now();
            if services.pause_s3(S3_PAUSE) {
                report.s3_pauses += 1;
                shared.log(usize::MAX, format!("FAULT: S3 paused for {S3_PAUSE:?}"), vec![], "resumed".into());
            }
            shared.outages.lock().unwrap_or_else(|e| e.into_inner()).push((from, Instant::now()));
        }
        if let Some(at) = next_kill
            && now >= at
        {
            let node = &nodes[rng.random_range(0..nodes.len())];
            if node.kill() {
                report.kills += 1;
                shared.log(usize::MAX, format!("FAULT: SIGKILL process {}", node.index), vec![], "killed".into());
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(100..1500)));
            match node.start(services, binary, options.rescan_secs) {
                Ok(_) => {
                    shared.log(usize::MAX, format!("FAULT: process {} restarted", node.index), vec![], "up".into())
                }
                Err(e) => report.errors.push(format!("{e:#}")),
            }
            next_kill = next_kill_at(&mut rng, options, shared.started.elapsed());
        }
    }
    report
}

/// When PostgreSQL restarts: once at 40 % of the run (as before the option existed, so that
/// older seeds replay alike), or `n` times evenly spaced.
fn postgres_restart_times(run: Duration, n: u32) -> Vec<Duration> {
    match n {
        1 => vec![run.mul_f64(0.4)],
        n => (1..=n).map(|i| run.mul_f64(f64::from(i) / f64::from(n + 1))).collect(),
    }
}

fn next_kill_at(rng: &mut StdRng, options: &Options, now: Duration) -> Option<Duration> {
    (options.kill_every_secs > 0.0)
        .then(|| now + Duration::from_secs_f64(options.kill_every_secs * rng.random_range(0.5..1.5)))
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => crate::soak::build_docbridge(options.release)?,
    };
    let scratch = std::env::temp_dir().join(format!("docbridge-chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    // A copy of its own: restarts must run what the run started with, and the shared build
    // directory's binary may be rebuilt meanwhile (by another worktree, another branch).
    let copy = scratch.join("docbridge");
    std::fs::copy(&binary, &copy).with_context(|| format!("copying {}", binary.display()))?;
    let command = command_line(options);
    eprintln!("chaos: {command}");
    let failed = attempt(options, &copy, &scratch.join("run"));
    let (first_at, histories) = match failed {
        Ok(None) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Ok(());
        }
        Ok(Some(found)) => found,
        Err(e) => {
            eprintln!("chaos: logs and data kept in {}\nchaos: reproduce with {command}", scratch.display());
            return Err(e);
        }
    };
    eprintln!("chaos: logs and data kept in {}/run", scratch.display());
    let mut smallest = (command.clone(), histories);
    if options.shrink > 0 {
        eprintln!("chaos: cutting the failing run down: at most {} more runs, none longer than it", options.shrink);
        let mut n = 0;
        let (best, _, runs) = super::shrink::shrink(options, first_at, options.shrink, |candidate| {
            n += 1;
            let line = command_line(candidate);
            eprintln!("chaos: cut {n}: {line}");
            match attempt(candidate, &copy, &scratch.join(format!("cut-{n}"))) {
                Ok(Some((at, histories))) => {
                    smallest = (line, histories);
                    Some(at)
                }
                Ok(None) => None,
                // A run that could not be made says nothing about the bug.
                Err(e) => {
                    eprintln!("chaos: cut {n} did not run: {e:#}");
                    None
                }
            }
        });
        eprintln!(
            "chaos: {runs} cutting runs; the smallest that still failed: {} clients, {} processes, {} s{}",
            best.clients,
            best.processes,
            best.seconds,
            if best.kill_every_secs > 0.0 { ", with kills" } else { ", no kills" }
        );
    }
    println!("\nchaos: the shortest failing history found, from {}:{}", smallest.0, smallest.1);
    anyhow::bail!("anomalies found (seed {}); reproduce with {}", options.seed, smallest.0)
}

/// The command that reproduces a run of `options`.
fn command_line(options: &Options) -> String {
    format!(
        "cargo xtask chaos --seconds {} --seed {} --setup {} --processes {} --clients {} --kill-every {} --rescan-secs {} --postgres-restarts {}{}{}",
        options.seconds,
        options.seed,
        if options.setup == Setup::PgS3 { "pg-s3" } else { "sqlite-fs" },
        options.processes,
        options.clients,
        options.kill_every_secs,
        options.rescan_secs,
        options.postgres_restarts,
        if options.release || options.binary.is_some() { "" } else { " --dev" },
        options.binary.as_ref().map(|b| format!(" --binary {}", b.display())).unwrap_or_default()
    )
}

/// One run in `scratch` (removed when it found nothing): `None` when clean, else when its first
/// anomaly came and the histories of its anomalies. An error is a run that could not be made
/// or that failed otherwise (a 5xx outside an outage, a fault that could not be injected).
fn attempt(options: &Options, binary: &Path, scratch: &Path) -> anyhow::Result<Option<(Duration, String)>> {
    std::fs::create_dir_all(scratch)?;
    let found = chaos(options, binary, scratch)?;
    if found.is_none() {
        let _ = std::fs::remove_dir_all(scratch);
    }
    Ok(found)
}

fn chaos(options: &Options, binary: &Path, scratch: &Path) -> anyhow::Result<Option<(Duration, String)>> {
    let services = match options.setup {
        Setup::PgS3 => Services::pg_s3(scratch)?,
        Setup::SqliteFs => Services::sqlite_fs(scratch)?,
    };
    let nodes: Vec<Node> = (0..options.processes).map(|i| Node::new(i, scratch)).collect::<anyhow::Result<_>>()?;
    // The first start creates the default integration and prints its key once; the move
    // actions the clients use are added while no process runs, then every process starts.
    let key = nodes[0].start(&services, binary, options.rescan_secs)?.context("the first start printed no ApiKey")?;
    nodes[0].stop();
    let cli = CliCommand { binary: binary.to_owned(), data_dir: scratch.join("cli"), env: services.env.clone() };
    let mut edit = vec!["integration".to_owned(), "edit".to_owned(), "default".to_owned()];
    for n in 0..options.clients {
        for folder in ["a", "b"] {
            edit.push("--action".into());
            edit.push(format!("name=to-{n}-{folder},display=To {folder},kind=move,folder=c{n}/{folder}"));
        }
    }
    let mut command = services.docbridge(binary, &cli.data_dir);
    let output = command.args(&edit).output()?;
    anyhow::ensure!(output.status.success(), "integration edit: {}", String::from_utf8_lossy(&output.stderr));
    for node in &nodes {
        node.start(&services, binary, options.rescan_secs)?;
    }
    let shared = Arc::new(Shared {
        started: Instant::now(),
        seed: options.seed,
        key,
        addrs: nodes.iter().map(|n| n.addr).collect(),
        ops: Mutex::default(),
        seq: AtomicU64::new(0),
        anomalies: Mutex::default(),
        first_anomaly_ms: Mutex::default(),
        server_errors: Mutex::default(),
        outages: Mutex::default(),
        counts: Mutex::default(),
        cli,
    });

    // Each client's folder and the two its actions move into, made before the clock starts.
    let mut clients = Vec::new();
    for n in 0..options.clients {
        let mut model = Model::default();
        let mut fixed = Vec::new();
        let mut parent = "/".to_owned();
        for name in [format!("c{n}"), "a".to_owned(), "b".to_owned()] {
            let answer = match shared
                .call(n % nodes.len(), Request::new("POST", "createFolder", &[("parentId", &parent), ("name", &name)]))
            {
                Reply::Answer(a) if a.status == 200 => a,
                Reply::Answer(a) => {
                    anyhow::bail!("createFolder {name}: {} {}", a.status, String::from_utf8_lossy(&a.body))
                }
                _ => anyhow::bail!("createFolder {name}: no answer"),
            };
            let id = json(&answer)["id"].as_str().context("createFolder: no id")?.to_owned();
            model.own_folder(
                &id,
                State::Live(Placed {
                    parent: parent.clone(),
                    name,
                    kind: Kind::Folder,
                    content: None,
                    name_may_vary: false,
                }),
            );
            if fixed.is_empty() {
                parent = id.clone();
            }
            fixed.push(id);
        }
        let fixed: [Id; 3] = fixed.try_into().map_err(|_| anyhow::anyhow!("three folders"))?;
        clients.push(Client {
            n,
            rng: StdRng::seed_from_u64(sub_seed(options.seed, n as u64)),
            model,
            shared: shared.clone(),
            fixed,
            counter: 0,
            unknown_folders: Vec::new(),
        });
    }

    eprintln!(
        "chaos: {} processes ({}), {} clients, {} s, seed {}",
        nodes.len(),
        nodes.iter().map(|n| n.addr.to_string()).collect::<Vec<_>>().join(", "),
        options.clients,
        options.seconds,
        options.seed
    );
    let stop = AtomicBool::new(false);
    let deadline = shared.started + Duration::from_secs(options.seconds);
    let (mut clients, fault_report) = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut steps = 0;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && steps < MAX_STEPS_PER_CLIENT {
                        client.step();
                        steps += 1;
                    }
                    client
                })
            })
            .collect();
        let fault_handle = scope.spawn(|| faults(options, &nodes, &services, binary, &shared, &stop));
        // Progress now and then; the clock bounds the wait.
        let mut last_report = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200).min(deadline.saturating_duration_since(Instant::now())));
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                let ops = shared.seq.load(Ordering::Relaxed);
                let anomalies = shared.anomalies.lock().unwrap_or_else(|e| e.into_inner()).len();
                eprintln!("chaos: +{} s, {ops} operations, {anomalies} anomalies", shared.started.elapsed().as_secs());
            }
        }
        stop.store(true, Ordering::Relaxed);
        let clients: Vec<Client> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        let faults = fault_handle.join().ok();
        (clients, faults)
    });
    anyhow::ensure!(clients.len() == options.clients, "a client thread panicked");
    let fault_report = fault_report.context("the fault thread panicked")?;
    let run_time = shared.started.elapsed();

    // Quiet now: every process up, every uncertain item settled, then every item from every
    // process, and the whole tree from each.
    for node in &nodes {
        if !node.running().unwrap_or(false) {
            node.start(&services, binary, options.rescan_secs)?;
        }
    }
    let mut checked = 0u64;
    for client in &mut clients {
        for id in client.model.uncertain_ids() {
            client.verify(&id, None);
        }
        for id in client.model.uncertain_ids() {
            client.anomaly(Anomaly {
                ids: vec![id],
                message: "still ambiguous after the run (seen as several states at once?)".into(),
            });
        }
    }
    let mut tree_paths = None;
    for node in 0..nodes.len() {
        let Some((tree, paths)) = walk_tree(&shared, node) else {
            shared.anomaly(Anomaly {
                ids: vec![],
                message: format!("the tree could not be walked through process {node}"),
            });
            continue;
        };
        for anomaly in model::check_tree(&tree) {
            shared.anomaly(Anomaly { message: format!("tree through process {node}: {}", anomaly.message), ..anomaly });
        }
        for client in &mut clients {
            for (folder, entries) in &tree {
                if client.model.owns_folder(folder) {
                    client.check_listing(folder, entries);
                }
            }
            let ids: Vec<Id> = client.model.settled_where(|_| true).into_iter().map(|(id, _)| id).collect();
            for id in &ids {
                if client.model.is_quarantined(id) {
                    continue;
                }
                let seen = (0..LOOK_ATTEMPTS / 10).find_map(|_| client.look_with(node, id, Some(&tree)));
                let Some(seen) = seen else {
                    shared.anomaly(Anomaly {
                        ids: vec![id.clone()],
                        message: format!("final check through process {node}: no answer"),
                    });
                    continue;
                };
                checked += 1;
                if let Err(mut a) = client.model.observe(id, &seen) {
                    a.message = format!("final check through process {node}: {}", a.message);
                    client.anomaly(a);
                }
            }
        }
        tree_paths.get_or_insert(paths);
    }

    // Quiesced: no process runs; fsck must find nothing to repair, storage nothing stray.
    for node in &nodes {
        node.stop();
    }
    match shared.cli.run(&["fsck", "--json"]) {
        Ok(report) => {
            for (slug, report) in report.as_object().into_iter().flatten() {
                for (field, value) in report.as_object().into_iter().flatten() {
                    if value.as_array().is_some_and(|a| !a.is_empty()) {
                        shared.anomaly(Anomaly { ids: vec![], message: format!("fsck of {slug}: {field}: {value}") });
                    }
                }
            }
        }
        Err(e) => shared.anomaly(Anomaly { ids: vec![], message: format!("fsck failed: {e}") }),
    }
    let trash: Vec<String> = shared
        .cli
        .run(&["trash", "list", "--json"])
        .ok()
        .and_then(|v| {
            v.as_array().map(|a| a.iter().filter_map(|e| e["trash_id"].as_str().map(str::to_owned)).collect())
        })
        .unwrap_or_default();
    let leftovers = match &tree_paths {
        Some(paths) => check_storage(&shared, &services.library_dir, paths, &trash, options.setup),
        None => Vec::new(),
    };

    let histories = report(&shared, &fault_report, run_time, checked, &leftovers);
    let unexcused = unexcused_server_errors(&shared);
    anyhow::ensure!(
        unexcused.is_empty() && fault_report.errors.is_empty(),
        "{} unexplained 5xx, {} fault errors (seed {})",
        unexcused.len(),
        fault_report.errors.len(),
        options.seed
    );
    let first = *shared.first_anomaly_ms.lock().unwrap_or_else(|e| e.into_inner());
    Ok(first.map(|ms| (Duration::from_millis(ms), histories)))
}

/// Every folder's listing from the root down through one process, and the storage path of every
/// item (names joined by `/`), folders with a trailing `/`. `None` if a listing failed.
fn walk_tree(shared: &Shared, node: usize) -> Option<(Tree, Vec<String>)> {
    let mut tree = BTreeMap::new();
    let mut paths = Vec::new();
    let mut pending = vec![("/".to_owned(), String::new())];
    while let Some((folder, path)) = pending.pop() {
        if tree.contains_key(&folder) || tree.len() > 1_000_000 {
            continue;
        }
        let mut answer = None;
        for _ in 0..10 {
            match shared.call(node, Request::new("GET", "files", &[("parentId", &folder)])) {
                Reply::Answer(a) if a.status == 200 || a.status == 404 => {
                    answer = Some(a);
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
        let answer = answer?;
        if answer.status == 404 {
            let message = format!("folder {path:?} is listed, but its ID answers 404 through process {node}");
            shared.anomaly(Anomaly { ids: vec![folder.clone()], message });
            tree.insert(folder, Vec::new());
            continue;
        }
        let entries = entries_of(&answer)?;
        for entry in &entries {
            let child = format!("{path}{}", entry.name);
            if entry.kind == Kind::Folder {
                paths.push(format!("{child}/"));
                pending.push((entry.id.clone(), format!("{child}/")));
            } else {
                paths.push(child);
            }
        }
        tree.insert(folder, entries);
    }
    Some((tree, paths))
}

/// Checks the library's storage against the tree: every file is an item, an item's folder
/// marker or in the trash. Answers the bookkeeping left under `.docbridge` (journal, temporary
/// objects) for the report: a killed process leaves those by design, swept later.
fn check_storage(shared: &Shared, root: &Path, paths: &[String], trash: &[String], setup: Setup) -> Vec<String> {
    if !root.is_dir() {
        // A wrong path would make the check pass by looking at nothing.
        shared.anomaly(Anomaly { ids: vec![], message: format!("the library's storage is not at {}", root.display()) });
        return Vec::new();
    }
    let known: std::collections::HashSet<&str> = paths.iter().map(String::as_str).collect();
    let mut leftovers = Vec::new();
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for entry in read.map_while(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}{name}");
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if let Some(internal) = path.strip_prefix(".docbridge/") {
                let mut parts = internal.split('/');
                match (parts.next(), parts.next()) {
                    // The trash folder's own marker, on S3: made with the folder at the first delete.
                    (Some("trash"), Some(name)) if name == docbridge_folder_marker() && !is_dir => continue,
                    (Some("trash"), Some(id)) if !trash.iter().any(|t| t == id) => {
                        shared.anomaly(Anomaly {
                            ids: vec![],
                            message: format!("stray object in the trash area: {path}"),
                        });
                    }
                    (Some("trash"), Some(_)) => continue,
                    (Some("journal" | "tmp"), Some(_)) if !is_dir => leftovers.push(path.clone()),
                    _ => {}
                }
                if is_dir {
                    pending.push((entry.path(), format!("{path}/")));
                }
                continue;
            }
            if is_dir {
                // An empty directory under S3 is the server's, not an object.
                if setup == Setup::SqliteFs && name != ".docbridge" && !known.contains(format!("{path}/").as_str()) {
                    shared.anomaly(Anomaly {
                        ids: vec![],
                        message: format!("folder in storage that no listing shows: {path}"),
                    });
                }
                pending.push((entry.path(), format!("{path}/")));
                continue;
            }
            let marker = name == docbridge_folder_marker() && known.contains(rel.as_str());
            if !known.contains(path.as_str()) && !marker {
                shared.anomaly(Anomaly {
                    ids: vec![],
                    message: format!("object in storage that no listing shows (orphaned): {path}"),
                });
            }
        }
    }
    leftovers.sort();
    leftovers
}

/// The S3 adapter's folder marker (`docbridge_storage::s3::FOLDER_MARKER`).
fn docbridge_folder_marker() -> &'static str {
    ".docbridge-folder"
}

fn unexcused_server_errors(shared: &Shared) -> Vec<String> {
    let outages = shared.outages.lock().unwrap_or_else(|e| e.into_inner()).clone();
    shared
        .server_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, from, to, _)| !outages.iter().any(|(start, end)| *from <= *end + OUTAGE_GRACE && *to >= *start))
        .map(|(node, from, _, what)| {
            format!("process {node} at +{} ms: {what}", from.duration_since(shared.started).as_millis())
        })
        .collect()
}

/// The length of docbridge's item IDs (16 random bytes, base64url without padding).
const ID_LENGTH: usize = 22;

/// Prints the run's figures and each anomaly's history; answers the histories.
fn report(shared: &Shared, faults: &Faults, run_time: Duration, checked: u64, leftovers: &[String]) -> String {
    let ops = shared.ops.lock().unwrap_or_else(|e| e.into_inner());
    let counts = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
    let anomalies = shared.anomalies.lock().unwrap_or_else(|e| e.into_inner());
    let errors = shared.server_errors.lock().unwrap_or_else(|e| e.into_inner()).len();
    let unexcused = unexcused_server_errors(shared);
    let client_ops = ops.iter().filter(|o| o.client != usize::MAX).count();
    let acknowledged: u64 =
        counts.iter().filter(|(k, _)| !["uncertain", "refused"].contains(&k.as_str())).map(|(_, v)| v).sum();
    println!("chaos: seed {}, {} s", shared.seed, run_time.as_secs());
    println!(
        "  operations:        {} (logged mutations {client_ops}; acknowledged or read {acknowledged})",
        acknowledged + counts.get("uncertain").copied().unwrap_or(0) + counts.get("refused").copied().unwrap_or(0)
    );
    println!("  by kind:           {}", counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    println!("  processes killed:  {}", faults.kills);
    println!("  PostgreSQL restarts: {}, S3 pauses: {}", faults.postgres_restarts, faults.s3_pauses);
    println!("  final checks:      {checked} item looks");
    println!("  5xx answers:       {errors} ({} outside a dependency outage)", unexcused.len());
    println!("  bookkeeping left under .docbridge (journal/tmp): {}", leftovers.len());
    println!("  anomalies:         {}", anomalies.len());
    for e in &faults.errors {
        println!("  fault error: {e}");
    }
    for e in unexcused.iter().take(20) {
        println!("  5xx: {e}");
    }
    let mut histories = String::new();
    for anomaly in anomalies.iter().take(30) {
        histories.push_str(&format!("\n\n  ANOMALY: {} {:?}", anomaly.message, anomaly.ids));
        // The history of one anomaly: the operations on these items and on the items its
        // message names (an item's folder, say: renamed, moved), in order, and the faults within
        // two seconds of them. Of a named folder's operations, those that make something in it
        // (an `/uploadInit`, a `/createFolder`) are left out: they are many and say nothing.
        let named: Vec<&str> = anomaly
            .message
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|t| t.len() == ID_LENGTH)
            .collect();
        let makes_in = |o: &Op| o.what.starts_with("uploadInit ") || o.what.starts_with("createFolder ");
        let touching: Vec<&Op> = ops
            .iter()
            .filter(|o| {
                o.ids.iter().any(|id| anomaly.ids.contains(id))
                    || (!makes_in(o) && o.ids.iter().any(|id| named.contains(&id.as_str())))
            })
            .collect();
        let near = |o: &Op| touching.iter().any(|t| t.at_ms.abs_diff(o.at_ms) <= 2_000);
        for op in ops.iter().filter(|o| touching.iter().any(|t| t.seq == o.seq) || (o.client == usize::MAX && near(o)))
        {
            histories.push_str(&format!("\n    {op}"));
        }
    }
    if anomalies.len() > 30 {
        histories.push_str(&format!("\n\n  ... and {} more anomalies", anomalies.len() - 30));
    }
    println!("{histories}");
    histories
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_restarts_are_spread_over_the_run() {
        let run = Duration::from_secs(100);
        assert_eq!(postgres_restart_times(run, 0), Vec::<Duration>::new());
        assert_eq!(postgres_restart_times(run, 1), [Duration::from_secs(40)]);
        assert_eq!(postgres_restart_times(run, 3), [25, 50, 75].map(Duration::from_secs));
    }
}
