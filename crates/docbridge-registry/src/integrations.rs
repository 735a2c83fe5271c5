//! Integration records and their ApiKeys (C3, C22).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use crate::entities::{api_key, integration};
use crate::records::{
    ActionKind, ApiKeyRecord, AuthType, CustomActionSpec, DefaultRole, Integration, IntegrationPatch, KeyHash,
    NewIntegration,
};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

/// Checks a slug: lower-case letters, digits and dashes, 1–63 characters, starting with a
/// letter or digit. It becomes part of the Base API URL, so it must need no escaping.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::invalid(
            "slug",
            "must be 1-63 lower-case letters, digits or dashes, not starting with a dash",
        ))
    }
}

fn validate_new(new: &NewIntegration) -> Result<()> {
    validate_slug(&new.slug)?;
    validate_display_name(&new.name)?;
    validate_redirect_uris(new.auth_type, &new.redirect_uris)?;
    validate_request_params(&new.request_params)?;
    validate_custom_actions(&new.custom_actions)?;
    validate_root(&new.storage_root)?;
    match (new.auth_type, &new.api_key, &new.client) {
        (AuthType::ApiKey, Some(_), None) | (AuthType::OAuth2, None, Some(_)) => Ok(()),
        _ => Err(RegistryError::invalid(
            "auth",
            "ApiKey integrations need a key, OAuth2 integrations client credentials",
        )),
    }
}

/// An integration's display name: what Workfront shows, 1-200 printable characters.
pub fn validate_display_name(name: &str) -> Result<()> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(RegistryError::invalid("name", "must be 1-200 printable characters"));
    }
    Ok(())
}

/// The library's root: a folder path (or a prefix, for other storage kinds), never empty.
pub fn validate_root(root: &str) -> Result<()> {
    if root.trim().is_empty() || root.chars().any(char::is_control) {
        return Err(RegistryError::invalid("root", "must be a non-empty path"));
    }
    Ok(())
}

/// Redirect URIs must be absolute http(s) URLs without fragments; OAuth2 needs at least one.
pub fn validate_redirect_uris(auth: AuthType, uris: &[String]) -> Result<()> {
    if auth == AuthType::OAuth2 && uris.is_empty() {
        return Err(RegistryError::invalid("redirect_uri", "OAuth2 integrations need Workfront's Redirect URI"));
    }
    for uri in uris {
        let parsed = url::Url::parse(uri)
            .map_err(|e| RegistryError::invalid("redirect_uri", format!("{uri:?} is not an absolute URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
            return Err(RegistryError::invalid(
                "redirect_uri",
                format!("{uri:?} must be an http(s) URL without a fragment"),
            ));
        }
    }
    Ok(())
}

/// Request parameters are `key=value` pairs with a non-empty key.
pub fn validate_request_params(params: &[String]) -> Result<()> {
    for param in params {
        match param.split_once('=') {
            Some((key, _)) if !key.trim().is_empty() => {}
            _ => {
                return Err(RegistryError::invalid(
                    "request_params",
                    format!("{param:?} is not of the form key=value"),
                ));
            }
        }
    }
    Ok(())
}

/// Action names travel in URLs and Workfront menus: `[A-Za-z0-9_-]`, unique, display names set.
pub fn validate_custom_actions(actions: &[CustomActionSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for action in actions {
        if action.name.is_empty() || !action.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(RegistryError::invalid(
                "custom_actions",
                format!("action name {:?} must be letters, digits, '_' or '-'", action.name),
            ));
        }
        if action.display_name.trim().is_empty() {
            return Err(RegistryError::invalid(
                "custom_actions",
                format!("action {:?} needs a display name", action.name),
            ));
        }
        if !seen.insert(action.name.as_str()) {
            return Err(RegistryError::invalid(
                "custom_actions",
                format!("action {:?} is declared twice", action.name),
            ));
        }
        validate_action_kind(action)?;
    }
    Ok(())
}

/// Checks what an action needs to run: a folder path that names no parent and no hidden
/// trick, or an http(s) URL with a secret and sane limits.
fn validate_action_kind(action: &CustomActionSpec) -> Result<()> {
    let fail =
        |reason: String| Err(RegistryError::invalid("custom_actions", format!("action {:?}: {reason}", action.name)));
    match &action.kind {
        ActionKind::Move { folder } | ActionKind::Copy { folder } => {
            let segments: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
            if segments.is_empty() {
                return fail("folder must name a folder, e.g. Archive".into());
            }
            for segment in segments {
                if let Err(e) = docbridge_protocol::validate_name("folder", segment) {
                    return fail(e.to_string());
                }
            }
            Ok(())
        }
        ActionKind::Lock => Ok(()),
        ActionKind::Webhook { url, secret, timeout_secs, retries } => {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                Ok(_) => return fail(format!("url {url:?} must be an absolute http(s) URL")),
                Err(e) => return fail(format!("url {url:?} is not an absolute URL ({e})")),
            }
            if secret.expose().len() < 16 {
                return fail("secret must be at least 16 characters".into());
            }
            if !(1..=300).contains(timeout_secs) {
                return fail("timeout_secs must be between 1 and 300".into());
            }
            if *retries > 10 {
                return fail("retries must be at most 10".into());
            }
            Ok(())
        }
    }
}

/// The record with a patch applied and validated, without touching the database.
pub fn apply_patch(mut integration: Integration, patch: &IntegrationPatch) -> Result<Integration> {
    if let Some(name) = &patch.name {
        validate_display_name(name)?;
        integration.name = name.trim().to_owned();
    }
    if let Some(uris) = &patch.redirect_uris {
        integration.redirect_uris = uris.clone();
    }
    if let Some(params) = &patch.request_params {
        integration.request_params = params.clone();
    }
    if let Some(root) = &patch.storage_root {
        validate_root(root)?;
        integration.storage_root = root.clone();
    }
    if let Some(role) = patch.default_role {
        integration.default_role = role;
    }
    if let Some(enabled) = patch.enabled {
        integration.enabled = enabled;
    }
    if let Some(actions) = &patch.custom_actions {
        integration.custom_actions = actions.clone();
    }
    for action in &patch.upsert_actions {
        match integration.custom_actions.iter_mut().find(|a| a.name == action.name) {
            Some(existing) => *existing = action.clone(),
            None => integration.custom_actions.push(action.clone()),
        }
    }
    for name in &patch.remove_actions {
        let before = integration.custom_actions.len();
        integration.custom_actions.retain(|a| &a.name != name);
        if integration.custom_actions.len() == before {
            return Err(RegistryError::invalid("custom_actions", format!("no action named {name:?} to remove")));
        }
    }
    validate_redirect_uris(integration.auth_type, &integration.redirect_uris)?;
    validate_request_params(&integration.request_params)?;
    validate_custom_actions(&integration.custom_actions)?;
    Ok(integration)
}

/// How many times an edit is re-applied when another edit lands between its read and its
/// write. Each retry means someone else's change went in, so this bounds only a pathological
/// storm of concurrent edits.
const EDIT_ATTEMPTS: usize = 64;

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(field: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| RegistryError::Corrupt(format!("integration {field}: {e}")))
}

fn to_record(row: integration::Model) -> Result<Integration> {
    Ok(Integration {
        id: row.id,
        auth_type: AuthType::parse(&row.auth_type)
            .ok_or_else(|| RegistryError::Corrupt(format!("auth type {:?}", row.auth_type)))?,
        default_role: DefaultRole::parse(&row.default_role)
            .ok_or_else(|| RegistryError::Corrupt(format!("default role {:?}", row.default_role)))?,
        redirect_uris: from_json("redirect_uris", &row.redirect_uris)?,
        request_params: from_json("request_params", &row.request_params)?,
        custom_actions: from_json("custom_actions", &row.custom_actions)?,
        slug: row.slug,
        name: row.name,
        client_id: row.client_id,
        storage_kind: row.storage_kind,
        storage_root: row.storage_root,
        enabled: row.enabled,
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    })
}

impl Registry {
    /// Registers an integration with its first secret. A taken slug or name is a `Conflict`.
    pub async fn create_integration(&self, new: NewIntegration) -> Result<Integration> {
        validate_new(&new)?;
        // Checked first so that the message names the field; the unique indexes still decide
        // when two registrations race.
        if self.integration(&new.slug).await?.is_some() {
            return Err(RegistryError::Conflict(format!(
                "slug: an integration with slug {:?} already exists",
                new.slug
            )));
        }
        let name = new.name.trim();
        if integration::Entity::find().filter(integration::Column::Name.eq(name)).one(&self.db).await?.is_some() {
            return Err(RegistryError::Conflict(format!("name: an integration named {name:?} already exists")));
        }
        let now = now_millis();
        let txn = self.db.begin().await?;
        let (client_id, client_secret_hash) =
            new.client.clone().map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
        let row = integration::ActiveModel {
            slug: Set(new.slug.clone()),
            name: Set(new.name.trim().to_owned()),
            auth_type: Set(new.auth_type.as_str().to_owned()),
            client_id: Set(client_id),
            client_secret_hash: Set(client_secret_hash),
            redirect_uris: Set(to_json(&new.redirect_uris)),
            request_params: Set(to_json(&new.request_params)),
            storage_kind: Set(new.storage_kind.clone()),
            storage_root: Set(new.storage_root.clone()),
            enabled: Set(true),
            default_role: Set(new.default_role.as_str().to_owned()),
            custom_actions: Set(to_json(&new.custom_actions)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            RegistryError::conflict_on_unique(e, || {
                format!("slug: an integration with slug {:?} or name {:?} already exists", new.slug, new.name)
            })
        })?;
        if let Some(key) = &new.api_key {
            insert_api_key(&txn, row.id, key).await?;
        }
        txn.commit().await?;
        to_record(row)
    }

    /// Every integration, by slug.
    pub async fn integrations(&self) -> Result<Vec<Integration>> {
        integration::Entity::find()
            .order_by_asc(integration::Column::Slug)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect()
    }

    /// The integration with this slug.
    pub async fn integration(&self, slug: &str) -> Result<Option<Integration>> {
        integration::Entity::find()
            .filter(integration::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .map(to_record)
            .transpose()
    }

    /// The integration with this OAuth2 client ID, and the hash of its client secret.
    pub async fn integration_by_client_id(&self, client_id: &str) -> Result<Option<(Integration, String)>> {
        let Some(row) =
            integration::Entity::find().filter(integration::Column::ClientId.eq(client_id)).one(&self.db).await?
        else {
            return Ok(None);
        };
        let secret_hash = row.client_secret_hash.clone().unwrap_or_default();
        Ok(Some((to_record(row)?, secret_hash)))
    }

    /// Enables or disables an integration; takes effect on the next request.
    pub async fn set_integration_enabled(&self, slug: &str, enabled: bool) -> Result<Integration> {
        let row = self.integration_row(slug).await?;
        let mut active: integration::ActiveModel = row.into();
        active.enabled = Set(enabled);
        active.updated_at = Set(now_millis());
        to_record(active.update(&self.db).await?)
    }

    /// Replaces the editable fields of an integration (validation as at creation).
    pub async fn update_integration(&self, updated: &Integration) -> Result<Integration> {
        let patch = IntegrationPatch {
            name: Some(updated.name.clone()),
            redirect_uris: Some(updated.redirect_uris.clone()),
            request_params: Some(updated.request_params.clone()),
            storage_root: Some(updated.storage_root.clone()),
            default_role: Some(updated.default_role),
            enabled: Some(updated.enabled),
            custom_actions: Some(updated.custom_actions.clone()),
            ..IntegrationPatch::default()
        };
        self.edit_integration(&updated.slug, &patch).await
    }

    /// Applies a patch as a compare-and-swap on every editable column: when another edit lands
    /// between the read and the write, the patch is applied again to the new record, so
    /// concurrent edits (from the CLI, the admin API, other processes) all take effect.
    pub async fn edit_integration(&self, slug: &str, patch: &IntegrationPatch) -> Result<Integration> {
        for _ in 0..EDIT_ATTEMPTS {
            let row = self.integration_row(slug).await?;
            let updated = apply_patch(to_record(row.clone())?, patch)?;
            if updated.name != row.name
                && integration::Entity::find()
                    .filter(integration::Column::Name.eq(updated.name.as_str()))
                    .filter(integration::Column::Id.ne(row.id))
                    .one(&self.db)
                    .await?
                    .is_some()
            {
                return Err(RegistryError::Conflict(format!(
                    "name: an integration named {:?} already exists",
                    updated.name
                )));
            }
            use integration::Column as C;
            let name = updated.name.clone();
            let result = integration::Entity::update_many()
                .col_expr(C::Name, Expr::value(updated.name.clone()))
                .col_expr(C::RedirectUris, Expr::value(to_json(&updated.redirect_uris)))
                .col_expr(C::RequestParams, Expr::value(to_json(&updated.request_params)))
                .col_expr(C::StorageRoot, Expr::value(updated.storage_root.clone()))
                .col_expr(C::DefaultRole, Expr::value(updated.default_role.as_str()))
                .col_expr(C::Enabled, Expr::value(updated.enabled))
                .col_expr(C::CustomActions, Expr::value(to_json(&updated.custom_actions)))
                .col_expr(C::UpdatedAt, Expr::value(now_millis()))
                .filter(C::Id.eq(row.id))
                .filter(C::Name.eq(row.name.as_str()))
                .filter(C::RedirectUris.eq(row.redirect_uris.as_str()))
                .filter(C::RequestParams.eq(row.request_params.as_str()))
                .filter(C::StorageRoot.eq(row.storage_root.as_str()))
                .filter(C::DefaultRole.eq(row.default_role.as_str()))
                .filter(C::Enabled.eq(row.enabled))
                .filter(C::CustomActions.eq(row.custom_actions.as_str()))
                .exec(&self.db)
                .await
                .map_err(|e| {
                    RegistryError::conflict_on_unique(e, || {
                        format!("name: an integration named {name:?} already exists")
                    })
                })?;
            if result.rows_affected == 1 {
                return self
                    .integration(slug)
                    .await?
                    .ok_or_else(|| RegistryError::NotFound(format!("integration {slug:?}")));
            }
        }
        Err(RegistryError::Conflict(format!("integration {slug:?} is being edited by others too often; try again")))
    }

    /// Deletes an integration and, by cascade, its keys, items index, grants and tokens. The
    /// documents in its library stay where they are.
    pub async fn delete_integration(&self, slug: &str) -> Result<()> {
        let row = self.integration_row(slug).await?;
        let txn = self.db.begin().await?;
        // SQLite does not cascade into the FTS table.
        crate::search::delete_integration_search_rows(&txn, row.id).await?;
        integration::Entity::delete_by_id(row.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Adds a key; older keys stay valid until revoked, so a rotation loses no calls (C3).
    pub async fn add_api_key(&self, slug: &str, key: &KeyHash) -> Result<()> {
        let row = self.integration_row(slug).await?;
        insert_api_key(&self.db, row.id, key).await
    }

    /// Revokes every active key of an integration except the newest (after a rotation, once
    /// Workfront has the new key). Returns how many were revoked.
    pub async fn revoke_api_keys_except_newest(&self, slug: &str) -> Result<u64> {
        let row = self.integration_row(slug).await?;
        let keys = self.active_api_keys(row.id).await?;
        let Some(newest) = keys.iter().max_by_key(|k| (k.created_at, k.id)) else {
            return Ok(0);
        };
        self.revoke_other_api_keys(slug, &newest.hash.clone()).await
    }

    /// Revokes the active keys whose hint (the first characters, shown by `integration show`)
    /// starts with `hint`, unless that would leave the integration without a key.
    pub async fn revoke_api_keys_by_hint(&self, slug: &str, hint: &str) -> Result<u64> {
        let row = self.integration_row(slug).await?;
        if hint.is_empty() {
            return Err(RegistryError::invalid("hint", "must not be empty"));
        }
        let keys = self.active_api_keys(row.id).await?;
        let matching: Vec<i64> = keys.iter().filter(|k| k.hint.starts_with(hint)).map(|k| k.id).collect();
        if matching.is_empty() {
            return Err(RegistryError::NotFound(format!("active key with hint {hint:?}")));
        }
        if matching.len() == keys.len() {
            return Err(RegistryError::invalid("hint", "would revoke every key of the integration; rotate first"));
        }
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now_millis()))
            .filter(api_key::Column::Id.is_in(matching))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// Revokes every key of an integration except the one with `keep_hash`.
    pub async fn revoke_other_api_keys(&self, slug: &str, keep_hash: &str) -> Result<u64> {
        let row = self.integration_row(slug).await?;
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now_millis()))
            .filter(api_key::Column::IntegrationId.eq(row.id))
            .filter(api_key::Column::RevokedAt.is_null())
            .filter(api_key::Column::KeyHash.ne(keep_hash))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }

    /// Keys of an integration that have not been revoked.
    pub async fn active_api_keys(&self, integration_id: i64) -> Result<Vec<ApiKeyRecord>> {
        let rows = api_key::Entity::find()
            .filter(api_key::Column::IntegrationId.eq(integration_id))
            .filter(api_key::Column::RevokedAt.is_null())
            .order_by_asc(api_key::Column::Id)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ApiKeyRecord {
                id: r.id,
                hash: r.key_hash,
                hint: r.hint,
                created_at: from_millis(r.created_at),
                revoked_at: r.revoked_at.map(from_millis),
            })
            .collect())
    }

    /// Replaces the OAuth2 client secret hash (rotation).
    pub async fn set_client_secret_hash(&self, slug: &str, hash: &str) -> Result<()> {
        let row = self.integration_row(slug).await?;
        let mut active: integration::ActiveModel = row.into();
        active.client_secret_hash = Set(Some(hash.to_owned()));
        active.updated_at = Set(now_millis());
        active.update(&self.db).await?;
        Ok(())
    }

    pub(crate) async fn integration_row(&self, slug: &str) -> Result<integration::Model> {
        integration::Entity::find()
            .filter(integration::Column::Slug.eq(slug))
            .one(&self.db)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("integration {slug:?}")))
    }
}

async fn insert_api_key(db: &impl sea_orm::ConnectionTrait, integration_id: i64, key: &KeyHash) -> Result<()> {
    api_key::ActiveModel {
        integration_id: Set(integration_id),
        key_hash: Set(key.hash.clone()),
        hint: Set(key.hint.clone()),
        created_at: Set(now_millis()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ActionSecret;
    use crate::test_support::{registries, sample_integration, unique};

    fn field_of(err: RegistryError) -> &'static str {
        match err {
            RegistryError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other}"),
        }
    }

    fn webhook(name: &str, url: &str, secret: &str) -> CustomActionSpec {
        CustomActionSpec {
            name: name.into(),
            display_name: name.to_uppercase(),
            kind: ActionKind::Webhook {
                url: url.into(),
                secret: ActionSecret::new(secret),
                timeout_secs: 5,
                retries: 2,
            },
        }
    }

    #[test]
    fn validation_names_the_field() {
        let good = sample_integration("ok");
        let cases: Vec<(NewIntegration, &str)> = vec![
            (NewIntegration { slug: "Bad Slug".into(), ..good.clone() }, "slug"),
            (NewIntegration { name: " ".into(), ..good.clone() }, "name"),
            (NewIntegration { storage_root: "".into(), ..good.clone() }, "root"),
            (NewIntegration { request_params: vec!["novalue".into()], ..good.clone() }, "request_params"),
            (NewIntegration { redirect_uris: vec!["/relative".into()], ..good.clone() }, "redirect_uri"),
            (
                NewIntegration {
                    auth_type: AuthType::OAuth2,
                    api_key: None,
                    client: Some(("id".into(), "h".into())),
                    ..good.clone()
                },
                "redirect_uri",
            ),
            (
                NewIntegration {
                    custom_actions: vec![webhook("hook", "ftp://x/y", "0123456789abcdef")],
                    ..good.clone()
                },
                "custom_actions",
            ),
            (
                NewIntegration {
                    custom_actions: vec![webhook("hook", "http://127.0.0.1:9/y", "short")],
                    ..good.clone()
                },
                "custom_actions",
            ),
            (
                NewIntegration {
                    custom_actions: vec![CustomActionSpec {
                        name: "a".into(),
                        display_name: "A".into(),
                        kind: ActionKind::Move { folder: "../up".into() },
                    }],
                    ..good.clone()
                },
                "custom_actions",
            ),
        ];
        for (new, field) in cases {
            assert_eq!(field_of(validate_new(&new).unwrap_err()), field);
        }
        validate_new(&NewIntegration {
            custom_actions: vec![webhook("hook", "http://127.0.0.1:9/y", "0123456789abcdef")],
            ..good
        })
        .unwrap();
    }

    #[test]
    fn webhook_secrets_stay_out_of_debug_output() {
        let action = webhook("hook", "http://127.0.0.1:9/y", "very-secret-value-123");
        assert!(!format!("{action:?}").contains("very-secret-value-123"));
        // ...but are stored, since signing needs them.
        assert!(to_json(&vec![action]).contains("very-secret-value-123"));
    }

    #[tokio::test]
    async fn create_edit_and_conflicts() {
        for registry in registries().await {
            let slug = unique("edit");
            let created = registry.create_integration(sample_integration(&slug)).await.unwrap();
            assert!(created.enabled);
            let dup = registry.create_integration(sample_integration(&slug)).await.unwrap_err();
            assert!(matches!(dup, RegistryError::Conflict(ref m) if m.starts_with("slug:")), "{dup}");
            let other = unique("edit");
            let dup_name = registry
                .create_integration(NewIntegration { name: created.name.clone(), ..sample_integration(&other) })
                .await
                .unwrap_err();
            assert!(matches!(dup_name, RegistryError::Conflict(ref m) if m.starts_with("name:")), "{dup_name}");

            let patch = IntegrationPatch {
                name: Some("Renamed".into()),
                default_role: Some(DefaultRole::Deny),
                upsert_actions: vec![webhook("hook", "http://127.0.0.1:9/y", "0123456789abcdef")],
                ..IntegrationPatch::default()
            };
            let name = format!("Renamed {slug}");
            let edited = registry
                .edit_integration(&slug, &IntegrationPatch { name: Some(name.clone()), ..patch })
                .await
                .unwrap();
            assert_eq!(edited.name, name);
            assert_eq!(edited.default_role, DefaultRole::Deny);
            assert_eq!(edited.custom_actions.len(), 1);
            let remove_hook = IntegrationPatch { remove_actions: vec!["hook".into()], ..IntegrationPatch::default() };
            let removed = registry.edit_integration(&slug, &remove_hook).await.unwrap();
            assert!(removed.custom_actions.is_empty());
            // The same removal again names an action that no longer exists.
            let err = registry.edit_integration(&slug, &remove_hook).await.unwrap_err();
            assert_eq!(field_of(err), "custom_actions");
            let err = registry.edit_integration(&unique("missing"), &IntegrationPatch::default()).await.unwrap_err();
            assert!(matches!(err, RegistryError::NotFound(_)));
            registry.delete_integration(&slug).await.unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_edits_all_land() {
        for registry in registries().await {
            let slug = unique("race");
            registry.create_integration(sample_integration(&slug)).await.unwrap();
            let edits = (0..8).map(|n| {
                let registry = registry.clone();
                let slug = slug.clone();
                tokio::spawn(async move {
                    let action = CustomActionSpec {
                        name: format!("a{n}"),
                        display_name: format!("A{n}"),
                        kind: ActionKind::Lock,
                    };
                    registry
                        .edit_integration(
                            &slug,
                            &IntegrationPatch { upsert_actions: vec![action], ..IntegrationPatch::default() },
                        )
                        .await
                })
            });
            for edit in futures_join(edits.collect()).await {
                edit.unwrap();
            }
            let integration = registry.integration(&slug).await.unwrap().unwrap();
            let mut names: Vec<_> = integration.custom_actions.iter().map(|a| a.name.clone()).collect();
            names.sort();
            assert_eq!(names, (0..8).map(|n| format!("a{n}")).collect::<Vec<_>>());
            registry.delete_integration(&slug).await.unwrap();
        }
    }

    async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn rotation_keeps_old_keys_until_revoked() {
        for registry in registries().await {
            let slug = unique("keys");
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            registry
                .add_api_key(&slug, &KeyHash { hash: format!("second-{slug}"), hint: "second".into() })
                .await
                .unwrap();
            assert_eq!(registry.active_api_keys(integration.id).await.unwrap().len(), 2);
            let err = registry.revoke_api_keys_by_hint(&slug, "").await.unwrap_err();
            assert_eq!(field_of(err), "hint");
            assert_eq!(registry.revoke_api_keys_except_newest(&slug).await.unwrap(), 1);
            let left = registry.active_api_keys(integration.id).await.unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].hint, "second");
            let err = registry.revoke_api_keys_by_hint(&slug, "sec").await.unwrap_err();
            assert_eq!(field_of(err), "hint");
            registry.delete_integration(&slug).await.unwrap();
        }
    }
}
