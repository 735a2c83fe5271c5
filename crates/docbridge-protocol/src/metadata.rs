//! The file/folder metadata object (protocol §5, contract C7).

use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ItemId;

/// `file` or `folder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A document.
    File,
    /// A folder, which can be listed.
    Folder,
}

/// One item as `/metadata` answers it and `/files`, `/search`, `/uploadInit` and `/createFolder`
/// list it. docbridge always sends every field and never `null`: folders have `size` 0 and
/// empty `mimeType` and `downloadLink`. Reading is lenient, as other providers send `size` as a
/// string, `""` or `null` for folders, and dates as epoch milliseconds (§13.3–5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ItemMetadata {
    /// The item's stable ID: opaque, at most 64 URL-safe characters; `/` is the root folder.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_/-]{1,64}$"))]
    pub id: ItemId,
    /// Its name, as shown in Workfront.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub title: String,
    /// File or folder.
    pub kind: ItemKind,
    /// When its content last changed (`dateModified`, RFC 3339 with milliseconds).
    #[serde(serialize_with = "serialize_date", deserialize_with = "deserialize_date_lenient", default = "epoch")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, format = DateTime, example = "2014-06-05T17:39:45.251Z", required = true)
    )]
    pub date_modified: DateTime<Utc>,
    /// Its size in bytes; 0 for a folder. Sent as a number, read from a number or a string.
    #[serde(deserialize_with = "deserialize_size_lenient", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub size: u64,
    /// Its MIME type; empty for a folder.
    #[serde(deserialize_with = "deserialize_string_lenient", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub mime_type: String,
    /// A page that shows the item to a person (a signed link for docbridge's files).
    #[serde(deserialize_with = "deserialize_string_lenient", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub view_link: String,
    /// A URL that answers the file's bytes; empty for a folder.
    #[serde(deserialize_with = "deserialize_string_lenient", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub download_link: String,
    /// Whether the caller may only read the item (the `reader` role).
    #[serde(deserialize_with = "deserialize_bool_lenient", default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub read_only: bool,
}

/// RFC 3339, UTC, milliseconds, `Z` (C7): `2014-06-05T17:39:45.251Z`.
pub fn format_date(date: &DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn serialize_date<S: Serializer>(date: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_date(date))
}

/// Reads a date as providers send it: RFC 3339 (with or without the docs' soft hyphens), the
/// compact `20140605T17:39:45.251Z` the rendered docs show, or epoch milliseconds.
pub fn parse_date_lenient(raw: &str) -> Option<DateTime<Utc>> {
    parse_any_date(raw).filter(is_rfc3339_year)
}

/// RFC 3339 has four-digit years: a date outside 0000..=9999 could be read from epoch
/// milliseconds but not written back in a form anyone (docbridge included) reads.
fn is_rfc3339_year(date: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&date.year())
}

fn parse_any_date(raw: &str) -> Option<DateTime<Utc>> {
    let cleaned: String = raw.trim().chars().filter(|c| *c != '\u{00AD}').collect();
    if let Ok(date) = DateTime::parse_from_rfc3339(&cleaned) {
        return Some(date.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(cleaned.trim_end_matches('Z'), "%Y%m%dT%H:%M:%S%.f") {
        return Some(Utc.from_utc_datetime(&naive));
    }
    cleaned.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis)
}

fn deserialize_date_lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let parsed = match &value {
        serde_json::Value::String(s) => parse_date_lenient(s),
        serde_json::Value::Number(n) => n.as_i64().and_then(DateTime::from_timestamp_millis).filter(is_rfc3339_year),
        serde_json::Value::Null => Some(epoch()),
        _ => None,
    };
    parsed.ok_or_else(|| serde::de::Error::custom(format!("dateModified is not a date: {value}")))
}

fn deserialize_size_lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    match &value {
        serde_json::Value::Number(n) => {
            n.as_u64().ok_or_else(|| serde::de::Error::custom(format!("size is not a byte count: {n}")))
        }
        serde_json::Value::String(s) if s.trim().is_empty() => Ok(0),
        serde_json::Value::String(s) => {
            s.trim().parse().map_err(|_| serde::de::Error::custom(format!("size is not a byte count: {s:?}")))
        }
        serde_json::Value::Null => Ok(0),
        other => Err(serde::de::Error::custom(format!("size is not a byte count: {other}"))),
    }
}

fn deserialize_string_lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

fn deserialize_bool_lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    match value {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Null => Ok(false),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
        other => Err(serde::de::Error::custom(format!("readOnly is not a boolean: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ItemMetadata {
        ItemMetadata {
            id: ItemId::parse("id", "abc").unwrap(),
            title: "My Document".into(),
            kind: ItemKind::File,
            date_modified: parse_date_lenient("2014-06-05T17:39:45.251Z").unwrap(),
            size: 32554694,
            mime_type: "image/png".into(),
            view_link: "https://h/view".into(),
            download_link: "https://h/dl".into(),
            read_only: false,
        }
    }

    #[test]
    fn serialises_exactly_the_contract_fields() {
        let json = serde_json::to_value(sample()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9);
        for key in ["id", "title", "kind", "dateModified", "size", "mimeType", "viewLink", "downloadLink", "readOnly"] {
            assert!(keys.contains(&key), "missing {key}");
        }
        assert_eq!(json["dateModified"], "2014-06-05T17:39:45.251Z");
        assert_eq!(json["size"], 32554694);
        assert_eq!(json["kind"], "file");
    }

    #[test]
    fn reads_what_real_providers_send() {
        let docs_folder = r#"{"title":"Folder A","kind":"folder","id":"2lj23lkj","viewLink":"https://x/v",
            "downloadLink":"","mimeType":"","dateModified":"2014-06-05T17:39:45.251Z","size":""}"#;
        let item: ItemMetadata = serde_json::from_str(docs_folder).unwrap();
        assert_eq!(item.size, 0);
        assert_eq!(item.kind, ItemKind::Folder);

        let java_ri = r#"{"id":"abc","title":"a.txt","kind":"file","mimeType":null,"size":12,
            "dateModified":1401990000000,"downloadLink":null,"viewLink":null,"location":"/home/x"}"#;
        let item: ItemMetadata = serde_json::from_str(java_ri).unwrap();
        assert_eq!(item.date_modified.timestamp_millis(), 1401990000000);
        assert_eq!(item.mime_type, "");

        let string_size =
            r#"{"id":"abc","kind":"file","size":"32554694","dateModified":"2014\u00ad06\u00ad05T17:39:45.251Z"}"#;
        let item: ItemMetadata = serde_json::from_str(string_size).unwrap();
        assert_eq!(item.size, 32554694);
        assert_eq!(format_date(&item.date_modified), "2014-06-05T17:39:45.251Z");
    }

    #[test]
    fn compact_docs_date_is_understood() {
        let date = parse_date_lenient("20140605T17:39:45.251Z").unwrap();
        assert_eq!(format_date(&date), "2014-06-05T17:39:45.251Z");
        assert!(parse_date_lenient("yesterday").is_none());
        // Found by fuzzing: epoch milliseconds of year -209371 cannot be written back as RFC 3339.
        assert!(parse_date_lenient("-6669146000000000").is_none());
        let err = serde_json::from_str::<ItemMetadata>(r#"{"id":"x","dateModified":-6669146000000000}"#).unwrap_err();
        assert!(err.to_string().contains("dateModified is not a date"), "{err}");
    }

    proptest! {
        #[test]
        fn metadata_round_trips(
            raw_id in "[A-Za-z0-9_-]{1,64}",
            title in "\\PC{0,40}",
            folder in any::<bool>(),
            millis in 0i64..4_102_444_800_000,
            size in any::<u64>(),
            read_only in any::<bool>(),
        ) {
            let item = ItemMetadata {
                id: ItemId::parse("id", &raw_id).unwrap(),
                title,
                kind: if folder { ItemKind::Folder } else { ItemKind::File },
                date_modified: DateTime::from_timestamp_millis(millis).unwrap(),
                size,
                mime_type: "text/plain".into(),
                view_link: "https://h/v".into(),
                download_link: String::new(),
                read_only,
            };
            let back: ItemMetadata = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
            prop_assert_eq!(back, item);
        }
    }
}
