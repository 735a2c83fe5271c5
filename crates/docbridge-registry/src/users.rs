//! Local users and their grants: a role per integration, optionally confined to a folder (C5).
//!
//! Usernames are stored trimmed and lower-cased: Workfront sends the user's e-mail address, whose
//! case is not significant, and an administrator who types `Ann@Example.com` means the same person
//! Workfront calls `ann@example.com`. Password hashes come from the auth crate (argon2id).

use std::collections::HashMap;

use docbridge_protocol::{ItemId, ItemKind};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

use crate::entities::{grant, integration, item, oauth_code, oauth_token, user};
use crate::oauth::{revoke_user_oauth, usernames};
use crate::records::{Access, Grant, Role, User};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

/// The longest username accepted: the longest e-mail address SMTP allows.
pub const MAX_USERNAME_CHARS: usize = 254;

/// The stored form of a username: trimmed, lower-cased, 1-254 printable characters.
pub fn normalize_username(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(RegistryError::invalid("username", "must not be empty"));
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(RegistryError::invalid("username", format!("must be at most {MAX_USERNAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(RegistryError::invalid("username", "must not contain control characters"));
    }
    Ok(name.to_lowercase())
}

fn to_user(row: user::Model) -> User {
    User { id: row.id, username: row.username, created_at: from_millis(row.created_at) }
}

fn parse_role(raw: &str) -> Result<Role> {
    Role::parse(raw).ok_or_else(|| RegistryError::Corrupt(format!("grant role {raw:?}")))
}

fn folder_of(row: &grant::Model) -> Option<ItemId> {
    row.folder_id.clone().map(ItemId::from_trusted)
}

impl Registry {
    /// Registers a user. A taken username is a `Conflict`.
    pub async fn create_user(&self, username: &str, password_hash: &str) -> Result<User> {
        let username = normalize_username(username)?;
        if password_hash.is_empty() {
            return Err(RegistryError::invalid("password", "must not be empty"));
        }
        let row = user::ActiveModel {
            username: Set(username.clone()),
            password_hash: Set(password_hash.to_owned()),
            created_at: Set(now_millis()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|e| {
            RegistryError::conflict_on_unique(e, || format!("username: a user named {username:?} already exists"))
        })?;
        Ok(to_user(row))
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(user::Entity::find()
            .order_by_asc(user::Column::Username)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_user)
            .collect())
    }

    /// The user with this username (normalised first).
    pub async fn user(&self, username: &str) -> Result<Option<User>> {
        let Ok(username) = normalize_username(username) else { return Ok(None) };
        Ok(user::Entity::find().filter(user::Column::Username.eq(username)).one(&self.db).await?.map(to_user))
    }

    /// The stored argon2id hash of a user's password, for the login page to verify.
    pub async fn user_password_hash(&self, username: &str) -> Result<Option<String>> {
        let Ok(username) = normalize_username(username) else { return Ok(None) };
        Ok(user::Entity::find()
            .filter(user::Column::Username.eq(username))
            .one(&self.db)
            .await?
            .map(|r| r.password_hash))
    }

    /// Replaces a user's password hash (an argon2id PHC string from docbridge-auth).
    pub async fn set_user_password_hash(&self, username: &str, password_hash: &str) -> Result<()> {
        if password_hash.is_empty() {
            return Err(RegistryError::invalid("password", "must not be empty"));
        }
        let row = self.user_row(username).await?;
        let user_id = row.id;
        let txn = self.db.begin().await?;
        let mut active: user::ActiveModel = row.into();
        active.password_hash = Set(password_hash.to_owned());
        active.update(&txn).await?;
        // A new password is how an administrator locks out whoever learnt the old one: what
        // was issued under the old one goes too, in the same transaction.
        revoke_user_oauth(&txn, user_id, None).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deletes a user and their grants, OAuth2 codes and tokens. The foreign keys cascade too;
    /// the explicit deletes also cover a database whose foreign keys were switched off.
    pub async fn delete_user(&self, username: &str) -> Result<()> {
        let row = self.user_row(username).await?;
        let txn = self.db.begin().await?;
        oauth_token::Entity::delete_many().filter(oauth_token::Column::UserId.eq(row.id)).exec(&txn).await?;
        oauth_code::Entity::delete_many().filter(oauth_code::Column::UserId.eq(row.id)).exec(&txn).await?;
        user::Entity::delete_by_id(row.id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Gives a user a role in an integration, replacing any role they had there. `folder`, when
    /// given and not the root, must be a folder of that integration: the user then sees only it.
    pub async fn grant(&self, username: &str, slug: &str, role: Role, folder: Option<&ItemId>) -> Result<Grant> {
        let user = self.user_row(username).await?;
        let integration = self.integration_row(slug).await?;
        let folder = folder.filter(|f| !f.is_root());
        if let Some(folder) = folder {
            let found = item::Entity::find()
                .filter(item::Column::IntegrationId.eq(integration.id))
                .filter(item::Column::Id.eq(folder.as_str()))
                .filter(item::Column::State.eq(crate::items::READY))
                .one(&self.db)
                .await?;
            match found {
                Some(row) if row.kind == crate::items::kind_str(ItemKind::Folder) => {}
                Some(_) => return Err(RegistryError::invalid("folder", format!("{folder} is a file, not a folder"))),
                None => {
                    return Err(RegistryError::invalid(
                        "folder",
                        format!("no folder with ID {folder} in integration {slug:?}"),
                    ));
                }
            }
        }
        let row = grant::ActiveModel {
            user_id: Set(user.id),
            integration_id: Set(integration.id),
            role: Set(role.as_str().to_owned()),
            folder_id: Set(folder.map(|f| f.as_str().to_owned())),
            ..Default::default()
        };
        grant::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([grant::Column::UserId, grant::Column::IntegrationId])
                    .update_columns([grant::Column::Role, grant::Column::FolderId])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(Grant { username: user.username, integration: integration.slug, role, folder: folder.cloned() })
    }

    /// Removes a user's grant in an integration; they fall back to its default role. Their
    /// OAuth2 tokens and unredeemed codes for that integration are revoked in the same
    /// transaction: they were issued under the grant, and must not outlive it.
    pub async fn revoke(&self, username: &str, slug: &str) -> Result<()> {
        let user = self.user_row(username).await?;
        let integration = self.integration_row(slug).await?;
        let txn = self.db.begin().await?;
        let result = grant::Entity::delete_many()
            .filter(grant::Column::UserId.eq(user.id))
            .filter(grant::Column::IntegrationId.eq(integration.id))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            txn.rollback().await?;
            return Err(RegistryError::NotFound(format!("grant of {:?} in integration {slug:?}", user.username)));
        }
        revoke_user_oauth(&txn, user.id, Some(integration.id)).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Grants, optionally of one user and/or in one integration, by username then slug.
    pub async fn grants(&self, username: Option<&str>, slug: Option<&str>) -> Result<Vec<Grant>> {
        let mut query = grant::Entity::find();
        if let Some(username) = username {
            query = query.filter(grant::Column::UserId.eq(self.user_row(username).await?.id));
        }
        if let Some(slug) = slug {
            query = query.filter(grant::Column::IntegrationId.eq(self.integration_row(slug).await?.id));
        }
        let rows = query.all(&self.db).await?;
        let users = usernames(&self.db, rows.iter().map(|r| r.user_id).collect()).await?;
        let integrations: HashMap<i64, String> = integration::Entity::find()
            .filter(integration::Column::Id.is_in(rows.iter().map(|r| r.integration_id).collect::<Vec<_>>()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|i| (i.id, i.slug))
            .collect();
        let mut grants = rows
            .into_iter()
            .map(|row| {
                Ok(Grant {
                    username: users
                        .get(&row.user_id)
                        .cloned()
                        .ok_or_else(|| RegistryError::Corrupt(format!("grant {} has no user", row.id)))?,
                    integration: integrations
                        .get(&row.integration_id)
                        .cloned()
                        .ok_or_else(|| RegistryError::Corrupt(format!("grant {} has no integration", row.id)))?,
                    role: parse_role(&row.role)?,
                    folder: folder_of(&row),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        grants.sort_by(|a, b| (&a.username, &a.integration).cmp(&(&b.username, &b.integration)));
        Ok(grants)
    }

    /// A user's role and confinement in an integration, if they have a grant there. `None` for
    /// an unknown user or one without a grant: the caller then applies the default role.
    pub async fn access(&self, integration_id: i64, username: &str) -> Result<Option<Access>> {
        let Ok(username) = normalize_username(username) else { return Ok(None) };
        let Some(user) = user::Entity::find().filter(user::Column::Username.eq(username)).one(&self.db).await? else {
            return Ok(None);
        };
        let row = grant::Entity::find()
            .filter(grant::Column::UserId.eq(user.id))
            .filter(grant::Column::IntegrationId.eq(integration_id))
            .one(&self.db)
            .await?;
        row.map(|row| Ok(Access { role: parse_role(&row.role)?, folder: folder_of(&row) })).transpose()
    }

    async fn user_row(&self, username: &str) -> Result<user::Model> {
        let username = normalize_username(username)?;
        user::Entity::find()
            .filter(user::Column::Username.eq(username.as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("user {username:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{new_item, registries, sample_integration, unique};

    #[test]
    fn usernames_are_normalised() {
        assert_eq!(normalize_username("  Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in ["", "   ", "a\u{0}b", &"x".repeat(255)] {
            let err = normalize_username(bad).unwrap_err();
            assert!(err.to_string().starts_with("username:"), "{err}");
        }
    }

    #[tokio::test]
    async fn users_and_grants() {
        for registry in registries().await {
            let slug = unique("users");
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            let name = format!("{}@Example.com", unique("ann"));
            let user = registry.create_user(&name, "$argon2id$hash").await.unwrap();
            assert_eq!(user.username, name.to_lowercase());
            let dup = registry.create_user(&name.to_uppercase(), "h").await.unwrap_err();
            assert!(matches!(dup, RegistryError::Conflict(ref m) if m.starts_with("username:")), "{dup}");
            assert_eq!(registry.user_password_hash(&name).await.unwrap().as_deref(), Some("$argon2id$hash"));
            registry.set_user_password_hash(&name, "$argon2id$other").await.unwrap();
            assert_eq!(registry.user_password_hash(&name).await.unwrap().as_deref(), Some("$argon2id$other"));

            assert_eq!(registry.access(integration.id, &name).await.unwrap(), None);
            registry.grant(&name, &slug, Role::Reader, None).await.unwrap();
            assert_eq!(
                registry.access(integration.id, &name).await.unwrap(),
                Some(Access { role: Role::Reader, folder: None })
            );
            // A second grant replaces the first.
            registry.grant(&name, &slug, Role::Editor, Some(&ItemId::root())).await.unwrap();
            assert_eq!(
                registry.access(integration.id, &name).await.unwrap(),
                Some(Access { role: Role::Editor, folder: None })
            );
            let grants = registry.grants(Some(&name), None).await.unwrap();
            assert_eq!(grants.len(), 1);
            assert_eq!(grants[0].integration, slug);

            let missing = ItemId::parse("folder", "nosuchfolder").unwrap();
            let err = registry.grant(&name, &slug, Role::Reader, Some(&missing)).await.unwrap_err();
            assert!(err.to_string().starts_with("folder:"), "{err}");
            let err = registry.grant("nobody-here", &slug, Role::Reader, None).await.unwrap_err();
            assert!(matches!(err, RegistryError::NotFound(_)), "{err}");

            registry.revoke(&name, &slug).await.unwrap();
            assert_eq!(registry.access(integration.id, &name).await.unwrap(), None);
            assert!(matches!(registry.revoke(&name, &slug).await.unwrap_err(), RegistryError::NotFound(_)));

            registry.grant(&name, &slug, Role::Reader, None).await.unwrap();
            registry.delete_user(&name).await.unwrap();
            assert!(registry.user(&name).await.unwrap().is_none());
            assert!(registry.grants(None, Some(&slug)).await.unwrap().is_empty());
            registry.delete_integration(&slug).await.unwrap();
        }
    }

    fn token(integration_id: i64, user_id: i64, kind: crate::OAuthTokenKind) -> crate::NewOAuthToken {
        crate::NewOAuthToken {
            token_hash: unique("t"),
            kind,
            integration_id,
            user_id,
            origin_code_hash: None,
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        }
    }

    fn code(integration_id: i64, user_id: i64) -> crate::NewOAuthCode {
        crate::NewOAuthCode {
            code_hash: unique("c"),
            integration_id,
            user_id,
            redirect_uri: None,
            code_challenge: None,
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(1),
        }
    }

    /// Issue #13, finding 4: a deleted user's tokens went on working, and came back to a new
    /// user of the same name.
    #[tokio::test]
    async fn tokens_die_with_their_user_and_stay_dead_under_a_reused_name() {
        for registry in registries().await {
            let slug = unique("tokens");
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            let name = unique("carl");
            let carl = registry.create_user(&name, "h").await.unwrap();
            let (access, refresh) = (
                token(integration.id, carl.id, crate::OAuthTokenKind::Access),
                token(integration.id, carl.id, crate::OAuthTokenKind::Refresh),
            );
            registry.create_oauth_tokens(&[access.clone(), refresh.clone()]).await.unwrap();
            let pending = code(integration.id, carl.id);
            registry.create_oauth_code(&pending).await.unwrap();
            let stored = registry.oauth_token(&refresh.token_hash).await.unwrap().unwrap();
            assert_eq!((stored.user_id, stored.username.as_str()), (carl.id, name.as_str()));

            registry.delete_user(&name).await.unwrap();
            let new_carl = registry.create_user(&name, "h").await.unwrap();
            assert_ne!(new_carl.id, carl.id, "an ID is never reused");
            for hash in [&access.token_hash, &refresh.token_hash] {
                assert!(registry.oauth_token(hash).await.unwrap().is_none(), "the old carl's token is gone");
            }
            assert!(registry.oauth_code(&pending.code_hash).await.unwrap().is_none());
            assert!(!registry.redeem_oauth_code(&pending.code_hash, &[]).await.unwrap());
            assert!(registry.oauth_tokens(Some(integration.id), true).await.unwrap().is_empty());
            registry.delete_integration(&slug).await.unwrap();
        }
    }

    /// A new password and a revoked grant end what was issued before them: tokens and unused
    /// codes (a grant revocation only in its integration).
    #[tokio::test]
    async fn new_password_and_revoked_grant_revoke_tokens_and_codes() {
        for registry in registries().await {
            let (slug, other_slug) = (unique("pw"), unique("pw"));
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            let other = registry.create_integration(sample_integration(&other_slug)).await.unwrap();
            let name = unique("dana");
            let dana = registry.create_user(&name, "h").await.unwrap();
            let now = chrono::Utc::now();

            let before = token(integration.id, dana.id, crate::OAuthTokenKind::Refresh);
            let pending = code(integration.id, dana.id);
            registry.create_oauth_tokens(std::slice::from_ref(&before)).await.unwrap();
            registry.create_oauth_code(&pending).await.unwrap();
            registry.set_user_password_hash(&name, "h2").await.unwrap();
            assert!(!registry.oauth_token(&before.token_hash).await.unwrap().unwrap().is_active(now));
            assert!(registry.oauth_code(&pending.code_hash).await.unwrap().unwrap().used_at.is_some());
            assert!(!registry.redeem_oauth_code(&pending.code_hash, &[]).await.unwrap());

            registry.grant(&name, &slug, Role::Editor, None).await.unwrap();
            let here = token(integration.id, dana.id, crate::OAuthTokenKind::Access);
            let there = token(other.id, dana.id, crate::OAuthTokenKind::Access);
            let pending = code(integration.id, dana.id);
            registry.create_oauth_tokens(&[here.clone(), there.clone()]).await.unwrap();
            registry.create_oauth_code(&pending).await.unwrap();
            registry.revoke(&name, &slug).await.unwrap();
            assert!(!registry.oauth_token(&here.token_hash).await.unwrap().unwrap().is_active(now));
            assert!(!registry.redeem_oauth_code(&pending.code_hash, &[]).await.unwrap());
            assert!(
                registry.oauth_token(&there.token_hash).await.unwrap().unwrap().is_active(now),
                "another integration's tokens are not the revoked grant's"
            );
            registry.delete_integration(&slug).await.unwrap();
            registry.delete_integration(&other_slug).await.unwrap();
        }
    }

    #[tokio::test]
    async fn confinement_needs_a_folder_of_the_integration() {
        for registry in registries().await {
            let slug = unique("confine");
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            let folder = registry.insert_item(new_item(integration.id, "Team", None)).await.unwrap();
            let file = registry.insert_item(new_item(integration.id, "a.txt", Some(1))).await.unwrap();
            let name = unique("bob");
            registry.create_user(&name, "h").await.unwrap();
            let err = registry.grant(&name, &slug, Role::Reader, Some(&file.id)).await.unwrap_err();
            assert!(err.to_string().contains("is a file"), "{err}");
            let grant = registry.grant(&name, &slug, Role::Editor, Some(&folder.id)).await.unwrap();
            assert_eq!(grant.folder.as_ref(), Some(&folder.id));
            let access = registry.access(integration.id, &name).await.unwrap().unwrap();
            assert_eq!(access.folder, Some(folder.id));
            registry.delete_integration(&slug).await.unwrap();
        }
    }
}
