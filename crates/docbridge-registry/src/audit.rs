//! The audit trail: who changed what, where, with which result (C25).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entities::audit;
use crate::records::AuditEntry;
use crate::{Registry, Result, from_millis};

impl Registry {
    /// Appends one line to the audit trail.
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
    pub async fn audit_entries(
        &self,
        integration: Option<&str>,
        since: Option<chrono::DateTime<chrono::Utc>>,
        limit: u64,
    ) -> Result<Vec<AuditEntry>> {
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
            .map(|r| AuditEntry {
                at: from_millis(r.at),
                actor: r.actor,
                integration: r.integration,
                operation: r.operation,
                item_id: r.item_id,
                result: r.result,
                detail: r.detail,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{registries, unique};

    fn entry(integration: &str, operation: &str, at: chrono::DateTime<chrono::Utc>) -> AuditEntry {
        AuditEntry {
            at,
            actor: "cli:root".into(),
            integration: integration.into(),
            operation: operation.into(),
            item_id: None,
            result: "ok".into(),
            detail: Some("name=x".into()),
        }
    }

    #[tokio::test]
    async fn entries_filter_by_integration_and_time() {
        for registry in registries().await {
            let slug = unique("audit");
            let t0 = chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
            let t1 = t0 + chrono::Duration::seconds(10);
            registry.record_audit(&entry(&slug, "integration.add", t0)).await.unwrap();
            registry.record_audit(&entry(&slug, "integration.edit", t1)).await.unwrap();
            registry.record_audit(&entry(&unique("other"), "integration.add", t1)).await.unwrap();
            let mine = registry.audit_entries(Some(&slug), None, 100).await.unwrap();
            assert_eq!(
                mine.iter().map(|e| e.operation.as_str()).collect::<Vec<_>>(),
                ["integration.add", "integration.edit"]
            );
            assert_eq!(mine[0], entry(&slug, "integration.add", t0));
            let later = registry.audit_entries(Some(&slug), Some(t1), 100).await.unwrap();
            assert_eq!(later.len(), 1);
            assert_eq!(later[0].operation, "integration.edit");
        }
    }
}
