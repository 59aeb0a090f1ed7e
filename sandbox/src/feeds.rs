//! News feeds: `GET /feeds/<name>.rss` (RSS 2.0) and `GET /feeds/<name>.atom` (Atom 1.0).
//!
//! Mirrors the RSS 2.0 specification (RSS Advisory Board: `channel` with `title`, `link`,
//! `description`, `lastBuildDate`; `item` with `title`, `link`, `guid`, `pubDate` in RFC 822
//! date format, `description`) and RFC 4287 (Atom: `feed` with `id`, `title`, `updated`,
//! `link rel="self"`; `entry` with `id`, `title`, `link`, `updated`, `published`, `summary`,
//! RFC 3339 dates).
//!
//! Every feed is served in both formats. The stories are this crate's own fixture
//! ([`STORIES`]), published in several feeds each so an aggregator's dedup and clustering can
//! be tested: the same story carries the same canonical link with a feed-specific tracking
//! query (`?utm_source=<feed>`) and a feed-specific headline variant. Titles contain `&`, `<`
//! and quotes, so a reader that does not unescape XML fails its tests. `broken` is a malformed
//! feed (unclosed element, raw `&`) for parsers' error paths; unknown names are 404.
//!
//! [`REAL_PATHS`] also serves feeds at the paths of real publishers' feed URLs, so an agent
//! names a real feed (`https://feeds.bbci.co.uk/news/world/rss.xml`) and the operator routes
//! only its origin here, exactly as for the other upstreams.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::SandboxConfig;

/// The feeds served (besides `broken`).
pub const FEEDS: [&str; 3] = ["markets", "tech", "world"];

/// A story of the fixture: the feeds carrying it and its headline in each.
#[derive(Debug, Clone, Copy)]
pub struct Story {
    pub slug: &'static str,
    pub title: &'static str,
    pub summary: &'static str,
    /// Hours before the sandbox's "now" it was first published.
    pub age_hours: u64,
    /// Indices into [`FEEDS`] of the feeds publishing it.
    pub feeds: &'static [usize],
}

/// Story fixture (written for the sandbox; the events are invented).
pub const STORIES: [Story; 8] = [
    Story {
        slug: "eth-etf-inflows",
        title: "ETH funds see record inflows as \"staking\" debate returns",
        summary: "Net inflows into ether products topped <b>$1bn</b> in a week.",
        age_hours: 2,
        feeds: &[0, 1, 2],
    },
    Story {
        slug: "l2-fees-drop",
        title: "Layer-2 fees fall 40% after blob upgrade",
        summary: "Rollups pass cheaper data costs on to users & apps.",
        age_hours: 5,
        feeds: &[0, 1],
    },
    Story {
        slug: "perp-dex-volume",
        title: "Perp DEX volume overtakes two centralized venues",
        summary: "On-chain order books gain share in derivatives.",
        age_hours: 7,
        feeds: &[0],
    },
    Story {
        slug: "rust-2027-edition",
        title: "Rust 2027 edition planning opens",
        summary: "The edition RFC lists async closures & <code>gen</code> blocks.",
        age_hours: 9,
        feeds: &[1],
    },
    Story {
        slug: "storm-north-sea",
        title: "Storm closes North Sea ports for 48 hours",
        summary: "Shipping delays expected; wind gusts above 120 km/h.",
        age_hours: 11,
        feeds: &[2, 0],
    },
    Story {
        slug: "chip-export-rules",
        title: "New chip export rules take effect",
        summary: "Vendors say <i>compliance</i> costs will rise.",
        age_hours: 14,
        feeds: &[1, 2],
    },
    Story {
        slug: "central-bank-pause",
        title: "Central bank holds rates, signals cuts in Q2",
        summary: "Markets price two cuts by mid-year.",
        age_hours: 20,
        feeds: &[0, 2],
    },
    Story {
        slug: "open-weights-model",
        title: "Open-weights model tops translation benchmark",
        summary: "A 7B model beats larger rivals on 30 language pairs.",
        age_hours: 26,
        feeds: &[1],
    },
];

/// Paths of real feed URLs answered with a sandbox feed: (path, feed, format). The real feeds
/// have these formats, so a client's format handling is exercised as in production.
pub const REAL_PATHS: [(&str, &str, &str); 3] = [
    // https://feeds.bbci.co.uk/news/world/rss.xml (RSS 2.0)
    ("/news/world/rss.xml", "world", "rss"),
    // https://www.coindesk.com/arc/outboundfeeds/rss/ (RSS 2.0)
    ("/arc/outboundfeeds/rss/", "markets", "rss"),
    // https://www.theverge.com/rss/index.xml (Atom 1.0)
    ("/rss/index.xml", "tech", "atom"),
];

const BROKEN: &str = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Broken & co</title>\n<item><title>Never closed</title><link>http://example.invalid/x\n";

pub(crate) fn router(config: Arc<SandboxConfig>) -> Router {
    let mut router = Router::new().route("/feeds/{file}", get(feed));
    for (path, name, format) in REAL_PATHS {
        router = router.route(
            path,
            get(move |State(config): State<Arc<SandboxConfig>>, headers: axum::http::HeaderMap| async move {
                serve(&config, &headers, name, format)
            }),
        );
    }
    router.with_state(config)
}

/// Escapes text for XML character data and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
    out
}

/// The headline as feed `feed` prints it: the first publisher uses the plain title, the
/// others add their desk's tag, as syndicated copies do.
fn headline(story: &Story, feed: usize) -> String {
    if story.feeds.first() == Some(&feed) {
        story.title.to_owned()
    } else {
        format!("{} | {} desk", story.title, FEEDS[feed])
    }
}

fn link(base: &str, story: &Story, feed: usize) -> String {
    format!("{base}/stories/{}?utm_source={}", story.slug, FEEDS[feed])
}

/// Publication time of a story in a feed: later publishers repost it 20 minutes apart.
fn published(now_ms: u64, story: &Story, feed: usize) -> DateTime<Utc> {
    let position = story.feeds.iter().position(|f| *f == feed).unwrap_or(0) as u64;
    let ms = now_ms.saturating_sub(story.age_hours * 3_600_000).saturating_add(position * 1_200_000);
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default()
}

fn items(feed: usize) -> impl Iterator<Item = &'static Story> {
    STORIES.iter().filter(move |s| s.feeds.contains(&feed))
}

/// An RSS 2.0 document for feed `feed`; `base` is the sandbox's own URL (story links).
pub fn rss(base: &str, now_ms: u64, feed: usize) -> String {
    let name = FEEDS[feed];
    let mut items_xml = String::new();
    let mut newest = None;
    for story in items(feed) {
        let date = published(now_ms, story, feed);
        newest = newest.max(Some(date));
        let link = escape(&link(base, story, feed));
        items_xml.push_str(&format!(
            "<item><title>{}</title><link>{link}</link><guid isPermaLink=\"true\">{link}</guid><pubDate>{}</pubDate><description>{}</description></item>\n",
            escape(&headline(story, feed)),
            date.to_rfc2822(),
            escape(story.summary),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\n<title>Sandbox {name} wire</title><link>{base}/feeds/{name}</link><description>Sandbox {name} stories &amp; briefs</description><lastBuildDate>{}</lastBuildDate>\n{items_xml}</channel></rss>\n",
        newest.unwrap_or_default().to_rfc2822(),
    )
}

/// An Atom 1.0 document for feed `feed`.
pub fn atom(base: &str, now_ms: u64, feed: usize) -> String {
    let name = FEEDS[feed];
    let stamp = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut entries = String::new();
    let mut newest = None;
    for story in items(feed) {
        let date = published(now_ms, story, feed);
        newest = newest.max(Some(date));
        entries.push_str(&format!(
            "<entry><id>tag:sandbox.invalid,2026:{name}:{}</id><title type=\"text\">{}</title><link rel=\"alternate\" href=\"{}\"/><published>{d}</published><updated>{d}</updated><summary type=\"html\">{}</summary></entry>\n",
            story.slug,
            escape(&headline(story, feed)),
            escape(&link(base, story, feed)),
            escape(story.summary),
            d = stamp(date),
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n<id>tag:sandbox.invalid,2026:{name}</id><title>Sandbox {name} wire</title><updated>{}</updated><link rel=\"self\" href=\"{base}/feeds/{name}.atom\"/><author><name>Sandbox {name} desk</name></author>\n{entries}</feed>\n",
        stamp(newest.unwrap_or_default()),
    )
}

async fn feed(
    State(config): State<Arc<SandboxConfig>>,
    headers: axum::http::HeaderMap,
    Path(file): Path<String>,
) -> Response {
    let Some((name, format)) = file.rsplit_once('.') else {
        return (StatusCode::NOT_FOUND, "no such feed").into_response();
    };
    serve(&config, &headers, name, format)
}

fn serve(config: &SandboxConfig, headers: &axum::http::HeaderMap, name: &str, format: &str) -> Response {
    // Links point back at whatever host the client used (the sandbox, or the egress proxy's
    // view of it), so they stay meaningful behind either.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("sandbox.invalid");
    let base = format!("http://{host}");
    let content_type = match format {
        "rss" => "application/rss+xml; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        _ => return (StatusCode::NOT_FOUND, "no such feed format").into_response(),
    };
    let body = if name == "broken" {
        BROKEN.to_owned()
    } else {
        let Some(index) = FEEDS.iter().position(|f| *f == name) else {
            return (StatusCode::NOT_FOUND, "no such feed").into_response();
        };
        if format == "rss" { rss(&base, config.now_ms, index) } else { atom(&base, config.now_ms, index) }
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
