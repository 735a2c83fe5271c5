//! sea-orm entities: one module per table. Rows never leave this crate; `records.rs` holds the
//! types the rest of docbridge sees.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod setting {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }
    no_relations!();
}

pub mod integration {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "integrations")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub slug: String,
        pub name: String,
        pub auth_type: String,
        pub client_id: Option<String>,
        pub client_secret_hash: Option<String>,
        pub redirect_uris: String,
        pub request_params: String,
        pub storage_kind: String,
        pub storage_root: String,
        pub enabled: bool,
        pub default_role: String,
        pub custom_actions: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
    no_relations!();
}

pub mod api_key {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub integration_id: i64,
        pub key_hash: String,
        pub hint: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod item {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub num: i64,
        pub id: String,
        pub integration_id: i64,
        pub parent_id: String,
        pub path: String,
        pub name: String,
        pub kind: String,
        pub size: i64,
        pub modified: i64,
        pub state: String,
        pub locked: bool,
        pub indexed_version: Option<String>,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod reservation {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reservations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub integration_id: i64,
        pub parent_id: String,
        pub name: String,
        pub replaces_existing: bool,
        pub wf_document_id: Option<String>,
        pub wf_document_version_id: Option<String>,
        pub created_by: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub uploaded_at: Option<i64>,
    }
    no_relations!();
}

pub mod trash {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "trash")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub integration_id: i64,
        pub item_id: String,
        pub name: String,
        pub kind: String,
        pub original_path: String,
        pub original_parent_id: String,
        pub trash_path: String,
        pub deleted_by: Option<String>,
        pub deleted_at: i64,
    }
    no_relations!();
}

pub mod user {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub username: String,
        pub password_hash: String,
        pub created_at: i64,
    }
    no_relations!();
}

pub mod grant {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "grants")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub integration_id: i64,
        pub role: String,
        pub folder_id: Option<String>,
    }
    no_relations!();
}

pub mod oauth_code {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_hash: String,
        pub integration_id: i64,
        pub user_id: i64,
        pub redirect_uri: Option<String>,
        pub code_challenge: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
    no_relations!();
}

pub mod oauth_token {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub kind: String,
        pub integration_id: i64,
        pub user_id: i64,
        pub origin_code_hash: Option<String>,
        pub created_at: i64,
        pub expires_at: i64,
        pub revoked_at: Option<i64>,
    }
    no_relations!();
}

pub mod admin_session {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "admin_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id_hash: String,
        pub created_at: i64,
        pub expires_at: i64,
    }
    no_relations!();
}

pub mod audit {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub at: i64,
        pub actor: String,
        pub integration: String,
        pub operation: String,
        pub item_id: Option<String>,
        pub result: String,
        pub detail: Option<String>,
    }
    no_relations!();
}
