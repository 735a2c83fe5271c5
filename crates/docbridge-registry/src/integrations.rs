//! Integration records and their ApiKeys (C3, C22).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use crate::entities::{api_key, integration};
use crate::records::{ApiKeyRecord, AuthType, CustomActionSpec, DefaultRole, Integration, KeyHash, NewIntegration};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

/// Checks a slug: lower-case letters, digits and dashes, 1–63 characters, starting with a
/// letter or digit. It becomes part of the Base API URL, so it must need no escaping.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok { Ok(()) } else { Err(RegistryError::invalid("slug", "must be 1-63 lower-case letters, digits or dashes, not starting with a dash")) }
}

fn validate_new(new: &NewIntegration) -> Result<()> {
    validate_slug(&new.slug)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(RegistryError::invalid("name", "must be 1-200 printable characters"));
    }
    validate_redirect_uris(new.auth_type, &new.redirect_uris)?;
    validate_request_params(&new.request_params)?;
    validate_custom_actions(&new.custom_actions)?;
    if new.storage_root.trim().is_empty() {
        return Err(RegistryError::invalid("root", "must not be empty"));
    }
    match (new.auth_type, &new.api_key, &new.client) {
        (AuthType::ApiKey, Some(_), None) | (AuthType::OAuth2, None, Some(_)) => Ok(()),
        _ => Err(RegistryError::invalid("auth", "ApiKey integrations need a key, OAuth2 integrations client credentials")),
    }
}

/// Redirect URIs must be absolute http(s) URLs without fragments; OAuth2 needs at least one.
pub fn validate_redirect_uris(auth: AuthType, uris: &[String]) -> Result<()> {
    if auth == AuthType::OAuth2 && uris.is_empty() {
        return Err(RegistryError::invalid("redirect_uri", "OAuth2 integrations need Workfront's Redirect URI"));
    }
    for uri in uris {
        let parsed = url::Url::parse(uri).map_err(|e| RegistryError::invalid("redirect_uri", format!("{uri:?} is not an absolute URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
            return Err(RegistryError::invalid("redirect_uri", format!("{uri:?} must be an http(s) URL without a fragment")));
        }
    }
    Ok(())
}

/// Request parameters are `key=value` pairs with a non-empty key.
pub fn validate_request_params(params: &[String]) -> Result<()> {
    for param in params {
        match param.split_once('=') {
            Some((key, _)) if !key.trim().is_empty() => {}
            _ => return Err(RegistryError::invalid("request_params", format!("{param:?} is not of the form key=value"))),
        }
    }
    Ok(())
}

/// Action names travel in URLs and Workfront menus: `[A-Za-z0-9_-]`, unique, display names set.
pub fn validate_custom_actions(actions: &[CustomActionSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for action in actions {
        if action.name.is_empty() || !action.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(RegistryError::invalid("custom_actions", format!("action name {:?} must be letters, digits, '_' or '-'", action.name)));
        }
        if action.display_name.trim().is_empty() {
            return Err(RegistryError::invalid("custom_actions", format!("action {:?} needs a display name", action.name)));
        }
        if !seen.insert(action.name.as_str()) {
            return Err(RegistryError::invalid("custom_actions", format!("action {:?} is declared twice", action.name)));
        }
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(field: &str, raw: &str) -> Result<T> {
    serde_json::from_str(raw).map_err(|e| RegistryError::Corrupt(format!("integration {field}: {e}")))
}

fn to_record(row: integration::Model) -> Result<Integration> {
    Ok(Integration {
        id: row.id,
        auth_type: AuthType::parse(&row.auth_type).ok_or_else(|| RegistryError::Corrupt(format!("auth type {:?}", row.auth_type)))?,
        default_role: DefaultRole::parse(&row.default_role).ok_or_else(|| RegistryError::Corrupt(format!("default role {:?}", row.default_role)))?,
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
        let now = now_millis();
        let txn = self.db.begin().await?;
        let (client_id, client_secret_hash) = new.client.clone().map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
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
        .map_err(|e| RegistryError::conflict_on_unique(e, || format!("an integration with slug {:?} or name {:?} already exists", new.slug, new.name)))?;
        if let Some(key) = &new.api_key {
            insert_api_key(&txn, row.id, key).await?;
        }
        txn.commit().await?;
        to_record(row)
    }

    pub async fn integrations(&self) -> Result<Vec<Integration>> {
        integration::Entity::find().order_by_asc(integration::Column::Slug).all(&self.db).await?.into_iter().map(to_record).collect()
    }

    pub async fn integration(&self, slug: &str) -> Result<Option<Integration>> {
        integration::Entity::find().filter(integration::Column::Slug.eq(slug)).one(&self.db).await?.map(to_record).transpose()
    }

    pub async fn integration_by_client_id(&self, client_id: &str) -> Result<Option<(Integration, String)>> {
        let Some(row) = integration::Entity::find().filter(integration::Column::ClientId.eq(client_id)).one(&self.db).await? else {
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
        let row = self.integration_row(&updated.slug).await?;
        if updated.name.trim().is_empty() || updated.name.chars().count() > 200 {
            return Err(RegistryError::invalid("name", "must be 1-200 printable characters"));
        }
        let auth = AuthType::parse(&row.auth_type).unwrap_or(AuthType::ApiKey);
        validate_redirect_uris(auth, &updated.redirect_uris)?;
        validate_request_params(&updated.request_params)?;
        validate_custom_actions(&updated.custom_actions)?;
        let mut active: integration::ActiveModel = row.into();
        active.name = Set(updated.name.trim().to_owned());
        active.redirect_uris = Set(to_json(&updated.redirect_uris));
        active.request_params = Set(to_json(&updated.request_params));
        active.custom_actions = Set(to_json(&updated.custom_actions));
        active.default_role = Set(updated.default_role.as_str().to_owned());
        active.enabled = Set(updated.enabled);
        active.updated_at = Set(now_millis());
        let name = updated.name.clone();
        to_record(active.update(&self.db).await.map_err(|e| RegistryError::conflict_on_unique(e, || format!("an integration named {name:?} already exists")))?)
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

    /// Revokes every key of an integration except the one with `keep_hash`.
    pub async fn revoke_other_api_keys(&self, slug: &str, keep_hash: &str) -> Result<u64> {
        let row = self.integration_row(slug).await?;
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, sea_orm::sea_query::Expr::value(now_millis()))
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
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ApiKeyRecord { id: r.id, hash: r.key_hash, hint: r.hint, created_at: from_millis(r.created_at), revoked_at: r.revoked_at.map(from_millis) })
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

    async fn integration_row(&self, slug: &str) -> Result<integration::Model> {
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
