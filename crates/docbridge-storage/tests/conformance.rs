//! Runs the storage conformance suite (`docbridge_storage::suite`) on every adapter of this crate.

#[cfg(unix)]
mod fs {
    docbridge_storage::storage_conformance_tests!(async { docbridge_storage::suite::temp_fs() });
}

mod memory {
    docbridge_storage::storage_conformance_tests!(async { (docbridge_storage::MemoryStorage::new(), ()) });
}
