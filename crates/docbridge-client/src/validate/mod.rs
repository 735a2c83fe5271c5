//! The conformance validator: runs a table of cases against any provider and reports, case by
//! case, what the protocol (`document-webhooks.md`) and docbridge's contract (`contract.md`) say
//! it should do and what it did.
//!
//! How findings are graded:
//! - a **spec** finding breaks something the Workfront documentation requires, in a way no
//!   reading of the docs allows (a missing required field, a date that is not RFC 3339, 200 for an
//!   unknown ID, bytes lost on upload). It always makes its case **fail**.
//! - a **contract** finding breaks only what docbridge promises beyond the docs, or what the docs
//!   contradict themselves about (`size` as a string, which every docs example shows; 400 for
//!   bad input, which the docs do not specify; Range and ETag support). It makes its case
//!   **warn**, or **fail** with [`ValidateOptions::strict`] (which is how docbridge's own CI runs).
//!
//! The validator works inside a sandbox folder it creates (`/createFolder`) and deletes at the end
//! (`/delete`); a provider without those gets uniquely named items in its root, left behind.
//! It calls `/serviceInfo` first: cases needing an endpoint that the provider does not declare
//! are skipped; without `/serviceInfo` only the core 1.0 endpoints are assumed.

mod cases;
mod context;
mod image;
mod report;
mod shape;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use docbridge_protocol::Endpoint;
use serde::Serialize;

use crate::{ClientError, RemoteConfig};
pub use cases::{Case, cases};

/// A group of cases, selectable with `--group`. `setup` (service discovery, sandbox, fixtures,
/// clean-up) always runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Service discovery, the sandbox folder, fixtures and clean-up: always runs.
    Setup,
    /// The endpoints of protocol 1.0.
    Core,
    /// Upload as 1.1 has it (`/uploadInit` with Workfront's document IDs).
    Upload11,
    /// `/createFolder`, added in 1.2.
    CreateFolder12,
    /// `/delete` and `/rename`: documented, not released by Workfront.
    Unreleased,
    /// The failure vocabularies: unknown IDs, bad parameters, refused writes.
    Errors,
    /// ApiKey authentication: missing and wrong keys are refused.
    ApiKey,
    /// OAuth2 bearer tokens: missing and wrong tokens are refused.
    OAuth2,
    /// docbridge's extensions (`Range`, `Content-Disposition`, ...), checked where declared.
    Extensions,
    /// What Workfront's manual and its observed behaviour add to the specification.
    WorkfrontManual,
}

impl Group {
    /// The groups a user can select, in the order they run.
    pub const SELECTABLE: [Group; 9] = [
        Group::Core,
        Group::Upload11,
        Group::CreateFolder12,
        Group::Unreleased,
        Group::Errors,
        Group::ApiKey,
        Group::OAuth2,
        Group::Extensions,
        Group::WorkfrontManual,
    ];

    /// The name `--group` takes (`core-1.0`, `upload-1.1`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Setup => "setup",
            Group::Core => "core-1.0",
            Group::Upload11 => "upload-1.1",
            Group::CreateFolder12 => "create-folder-1.2",
            Group::Unreleased => "unreleased",
            Group::Errors => "errors",
            Group::ApiKey => "apikey",
            Group::OAuth2 => "oauth2",
            Group::Extensions => "extensions",
            Group::WorkfrontManual => "workfront-manual",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Group {
    type Err = ClientError;

    fn from_str(raw: &str) -> Result<Self, ClientError> {
        Group::SELECTABLE.into_iter().find(|g| g.as_str() == raw).ok_or_else(|| {
            let names: Vec<&str> = Group::SELECTABLE.iter().map(|g| g.as_str()).collect();
            ClientError::Config(format!("unknown group {raw:?} (groups: {})", names.join(", ")))
        })
    }
}

impl Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What to validate and how.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// The provider: Base API URL, request parameters and credentials.
    pub remote: RemoteConfig,
    /// The groups to run; empty means all.
    pub groups: Vec<Group>,
    /// Grade contract-only findings as failures instead of warnings.
    pub strict: bool,
    /// The longest any single request may take.
    pub request_timeout: Duration,
}

impl ValidateOptions {
    /// Options for this remote: every group, not strict, 60-second requests.
    pub fn new(remote: RemoteConfig) -> Self {
        ValidateOptions { remote, groups: Vec::new(), strict: false, request_timeout: Duration::from_secs(60) }
    }

    fn selects(&self, group: Group) -> bool {
        group == Group::Setup || self.groups.is_empty() || self.groups.contains(&group)
    }
}

/// Who requires what a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The Workfront documentation.
    Spec,
    /// docbridge's contract only.
    Contract,
}

/// One deviation found by a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Whose requirement it is.
    pub level: Level,
    /// What was expected and what the provider did.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Spec => "spec",
            Level::Contract => "contract",
        };
        write!(f, "[{tag}] {}", self.message)
    }
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// No finding.
    Pass,
    /// Only contract findings, and not strict.
    Warn,
    /// A specification finding, or a contract finding with `strict`.
    Fail,
    /// Not run: its endpoints are missing, or a step it needs failed.
    Skip,
}

impl CaseStatus {
    /// `PASS`, `WARN`, `FAIL` or `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Pass => "PASS",
            CaseStatus::Warn => "WARN",
            CaseStatus::Fail => "FAIL",
            CaseStatus::Skip => "SKIP",
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's ID, e.g. `core.files-root`.
    pub id: &'static str,
    /// Its group.
    pub group: Group,
    /// The spec section and contract clause checked, e.g. `§9.2 / C9`.
    pub section: &'static str,
    /// What it checks, in a sentence.
    pub description: &'static str,
    /// How it ended.
    pub status: CaseStatus,
    /// What happened, in one line: the findings, the reason for a skip, or a note on a pass.
    pub message: String,
    /// Every deviation it found.
    pub findings: Vec<Finding>,
    /// How long it took.
    pub duration_ms: u64,
}

impl CaseResult {
    /// `FAIL errors.unknown-id [§7 / C20]: ...`: the case, the section and the message.
    pub fn headline(&self) -> String {
        format!("{} {} [{}]: {}", self.status.label(), self.id, self.section, self.message)
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases with contract findings only (not strict).
    pub warned: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases not run.
    pub skipped: usize,
}

/// Everything one run found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The provider's *Base API URL*.
    pub base_url: String,
    /// Whether contract findings failed cases.
    pub strict: bool,
    /// The raw `/serviceInfo` answer, when there was a JSON one.
    pub service_info: Option<serde_json::Value>,
    /// The endpoints cases were gated on.
    pub available_endpoints: Vec<String>,
    /// Whether `available_endpoints` came from `/serviceInfo` or was assumed (core 1.0).
    pub endpoints_declared: bool,
    /// Every case, in the order they ran.
    pub results: Vec<CaseResult>,
    /// The counts per status.
    pub summary: Summary,
    /// How long the whole run took.
    pub duration_ms: u64,
}

impl Report {
    /// Whether any case failed (the `validate` command's exit status).
    pub fn has_failures(&self) -> bool {
        self.summary.failed > 0
    }

    /// The result of the case with this ID.
    pub fn result(&self, id: &str) -> Option<&CaseResult> {
        self.results.iter().find(|r| r.id == id)
    }
}

/// Runs the selected groups against the provider. Never fails as a whole: a provider that
/// cannot be reached produces failed cases, not an error.
pub async fn run(options: &ValidateOptions) -> Report {
    let started = Instant::now();
    let mut ctx = match context::Ctx::new(options) {
        Ok(ctx) => ctx,
        Err(err) => return report::unusable_config(options, &err),
    };
    let mut results = Vec::new();
    for case in cases() {
        if !options.selects(case.group) {
            continue;
        }
        let case_started = Instant::now();
        let (status, message, findings) = match missing_endpoint(&ctx, case.needs) {
            Some(endpoint) => (CaseStatus::Skip, skip_reason(&ctx, endpoint), Vec::new()),
            None => ctx.run_case(case).await,
        };
        results.push(CaseResult {
            id: case.id,
            group: case.group,
            section: case.section,
            description: case.description,
            status,
            message,
            findings,
            duration_ms: u64::try_from(case_started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    let summary = report::summarise(&results);
    Report {
        base_url: options.remote.base_url.clone(),
        strict: options.strict,
        service_info: ctx.service_info.clone(),
        available_endpoints: ctx.available_endpoints(),
        endpoints_declared: ctx.endpoints_declared,
        results,
        summary,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn missing_endpoint(ctx: &context::Ctx, needs: &[Endpoint]) -> Option<Endpoint> {
    needs.iter().copied().find(|endpoint| !ctx.has(*endpoint))
}

fn skip_reason(ctx: &context::Ctx, endpoint: Endpoint) -> String {
    if ctx.endpoints_declared {
        format!("the provider does not declare {endpoint} in serviceInfo.availableEndpoints")
    } else {
        format!("needs {endpoint}, and without /serviceInfo only the core 1.0 endpoints are assumed")
    }
}
