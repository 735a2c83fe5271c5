//! Small shared settings, such as the key that signs view and download links: stored in the
//! database so that every docbridge process behind a load balancer uses the same one (C24).

use sea_orm::{ActiveValue::Set, EntityTrait, sea_query::OnConflict};

use crate::entities::setting;
use crate::{Registry, Result};

impl Registry {
    /// The setting's value, created with `make` if it does not exist yet. Two processes
    /// racing to create it agree on whichever value was stored first.
    pub async fn setting_or_init(&self, key: &str, make: impl FnOnce() -> String) -> Result<String> {
        if let Some(row) = setting::Entity::find_by_id(key.to_owned()).one(&self.db).await? {
            return Ok(row.value);
        }
        let row = setting::ActiveModel { key: Set(key.to_owned()), value: Set(make()) };
        setting::Entity::insert(row)
            .on_conflict(OnConflict::column(setting::Column::Key).do_nothing().to_owned())
            .exec_without_returning(&self.db)
            .await?;
        let row = setting::Entity::find_by_id(key.to_owned()).one(&self.db).await?;
        row.map(|r| r.value).ok_or_else(|| crate::RegistryError::Corrupt(format!("setting {key:?} vanished")))
    }

    /// A setting shared by every process (e.g. the link-signing key).
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(setting::Entity::find_by_id(key.to_owned()).one(&self.db).await?.map(|r| r.value))
    }

    /// Sets a setting, replacing its value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let row = setting::ActiveModel { key: Set(key.to_owned()), value: Set(value.to_owned()) };
        setting::Entity::insert(row)
            .on_conflict(OnConflict::column(setting::Column::Key).update_column(setting::Column::Value).to_owned())
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }
}
