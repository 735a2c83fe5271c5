//! The conformance validator against the in-test provider: every group passes against the
//! correct one, and each deliberately broken behaviour is caught by a named case.

use crate::support;

use docbridge_client::validate::{self, CaseStatus, Group, Report, ValidateOptions};
use support::{Broken, CheckedAuth, Options, Provider};

async fn validate_against(options: Options, strict: bool) -> (Report, Provider) {
    let provider = Provider::start(options).await;
    let mut validate_options = ValidateOptions::new(provider.remote());
    validate_options.strict = strict;
    let report = validate::run(&validate_options).await;
    (report, provider)
}

fn assert_no_failures_or_warnings(report: &Report) {
    let bad: Vec<String> = report
        .results
        .iter()
        .filter(|r| matches!(r.status, CaseStatus::Fail | CaseStatus::Warn))
        .map(|r| r.headline())
        .collect();
    assert!(bad.is_empty(), "unexpected findings:\n{}\n\n{}", bad.join("\n"), report.render_text());
}

fn status_of(report: &Report, id: &str) -> CaseStatus {
    report.result(id).unwrap_or_else(|| panic!("no result for {id}")).status
}

#[tokio::test]
async fn a_correct_apikey_provider_passes_every_group_strictly() {
    let (report, provider) = validate_against(Options::default(), true).await;
    assert_no_failures_or_warnings(&report);
    assert!(!report.has_failures());
    assert!(report.endpoints_declared);
    // Everything that applies ran; only the bearer-token cases and the refresh are skipped.
    let skipped: Vec<&str> = report.results.iter().filter(|r| r.status == CaseStatus::Skip).map(|r| r.id).collect();
    assert_eq!(
        skipped,
        ["oauth2.missing-token", "oauth2.garbage-token", "workfront.10-token-refresh"],
        "{}",
        report.render_text()
    );
    assert_eq!(report.results.len(), validate::cases().len());
    // The sandbox and everything outside it were deleted; only docbridge's Archive folder stays.
    assert_eq!(provider.item_count(), 1, "{}", report.render_text());
}

#[tokio::test]
async fn a_correct_bearer_provider_passes_and_apikey_cases_are_skipped() {
    let options = Options { auth: CheckedAuth::Bearer, ..Options::default() };
    let (report, _provider) = validate_against(options, true).await;
    assert_no_failures_or_warnings(&report);
    for id in ["apikey.missing", "apikey.wrong-key", "apikey.empty-username"] {
        assert_eq!(status_of(&report, id), CaseStatus::Skip);
    }
    assert_eq!(status_of(&report, "oauth2.garbage-token"), CaseStatus::Pass);
}

#[tokio::test]
async fn without_service_info_only_core_endpoints_are_assumed() {
    let options = Options { service_info: false, ..Options::default() };
    let (report, _provider) = validate_against(options, true).await;
    assert_no_failures_or_warnings(&report);
    assert!(!report.endpoints_declared);
    for id in [
        "create-folder.create",
        "unreleased.rename",
        "unreleased.delete",
        "errors.name-conflict",
        "core.metadata-folder",
    ] {
        let result = report.result(id).expect("result");
        assert_eq!(result.status, CaseStatus::Skip, "{}", result.headline());
    }
    assert!(report.result("create-folder.create").expect("result").message.contains("core 1.0"));
    assert_eq!(status_of(&report, "core.upload-round-trip"), CaseStatus::Pass);
    // No createFolder and no delete: the fixtures stay in the root, as the clean-up says.
    let cleanup = report.result("setup.cleanup").expect("cleanup");
    assert_eq!(cleanup.status, CaseStatus::Skip);
    assert!(cleanup.message.contains("left behind"), "{}", cleanup.message);
}

#[tokio::test]
async fn groups_can_be_selected_and_reports_render() {
    let provider = Provider::start(Options::default()).await;
    let mut options = ValidateOptions::new(provider.remote());
    options.groups = vec!["errors".parse::<Group>().expect("group")];
    let report = validate::run(&options).await;
    assert!(report.results.iter().all(|r| matches!(r.group, Group::Errors | Group::Setup)));
    assert!(report.results.iter().any(|r| r.group == Group::Errors));
    let text = report.render_text();
    assert!(text.contains("PASS errors.unknown-id") && text.contains("§7 / C20"), "{text}");
    let junit = report.render_junit();
    assert!(junit.starts_with("<?xml") && junit.contains("<testsuite name=\"errors\""), "{junit}");
    let json: serde_json::Value = serde_json::from_str(&report.render_json()).expect("JSON report");
    assert_eq!(json["summary"]["failed"], 0);
    assert!("nonsense".parse::<Group>().is_err());
}

#[tokio::test]
async fn an_unreachable_provider_fails_instead_of_erroring() {
    // Bind a port and drop the listener so that nothing answers there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let remote =
        docbridge_client::RemoteConfig::new("gone", format!("http://{address}/api"), docbridge_client::Auth::None);
    let report = validate::run(&ValidateOptions::new(remote)).await;
    assert!(report.has_failures());
    assert_eq!(status_of(&report, "setup.service-info"), CaseStatus::Fail);
}

/// One broken behaviour, the case that must catch it, the section it must name and a piece of
/// its message. `strict` marks behaviours that only docbridge's contract forbids.
struct Expectation {
    broken: Broken,
    auth: CheckedAuth,
    case: &'static str,
    section: &'static str,
    message: &'static str,
    strict: bool,
}

fn expect(
    broken: Broken,
    case: &'static str,
    section: &'static str,
    message: &'static str,
    strict: bool,
) -> Expectation {
    Expectation { broken, auth: CheckedAuth::ApiKey, case, section, message, strict }
}

#[tokio::test]
async fn every_broken_behaviour_is_caught_by_a_named_case() {
    let expectations = [
        expect(
            Broken { size_as_string: true, ..Broken::default() },
            "core.metadata-file",
            "§5",
            "size is the string",
            true,
        ),
        expect(
            Broken { omit_read_only: true, ..Broken::default() },
            "core.metadata-file",
            "C7",
            "field readOnly is missing",
            true,
        ),
        expect(
            Broken { epoch_dates: true, ..Broken::default() },
            "core.files-root",
            "§9.2",
            "epoch milliseconds",
            false,
        ),
        expect(
            Broken { extra_field: true, ..Broken::default() },
            "core.files-root",
            "C9",
            "unexpected field location",
            true,
        ),
        expect(
            Broken { relative_view_link: true, ..Broken::default() },
            "workfront.3-open",
            "§11 test 3",
            "viewLink",
            false,
        ),
        expect(
            Broken { ok_for_unknown_id: true, ..Broken::default() },
            "errors.unknown-id",
            "§7",
            "expected HTTP 404, got success",
            false,
        ),
        expect(
            Broken { bad_request_for_malformed_id: true, ..Broken::default() },
            "errors.unknown-id",
            "C6",
            "expected HTTP 404, got HTTP 400",
            true,
        ),
        expect(
            Broken { plain_text_errors: true, ..Broken::default() },
            "errors.unknown-id",
            "§7",
            "the error body is not",
            false,
        ),
        expect(
            Broken { server_error_for_missing_params: true, ..Broken::default() },
            "errors.missing-params",
            "C20",
            "expected HTTP 400, got HTTP 500",
            true,
        ),
        expect(
            Broken { accept_any_credentials: true, ..Broken::default() },
            "apikey.missing",
            "§3.1",
            "expected HTTP 403, got success",
            false,
        ),
        expect(
            Broken { accept_any_credentials: true, ..Broken::default() },
            "apikey.wrong-key",
            "§3.1",
            "with a wrong apiKey",
            false,
        ),
        expect(
            Broken { lose_upload_bytes: true, ..Broken::default() },
            "core.upload-round-trip",
            "§9.6-9.7",
            "they differ from byte",
            false,
        ),
        expect(
            Broken { lose_upload_bytes: true, ..Broken::default() },
            "workfront.9-content-bytes",
            "§11 test 9",
            "were uploaded",
            false,
        ),
        expect(
            Broken { ignore_range: true, ..Broken::default() },
            "extensions.range",
            "C11",
            "expected 206 Partial Content",
            true,
        ),
        expect(Broken { no_etag: true, ..Broken::default() }, "extensions.conditional", "C11", "no ETag", true),
        expect(
            Broken { accept_bad_names: true, ..Broken::default() },
            "errors.bad-names",
            "C13",
            "filename=..: expected HTTP 400, got success",
            false,
        ),
        expect(
            Broken { duplicate_folders: true, ..Broken::default() },
            "errors.name-conflict",
            "C15",
            "a second folder of the same name",
            true,
        ),
        expect(
            Broken { service_info_needs_auth: true, ..Broken::default() },
            "unreleased.service-info",
            "§9.10",
            "should not require authentication",
            false,
        ),
        expect(
            Broken { search_finds_nothing: true, ..Broken::default() },
            "core.search",
            "§9.3",
            "is not found",
            false,
        ),
        expect(
            Broken { thumbnail_not_image: true, ..Broken::default() },
            "core.thumbnail",
            "§9.5",
            "is not a PNG",
            false,
        ),
        expect(
            Broken { rename_is_noop: true, ..Broken::default() },
            "unreleased.rename",
            "§9.11",
            "after the rename",
            false,
        ),
        expect(
            Broken { delete_is_noop: true, ..Broken::default() },
            "unreleased.delete",
            "§9.9",
            "was deleted but metadata still answers",
            false,
        ),
        Expectation {
            broken: Broken { accept_any_credentials: true, ..Broken::default() },
            auth: CheckedAuth::Bearer,
            case: "oauth2.garbage-token",
            section: "§3.2",
            message: "with a garbage token",
            strict: false,
        },
    ];
    let mut missed = Vec::new();
    for expectation in expectations {
        let options = Options { auth: expectation.auth, broken: expectation.broken.clone(), ..Options::default() };
        let (report, _provider) = validate_against(options, expectation.strict).await;
        let Some(result) = report.result(expectation.case) else {
            missed.push(format!("{}: no result", expectation.case));
            continue;
        };
        let headline = result.headline();
        let caught = result.status == CaseStatus::Fail
            && headline.contains(expectation.case)
            && headline.contains(expectation.section)
            && result.message.contains(expectation.message);
        if !caught {
            missed.push(format!("{:?} not caught as expected: {headline}", expectation.broken));
        }
        assert!(report.has_failures(), "a failed case makes the run fail");
        if !expectation.strict {
            // A spec-level deviation fails even without --strict.
            assert_eq!(result.status, CaseStatus::Fail);
        }
    }
    assert!(missed.is_empty(), "\n{}", missed.join("\n"));
}

#[tokio::test]
async fn contract_only_deviations_warn_unless_strict() {
    let options = Options { broken: Broken { ignore_range: true, ..Broken::default() }, ..Options::default() };
    let (report, _provider) = validate_against(options, false).await;
    assert_eq!(status_of(&report, "extensions.range"), CaseStatus::Warn);
    assert!(!report.has_failures(), "{}", report.render_text());
}
