//! Rendering a validation report as text for people, JSON for scripts and JUnit XML for CI.

use std::fmt::Write as _;

use super::{CaseResult, CaseStatus, Group, Report, Summary, ValidateOptions};
use crate::ClientError;

pub(crate) fn summarise(results: &[CaseResult]) -> Summary {
    let mut summary = Summary::default();
    for result in results {
        match result.status {
            CaseStatus::Pass => summary.passed += 1,
            CaseStatus::Warn => summary.warned += 1,
            CaseStatus::Fail => summary.failed += 1,
            CaseStatus::Skip => summary.skipped += 1,
        }
    }
    summary
}

/// A report with a single failed case, for options that do not even make a client.
pub(crate) fn unusable_config(options: &ValidateOptions, err: &ClientError) -> Report {
    let results = vec![CaseResult {
        id: "setup.config",
        group: Group::Setup,
        section: "§1 / C23",
        description: "the Base API URL and credentials are usable",
        status: CaseStatus::Fail,
        message: err.to_string(),
        findings: Vec::new(),
        duration_ms: 0,
    }];
    Report {
        base_url: options.remote.base_url.clone(),
        strict: options.strict,
        service_info: None,
        available_endpoints: Vec::new(),
        endpoints_declared: false,
        summary: summarise(&results),
        results,
        duration_ms: 0,
    }
}

impl Report {
    /// One line per case, the findings of failed and warned cases below it, and a summary.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "docbridge validate: {}", self.base_url);
        let source = if self.endpoints_declared { "declared by /serviceInfo" } else { "assumed (no /serviceInfo)" };
        let _ = writeln!(out, "endpoints {source}: {}", self.available_endpoints.join(", "));
        let grading = if self.strict {
            "strict: contract deviations fail"
        } else {
            "contract deviations warn (use --strict to fail)"
        };
        let _ = writeln!(out, "grading: {grading}\n");
        let id_width = self.results.iter().map(|r| r.id.len()).max().unwrap_or(0);
        let section_width = self.results.iter().map(|r| r.section.len()).max().unwrap_or(0);
        let mut group = None;
        for result in &self.results {
            if group != Some(result.group) {
                group = Some(result.group);
                let _ = writeln!(out, "[{}]", result.group);
            }
            let _ = write!(
                out,
                "  {} {:id_width$}  {:section_width$}  {}",
                result.status.label(),
                result.id,
                result.section,
                result.description
            );
            match result.status {
                CaseStatus::Fail | CaseStatus::Warn => {
                    out.push('\n');
                    for finding in &result.findings {
                        let _ = writeln!(out, "        - {finding}");
                    }
                    if result.findings.is_empty() {
                        let _ = writeln!(out, "        - {}", result.message);
                    }
                }
                CaseStatus::Skip => {
                    let _ = writeln!(out, "\n        ({})", result.message);
                }
                CaseStatus::Pass if result.message != "ok" => {
                    let _ = writeln!(out, "\n        ({})", result.message);
                }
                CaseStatus::Pass => out.push('\n'),
            }
        }
        let Summary { passed, warned, failed, skipped } = self.summary;
        let _ = writeln!(
            out,
            "\nvalidate: {passed} passed, {failed} failed, {skipped} skipped, {warned} warned ({} ms)",
            self.duration_ms
        );
        out
    }

    /// The whole report as pretty JSON.
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|err| format!("{{\"error\":\"cannot render: {err}\"}}"))
    }

    /// JUnit XML: one `testsuite` per group, one `testcase` per case; warnings are passing cases
    /// with their findings in `system-out`.
    pub fn render_junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let Summary { passed, warned, failed, skipped } = self.summary;
        let _ = writeln!(
            out,
            "<testsuites name=\"docbridge validate\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{}\">",
            passed + warned + failed + skipped,
            seconds(self.duration_ms)
        );
        let mut groups: Vec<Group> = Vec::new();
        for result in &self.results {
            if !groups.contains(&result.group) {
                groups.push(result.group);
            }
        }
        for group in groups {
            let results: Vec<&CaseResult> = self.results.iter().filter(|r| r.group == group).collect();
            let count = |status| results.iter().filter(|r| r.status == status).count();
            let time: u64 = results.iter().map(|r| r.duration_ms).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{}\">",
                xml(group.as_str()),
                results.len(),
                count(CaseStatus::Fail),
                count(CaseStatus::Skip),
                seconds(time)
            );
            for result in results {
                let _ = write!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{} [{}]\" time=\"{}\"",
                    xml(group.as_str()),
                    xml(result.id),
                    xml(result.section),
                    seconds(result.duration_ms)
                );
                let details: String = result.findings.iter().map(|f| format!("{f}\n")).collect();
                match result.status {
                    CaseStatus::Pass => out.push_str("/>\n"),
                    CaseStatus::Fail => {
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml(&result.message),
                            xml(&details)
                        );
                    }
                    CaseStatus::Warn => {
                        let _ = writeln!(out, ">\n      <system-out>{}</system-out>\n    </testcase>", xml(&details));
                    }
                    CaseStatus::Skip => {
                        let _ =
                            writeln!(out, ">\n      <skipped message=\"{}\"/>\n    </testcase>", xml(&result.message));
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn seconds(millis: u64) -> String {
    format!("{}.{:03}", millis / 1000, millis % 1000)
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot carry are dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Finding, Level};
    use super::*;

    fn sample() -> Report {
        let result = |id, status, message: &str, findings| CaseResult {
            id,
            group: Group::Errors,
            section: "§7 / C20",
            description: "errors <&>",
            status,
            message: message.to_owned(),
            findings,
            duration_ms: 1500,
        };
        let finding = Finding { level: Level::Spec, message: "got \"200\" <ok>\u{1}".into() };
        let results = vec![
            result("a.pass", CaseStatus::Pass, "ok", vec![]),
            result("a.fail", CaseStatus::Fail, "[spec] got 200", vec![finding]),
            result("a.skip", CaseStatus::Skip, "no delete", vec![]),
        ];
        Report {
            base_url: "http://127.0.0.1:1/api".into(),
            strict: false,
            service_info: None,
            available_endpoints: vec!["files".into()],
            endpoints_declared: false,
            summary: summarise(&results),
            results,
            duration_ms: 4500,
        }
    }

    #[test]
    fn text_names_case_section_and_counts() {
        let text = sample().render_text();
        assert!(text.contains("FAIL a.fail"), "{text}");
        assert!(text.contains("§7 / C20"));
        assert!(text.contains("[spec] got \"200\""));
        assert!(text.contains("1 passed, 1 failed, 1 skipped, 0 warned"));
    }

    #[test]
    fn junit_is_escaped_and_counted() {
        let xml = sample().render_junit();
        assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"[spec] got 200\">[spec] got &quot;200&quot; &lt;ok&gt;\n</failure>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"no delete\"/>"));
        assert!(xml.contains("time=\"1.500\""));
        assert!(!xml.contains('\u{1}'));
    }

    #[test]
    fn json_round_trips_through_serde() {
        let value: serde_json::Value = serde_json::from_str(&sample().render_json()).unwrap();
        assert_eq!(value["results"][1]["status"], "fail");
        assert_eq!(value["results"][1]["group"], "errors");
        assert_eq!(value["summary"]["failed"], 1);
    }
}
