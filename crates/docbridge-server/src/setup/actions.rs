//! Custom actions and roles from administrator input: the CLI's `--action key=value,...`, the
//! JSON of `--actions-file` and the admin API, checked by the registry's own rules.

use docbridge_auth::issue_secret;
use docbridge_registry::{
    ActionKind, AuthType, CustomActionSpec, DefaultRole, Integration, IntegrationPatch, RegistryError,
};

/// Custom actions parsed from administrator input, with the webhook secrets docbridge made up
/// (to be shown once, like any issued secret).
#[derive(Debug, Clone, Default)]
pub struct ParsedActions {
    pub actions: Vec<CustomActionSpec>,
    /// Action name → generated secret.
    pub generated_secrets: std::collections::BTreeMap<String, String>,
}

/// Parses `name=archive,display=Archive,kind=move,folder=Archive` (the CLI's `--action`).
/// Keys: `name`, `display` (default: the name), `kind` (`move`, `copy`, `lock`, `webhook`),
/// `folder` (move, copy), `url`, `secret` (default: generated), `timeout`, `retries` (webhook).
/// A comma inside a value is kept when what follows it is not `key=`.
pub fn parse_action_spec(spec: &str) -> Result<(CustomActionSpec, Option<String>), RegistryError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in spec.split(',') {
        match part.split_once('=') {
            Some((key, value)) if ACTION_KEYS.contains(&key.trim()) => {
                pairs.push((key.trim().to_owned(), value.to_owned()))
            }
            _ => match pairs.last_mut() {
                Some((_, value)) => {
                    value.push(',');
                    value.push_str(part);
                }
                None => {
                    return Err(invalid_action(format!(
                        "{part:?} is not key=value (keys: {})",
                        ACTION_KEYS.join(", ")
                    )));
                }
            },
        }
    }
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        let key = if key == "display" {
            "display_name".to_owned()
        } else if key == "timeout" {
            "timeout_secs".to_owned()
        } else {
            key
        };
        let value = match key.as_str() {
            "timeout_secs" | "retries" => serde_json::Value::from(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid_action(format!("{key} must be a number, not {value:?}")))?,
            ),
            _ => serde_json::Value::String(value),
        };
        if object.insert(key.clone(), value).is_some() {
            return Err(invalid_action(format!("{key} is given twice")));
        }
    }
    parse_action_json(&serde_json::Value::Object(object))
}

const ACTION_KEYS: &[&str] =
    &["name", "display", "display_name", "kind", "folder", "url", "secret", "timeout", "timeout_secs", "retries"];

fn invalid_action(reason: String) -> RegistryError {
    RegistryError::InvalidInput { field: "action", reason }
}

/// Parses one action from JSON: `{"name", "display_name", "kind", "folder" | "url", "secret",
/// "timeout_secs", "retries"}` (the admin API's and `--actions-file`'s form). A webhook without
/// a secret gets a generated one, returned beside the action.
pub fn parse_action_json(value: &serde_json::Value) -> Result<(CustomActionSpec, Option<String>), RegistryError> {
    let object = value.as_object().ok_or_else(|| invalid_action("must be an object".into()))?;
    for key in object.keys() {
        if !["name", "display_name", "kind", "folder", "url", "secret", "timeout_secs", "retries"]
            .contains(&key.as_str())
        {
            return Err(invalid_action(format!("unknown key {key:?}")));
        }
    }
    let text = |key: &str| -> Result<Option<String>, RegistryError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid_action(format!("{key} must be a string, not {other}"))),
        }
    };
    let number = |key: &str| -> Result<Option<u64>, RegistryError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid_action(format!("{key} must be a whole number, not {value}"))),
        }
    };
    let name =
        text("name")?.filter(|n| !n.trim().is_empty()).ok_or_else(|| invalid_action("name is required".into()))?;
    let display_name = text("display_name")?.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| name.clone());
    let kind = text("kind")?
        .ok_or_else(|| invalid_action(format!("{name}: kind is required (move, copy, lock or webhook)")))?;
    let folder =
        || text("folder")?.ok_or_else(|| invalid_action(format!("{name}: folder is required for kind {kind}")));
    let mut generated = None;
    let kind = match kind.as_str() {
        "move" => ActionKind::Move { folder: folder()? },
        "copy" => ActionKind::Copy { folder: folder()? },
        "lock" => ActionKind::Lock,
        "webhook" => {
            let url =
                text("url")?.ok_or_else(|| invalid_action(format!("{name}: url is required for kind webhook")))?;
            let secret = match text("secret")? {
                Some(secret) => secret,
                None => {
                    let secret = issue_secret().plain;
                    generated = Some(secret.clone());
                    secret
                }
            };
            let timeout_secs = number("timeout_secs")?.unwrap_or(docbridge_registry::DEFAULT_WEBHOOK_TIMEOUT_SECS);
            let retries = number("retries")?.map_or(Ok(docbridge_registry::DEFAULT_WEBHOOK_RETRIES), |r| {
                u32::try_from(r).map_err(|_| invalid_action("retries is too large".into()))
            })?;
            ActionKind::Webhook { url, secret: docbridge_registry::ActionSecret::new(secret), timeout_secs, retries }
        }
        other => return Err(invalid_action(format!("{name}: kind {other:?} is not one of move, copy, lock, webhook"))),
    };
    let action = CustomActionSpec { name, display_name, kind };
    // The registry's checks (name alphabet, folder names, URL, limits), reported as `action`.
    docbridge_registry::apply_patch(
        placeholder_integration(),
        &IntegrationPatch { upsert_actions: vec![action.clone()], ..IntegrationPatch::default() },
    )
    .map_err(|e| match e {
        RegistryError::InvalidInput { reason, .. } => invalid_action(reason),
        other => other,
    })?;
    Ok((action, generated))
}

/// A throwaway record to run the registry's action checks on, without a database.
fn placeholder_integration() -> Integration {
    let now = chrono::Utc::now();
    Integration {
        id: 0,
        slug: "check".into(),
        name: "check".into(),
        auth_type: AuthType::ApiKey,
        client_id: None,
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        storage_kind: "fs".into(),
        storage_root: "/".into(),
        enabled: true,
        default_role: DefaultRole::Editor,
        custom_actions: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// Parses a JSON array of actions (the `--actions-file` form and the admin API's
/// `custom_actions`).
pub fn parse_actions_json(value: &serde_json::Value) -> Result<ParsedActions, RegistryError> {
    let items = value.as_array().ok_or_else(|| RegistryError::InvalidInput {
        field: "custom_actions",
        reason: "must be a JSON array of actions".into(),
    })?;
    let mut parsed = ParsedActions::default();
    for item in items {
        let (action, secret) = parse_action_json(item)?;
        if let Some(secret) = secret {
            parsed.generated_secrets.insert(action.name.clone(), secret);
        }
        parsed.actions.push(action);
    }
    Ok(parsed)
}

/// The default role of unknown ApiKey callers, from its name.
pub fn parse_default_role(raw: &str) -> Result<DefaultRole, RegistryError> {
    DefaultRole::parse(raw).ok_or_else(|| RegistryError::InvalidInput {
        field: "default_role",
        reason: format!("{raw:?} is not one of reader, editor, deny"),
    })
}

/// A role from its name.
pub fn parse_role(raw: &str) -> Result<docbridge_registry::Role, RegistryError> {
    docbridge_registry::Role::parse(raw).ok_or_else(|| RegistryError::InvalidInput {
        field: "role",
        reason: format!("{raw:?} is not one of reader, editor"),
    })
}
