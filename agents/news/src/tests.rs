//! Aggregation over scripted feeds: failures reported, stale items dropped, ranking, `now`.

use std::collections::HashMap;

use super::*;

struct Feeds(HashMap<&'static str, Result<String, String>>);

impl Fetch for Feeds {
    fn fetch(&self, url: &str) -> Result<String, String> {
        self.0.get(url).cloned().unwrap_or_else(|| Err("HTTP 404: not found".into()))
    }
}

fn rss(title: &str, items: &[(&str, &str, &str)]) -> String {
    let items: String = items
        .iter()
        .map(|(t, l, d)| format!("<item><title>{t}</title><link>{l}</link><pubDate>{d}</pubDate></item>"))
        .collect();
    format!("<rss version=\"2.0\"><channel><title>{title}</title>{items}</channel></rss>")
}

fn input(feeds: &[&str]) -> Input {
    Input {
        feeds: feeds.iter().map(|f| (*f).to_owned()).collect(),
        now: None,
        max_stories: None,
        max_age_hours: None,
        similarity: None,
    }
}

fn fixture() -> Feeds {
    let a = rss(
        "A",
        &[
            ("Storm closes North Sea ports", "https://a.example/storm", "Mon, 07 Dec 2026 08:00:00 GMT"),
            ("Rates on hold", "https://a.example/rates", "Mon, 07 Dec 2026 11:00:00 GMT"),
            ("Last week's story", "https://a.example/old", "Mon, 30 Nov 2026 08:00:00 GMT"),
        ],
    );
    let b = rss(
        "B",
        &[(
            "Storm closes North Sea ports | B desk",
            "https://a.example/storm?utm_source=b",
            "Mon, 07 Dec 2026 09:00:00 GMT",
        )],
    );
    Feeds(HashMap::from([
        ("https://a.example/feed", Ok(a)),
        ("https://b.example/feed", Ok(b)),
        ("https://broken.example/feed", Ok("<rss><channel><item>".to_owned())),
    ]))
}

#[test]
fn aggregates_reports_broken_feeds_and_drops_stale_items() {
    let settings = validate(&input(&[
        "https://a.example/feed",
        "https://b.example/feed",
        "https://broken.example/feed",
        "https://gone.example/feed",
        "https://a.example/feed",
    ]))
    .expect("valid");
    assert_eq!(settings.feeds.len(), 4, "the repeated feed is fetched once");
    let out = aggregate(&settings, &fixture()).expect("two feeds read");
    assert_eq!(out.now.as_deref(), Some("2026-12-07T11:00:00Z"), "now defaults to the newest item");
    assert_eq!((out.stats.items, out.stats.stale, out.stats.duplicates, out.stats.stories), (4, 1, 1, 2));
    assert_eq!(out.stories[0].title, "Storm closes North Sea ports");
    assert_eq!(out.stories[0].source_count, 2);
    assert_eq!(out.stories[0].sources.iter().map(|s| s.feed.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(out.stories[1].title, "Rates on hold");
    let failed: Vec<(&str, bool)> = out.feeds.iter().map(|f| (f.url.as_str(), f.ok)).collect();
    assert_eq!(failed[2], ("https://broken.example/feed", false));
    assert!(out.feeds[2].error.as_deref().is_some_and(|e| e.contains("ends inside <item>")), "{:?}", out.feeds[2]);
    assert_eq!(out.feeds[3].error.as_deref(), Some("HTTP 404: not found"));
}

#[test]
fn an_explicit_now_moves_the_horizon_and_recency() {
    let mut late = input(&["https://a.example/feed"]);
    late.now = Some("2026-12-10T11:00:00Z".into());
    late.max_age_hours = Some(24);
    let out = aggregate(&validate(&late).expect("valid"), &fixture()).expect("read");
    assert_eq!(out.stats.stale, 3);
    assert!(out.stories.is_empty());

    late.max_age_hours = Some(720);
    let out = aggregate(&validate(&late).expect("valid"), &fixture()).expect("read");
    assert_eq!(out.stories.len(), 3);
    // One source each: the newest first.
    assert_eq!(out.stories[0].title, "Rates on hold");
    assert_eq!(out.stories[2].title, "Last week's story");
}

#[test]
fn fails_only_when_no_feed_was_read_and_checks_input() {
    let err =
        aggregate(&validate(&input(&["https://gone.example/feed"])).expect("valid"), &fixture()).expect_err("none");
    assert!(!err.is_input() && err.to_string().contains("no feed could be read: HTTP 404"), "{err}");
    for (bad, message) in [
        (input(&[]), "feeds must list 1..=16 URLs, got 0"),
        (input(&["ftp://x.example/feed"]), "feed 0 is not an absolute http(s) URL"),
        (Input { now: Some("yesterday".into()), ..input(&["https://a.example/feed"]) }, "now is not an RFC 3339 date"),
        (Input { max_stories: Some(0), ..input(&["https://a.example/feed"]) }, "maxStories must be 1..=50"),
        (Input { similarity: Some(0.0), ..input(&["https://a.example/feed"]) }, "similarity must be between"),
    ] {
        let err = validate(&bad).expect_err(message);
        assert!(err.is_input() && err.to_string().contains(message), "{err}");
    }
}
