//! The audit trail: who changed what, where, with which result (C25).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::audit;
use crate::records::AuditEntry;
use crate::{Registry, Result, from_millis};

impl Registry {
    pub async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        audit::ActiveModel {
            at: Set(entry.at.timestamp_millis()),
            actor: Set(entry.actor.clone()),
            integration: Set(entry.integration.clone()),
            operation: Set(entry.operation.clone()),
            item_id: Set(entry.item_id.clone()),
            result: Set(entry.result.clone()),
            detail: Set(entry.detail.clone()),
            ..Default::default()
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Audit entries, oldest first, optionally for one integration and from a time on.
    pub async fn audit_entries(&self, integration: Option<&str>, since: Option<chrono::DateTime<chrono::Utc>>, limit: u64) -> Result<Vec<AuditEntry>> {
        let mut query = audit::Entity::find();
        if let Some(slug) = integration {
            query = query.filter(audit::Column::Integration.eq(slug));
        }
        if let Some(since) = since {
            query = query.filter(audit::Column::At.gte(since.timestamp_millis()));
        }
        let rows = query.order_by_asc(audit::Column::Id).limit(limit).all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry { at: from_millis(r.at), actor: r.actor, integration: r.integration, operation: r.operation, item_id: r.item_id, result: r.result, detail: r.detail })
            .collect())
    }
}
