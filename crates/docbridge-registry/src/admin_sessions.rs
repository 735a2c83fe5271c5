//! Admin page sessions (issue #13, finding 9): a row per logged-in session, so that logging out
//! ends the session in every process sharing the database, and a copied cookie is worth nothing
//! afterwards. Rows are keyed by the SHA-256 of the session ID the cookie carries (hashed by the
//! caller), so a copy of the database opens no session. Not cached: the admin page is rare
//! traffic, and a check that read a cache could serve a session that was just ended.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::admin_session;
use crate::{Registry, Result, now_millis};

impl Registry {
    /// Records a new session until `expires_at`. Expired sessions are purged on the way: logins
    /// are rare, so this keeps the table small without a background job.
    pub async fn create_admin_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> Result<()> {
        let now = now_millis();
        admin_session::Entity::delete_many().filter(admin_session::Column::ExpiresAt.lte(now)).exec(&self.db).await?;
        admin_session::Entity::insert(admin_session::ActiveModel {
            id_hash: Set(id_hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at.timestamp_millis()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Whether a session exists and has not expired.
    pub async fn admin_session_active(&self, id_hash: &str) -> Result<bool> {
        Ok(admin_session::Entity::find_by_id(id_hash.to_owned())
            .filter(admin_session::Column::ExpiresAt.gt(now_millis()))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Ends a session; `false` if it did not exist (any more).
    pub async fn delete_admin_session(&self, id_hash: &str) -> Result<bool> {
        Ok(admin_session::Entity::delete_by_id(id_hash.to_owned()).exec(&self.db).await?.rows_affected == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{registries, unique};

    #[tokio::test]
    async fn sessions_end_on_delete_and_expiry() {
        for registry in registries().await {
            let (live, old) = (unique("s"), unique("s"));
            registry.create_admin_session(&live, chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
            registry.create_admin_session(&old, chrono::Utc::now() - chrono::Duration::seconds(1)).await.unwrap();
            assert!(registry.admin_session_active(&live).await.unwrap());
            assert!(!registry.admin_session_active(&old).await.unwrap(), "expired");
            assert!(!registry.admin_session_active(&unique("s")).await.unwrap(), "unknown");
            assert!(registry.delete_admin_session(&live).await.unwrap());
            assert!(!registry.admin_session_active(&live).await.unwrap(), "ended");
            assert!(!registry.delete_admin_session(&live).await.unwrap());
        }
    }
}
