//! The fuzz targets' bodies (`fuzz/src/lib.rs`, included here as they are) run as plain tests,
//! on stable Rust and without libFuzzer: over the generated seed corpus, over any crash inputs
//! kept in `fuzz/regressions/<target>/`, and over proptest-generated inputs shaped like each
//! target's. `cargo xtask fuzz` runs the same bodies coverage-guided for longer.
//!
//! With `DOCBRIDGE_FUZZ_EXPORT=DIR`, `seed_corpus_round_trips_through_files` also writes the
//! seeds to `DIR/<target>/`, which is how `cargo xtask fuzz` seeds libFuzzer's corpus.

#[path = "../../../../fuzz/src/lib.rs"]
mod bodies;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A target: its name (as in `fuzz/Cargo.toml`), its body and its seeds.
type Target = (&'static str, fn(&[u8]), Vec<Vec<u8>>);

fn targets() -> Vec<Target> {
    vec![
        ("names", bodies::names as fn(&[u8]), bodies::text_seeds()),
        ("range", bodies::range, bodies::text_seeds()),
        ("metadata", bodies::metadata, bodies::metadata_seeds()),
        ("config", bodies::config, bodies::config_seeds()),
    ]
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Crash inputs found by a fuzz run and kept as regressions, if any.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let Ok(dir) = std::fs::read_dir(fuzz_dir().join("regressions").join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn runner(cases: u32) -> TestRunner {
    // Shrinking is bounded: a failing input is reported within minutes even when each try of
    // it is slow (a hang is only reported after the router target's guard time).
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        max_shrink_time: 120_000,
        ..Config::default()
    })
}

/// Runs `body` over `cases` inputs from `strategy`; how many passed (all, or it panics).
fn passes(cases: u32, strategy: impl Strategy<Value = Vec<u8>>, body: impl Fn(&[u8])) -> u64 {
    let tried = Cell::new(0u64);
    runner(cases)
        .run(&strategy, |input| {
            body(&input);
            tried.set(tried.get() + 1);
            Ok(())
        })
        .unwrap();
    tried.get()
}

/// `shaped` inputs four times in five, raw bytes otherwise.
fn or_raw(shaped: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![4 => shaped, 1 => prop::collection::vec(any::<u8>(), 0..200)]
}

#[test]
fn seed_corpus_round_trips_through_files() {
    let export = std::env::var_os("DOCBRIDGE_FUZZ_EXPORT").map(PathBuf::from);
    let scratch = tempfile::tempdir().unwrap();
    let root = export.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let mut all = targets().into_iter().map(|(name, _, seeds)| (name, seeds)).collect::<Vec<_>>();
    all.push(("router", bodies::router_seeds()));
    let mut written = 0;
    for (name, seeds) in &all {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), seed).unwrap();
            written += 1;
        }
        let mut back: Vec<Vec<u8>> =
            std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        back.sort();
        let mut expected = seeds.clone();
        expected.sort();
        if export.is_none() {
            assert_eq!(back, expected, "{name}: the seeds survive a trip through files");
        }
    }
    assert!(written > 300, "{written} seeds");
    eprintln!("fuzz_replay/seeds: {written} seeds written for {} targets", all.len());
}

#[test]
fn parser_targets_pass_their_seeds_and_regressions() {
    for (name, body, seeds) in targets() {
        let kept = regressions(name);
        for input in seeds.iter().chain(kept.iter()) {
            body(input);
        }
        eprintln!("fuzz_replay/{name}: {} seeds and {} regressions passed", seeds.len(), kept.len());
    }
}

#[test]
fn router_target_passes_its_seeds_and_regressions() {
    let mut target = bodies::RouterTarget::new();
    let seeds = bodies::router_seeds();
    assert!(seeds.len() > 200, "{} seeds", seeds.len());
    let kept = regressions("router");
    for input in seeds.iter().chain(kept.iter()) {
        target.run(input);
    }
    eprintln!(
        "fuzz_replay/router: {} seeds and {} regressions, {} calls ({} answered 4xx with the error body, 0 answered 5xx)",
        seeds.len(),
        kept.len(),
        target.calls,
        target.refused
    );
}

/// Text with the characters that matter to names and IDs over-represented.
fn tricky_text() -> impl Strategy<Value = String> {
    let mut fixed =
        crate::support::owned(&[".", "..", "/", "\\", "\0", "%2e", "%2F", "\u{FF0F}", "\u{2215}", "\u{2024}", "é"]);
    fixed.push("x".repeat(64));
    // Weighted so that each fixed piece is as likely as each generated kind.
    let weight = fixed.len() as u32;
    let pieces = prop_oneof![
        weight => prop::sample::select(fixed),
        1 => "[A-Za-z0-9_-]{1,8}",
        1 => "\\PC{1,4}",
        1 => "[\\x00-\\x1f\\x7f]",
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

#[test]
fn names_ids_and_ranges_hold_for_generated_inputs() {
    let strategy = prop_oneof![
        tricky_text().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..300),
        "bytes=[0-9 ,-]{0,24}".prop_map(String::into_bytes),
        (any::<u64>(), "(bytes=)?-?[0-9]{0,22}-?[0-9]{0,22}").prop_map(|(len, h)| [
            len.to_le_bytes().to_vec(),
            h.into_bytes()
        ]
        .concat()),
    ];
    let tried = passes(2000, strategy, |input| {
        bodies::names(input);
        bodies::range(input);
    });
    eprintln!("fuzz_replay/names+range: {tried} generated inputs passed both bodies");
}

/// JSON values of the kinds real providers send, including the wrong ones.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e20f64..1e20).prop_map(|n| json!(n)),
        "\\PC{0,24}".prop_map(Value::String),
        "[0-9]{0,20}".prop_map(Value::String),
        "(19|20|99)[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?".prop_map(Value::String),
        Just(json!("file")),
        Just(json!("folder")),
        Just(json!([])),
        Just(json!({})),
    ]
}

#[test]
fn metadata_holds_for_generated_objects() {
    let fields =
        ["id", "title", "kind", "dateModified", "size", "mimeType", "viewLink", "downloadLink", "readOnly", "extra"];
    let strategy =
        (prop::collection::vec(json_value(), fields.len()), prop::collection::vec(any::<bool>(), fields.len()))
            .prop_map(move |(values, present)| {
                let object: serde_json::Map<String, serde_json::Value> = fields
                    .iter()
                    .zip(values)
                    .zip(present)
                    .filter(|(_, keep)| *keep)
                    .map(|((k, v), _)| ((*k).to_owned(), v))
                    .collect();
                serde_json::to_vec(&object).unwrap()
            });
    let tried = passes(3000, or_raw(strategy), bodies::metadata);
    eprintln!("fuzz_replay/metadata: {tried} generated objects and byte strings passed");
}

#[test]
fn config_holds_for_generated_files() {
    let section = prop::sample::select(vec![
        "",
        "[http]",
        "[database]",
        "[storage]",
        "[documents]",
        "[links]",
        "[[http]]",
        "[nope]",
        "[http.x]",
    ]);
    let key = prop::sample::select(vec![
        "public_url",
        "publisher",
        "listen",
        "request_timeout_secs",
        "shutdown_grace_secs",
        "max_auth_failures_per_minute",
        "url",
        "root",
        "max_upload_bytes",
        "conflict_policy",
        "reservation_ttl_secs",
        "trash_retention_days",
        "rescan_interval_secs",
        "cache_dir",
        "max_concurrent_uploads",
        "ttl_secs",
        "typo",
    ]);
    let value = prop_oneof![
        "-?[0-9]{1,25}",
        "\"\\PC{0,20}\"",
        Just("\"127.0.0.1:0\"".to_owned()),
        Just("\"http://127.0.0.1\"".to_owned()),
        Just("\"reject\"".to_owned()),
        Just("true".to_owned()),
        Just("1.5e400".to_owned()),
        Just("[1, \"a\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
        "\\PC{0,10}",
    ];
    let line = (section, key, value).prop_map(|(s, k, v)| format!("{s}\n{k} = {v}\n"));
    let file = prop::collection::vec(line, 0..6).prop_map(|lines| lines.concat().into_bytes());
    let tried = passes(600, or_raw(file), bodies::config);
    eprintln!("fuzz_replay/config: {tried} generated configuration files passed");
}

/// Calls shaped like Workfront's, with hostile values in every parameter.
fn router_input() -> impl Strategy<Value = Vec<u8>> {
    let parameter = prop::sample::select(vec![
        "id",
        "parentId",
        "filename",
        "name",
        "documentId",
        "folderId",
        "query",
        "size",
        "max",
        "offset",
        "documentVersionId",
    ]);
    // Weighted so that each fixed value is as likely as each generated kind.
    let value = prop_oneof![
        7 => prop::sample::select(crate::support::owned(&["@F", "@D", "@L", "/", "archive", "lock", "copy"])),
        1 => "[0-9]{1,21}",
        1 => "-[0-9]{1,3}",
        1 => tricky_text(),
        1 => "(%[0-9A-Fa-f]{2}){1,6}",
        1 => "%[0-9A-Za-z]{0,2}",
    ];
    let query = prop::collection::vec((parameter, value), 0..5)
        .prop_map(|pairs| pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
    let header = prop_oneof!["bytes=[0-9]{0,5}-[0-9]{0,5}", "\"[A-Za-z0-9_-]{0,30}\"", "\\PC{0,12}"];
    let body = prop_oneof![
        Just(Vec::new()),
        "(name|filename|parentId|id)=[%./a-z0-9]{0,20}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64)
    ];
    let call = (0u8..13, any::<u8>(), query, header, body).prop_map(|(endpoint, flags, query, header, body)| {
        // Credentials most of the time: an anonymous call stops at authentication.
        let flags = if flags % 8 == 0 { flags } else { flags & !0x08 };
        let mut out = vec![endpoint, flags];
        out.extend_from_slice(query.as_bytes());
        out.push(0xFF);
        out.extend_from_slice(header.as_bytes());
        out.push(0xFF);
        out.extend_from_slice(&body);
        out
    });
    let calls = prop::collection::vec(call, 1..4).prop_map(|calls| calls.join(&0xFE));
    let seeds = bodies::router_seeds();
    let mutated = (prop::sample::select(seeds), prop::collection::vec((any::<usize>(), any::<u8>()), 0..6)).prop_map(
        |(mut seed, edits)| {
            for (at, byte) in edits {
                if seed.is_empty() {
                    seed.push(byte);
                } else {
                    let at = at % seed.len();
                    seed[at] = byte;
                }
            }
            seed
        },
    );
    prop_oneof![3 => calls, 2 => mutated, 1 => prop::collection::vec(any::<u8>(), 0..200)]
}

#[test]
fn router_holds_for_generated_calls() {
    let target = RefCell::new(bodies::RouterTarget::new());
    passes(400, router_input(), |input| target.borrow_mut().run(input));
    let target = target.borrow();
    eprintln!(
        "fuzz_replay/router-generated: {} inputs, {} calls ({} answered 4xx with the error body, 0 answered 5xx)",
        target.inputs, target.calls, target.refused
    );
}
