//! The `/serviceInfo` body (protocol §9.10, contract C19).

use serde::{Deserialize, Serialize};

/// The protocol version docbridge implements.
pub const WEBHOOK_VERSION: &str = "1.2";

/// What `/serviceInfo` answers: who the provider is and what it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    /// The protocol version implemented ([`WEBHOOK_VERSION`] for docbridge).
    #[cfg_attr(feature = "openapi", schema(example = "1.2"))]
    pub webhook_version: String,
    /// The provider's own version.
    pub version: String,
    /// Who publishes the provider.
    pub publisher: String,
    /// The endpoint names the provider serves (see [`crate::Endpoint::as_str`]).
    pub available_endpoints: Vec<String>,
    /// The custom actions Workfront offers in its *Document Actions* menu.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub custom_actions: Vec<CustomActionInfo>,
}

/// One entry of Workfront's *Document Actions* menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CustomActionInfo {
    /// The action's name, sent back as `name` on `/customAction`.
    pub name: String,
    /// The label Workfront shows in the menu.
    pub display_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(publisher in "\\PC{0,20}", names in proptest::collection::vec("[a-z]{1,10}", 0..4)) {
            let info = ServiceInfo {
                webhook_version: WEBHOOK_VERSION.into(),
                version: "0.1.0".into(),
                publisher,
                available_endpoints: vec!["files".into()],
                custom_actions: names.iter().map(|n| CustomActionInfo { name: n.clone(), display_name: n.to_uppercase() }).collect(),
            };
            let json = serde_json::to_value(&info).unwrap();
            prop_assert!(json.get("webhookVersion").is_some());
            prop_assert!(json["customActions"].as_array().unwrap().iter().all(|a| a.get("displayName").is_some()));
            let back: ServiceInfo = serde_json::from_value(json).unwrap();
            prop_assert_eq!(back, info);
        }
    }
}
