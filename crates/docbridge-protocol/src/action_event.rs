//! The body docbridge POSTs when a `webhook` custom action runs (C18): docbridge's own outgoing
//! format, not Workfront's, documented in `docs/registry.md`.
//!
//! The receiver checks the `X-Docbridge-Signature: sha256=<hex>` header, an HMAC-SHA256 of the
//! exact body bytes under the action's secret, before trusting anything in it. Every attempt of
//! one delivery carries the same `X-Docbridge-Delivery` ID, so a receiver can drop repeats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ItemId, ItemKind};

/// The header with the body's signature: `sha256=` and the lower-case hex HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "X-Docbridge-Signature";
/// The header with the delivery's ID, the same on every retry.
pub const DELIVERY_HEADER: &str = "X-Docbridge-Delivery";
/// The header naming the event (`customAction`).
pub const EVENT_HEADER: &str = "X-Docbridge-Event";
/// The value of `event` and of the event header.
pub const CUSTOM_ACTION_EVENT: &str = "customAction";

/// One run of a `webhook` custom action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionEvent {
    /// Always `customAction`.
    pub event: String,
    /// The delivery's ID (also in the delivery header).
    pub delivery: String,
    /// The action's name, as Workfront sent it.
    pub action: String,
    /// The slug of the integration the action belongs to.
    pub integration: String,
    /// Who ran it: the `username` of the Workfront call.
    pub user: String,
    /// When docbridge ran it: RFC 3339, UTC, milliseconds.
    #[serde(with = "millis_date")]
    pub occurred_at: DateTime<Utc>,
    /// Workfront's document ID, when the action was called with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// Workfront's document version ID, when the action was called with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_version_id: Option<String>,
    /// The item the action ran on.
    pub item: ActionEventItem,
}

/// The item an action ran on: its metadata as `/metadata` answers it (C7), less the signed
/// links, which are made per caller and expire, plus its path in the library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionEventItem {
    /// The item's ID.
    pub id: ItemId,
    /// Its name.
    pub title: String,
    /// File or folder.
    pub kind: ItemKind,
    /// When its content last changed: RFC 3339, UTC, milliseconds.
    #[serde(with = "millis_date")]
    pub date_modified: DateTime<Utc>,
    /// Its size in bytes; 0 for a folder.
    pub size: u64,
    /// Its MIME type; empty for a folder.
    pub mime_type: String,
    /// Whether the user who ran the action may only read it.
    pub read_only: bool,
    /// `/`-separated, relative to the library's root.
    pub path: String,
}

mod millis_date {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::format_date(date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(deserializer)?;
        crate::parse_date_lenient(&raw).ok_or_else(|| serde::de::Error::custom(format!("not a date: {raw:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ActionEvent {
        ActionEvent {
            event: CUSTOM_ACTION_EVENT.into(),
            delivery: "d1".into(),
            action: "notify".into(),
            integration: "default".into(),
            user: "ann@example.com".into(),
            occurred_at: crate::parse_date_lenient("2024-05-06T07:08:09.010Z").unwrap(),
            document_id: Some("wf-doc".into()),
            document_version_id: None,
            item: ActionEventItem {
                id: ItemId::parse("id", "abc").unwrap(),
                title: "report.pdf".into(),
                kind: ItemKind::File,
                date_modified: crate::parse_date_lenient("2024-05-01T00:00:00.000Z").unwrap(),
                size: 42,
                mime_type: "application/pdf".into(),
                read_only: false,
                path: "Reports/report.pdf".into(),
            },
        }
    }

    #[test]
    fn wire_shape() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "event": "customAction",
                "delivery": "d1",
                "action": "notify",
                "integration": "default",
                "user": "ann@example.com",
                "occurredAt": "2024-05-06T07:08:09.010Z",
                "documentId": "wf-doc",
                "item": {
                    "id": "abc", "title": "report.pdf", "kind": "file", "dateModified": "2024-05-01T00:00:00.000Z",
                    "size": 42, "mimeType": "application/pdf", "readOnly": false, "path": "Reports/report.pdf"
                }
            })
        );
        let back: ActionEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }
}
