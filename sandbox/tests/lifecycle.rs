//! Sandbox lifecycle: each upstream has its own port, and dropping the sandbox stops them.

use nexus_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn upstreams_have_distinct_ports_and_stop_on_drop() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let ports =
        [sandbox.hyperliquid.addr, sandbox.openai.addr, sandbox.feeds.addr, sandbox.meteo.addr].map(|a| a.port());
    let unique: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(unique.len(), 4);
    let url = format!("{}/v1/forecast?latitude=0&longitude=0", sandbox.meteo.base_url);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    // The meteo upstream does not serve the feeds' paths: one API per base URL.
    let feeds_on_meteo = format!("{}/feeds/markets.rss", sandbox.meteo.base_url);
    assert_eq!(reqwest::get(&feeds_on_meteo).await.unwrap().status(), 404);
    drop(sandbox);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(reqwest::get(&url).await.is_err(), "still serving after drop");
}
