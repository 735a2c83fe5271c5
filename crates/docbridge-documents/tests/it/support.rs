//! What the documents test files share: a SQLite registry in a temporary folder with one
//! integration on the in-memory adapter, an editor, and a request body.

#![allow(dead_code)] // Not every test module uses all of it.

use std::path::Path;

use bytes::Bytes;
use docbridge_documents::Caller;
use docbridge_registry::{
    AuthType, CustomActionSpec, DefaultRole, Integration, KeyHash, NewIntegration, Registry, Role,
};
use docbridge_storage::ByteStream;

/// A registry in `dir/db.sqlite` holding the integration `lib` ("Library", in-memory storage,
/// editors by default) with these custom actions.
pub async fn registry_with_library(dir: &Path, custom_actions: Vec<CustomActionSpec>) -> (Registry, Integration) {
    let registry = Registry::connect(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display()))
        .await
        .expect("registry opens");
    let integration = registry
        .create_integration(NewIntegration {
            slug: "lib".into(),
            name: "Library".into(),
            auth_type: AuthType::ApiKey,
            redirect_uris: vec![],
            request_params: vec![],
            storage_kind: "memory".into(),
            storage_root: "mem".into(),
            default_role: DefaultRole::Editor,
            custom_actions,
            api_key: Some(KeyHash { hash: "h".into(), hint: "h".into() }),
            client: None,
        })
        .await
        .expect("integration created");
    (registry, integration)
}

pub fn editor() -> Caller {
    Caller { username: "ed@example.com".into(), role: Role::Editor, folder: None, items_seen: None }
}

/// A request body of one chunk.
pub fn body(bytes: &'static [u8]) -> ByteStream {
    Box::pin(futures::stream::iter([Ok(Bytes::from_static(bytes))]))
}
