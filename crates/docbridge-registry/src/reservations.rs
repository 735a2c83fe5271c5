//! Upload reservations made by `/uploadInit` and completed by `/upload` (C13, C14), kept in the
//! database so that any docbridge process can complete another's reservation (C24).

use docbridge_protocol::ItemId;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entities::reservation;
use crate::records::{NewReservation, Reservation};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

fn to_record(row: reservation::Model) -> Reservation {
    Reservation {
        id: ItemId::from_trusted(row.id),
        integration_id: row.integration_id,
        parent_id: ItemId::from_trusted(row.parent_id),
        name: row.name,
        replaces_existing: row.replaces_existing,
        wf_document_id: row.wf_document_id,
        wf_document_version_id: row.wf_document_version_id,
        created_by: row.created_by,
        created_at: from_millis(row.created_at),
        expires_at: from_millis(row.expires_at),
        uploaded_at: row.uploaded_at.map(from_millis),
    }
}

impl Registry {
    /// Records a reservation. One that replaces an existing item supersedes any earlier
    /// reservation for that item (Workfront sending a new version of the same document), so
    /// the item's ID can be reserved again.
    pub async fn create_reservation(&self, new: NewReservation) -> Result<Reservation> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        if new.replaces_existing {
            reservation::Entity::delete_many()
                .filter(reservation::Column::IntegrationId.eq(new.integration_id))
                .filter(reservation::Column::Id.eq(new.id.as_str()))
                .exec(&txn)
                .await?;
        }
        let row = reservation::ActiveModel {
            id: Set(new.id.as_str().to_owned()),
            integration_id: Set(new.integration_id),
            parent_id: Set(new.parent_id.as_str().to_owned()),
            name: Set(new.name),
            replaces_existing: Set(new.replaces_existing),
            wf_document_id: Set(new.wf_document_id),
            wf_document_version_id: Set(new.wf_document_version_id),
            created_by: Set(new.created_by),
            created_at: Set(now_millis()),
            expires_at: Set(new.expires_at.timestamp_millis()),
            uploaded_at: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            RegistryError::conflict_on_unique(e, || "an upload with this ID is already reserved".to_owned())
        })?;
        txn.commit().await?;
        Ok(to_record(row))
    }

    /// A reservation by the ID `/uploadInit` answered, whether or not bytes have arrived yet.
    pub async fn reservation(&self, integration_id: i64, id: &ItemId) -> Result<Option<Reservation>> {
        Ok(reservation::Entity::find_by_id(id.as_str().to_owned())
            .filter(reservation::Column::IntegrationId.eq(integration_id))
            .one(&self.db)
            .await?
            .map(to_record))
    }

    /// Names (with their reserved IDs) held by reservations in a folder that have not received
    /// bytes and not expired: a second `/uploadInit` of the same name must not take them.
    pub async fn pending_reservations(&self, integration_id: i64, parent_id: &ItemId) -> Result<Vec<(String, ItemId)>> {
        Ok(reservation::Entity::find()
            .filter(reservation::Column::IntegrationId.eq(integration_id))
            .filter(reservation::Column::ParentId.eq(parent_id.as_str()))
            .filter(reservation::Column::UploadedAt.is_null())
            .filter(reservation::Column::ExpiresAt.gt(now_millis()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.name, ItemId::from_trusted(r.id)))
            .collect())
    }

    /// Marks an upload as committed, so that a repeated `/upload` answers success again.
    pub async fn mark_reservation_uploaded(&self, id: &ItemId) -> Result<()> {
        reservation::Entity::update_many()
            .col_expr(reservation::Column::UploadedAt, sea_orm::sea_query::Expr::value(now_millis()))
            .filter(reservation::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The newest reservation that recorded these Workfront IDs (C18). The version ID narrows
    /// the match when given; the document ID alone is enough otherwise.
    pub async fn reservation_by_workfront_ids(
        &self,
        integration_id: i64,
        document_id: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Reservation>> {
        let mut query = reservation::Entity::find()
            .filter(reservation::Column::IntegrationId.eq(integration_id))
            .filter(reservation::Column::WfDocumentId.eq(document_id));
        if let Some(version_id) = version_id {
            query = query.filter(reservation::Column::WfDocumentVersionId.eq(version_id));
        }
        Ok(query.order_by_desc(reservation::Column::CreatedAt).one(&self.db).await?.map(to_record))
    }

    /// Drops reservations that never received bytes before their expiry; returns how many.
    pub async fn expire_reservations(&self) -> Result<u64> {
        let result = reservation::Entity::delete_many()
            .filter(reservation::Column::UploadedAt.is_null())
            .filter(reservation::Column::ExpiresAt.lte(now_millis()))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected)
    }
}
