//! Strict checks of JSON bodies against the protocol (§5, §7, §9.7, §9.9–9.12) and docbridge's
//! contract (C7, C14, C16–C20). The client reads leniently; these report every deviation, graded
//! as described in the module documentation of `validate`.

use chrono::DateTime;
use serde_json::{Map, Value};

use super::{Finding, Level};

/// The nine fields C7 sends, and nothing else.
const CONTRACT_FIELDS: [&str; 9] =
    ["id", "title", "kind", "dateModified", "size", "mimeType", "viewLink", "downloadLink", "readOnly"];

fn spec(out: &mut Vec<Finding>, message: String) {
    out.push(Finding { level: Level::Spec, message });
}

fn contract(out: &mut Vec<Finding>, message: String) {
    out.push(Finding { level: Level::Contract, message });
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks one metadata object (§5, C6, C7).
pub(crate) fn metadata(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Value::Object(object) = value else {
        spec(&mut out, format!("expected a metadata object, got {}", type_name(value)));
        return out;
    };
    for field in ["id", "title", "kind", "dateModified"] {
        match object.get(field) {
            None => spec(&mut out, format!("required field {field} is missing (§5)")),
            // A numeric date gets its own, more telling, finding from `check_date`.
            Some(Value::String(_)) | Some(Value::Number(_)) if field == "dateModified" => {}
            Some(Value::String(_)) => {}
            Some(other) => spec(&mut out, format!("{field} is {}, the docs require a string (§5)", type_name(other))),
        }
    }
    check_id(object, &mut out);
    let kind = object.get("kind").and_then(Value::as_str);
    if let Some(kind) = kind
        && kind != "file"
        && kind != "folder"
    {
        spec(&mut out, format!("kind is {kind:?}, must be exactly \"file\" or \"folder\" (§5)"));
    }
    check_date(object.get("dateModified"), &mut out);
    check_size(object.get("size"), kind, &mut out);
    check_links(object, kind, &mut out);
    check_optional_type(object, "mimeType", Value::is_string, "a string", &mut out);
    check_optional_type(object, "readOnly", Value::is_boolean, "a boolean", &mut out);
    if kind == Some("folder") && object.get("mimeType").and_then(Value::as_str).is_some_and(|m| !m.is_empty()) {
        contract(&mut out, "a folder's mimeType must be \"\" (C7)".to_owned());
    }
    for field in CONTRACT_FIELDS {
        if !object.contains_key(field) && !["id", "title", "kind", "dateModified"].contains(&field) {
            contract(&mut out, format!("field {field} is missing; C7 sends every field"));
        }
    }
    for (field, value) in object {
        if !CONTRACT_FIELDS.contains(&field.as_str()) {
            contract(&mut out, format!("unexpected field {field} (C7 sends exactly the nine documented fields)"));
        } else if value.is_null() {
            contract(
                &mut out,
                format!("{field} is null; C7 never sends null (Workfront's tolerance of null is unknown, §13.5)"),
            );
        }
    }
    out
}

fn check_id(object: &Map<String, Value>, out: &mut Vec<Finding>) {
    let Some(id) = object.get("id").and_then(Value::as_str) else { return };
    if id.is_empty() {
        spec(out, "id is empty (§5)".to_owned());
    } else if id.chars().count() > 255 {
        spec(out, format!("id is {} characters long, the docs allow 255 (§1)", id.chars().count()));
    } else if id != "/" && (id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')) {
        contract(out, format!("id {id:?} is not URL-safe [A-Za-z0-9_-]{{1,64}} (C6)"));
    }
}

fn check_date(value: Option<&Value>, out: &mut Vec<Finding>) {
    match value {
        Some(Value::String(date)) => {
            if DateTime::parse_from_rfc3339(date).is_err() {
                let hint = if date.contains('\u{00AD}') {
                    " (it contains soft hyphens, as the docs' source does)"
                } else if date.bytes().all(|b| b.is_ascii_digit()) {
                    " (it looks like epoch milliseconds)"
                } else {
                    ""
                };
                spec(out, format!("dateModified {date:?} is not an RFC 3339 timestamp{hint} (§5, §13.3)"));
            } else if !is_contract_date(date) {
                contract(
                    out,
                    format!(
                        "dateModified {date:?} is not UTC with milliseconds and Z, e.g. 2014-06-05T17:39:45.251Z (C7)"
                    ),
                );
            }
        }
        Some(Value::Number(n)) => {
            spec(
                out,
                format!(
                    "dateModified is the number {n} (epoch milliseconds?), the docs require an RFC 3339 string (§5, §13.3)"
                ),
            );
        }
        _ => {}
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly.
fn is_contract_date(date: &str) -> bool {
    let bytes = date.as_bytes();
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    bytes.len() == pattern.len()
        && bytes.iter().zip(pattern).all(|(b, p)| if *p == b'd' { b.is_ascii_digit() } else { b == p })
}

fn check_size(value: Option<&Value>, kind: Option<&str>, out: &mut Vec<Finding>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) => match n.as_u64() {
            None => spec(out, format!("size {n} is not a whole number of bytes (§5: Long)")),
            Some(size) if kind == Some("folder") && size != 0 => {
                contract(out, format!("a folder's size is {size}; C7 sends 0 for folders"));
            }
            Some(_) => {}
        },
        Some(Value::String(text)) => {
            let looks_numeric = text.is_empty() || text.trim().parse::<u64>().is_ok();
            let message = format!(
                "size is the string {text:?}; C7 sends a number (the docs' type is Long, though their examples use strings, §13.4)"
            );
            if looks_numeric {
                contract(out, message)
            } else {
                spec(out, format!("size {text:?} is not a byte count (§5)"))
            }
        }
        Some(other) => spec(out, format!("size is {}, the docs require a Long (§5)", type_name(other))),
    }
}

fn check_links(object: &Map<String, Value>, kind: Option<&str>, out: &mut Vec<Finding>) {
    for field in ["viewLink", "downloadLink"] {
        let value = object.get(field);
        match (kind, value) {
            (Some("file"), None | Some(Value::Null)) => {
                spec(out, format!("{field} is required for files (§5)"));
            }
            (Some("file"), Some(Value::String(link))) if !is_absolute_url(link) => {
                spec(out, format!("{field} {link:?} is not an absolute http(s) URL a browser can open (§5)"));
            }
            (_, Some(Value::String(_)) | Some(Value::Null) | None) => {}
            (_, Some(other)) => spec(out, format!("{field} is {}, the docs require a string (§5)", type_name(other))),
        }
    }
    if kind == Some("folder") {
        if let Some(Value::String(link)) = object.get("viewLink")
            && !is_absolute_url(link)
        {
            contract(out, format!("a folder's viewLink {link:?} is not an absolute URL (C7)"));
        }
        if let Some(Value::String(link)) = object.get("downloadLink")
            && !link.is_empty()
        {
            contract(out, format!("a folder's downloadLink is {link:?}; C7 sends \"\""));
        }
    }
}

fn check_optional_type(
    object: &Map<String, Value>,
    field: &str,
    is_right: fn(&Value) -> bool,
    expected: &str,
    out: &mut Vec<Finding>,
) {
    if let Some(value) = object.get(field)
        && !value.is_null()
        && !is_right(value)
    {
        spec(out, format!("{field} is {}, the docs require {expected} (§5)", type_name(value)));
    }
}

pub(crate) fn is_absolute_url(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// `{"status":"error","error":"..."}` (§7, C20).
pub(crate) fn error_body(value: &Value, level: Level) -> Vec<Finding> {
    let mut out = Vec::new();
    let status = value.get("status").and_then(Value::as_str);
    let error = value.get("error");
    if status != Some("error") || !error.is_some_and(Value::is_string) {
        out.push(Finding {
            level,
            message: format!(
                "the error body is {value}, expected {{\"status\":\"error\",\"error\":\"<message>\"}} (§7)"
            ),
        });
    }
    out
}

/// `{"status":"success"}` or `{"status":"failure","error":"..."}` (§9.9, §9.11, §9.12).
/// `want_success` says which one the case expects, if it knows.
pub(crate) fn status_outcome(value: &Value, want_success: Option<bool>) -> Vec<Finding> {
    let mut out = Vec::new();
    match value.get("status").and_then(Value::as_str) {
        Some("success") => {
            if want_success == Some(false) {
                spec(&mut out, format!("the body reports success ({value}), expected a failure"));
            }
        }
        Some("failure") => {
            if !value.get("error").is_some_and(Value::is_string) {
                spec(&mut out, format!("the failure body {value} has no \"error\" message for Workfront to show"));
            }
            if want_success == Some(true) {
                let message = value.get("error").and_then(Value::as_str).unwrap_or("no message");
                spec(&mut out, format!("the provider reported a failure: {message}"));
            }
        }
        Some("error") => {
            let message =
                format!("the body {value} says \"error\"; this endpoint's vocabulary is \"failure\" (§7, §13.6)");
            if want_success == Some(true) { spec(&mut out, message) } else { contract(&mut out, message) }
        }
        _ => spec(
            &mut out,
            format!("the body {value} is neither {{\"status\":\"success\"}} nor {{\"status\":\"failure\",...}}"),
        ),
    }
    out
}

/// `{"result":"success"}` (§9.7, C14).
pub(crate) fn upload_success(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    match value.get("result").and_then(Value::as_str) {
        Some("success") => {}
        Some("fail") => {
            let message =
                value.get("error").or_else(|| value.get("message")).and_then(Value::as_str).unwrap_or("no message");
            spec(&mut out, format!("the upload reported {{\"result\":\"fail\"}}: {message}"));
        }
        _ => spec(&mut out, format!("the body {value} is not {{\"result\":\"success\"}} (§9.7)")),
    }
    out
}

/// The `/serviceInfo` object (§9.10, C19).
pub(crate) fn service_info(value: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let Value::Object(object) = value else {
        spec(&mut out, format!("expected an object, got {}", type_name(value)));
        return out;
    };
    if object.contains_key("webhook version") {
        spec(&mut out, "the key is \"webhook version\" (a typo of the docs' example); it is webhookVersion".to_owned());
    }
    for field in ["webhookVersion", "version", "publisher"] {
        match object.get(field) {
            Some(Value::String(_)) => {}
            None => spec(&mut out, format!("field {field} is missing (§9.10)")),
            Some(other) => spec(&mut out, format!("{field} is {}, expected a string (§9.10)", type_name(other))),
        }
    }
    match object.get("availableEndpoints") {
        Some(Value::Array(items)) => {
            for item in items {
                match item.as_str() {
                    Some(name) if name.parse::<docbridge_protocol::Endpoint>().is_err() => {
                        contract(
                            &mut out,
                            format!(
                                "availableEndpoints lists {name:?}, which is not an endpoint name as the docs spell it"
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        spec(&mut out, format!("availableEndpoints holds {item}, expected endpoint names (strings)"))
                    }
                }
            }
        }
        Some(other) => spec(
            &mut out,
            format!("availableEndpoints is {}, expected an array of strings (§9.10, §13.16)", type_name(other)),
        ),
        None => spec(&mut out, "field availableEndpoints is missing (§9.10)".to_owned()),
    }
    match object.get("customActions") {
        Some(Value::Array(actions)) => {
            for action in actions {
                let ok = ["name", "displayName"].iter().all(|k| action.get(k).is_some_and(Value::is_string));
                if !ok {
                    spec(
                        &mut out,
                        format!("customActions holds {action}, expected {{\"name\":...,\"displayName\":...}} (§9.10)"),
                    );
                }
            }
        }
        Some(other) => spec(&mut out, format!("customActions is {}, expected an array (§9.10)", type_name(other))),
        None => contract(&mut out, "field customActions is missing; C19 always sends it (may be [])".to_owned()),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn levels(findings: &[Finding]) -> (usize, usize) {
        let spec = findings.iter().filter(|f| f.level == Level::Spec).count();
        (spec, findings.len() - spec)
    }

    fn good_file() -> Value {
        json!({"id":"abc","title":"a.txt","kind":"file","dateModified":"2014-06-05T17:39:45.251Z","size":3,
               "mimeType":"text/plain","viewLink":"http://h/v","downloadLink":"http://h/d","readOnly":false})
    }

    #[test]
    fn a_contract_item_has_no_findings() {
        assert_eq!(metadata(&good_file()), vec![]);
        let folder = json!({"id":"/","title":"","kind":"folder","dateModified":"2014-06-05T17:39:45.251Z","size":0,
                            "mimeType":"","viewLink":"http://h/v","downloadLink":"","readOnly":false});
        assert_eq!(metadata(&folder), vec![]);
    }

    #[test]
    fn the_docs_example_only_deviates_from_the_contract() {
        let docs = json!({"title":"Folder A","kind":"folder","id":"2lj23lkj","viewLink":"https://www.acme.com/v",
            "downloadLink":"https://www.acme.com/d","mimeType":"","dateModified":"2014-06-05T17:39:45.251Z","size":""});
        let findings = metadata(&docs);
        assert_eq!(levels(&findings).0, 0, "{findings:?}");
        assert!(levels(&findings).1 >= 2, "size string, downloadLink, readOnly: {findings:?}");
    }

    #[test]
    fn the_java_ri_shape_breaks_the_spec() {
        let ri = json!({"id":"a+b/c=","title":"x","kind":"file","dateModified":1401990000000u64,"size":3,
            "mimeType":null,"viewLink":"http://h/v","downloadLink":"http://h/d","location":"/home/x"});
        let findings = metadata(&ri);
        assert!(findings.iter().any(|f| f.level == Level::Spec && f.message.contains("epoch")), "{findings:?}");
        assert!(findings.iter().any(|f| f.message.contains("location")));
        assert!(findings.iter().any(|f| f.message.contains("C6")));
    }

    #[test]
    fn wrong_types_and_values() {
        let mut item = good_file();
        item["readOnly"] = json!("yes");
        item["viewLink"] = json!("/relative");
        item["size"] = json!(-1);
        let findings = metadata(&item);
        assert_eq!(levels(&findings), (3, 0), "{findings:?}");
        item = good_file();
        item["kind"] = json!("document");
        assert_eq!(levels(&metadata(&item)), (1, 0));
        assert_eq!(levels(&metadata(&json!([]))), (1, 0));
    }

    #[test]
    fn dates() {
        let mut out = Vec::new();
        check_date(Some(&json!("20140605T17:39:45.251Z")), &mut out);
        check_date(Some(&json!("2014-06-05T19:39:45+02:00")), &mut out);
        assert_eq!(levels(&out), (1, 1), "{out:?}");
    }

    #[test]
    fn outcome_bodies() {
        assert!(error_body(&json!({"status":"error","error":"x"}), Level::Spec).is_empty());
        assert_eq!(error_body(&json!({"result":null}), Level::Spec).len(), 1);
        assert!(status_outcome(&json!({"status":"success"}), Some(true)).is_empty());
        assert!(status_outcome(&json!({"status":"failure","error":"x"}), Some(false)).is_empty());
        assert_eq!(status_outcome(&json!({"status":"failure"}), None).len(), 1);
        assert!(upload_success(&json!({"result":"success"})).is_empty());
        assert_eq!(upload_success(&json!({"result":"fail","message":"Upload Failed"})).len(), 1);
    }

    #[test]
    fn service_info_shapes() {
        let good = json!({"webhookVersion":"1.2","version":"1","publisher":"p","availableEndpoints":["files"],"customActions":[]});
        assert!(service_info(&good).is_empty());
        let docs = json!({"webhook version":"1.2","version":"1","publisher":"p","availableEndpoints":"files"});
        assert!(levels(&service_info(&docs)).0 >= 3);
    }
}
