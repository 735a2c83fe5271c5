//! OAuth2 authorization codes and tokens (C4), stored by hash.
//!
//! Everything that must hold across processes (C24) is decided by the database: a code is
//! redeemed by an `UPDATE ... WHERE used_at IS NULL` whose affected-row count says who won, in
//! the same transaction that stores the tokens, so that two concurrent redemptions cannot both
//! succeed and a losing one that revokes the family sees the winner's tokens.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait};

use crate::entities::{oauth_code, oauth_token, user};
use crate::records::{NewOAuthCode, NewOAuthToken, OAuthCode, OAuthRevocation, OAuthToken, OAuthTokenKind};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

fn code_record(row: oauth_code::Model, username: String) -> OAuthCode {
    OAuthCode {
        code_hash: row.code_hash,
        integration_id: row.integration_id,
        user_id: row.user_id,
        username,
        redirect_uri: row.redirect_uri,
        code_challenge: row.code_challenge,
        created_at: from_millis(row.created_at),
        expires_at: from_millis(row.expires_at),
        used_at: row.used_at.map(from_millis),
    }
}

fn token_record(row: oauth_token::Model, username: String) -> Result<OAuthToken> {
    Ok(OAuthToken {
        kind: OAuthTokenKind::parse(&row.kind)
            .ok_or_else(|| RegistryError::Corrupt(format!("oauth token kind {:?}", row.kind)))?,
        token_hash: row.token_hash,
        integration_id: row.integration_id,
        user_id: row.user_id,
        username,
        origin_code_hash: row.origin_code_hash,
        created_at: from_millis(row.created_at),
        expires_at: from_millis(row.expires_at),
        revoked_at: row.revoked_at.map(from_millis),
    })
}

fn token_row(token: &NewOAuthToken, now: i64) -> oauth_token::ActiveModel {
    oauth_token::ActiveModel {
        token_hash: Set(token.token_hash.clone()),
        kind: Set(token.kind.as_str().to_owned()),
        integration_id: Set(token.integration_id),
        user_id: Set(token.user_id),
        origin_code_hash: Set(token.origin_code_hash.clone()),
        created_at: Set(now),
        expires_at: Set(token.expires_at.timestamp_millis()),
        revoked_at: Set(None),
    }
}

/// The usernames of user IDs. A code or token whose user is missing from the answer is treated
/// as not existing: the foreign key deletes them with the user, but a database whose foreign
/// keys were off (a hand-typed `DELETE` in the `sqlite3` shell) may still hold them.
pub(crate) async fn usernames(db: &impl sea_orm::ConnectionTrait, ids: Vec<i64>) -> Result<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect())
}

/// Ends an exchange: stores `tokens` and commits if the exchange's claim (a code marked used, a
/// refresh token revoked) changed exactly one row; otherwise an earlier or concurrent exchange
/// won, and nothing is stored.
async fn store_if_claimed(
    txn: sea_orm::DatabaseTransaction,
    claimed_rows: u64,
    tokens: &[NewOAuthToken],
) -> Result<bool> {
    if claimed_rows != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    insert_tokens(&txn, tokens).await?;
    txn.commit().await?;
    Ok(true)
}

/// Revokes a user's tokens and voids their codes not yet redeemed, in one integration or all,
/// inside the caller's transaction; returns how many tokens were in force. Used by the
/// revocation command and by every change that must end a user's access: a new password, a
/// revoked grant.
pub(crate) async fn revoke_user_oauth(
    db: &impl sea_orm::ConnectionTrait,
    user_id: i64,
    integration_id: Option<i64>,
) -> Result<u64> {
    let now = now_millis();
    let mut tokens = oauth_token::Entity::update_many()
        .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
        .filter(oauth_token::Column::RevokedAt.is_null())
        .filter(oauth_token::Column::UserId.eq(user_id));
    let mut codes = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
        .filter(oauth_code::Column::UsedAt.is_null())
        .filter(oauth_code::Column::UserId.eq(user_id));
    if let Some(id) = integration_id {
        tokens = tokens.filter(oauth_token::Column::IntegrationId.eq(id));
        codes = codes.filter(oauth_code::Column::IntegrationId.eq(id));
    }
    let revoked = tokens.filter(oauth_token::Column::ExpiresAt.gt(now)).exec(db).await?.rows_affected;
    codes.exec(db).await?;
    Ok(revoked)
}

async fn insert_tokens(db: &impl sea_orm::ConnectionTrait, tokens: &[NewOAuthToken]) -> Result<()> {
    if tokens.is_empty() {
        return Ok(());
    }
    let now = now_millis();
    oauth_token::Entity::insert_many(tokens.iter().map(|t| token_row(t, now))).exec_without_returning(db).await?;
    Ok(())
}

/// How long used or expired codes and dead tokens are kept before they are purged: long enough
/// that a replayed code is still recognised as such (and its family revoked) for a day.
const KEEP_STALE: chrono::Duration = chrono::Duration::days(1);

impl Registry {
    /// Stores a freshly issued code. Stale codes and tokens are purged on the way: codes are
    /// issued rarely (once per user and consent), so this keeps the tables small without a
    /// background job.
    pub async fn create_oauth_code(&self, new: &NewOAuthCode) -> Result<()> {
        if let Err(e) = self.purge_stale_oauth(Utc::now() - KEEP_STALE).await {
            tracing::warn!(error = %e, "purging stale OAuth2 codes and tokens");
        }
        oauth_code::Entity::insert(oauth_code::ActiveModel {
            code_hash: Set(new.code_hash.clone()),
            integration_id: Set(new.integration_id),
            user_id: Set(new.user_id),
            redirect_uri: Set(new.redirect_uri.clone()),
            code_challenge: Set(new.code_challenge.clone()),
            created_at: Set(now_millis()),
            expires_at: Set(new.expires_at.timestamp_millis()),
            used_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|e| RegistryError::conflict_on_unique(e, || "this authorization code already exists".to_owned()))?;
        Ok(())
    }

    /// A code by its hash, used or not; `None` if its user no longer exists.
    pub async fn oauth_code(&self, code_hash: &str) -> Result<Option<OAuthCode>> {
        let Some(row) = oauth_code::Entity::find_by_id(code_hash.to_owned()).one(&self.db).await? else {
            return Ok(None);
        };
        let mut names = usernames(&self.db, vec![row.user_id]).await?;
        Ok(names.remove(&row.user_id).map(|username| code_record(row, username)))
    }

    /// Marks a code used and stores the tokens issued from it, atomically. `false` when the
    /// code was already used (by an earlier request, or by a concurrent one in any process):
    /// nothing is stored then.
    pub async fn redeem_oauth_code(&self, code_hash: &str, tokens: &[NewOAuthToken]) -> Result<bool> {
        let txn = self.db.begin().await?;
        let claimed = oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now_millis()))
            .filter(oauth_code::Column::CodeHash.eq(code_hash))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        store_if_claimed(txn, claimed.rows_affected, tokens).await
    }

    /// Stores tokens (a refresh that does not rotate issues only an access token).
    pub async fn create_oauth_tokens(&self, tokens: &[NewOAuthToken]) -> Result<()> {
        insert_tokens(&self.db, tokens).await
    }

    /// Revokes a refresh token and stores its successors, atomically. `false` when the token
    /// was already revoked (a reuse, or a concurrent rotation that won): nothing is stored then.
    pub async fn rotate_refresh_token(&self, old_hash: &str, tokens: &[NewOAuthToken]) -> Result<bool> {
        let txn = self.db.begin().await?;
        let revoked = oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now_millis()))
            .filter(oauth_token::Column::TokenHash.eq(old_hash))
            .filter(oauth_token::Column::Kind.eq(OAuthTokenKind::Refresh.as_str()))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        store_if_claimed(txn, revoked.rows_affected, tokens).await
    }

    /// A token by its hash, whatever its state; `None` if its user no longer exists.
    pub async fn oauth_token(&self, token_hash: &str) -> Result<Option<OAuthToken>> {
        let Some(row) = oauth_token::Entity::find_by_id(token_hash.to_owned()).one(&self.db).await? else {
            return Ok(None);
        };
        let mut names = usernames(&self.db, vec![row.user_id]).await?;
        names.remove(&row.user_id).map(|username| token_record(row, username)).transpose()
    }

    /// Revokes tokens; returns how many were active before. Revoking a user's or an
    /// integration's tokens also voids their codes not yet redeemed, so that a code handed out
    /// just before the revocation cannot bring access back.
    pub async fn revoke_oauth_tokens(&self, which: OAuthRevocation<'_>) -> Result<u64> {
        let (on_tokens, on_codes): (SimpleExpr, SimpleExpr) = match which {
            OAuthRevocation::User { username, integration_id } => {
                // An unknown user has no tokens: the foreign key took them with the user.
                let Some(user) = self.user(username).await? else { return Ok(0) };
                let txn = self.db.begin().await?;
                let revoked = revoke_user_oauth(&txn, user.id, integration_id).await?;
                txn.commit().await?;
                return Ok(revoked);
            }
            OAuthRevocation::Integration { integration_id } => (
                oauth_token::Column::IntegrationId.eq(integration_id),
                oauth_code::Column::IntegrationId.eq(integration_id),
            ),
            OAuthRevocation::Family { origin_code_hash } => (
                oauth_token::Column::OriginCodeHash.eq(origin_code_hash),
                oauth_code::Column::CodeHash.eq(origin_code_hash),
            ),
            // One token: no code to void.
            OAuthRevocation::Token { token_hash } => {
                (oauth_token::Column::TokenHash.eq(token_hash), oauth_code::Column::CodeHash.is_null())
            }
        };
        let now = now_millis();
        let txn = self.db.begin().await?;
        // Count only tokens still in force, so that "revoked N tokens" means something.
        let revoked = oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .filter(oauth_token::Column::ExpiresAt.gt(now))
            .filter(on_tokens)
            .exec(&txn)
            .await?
            .rows_affected;
        oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
            .filter(oauth_code::Column::UsedAt.is_null())
            .filter(on_codes)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(revoked)
    }

    /// Tokens, newest first, of one integration or all; only those in force unless
    /// `include_inactive`.
    pub async fn oauth_tokens(&self, integration_id: Option<i64>, include_inactive: bool) -> Result<Vec<OAuthToken>> {
        let mut query = oauth_token::Entity::find();
        if let Some(id) = integration_id {
            query = query.filter(oauth_token::Column::IntegrationId.eq(id));
        }
        if !include_inactive {
            query = query
                .filter(oauth_token::Column::RevokedAt.is_null())
                .filter(oauth_token::Column::ExpiresAt.gt(now_millis()));
        }
        let rows = query
            .order_by_desc(oauth_token::Column::CreatedAt)
            .order_by_asc(oauth_token::Column::TokenHash)
            .all(&self.db)
            .await?;
        let mut ids: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let names = usernames(&self.db, ids).await?;
        rows.into_iter()
            .filter_map(|row| names.get(&row.user_id).cloned().map(|username| token_record(row, username)))
            .collect()
    }

    /// Deletes codes and tokens that expired before `before`; returns how many rows went.
    pub async fn purge_stale_oauth(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = before.timestamp_millis();
        let txn = self.db.begin().await?;
        let tokens = oauth_token::Entity::delete_many()
            .filter(oauth_token::Column::ExpiresAt.lt(before))
            .exec(&txn)
            .await?
            .rows_affected;
        let codes = oauth_code::Entity::delete_many()
            .filter(oauth_code::Column::ExpiresAt.lt(before))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(tokens + codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{AuthType, DefaultRole, NewIntegration};
    use crate::test_support::{registries, unique};

    /// An OAuth2 integration and a user: (integration ID, user ID, username).
    async fn integration(registry: &Registry) -> (i64, i64, String) {
        let slug = unique("oauth");
        let integration = registry
            .create_integration(NewIntegration {
                slug: slug.clone(),
                name: slug.clone(),
                auth_type: AuthType::OAuth2,
                redirect_uris: vec!["https://wf.example/cb".into()],
                request_params: vec![],
                storage_kind: "memory".into(),
                storage_root: "m".into(),
                default_role: DefaultRole::Editor,
                custom_actions: vec![],
                api_key: None,
                client: Some((unique("client"), "hash".into())),
            })
            .await
            .unwrap();
        let user = registry.create_user(&unique("ann"), "hash").await.unwrap();
        (integration.id, user.id, user.username)
    }

    fn code(integration_id: i64, user_id: i64, hash: &str) -> NewOAuthCode {
        NewOAuthCode {
            code_hash: hash.into(),
            integration_id,
            user_id,
            redirect_uri: None,
            code_challenge: None,
            expires_at: Utc::now() + chrono::Duration::seconds(60),
        }
    }

    fn token(integration_id: i64, user_id: i64, hash: &str, kind: OAuthTokenKind, origin: &str) -> NewOAuthToken {
        NewOAuthToken {
            token_hash: hash.into(),
            kind,
            integration_id,
            user_id,
            origin_code_hash: Some(origin.into()),
            expires_at: Utc::now() + chrono::Duration::hours(1),
        }
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_even_concurrently() {
        for registry in registries().await {
            let (id, uid, _) = integration(&registry).await;
            let c1 = unique("c");
            registry.create_oauth_code(&code(id, uid, &c1)).await.unwrap();
            let attempts = (0..8).map(|_| {
                let registry = registry.clone();
                let tokens = vec![
                    token(id, uid, &unique("a"), OAuthTokenKind::Access, &c1),
                    token(id, uid, &unique("r"), OAuthTokenKind::Refresh, &c1),
                ];
                let c1 = c1.clone();
                tokio::spawn(async move { registry.redeem_oauth_code(&c1, &tokens).await.unwrap() })
            });
            let mut wins = 0;
            for attempt in attempts.collect::<Vec<_>>() {
                wins += usize::from(attempt.await.unwrap());
            }
            assert_eq!(wins, 1);
            assert_eq!(
                registry.oauth_tokens(Some(id), false).await.unwrap().len(),
                2,
                "only the winner's tokens are stored"
            );
            assert!(registry.oauth_code(&c1).await.unwrap().unwrap().used_at.is_some());
            assert!(!registry.redeem_oauth_code(&unique("unknown"), &[]).await.unwrap());
        }
    }

    #[tokio::test]
    async fn revocations() {
        for registry in registries().await {
            let (id, uid, username) = integration(&registry).await;
            let (c1, c2, c3) = (unique("c"), unique("c"), unique("c"));
            let (a1, r1, a2) = (unique("a"), unique("r"), unique("a"));
            registry.create_oauth_code(&code(id, uid, &c1)).await.unwrap();
            assert!(
                registry
                    .redeem_oauth_code(
                        &c1,
                        &[
                            token(id, uid, &a1, OAuthTokenKind::Access, &c1),
                            token(id, uid, &r1, OAuthTokenKind::Refresh, &c1)
                        ]
                    )
                    .await
                    .unwrap()
            );
            registry.create_oauth_tokens(&[token(id, uid, &a2, OAuthTokenKind::Access, &c2)]).await.unwrap();

            assert_eq!(registry.revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &a2 }).await.unwrap(), 1);
            assert_eq!(
                registry.revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &a2 }).await.unwrap(),
                0,
                "already revoked"
            );
            assert_eq!(
                registry.revoke_oauth_tokens(OAuthRevocation::Family { origin_code_hash: &c1 }).await.unwrap(),
                2
            );
            let all = registry.oauth_tokens(Some(id), true).await.unwrap();
            assert_eq!(all.len(), 3);
            assert!(all.iter().all(|t| t.revoked_at.is_some() && !t.is_active(Utc::now())));
            assert!(registry.oauth_tokens(Some(id), false).await.unwrap().is_empty());

            // A user revocation voids the codes not yet redeemed, too.
            registry.create_oauth_code(&code(id, uid, &c3)).await.unwrap();
            registry.create_oauth_tokens(&[token(id, uid, &unique("a"), OAuthTokenKind::Access, &c2)]).await.unwrap();
            assert_eq!(
                registry
                    .revoke_oauth_tokens(OAuthRevocation::User { username: &username, integration_id: Some(id) })
                    .await
                    .unwrap(),
                1
            );
            assert!(!registry.redeem_oauth_code(&c3, &[]).await.unwrap());
            registry.create_oauth_tokens(&[token(id, uid, &unique("a"), OAuthTokenKind::Access, &c2)]).await.unwrap();
            assert_eq!(
                registry.revoke_oauth_tokens(OAuthRevocation::Integration { integration_id: id }).await.unwrap(),
                1
            );
        }
    }

    #[tokio::test]
    async fn rotation_succeeds_once() {
        for registry in registries().await {
            let (id, uid, _) = integration(&registry).await;
            let (r1, r2, r3) = (unique("r"), unique("r"), unique("r"));
            registry.create_oauth_tokens(&[token(id, uid, &r1, OAuthTokenKind::Refresh, "c1")]).await.unwrap();
            assert!(
                registry
                    .rotate_refresh_token(&r1, &[token(id, uid, &r2, OAuthTokenKind::Refresh, "c1")])
                    .await
                    .unwrap()
            );
            assert!(
                !registry
                    .rotate_refresh_token(&r1, &[token(id, uid, &r3, OAuthTokenKind::Refresh, "c1")])
                    .await
                    .unwrap()
            );
            assert!(registry.oauth_token(&r3).await.unwrap().is_none());
            assert!(registry.oauth_token(&r1).await.unwrap().unwrap().revoked_at.is_some());
            assert!(registry.oauth_token(&r2).await.unwrap().unwrap().is_active(Utc::now()));
        }
    }

    #[tokio::test]
    async fn stale_rows_are_purged() {
        for registry in registries().await {
            let (id, uid, _) = integration(&registry).await;
            let (old_hash, new_hash) = (unique("old"), unique("new"));
            let mut old = token(id, uid, &old_hash, OAuthTokenKind::Access, "c1");
            old.expires_at = Utc::now() - chrono::Duration::days(2);
            registry
                .create_oauth_tokens(&[old, token(id, uid, &new_hash, OAuthTokenKind::Access, "c1")])
                .await
                .unwrap();
            assert!(registry.purge_stale_oauth(Utc::now() - KEEP_STALE).await.unwrap() >= 1);
            assert!(registry.oauth_token(&old_hash).await.unwrap().is_none());
            assert!(registry.oauth_token(&new_hash).await.unwrap().is_some());
        }
    }
}
