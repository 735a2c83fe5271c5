//! Runs the storage conformance suite (`docbridge_storage::suite`) on every adapter of this crate:
//! the filesystem and memory adapters always, and the OpenDAL adapter (`RemoteStorage`) against
//! each real store that the environment names (`.ci/webdav.sh`, `.ci/azurite.sh`, `.ci/gcs.sh`
//! write the variables); without them, each of those cases prints that it was skipped.

#[cfg(unix)]
mod fs {
    docbridge_storage::storage_conformance_tests!(async { docbridge_storage::suite::temp_fs() });
}

mod memory {
    docbridge_storage::storage_conformance_tests!(async { (docbridge_storage::MemoryStorage::new(), ()) });
}

/// A library of its own in a real store, for one test, removed when the test ends.
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
mod remote {
    use docbridge_storage::{RemoteConfig, RemoteStorage};

    /// `DOCBRIDGE_TEST_<NAME>`, if set and not empty.
    pub fn var(name: &str) -> Option<String> {
        std::env::var(format!("DOCBRIDGE_TEST_{name}")).ok().filter(|v| !v.is_empty())
    }

    /// Removes the test's folder or prefix from the store.
    pub struct Cleanup(RemoteStorage, String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let (op, root) = (self.0.operator().clone(), self.1.clone());
            // The test's runtime is ending: a runtime of its own does the removal.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                let _ = runtime.block_on(async { op.delete_with(&root).recursive(true).await });
            })
            .join();
        }
    }

    /// A fresh library under a unique folder of the store `config` names; `None` without one.
    pub async fn library(config: Option<RemoteConfig>) -> Option<(RemoteStorage, Cleanup)> {
        let config = config?;
        let store = RemoteStorage::connect(&config).expect("the store's configuration");
        let root = format!("conformance-{}", uuid::Uuid::new_v4());
        let library = store.within(&root).expect("a library root");
        library.create_root().await.expect("creating the library's root");
        Some((library, Cleanup(store, format!("{root}/"))))
    }
}

#[cfg(feature = "webdav")]
mod webdav {
    use super::remote::{library, var};
    use docbridge_storage::{RemoteConfig, Secret};

    /// `WEBDAV` (wsgidav) or `WEBDAV2` (Apache mod_dav).
    pub fn config(server: &str) -> Option<RemoteConfig> {
        Some(RemoteConfig::Webdav {
            endpoint: var(&format!("{server}_ENDPOINT"))?,
            username: var(&format!("{server}_USERNAME")).unwrap_or_default(),
            password: Secret::new(var(&format!("{server}_PASSWORD")).unwrap_or_default()),
        })
    }

    mod wsgidav {
        docbridge_storage::storage_conformance_tests!(super::library(super::config("WEBDAV")));
    }

    mod apache {
        docbridge_storage::storage_conformance_tests!(super::library(super::config("WEBDAV2")));
    }
}

#[cfg(feature = "azblob")]
mod azblob {
    use super::remote::{library, var};
    use docbridge_storage::{RemoteConfig, Secret};

    fn config() -> Option<RemoteConfig> {
        Some(RemoteConfig::Azblob {
            endpoint: var("AZBLOB_ENDPOINT")?,
            container: var("AZBLOB_CONTAINER")?,
            account_name: var("AZBLOB_ACCOUNT_NAME").unwrap_or_default(),
            account_key: Secret::new(var("AZBLOB_ACCOUNT_KEY").unwrap_or_default()),
        })
    }

    docbridge_storage::storage_conformance_tests!(library(config()));
}

#[cfg(feature = "gcs")]
mod gcs {
    use super::remote::{library, var};
    use docbridge_storage::RemoteConfig;

    fn config() -> Option<RemoteConfig> {
        Some(RemoteConfig::Gcs {
            endpoint: var("GCS_ENDPOINT")?,
            bucket: var("GCS_BUCKET")?,
            credential_file: var("GCS_CREDENTIAL_FILE").unwrap_or_default(),
        })
    }

    docbridge_storage::storage_conformance_tests!(library(config()));
}
