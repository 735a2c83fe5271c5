//! Scratch measurement (not committed): listings and metadata through one library.
mod support;
use std::sync::Arc;
use std::time::Instant;
use docbridge_documents::{Library, LibrarySettings};
use docbridge_protocol::ItemId;
use support::{body, editor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, integration) = support::registry_with_library(dir.path(), Vec::new()).await;
    let files = tempfile::tempdir().unwrap();
    let storage = Arc::new(docbridge_storage::FsStorage::new(files.path()).unwrap());
    let settings = LibrarySettings { cache_dir: dir.path().join("cache"), ..LibrarySettings::default() };
    let library = Library::new(integration.id, "Library", storage, registry, Arc::new(settings));
    let mut ids = Vec::new();
    for i in 0..100 {
        let view = library.upload_init(&editor(), &ItemId::root(), &format!("f{i}.txt"), None, None).await.unwrap();
        library.upload(&editor(), &view.record.id, body(b"content")).await.unwrap();
        ids.push(view.record.id);
    }
    for round in 0..3 {
        let start = Instant::now();
        for _ in 0..1000 {
            library.list(&editor(), &ItemId::root(), None, None).await.unwrap();
        }
        let files_per_s = 1000.0 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for i in 0..5000 {
            library.metadata(&editor(), &ids[i % ids.len()]).await.unwrap();
        }
        let metadata_per_s = 5000.0 / start.elapsed().as_secs_f64();
        println!("MEASURE round {round}: /files {files_per_s:.0}/s  /metadata {metadata_per_s:.0}/s");
    }
}
