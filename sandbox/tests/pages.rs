//! The Wikipedia-style pages upstream: full article documents with page furniture, 404 pages.

use nexus_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn serves_articles_as_wikipedia_does_and_404s_unknown_titles() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    assert_ne!(sandbox.pages.addr.port(), sandbox.meteo.addr.port());
    let response = reqwest::get(format!("{}/wiki/Tide", sandbox.pages.base_url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=UTF-8");
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Tide - Wikipedia</title>"), "{html}");
    // Citation marks as Wikipedia writes them, next to the prose a summarizer keeps.
    assert!(html.contains(
        r##"with the rotation of the Earth.<sup id="cite_ref-1" class="reference"><a href="#cite_note-1">&#91;1&#93;</a></sup> Most coastlines"##
    ));
    for furniture in
        [r#"class="infobox""#, r#"class="mw-editsection""#, r#"class="reflist""#, r#"class="navbox""#, "<footer"]
    {
        assert!(html.contains(furniture), "{furniture}");
    }
    // Five citations in the text, five notes in the reference list.
    assert_eq!(html.matches(r#"<span class="reference-text">"#).count(), 5);

    let missing = reqwest::get(format!("{}/wiki/No_such_page", sandbox.pages.base_url)).await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("<title>No such page - Wikipedia</title>"));
    // One API per base URL.
    let other = reqwest::get(format!("{}/v1/forecast", sandbox.pages.base_url)).await.unwrap();
    assert_eq!(other.status(), 404);
}
