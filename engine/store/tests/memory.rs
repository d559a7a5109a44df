//! The in-memory store passes the conformance suite.

#[tokio::test]
async fn memory_store_conforms() {
    drctl_store::conformance::check_all(|| async { drctl_store::MemoryStore::new() }).await;
}
