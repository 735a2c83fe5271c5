//! Operations (C25): `/metrics` in Prometheus text format counts requests by endpoint and
//! status, times them, counts body bytes both ways and shows uploads in progress; the JSON log
//! carries the request ID that every response, error responses included, has in `x-request-id`.

use crate::support::{api_call, eventually, first_start, in_process, send};

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use in_process::InProcess;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The in-process docbridge (`in_process.rs`) and a client.
struct Server {
    served: InProcess,
    http: reqwest::Client,
}

impl Server {
    async fn start() -> Server {
        let served = InProcess::start("docbridge metrics tests", |settings| settings.max_concurrent_uploads = 4).await;
        Server { served, http: reqwest::Client::new() }
    }

    fn call(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> reqwest::RequestBuilder {
        api_call(&self.http, (&self.served.api, &self.served.key, "metrics@example.com"), method, endpoint, query)
    }

    async fn metrics(&self) -> Metrics {
        let response = self.http.get(format!("{}/metrics", self.served.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        Metrics(response.text().await.unwrap())
    }
}

/// A scrape, read as Prometheus text.
struct Metrics(String);

impl Metrics {
    /// The value of the sample whose name is `name` and whose labels include every one of
    /// `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
                (series_name == name && labels.iter().all(|(k, v)| series_labels.contains(&format!("{k}=\"{v}\""))))
                    .then(|| value.parse::<f64>().ok())
                    .flatten()
            })
            .sum()
    }

    fn has_help(&self, name: &str) -> bool {
        self.0.lines().any(|line| line.starts_with(&format!("# HELP {name} ")))
    }
}

#[tokio::test]
async fn metrics_count_requests_time_them_and_measure_bytes_and_uploads() {
    let server = Server::start().await;
    let before = server.metrics().await;

    let files = server.call(Method::GET, "files", &[("parentId", "/")]).send().await.unwrap();
    assert_eq!(files.status(), StatusCode::OK);
    let missing = server.call(Method::GET, "metadata", &[("id", "nothing-here")]).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let random = server
        .http
        .get(format!("{}/no/such/path/{}", server.served.base, docbridge_registry::random_id()))
        .send()
        .await
        .unwrap();
    assert_eq!(random.status(), StatusCode::NOT_FOUND);

    // An upload whose bytes come in two parts: between them it is in progress.
    let init =
        send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "counted.bin")])).await.json();
    let id = init["id"].as_str().unwrap().to_owned();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    let upload = server.call(Method::PUT, "upload", &[("id", &id)]).body(reqwest::Body::wrap_stream(stream)).send();
    let upload = tokio::spawn(upload);
    tx.send(Ok(vec![7u8; 40_000])).await.unwrap();
    let in_progress = eventually("an upload whose bytes are still coming counts as in progress", || async {
        Some(server.metrics().await.value("docbridge_uploads_in_progress", &[])).filter(|count| *count >= 1.0)
    })
    .await;
    tx.send(Ok(vec![9u8; 24_000])).await.unwrap();
    drop(tx);
    assert_eq!(upload.await.unwrap().unwrap().status(), StatusCode::OK);
    let download = server.call(Method::GET, "download", &[("id", &id)]).send().await.unwrap();
    assert_eq!(download.bytes().await.unwrap().len(), 64_000);

    let after = server.metrics().await;
    let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    assert!(
        delta("docbridge_http_requests_total", &[("endpoint", "files"), ("method", "GET"), ("status", "200")]) >= 1.0
    );
    assert!(delta("docbridge_http_requests_total", &[("endpoint", "metadata"), ("status", "404")]) >= 1.0);
    assert!(
        delta("docbridge_http_requests_total", &[("endpoint", "unmatched"), ("status", "404")]) >= 1.0,
        "unrouted paths share one label"
    );
    assert!(!after.0.contains("/no/such/path"), "a raw path never becomes a label");
    assert!(
        delta("docbridge_http_requests_total", &[("endpoint", "upload"), ("method", "PUT"), ("status", "200")]) >= 1.0
    );
    assert!(delta("docbridge_http_request_duration_seconds_count", &[("endpoint", "files")]) >= 1.0);
    assert!(
        after.value("docbridge_http_request_duration_seconds_bucket", &[("endpoint", "files"), ("le", "+Inf")]) >= 1.0,
        "latency is a histogram with buckets"
    );
    assert!(delta("docbridge_http_request_body_bytes_total", &[("endpoint", "upload")]) >= 64_000.0);
    assert!(delta("docbridge_http_response_body_bytes_total", &[("endpoint", "download")]) >= 64_000.0);
    for name in
        ["docbridge_http_requests_total", "docbridge_http_request_duration_seconds", "docbridge_uploads_in_progress"]
    {
        assert!(after.has_help(name), "{name} is described");
    }
    // The upload has answered, so it no longer counts (other uploads of this test binary may run).
    eventually("a finished upload leaves the gauge", || async {
        (server.metrics().await.value("docbridge_uploads_in_progress", &[]) < in_progress).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_download_keeps_its_content_length_through_the_byte_counter() {
    let server = Server::start().await;
    let init =
        send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "sized.txt")])).await.json();
    let id = init["id"].as_str().unwrap().to_owned();
    server.call(Method::PUT, "upload", &[("id", &id)]).body("twelve bytes").send().await.unwrap();
    let download = server.call(Method::GET, "download", &[("id", &id)]).send().await.unwrap();
    assert_eq!(download.headers()["content-length"], "12");
    let info = server.call(Method::GET, "serviceInfo", &[]).send().await.unwrap();
    assert!(info.headers().contains_key("content-length"), "small JSON answers are not turned into chunked ones");
}

#[tokio::test]
async fn json_logs_carry_the_request_id_that_error_responses_show() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("log.jsonl");
    let mut child = first_start::docbridge(&dir.path().join("data"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DOCBRIDGE_LOG_FORMAT", "json")
        .env("DOCBRIDGE_LOG", "info,tower_http=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    first_start::wait_healthy(&mut child, &base).await;

    let failures = [
        http.get(format!("{base}/webhooks/default/nosuchendpoint")).send().await.unwrap(),
        http.get(format!("{base}/webhooks/default/files")).send().await.unwrap(),
        http.get(format!("{base}/webhooks/nosuchintegration/files")).send().await.unwrap(),
    ];
    let mut ids = Vec::new();
    for response in failures {
        assert!(response.status().is_client_error());
        let id = response
            .headers()
            .get("x-request-id")
            .expect("an error response carries x-request-id")
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "error", "errors keep the contract's body");
        ids.push(id);
    }
    let given = http
        .get(format!("{base}/webhooks/default/files"))
        .header("x-request-id", "from-the-proxy-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "from-the-proxy-42", "an incoming request ID is kept");
    ids.push("from-the-proxy-42".to_owned());

    // Every ID shows in the log; the log is written as the requests finish, so poll for it.
    let lines = eventually("every request ID shows in the log", || async {
        let file = std::fs::File::open(&log).unwrap();
        let lines: Vec<Value> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(&l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        ids.iter().all(|id| lines.iter().any(|line| line["span"]["request_id"] == id.as_str())).then_some(lines)
    })
    .await;
    for id in &ids {
        let line = lines
            .iter()
            .find(|line| line["span"]["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no log line with request_id {id}"));
        assert!(line["timestamp"].is_string() && line["level"].is_string());
        assert!(!line["span"]["path"].as_str().unwrap_or_default().contains('?'), "query strings stay out of the log");
    }
    let _ = child.kill();
    let _ = child.wait();
}
