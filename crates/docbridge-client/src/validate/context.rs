//! The state a validation run carries from case to case (what the provider declares, the
//! sandbox, the fixture files, what to clean up) and the helpers cases use to send raw requests
//! and record findings.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use docbridge_protocol::{Endpoint, ItemKind};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use super::cases::Case;
use super::{CaseStatus, Finding, Level, ValidateOptions, shape};
use crate::{Auth, Client, ClientError, RemoteConfig};

/// Why a case stopped before its end.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The case cannot run here (no fixture, wrong kind of credentials): not a finding.
    Skip(String),
    /// A finding has been recorded that makes going on pointless.
    Stop,
}

/// What a step of a case gives: a value, or the reason to stop.
pub(crate) type Step<T = ()> = Result<T, Abort>;

/// The most of any answer the validator reads.
const MAX_RAW_BODY: usize = 64 * 1024 * 1024;
/// Endpoints every provider has (1.0): assumed when `/serviceInfo` does not say.
/// (`Endpoint::ALL` lists `serviceInfo` first, then these seven, then the optional ones.)
const CORE_ENDPOINTS: &[Endpoint] = Endpoint::ALL.split_at(8).0.split_at(1).1;

/// An answer as it came: status, headers and the whole body.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    /// The request, for messages: `GET metadata?id=abc`.
    pub what: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The status and the start of the body, for messages.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {} with an empty body", self.status.as_u16())
        } else {
            let mut quoted: String = text.chars().take(160).collect();
            if quoted.len() < text.len() {
                quoted.push('…');
            }
            format!("HTTP {} {quoted}", self.status.as_u16())
        }
    }
}

/// A file the validator uploaded during set-up and keeps using.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    pub id: String,
    pub title: String,
    pub bytes: Bytes,
}

#[derive(Debug, Clone)]
pub(crate) struct Fixtures {
    /// A text file whose name holds a space and a non-ASCII letter.
    pub text: Fixture,
    /// A small PNG.
    pub image: Fixture,
}

/// An item the validator created outside its sandbox folder and must delete at the end.
#[derive(Debug, Clone)]
pub(crate) struct Leftover {
    pub id: String,
    pub kind: ItemKind,
    pub title: String,
}

pub(crate) struct Ctx {
    /// Calls with the configured credentials.
    pub client: Client,
    /// Opens links the way a browser would: no credentials, redirects followed.
    pub browser: reqwest::Client,
    /// The same without following redirects.
    pub browser_no_redirect: reqwest::Client,
    strict: bool,
    pub service_info: Option<Value>,
    /// `/serviceInfo` answered only once credentials were sent.
    pub service_info_needed_auth: bool,
    available: HashSet<String>,
    pub endpoints_declared: bool,
    /// Unique to this run; part of every name the validator creates.
    pub token: String,
    pub sandbox_id: String,
    pub sandbox_created: bool,
    /// A folder inside the sandbox made by `create-folder.create`.
    pub subfolder_id: Option<String>,
    pub fixtures: Option<Fixtures>,
    pub fixtures_problem: Option<String>,
    pub leftovers: Vec<Leftover>,
    findings: Vec<Finding>,
    /// Shape deviations recorded in the current case: the message's shape, the index of its
    /// finding, and how many times it came again.
    repeats: Vec<((Level, String), usize, usize)>,
    notes: Vec<String>,
}

impl Ctx {
    pub fn new(options: &ValidateOptions) -> Result<Self, ClientError> {
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .timeout(options.request_timeout)
                .redirect(redirects)
                .user_agent(concat!("docbridge-validate/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|err| ClientError::Config(format!("cannot build the HTTP client: {err}")))
        };
        let http = build(reqwest::redirect::Policy::none())?;
        // An OAuth2 remote is validated with its access token as it stands: a refresh here would
        // not be stored, and a rotating provider would then have revoked the stored refresh token.
        let remote = match &options.remote.auth {
            Auth::OAuth2 { tokens: Some(tokens), .. } => {
                RemoteConfig { auth: Auth::Bearer { token: tokens.access_token.clone() }, ..options.remote.clone() }
            }
            _ => options.remote.clone(),
        };
        let client = Client::with_http_client(&remote, http.clone())?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
        let token = format!("{:010x}", (nanos ^ (u128::from(std::process::id()) << 40)) & 0xff_ffff_ffff);
        Ok(Ctx {
            client,
            browser: build(reqwest::redirect::Policy::limited(10))?,
            browser_no_redirect: http,
            strict: options.strict,
            service_info: None,
            service_info_needed_auth: false,
            available: CORE_ENDPOINTS.iter().map(|e| e.as_str().to_owned()).collect(),
            endpoints_declared: false,
            token,
            sandbox_id: "/".to_owned(),
            sandbox_created: false,
            subfolder_id: None,
            fixtures: None,
            fixtures_problem: None,
            leftovers: Vec::new(),
            findings: Vec::new(),
            repeats: Vec::new(),
            notes: Vec::new(),
        })
    }

    /// Runs one case and grades what it recorded.
    pub async fn run_case(&mut self, case: &Case) -> (CaseStatus, String, Vec<Finding>) {
        self.findings.clear();
        self.repeats.clear();
        self.notes.clear();
        let outcome = (case.check)(self).await;
        for (_, index, count) in std::mem::take(&mut self.repeats) {
            if let Some(finding) = self.findings.get_mut(index)
                && count > 0
            {
                finding.message.push_str(&format!(" (and {count} more like it)"));
            }
        }
        let findings = std::mem::take(&mut self.findings);
        let notes = std::mem::take(&mut self.notes);
        let has_spec = findings.iter().any(|f| f.level == Level::Spec);
        let has_contract = findings.iter().any(|f| f.level == Level::Contract);
        let status = if has_spec || (self.strict && has_contract) {
            CaseStatus::Fail
        } else if has_contract {
            CaseStatus::Warn
        } else if matches!(outcome, Err(Abort::Skip(_))) {
            CaseStatus::Skip
        } else {
            CaseStatus::Pass
        };
        let message = if !findings.is_empty() {
            findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        } else if let Err(Abort::Skip(reason)) = outcome {
            reason
        } else if notes.is_empty() {
            "ok".to_owned()
        } else {
            notes.join("; ")
        };
        (status, message, findings)
    }

    pub fn has(&self, endpoint: Endpoint) -> bool {
        self.available.contains(endpoint.as_str())
    }

    /// Gates later cases on what `/serviceInfo` declared.
    pub fn declare_endpoints(&mut self, endpoints: HashSet<String>) {
        self.available = endpoints;
        self.available.insert(Endpoint::ServiceInfo.as_str().to_owned());
        self.endpoints_declared = true;
    }

    pub fn available_endpoints(&self) -> Vec<String> {
        let mut known: Vec<String> =
            Endpoint::ALL.iter().filter(|e| self.has(**e)).map(|e| e.as_str().to_owned()).collect();
        let mut unknown: Vec<String> =
            self.available.iter().filter(|name| name.parse::<Endpoint>().is_err()).cloned().collect();
        unknown.sort();
        known.extend(unknown);
        known
    }

    /// A name unique to this run: `dbv-{token}-{suffix}`.
    pub fn name(&self, suffix: &str) -> String {
        format!("dbv-{}-{suffix}", self.token)
    }

    pub fn spec(&mut self, message: impl Into<String>) {
        self.findings.push(Finding { level: Level::Spec, message: message.into() });
    }

    pub fn contract(&mut self, message: impl Into<String>) {
        self.findings.push(Finding { level: Level::Contract, message: message.into() });
    }

    pub fn finding(&mut self, level: Level, message: impl Into<String>) {
        self.findings.push(Finding { level, message: message.into() });
    }

    /// Records a finding and stops the case.
    pub fn stop(&mut self, level: Level, message: impl Into<String>) -> Abort {
        self.finding(level, message);
        Abort::Stop
    }

    /// Something worth saying when the case passes.
    pub fn note(&mut self, message: impl Into<String>) {
        self.notes.push(message.into());
    }

    /// Records findings of a shape check, each prefixed with what was checked. A deviation
    /// already recorded in this case (the same problem in another item or answer) is counted
    /// instead of repeated, so that one wrong field does not bury the report.
    pub fn record(&mut self, what: &str, findings: Vec<Finding>) {
        for finding in findings {
            let key = (finding.level, shape_of_message(&finding.message));
            match self.repeats.iter_mut().find(|(seen, _, _)| *seen == key) {
                Some((_, _, count)) => *count += 1,
                None => {
                    self.repeats.push((key, self.findings.len(), 0));
                    self.finding(finding.level, format!("{what}: {}", finding.message));
                }
            }
        }
    }

    pub fn fixtures(&self) -> Step<Fixtures> {
        self.fixtures.clone().ok_or_else(|| {
            Abort::Skip(match &self.fixtures_problem {
                Some(problem) => format!("needs the fixture files, which setup could not upload ({problem})"),
                None => "needs the fixture files, which setup could not upload".to_owned(),
            })
        })
    }

    /// The sandbox folder's ID, for a case that needs a folder of its own: without `createFolder`
    /// the cases work in the root, which `sandbox_id` names then.
    pub fn sandbox_folder(&self) -> Step<String> {
        if !self.sandbox_created {
            return Err(Abort::Skip("no sandbox folder (createFolder is missing or failed, see setup.sandbox)".into()));
        }
        Ok(self.sandbox_id.clone())
    }

    /// Remembers an item to delete at the end, unless the sandbox folder takes it along.
    pub fn track(&mut self, id: &str, kind: ItemKind, title: &str) {
        if !self.sandbox_created {
            self.track_always(id, kind, title);
        }
    }

    pub fn track_always(&mut self, id: &str, kind: ItemKind, title: &str) {
        self.leftovers.push(Leftover { id: id.to_owned(), kind, title: title.to_owned() });
    }

    /// Sends an authenticated request to an endpoint.
    pub async fn call(&mut self, method: Method, endpoint: &str, params: &[(&str, &str)]) -> Step<Raw> {
        let client = self.client.clone();
        self.call_as(&client, method, endpoint, params).await
    }

    /// Sends a request to an endpoint with another client's credentials.
    pub async fn call_as(
        &mut self,
        client: &Client,
        method: Method,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> Step<Raw> {
        let what = describe(&method, endpoint, params);
        self.send(what, client.request(method, endpoint, params)).await
    }

    /// Sends any request; no answer at all is a spec finding (the provider must answer).
    pub async fn send(&mut self, what: String, request: RequestBuilder) -> Step<Raw> {
        match request.send().await {
            Ok(mut response) => {
                let (status, headers) = (response.status(), response.headers().clone());
                let mut body = Vec::new();
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_RAW_BODY => body.extend_from_slice(&chunk),
                        Ok(Some(_)) => {
                            return Err(
                                self.stop(Level::Spec, format!("{what}: the answer is over {MAX_RAW_BODY} bytes"))
                            );
                        }
                        Ok(None) => break,
                        Err(err) => {
                            return Err(
                                self.stop(Level::Spec, format!("{what}: the answer broke off: {}", error_chain(&err)))
                            );
                        }
                    }
                }
                Ok(Raw { what, status, headers, body: body.into() })
            }
            Err(err) => Err(self.stop(Level::Spec, format!("{what}: no answer: {}", error_chain(&err)))),
        }
    }

    /// Requires a 2xx status (spec); anything else stops the case.
    pub fn expect_success(&mut self, raw: &Raw) -> Step {
        if raw.status.is_success() {
            Ok(())
        } else {
            Err(self.stop(Level::Spec, format!("{}: expected success, got {}", raw.what, raw.describe())))
        }
    }

    /// Requires exactly 200; another 2xx is a contract finding (the docs give no binary status).
    pub fn expect_ok(&mut self, raw: &Raw, level_of_other_2xx: Level) -> Step {
        self.expect_success(raw)?;
        if raw.status != StatusCode::OK {
            self.finding(
                level_of_other_2xx,
                format!("{}: answered HTTP {} instead of 200", raw.what, raw.status.as_u16()),
            );
        }
        Ok(())
    }

    /// Requires a JSON body; stops otherwise.
    pub fn expect_json(&mut self, raw: &Raw) -> Step<Value> {
        match raw.json() {
            Some(value) => Ok(value),
            None => Err(self.stop(Level::Spec, format!("{}: the body is not JSON: {}", raw.what, raw.describe()))),
        }
    }

    /// A metadata answer: 200 (§9: "200 with one metadata object"), JSON, shape checked.
    pub fn expect_metadata(&mut self, raw: &Raw) -> Step<Value> {
        self.expect_ok(raw, Level::Spec)?;
        let value = self.expect_json(raw)?;
        self.record(&raw.what, shape::metadata(&value));
        if !value.is_object() {
            return Err(Abort::Stop);
        }
        Ok(value)
    }

    /// A listing answer: 200, a JSON array, every element shape checked.
    pub fn expect_listing(&mut self, raw: &Raw) -> Step<Vec<Value>> {
        self.expect_ok(raw, Level::Spec)?;
        let value = self.expect_json(raw)?;
        let Value::Array(items) = value else {
            return Err(self.stop(Level::Spec, format!("{}: expected a JSON array, got {}", raw.what, raw.describe())));
        };
        for (index, item) in items.iter().enumerate() {
            self.record(&format!("{} item {index}", raw.what), shape::metadata(item));
        }
        Ok(items)
    }

    /// An error answer: the expected status at `status_level`, then `{"status":"error","error":...}`
    /// at `body_level` (§7). A 2xx is always a spec finding: the request was wrong.
    pub fn expect_error(&mut self, raw: &Raw, expected: u16, status_level: Level, body_level: Level) {
        if raw.status.is_success() {
            self.spec(format!("{}: expected HTTP {expected}, got success: {}", raw.what, raw.describe()));
            return;
        }
        if raw.status.as_u16() != expected {
            self.finding(status_level, format!("{}: expected HTTP {expected}, got {}", raw.what, raw.describe()));
        }
        match raw.json() {
            Some(value) => {
                let findings = shape::error_body(&value, body_level);
                self.record(&raw.what, findings);
            }
            None => self.finding(
                body_level,
                format!(
                    "{}: the error body is not {{\"status\":\"error\",\"error\":...}}: {}",
                    raw.what,
                    raw.describe()
                ),
            ),
        }
    }

    /// Uploads a file through the typed client, tracking it for clean-up.
    pub async fn upload_file(
        &mut self,
        parent_id: &str,
        filename: &str,
        bytes: Bytes,
        workfront_ids: Option<(&str, &str)>,
    ) -> Step<String> {
        let (document_id, version_id) = workfront_ids.unzip();
        let reserved = match self.client.upload_init(parent_id, filename, document_id, version_id).await {
            Ok(reserved) => reserved,
            Err(err) => {
                return Err(self.stop(Level::Spec, format!("uploadInit of {filename:?} failed: {}", error_chain(&err))));
            }
        };
        let id = reserved.id.as_str().to_owned();
        self.track(&id, ItemKind::File, filename);
        if let Err(err) = self.client.upload_bytes(&id, bytes).await {
            return Err(
                self.stop(Level::Spec, format!("upload of {filename:?} (id {id}) failed: {}", error_chain(&err)))
            );
        }
        Ok(id)
    }

    /// Creates a folder through the typed client, tracking it for clean-up.
    pub async fn make_folder(&mut self, parent_id: &str, name: &str) -> Step<String> {
        match self.client.create_folder(parent_id, name).await {
            Ok(folder) => {
                let id = folder.id.as_str().to_owned();
                self.track(&id, ItemKind::Folder, name);
                Ok(id)
            }
            Err(err) => Err(self.stop(Level::Spec, format!("createFolder {name:?} failed: {}", error_chain(&err)))),
        }
    }
}

/// `GET metadata?id=abc`, long values shortened.
pub(crate) fn describe(method: &Method, endpoint: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(key, value)| {
            let mut shown: String = value.chars().take(48).collect();
            if shown.len() < value.len() {
                shown.push('…');
            }
            format!("{key}={shown}")
        })
        .collect();
    if query.is_empty() { format!("{method} {endpoint}") } else { format!("{method} {endpoint}?{}", query.join("&")) }
}

/// An error with its causes, since reqwest's own message is terse.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A message with its quoted values and numbers blanked: findings that differ only in the value
/// of the same field have the same shape.
fn shape_of_message(message: &str) -> String {
    let mut shape = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                shape.push('"');
            }
            _ if quoted => {}
            c if c.is_ascii_digit() => {
                if !shape.ends_with('#') {
                    shape.push('#');
                }
            }
            c => shape.push(c),
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_endpoints_are_the_seven_of_1_0() {
        let names: Vec<&str> = CORE_ENDPOINTS.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.join(" "), "metadata files search download thumbnail uploadInit upload");
    }

    #[test]
    fn messages_differing_only_in_values_have_one_shape() {
        let a = shape_of_message("size is the string \"27219\"; C7 sends a number");
        let b = shape_of_message("size is the string \"46\"; C7 sends a number");
        assert_eq!(a, b);
        assert_ne!(a, shape_of_message("dateModified is the number 14 (epoch)"));
        assert_eq!(shape_of_message("got 12 of 345"), "got # of #");
    }

    #[test]
    fn requests_are_described_briefly() {
        let long = "x".repeat(60);
        let described = describe(&Method::GET, "metadata", &[("id", &long)]);
        assert!(described.starts_with("GET metadata?id=xxx") && described.ends_with('…'), "{described}");
        assert_eq!(describe(&Method::GET, "serviceInfo", &[]), "GET serviceInfo");
    }
}
