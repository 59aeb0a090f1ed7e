//! `agent-news`: a news aggregator over RSS 2.0 and Atom 1.0 feeds.
//!
//! The feeds named in the input are fetched through the relayer's egress proxy (only hosts in
//! the metadata's `network` policy pass), parsed ([`parse`]), deduplicated, clustered into
//! stories and ranked ([`cluster`]). A feed that fails (refused, HTTP error, malformed XML) is
//! reported in `feeds[]` and the others still count: one broken publisher must not cost the
//! buyer the whole digest. The run fails only when no feed could be read.

pub mod cluster;
pub mod normalize;
pub mod parse;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::cluster::Sighting;
use crate::parse::Format;

pub const MAX_FEEDS: usize = 16;
pub const MAX_URL_BYTES: usize = 2048;
/// Bound of one feed document (real feeds are tens to hundreds of KiB).
pub const MAX_FEED_BYTES: usize = 2 * 1024 * 1024;
pub const DEFAULT_STORIES: usize = 10;
pub const MAX_STORIES: usize = 50;
pub const DEFAULT_MAX_AGE_HOURS: u32 = 72;
pub const MAX_AGE_HOURS: u32 = 720;
pub const DEFAULT_SIMILARITY: f64 = 0.5;
/// Sources listed per story in the output.
pub const MAX_SOURCES_SHOWN: usize = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Input {
    pub feeds: Vec<String>,
    /// RFC 3339; absent: the newest item date across the feeds (runs stay reproducible).
    #[serde(default)]
    pub now: Option<String>,
    #[serde(default)]
    pub max_stories: Option<usize>,
    #[serde(default)]
    pub max_age_hours: Option<u32>,
    #[serde(default)]
    pub similarity: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub stories: Vec<StoryOut>,
    pub feeds: Vec<FeedReport>,
    pub stats: Stats,
    pub now: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryOut {
    pub title: String,
    pub link: String,
    pub summary: String,
    pub published: Option<String>,
    pub source_count: usize,
    pub score: f64,
    pub sources: Vec<SourceOut>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceOut {
    pub feed: String,
    pub title: String,
    pub link: String,
    pub published: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedReport {
    pub url: String,
    pub ok: bool,
    pub format: Option<Format>,
    pub title: Option<String>,
    pub items: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub items: usize,
    pub duplicates: usize,
    pub stale: usize,
    pub stories: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum NewsError {
    #[error("feeds must list 1..={MAX_FEEDS} URLs, got {0}")]
    FeedCount(usize),
    #[error("feed {0} is not an absolute http(s) URL of at most {MAX_URL_BYTES} bytes")]
    FeedUrl(usize),
    #[error("now is not an RFC 3339 date: {0:?}")]
    Now(String),
    #[error("maxStories must be 1..={MAX_STORIES}, got {0}")]
    MaxStories(usize),
    #[error("maxAgeHours must be 1..={MAX_AGE_HOURS}, got {0}")]
    MaxAge(u32),
    #[error("similarity must be between 0.1 and 1, got {0}")]
    Similarity(f64),
    #[error("no feed could be read: {0}")]
    NoFeed(String),
}

impl NewsError {
    /// Whether the input is at fault (exit 2) rather than the feeds (exit 1).
    pub fn is_input(&self) -> bool {
        !matches!(self, NewsError::NoFeed(_))
    }
}

/// The network side: the body of a feed URL, or why there is none.
pub trait Fetch {
    fn fetch(&self, url: &str) -> Result<String, String>;
}

impl Fetch for agent_io::http::Egress {
    fn fetch(&self, url: &str) -> Result<String, String> {
        let response = self.get(url).and_then(|r| r.error_for_status()).map_err(|e| e.to_string())?;
        Ok(response.text())
    }
}

/// Checked settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub feeds: Vec<String>,
    pub now: Option<DateTime<Utc>>,
    pub max_stories: usize,
    pub max_age_hours: u32,
    pub similarity: f64,
}

pub fn validate(input: &Input) -> Result<Settings, NewsError> {
    if input.feeds.is_empty() || input.feeds.len() > MAX_FEEDS {
        return Err(NewsError::FeedCount(input.feeds.len()));
    }
    let mut feeds: Vec<String> = Vec::new();
    for (i, url) in input.feeds.iter().enumerate() {
        let scheme = url.starts_with("https://") || url.starts_with("http://");
        if !scheme || url.len() > MAX_URL_BYTES || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(NewsError::FeedUrl(i));
        }
        // A feed listed twice is fetched once.
        if !feeds.contains(url) {
            feeds.push(url.clone());
        }
    }
    let now = match &input.now {
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| NewsError::Now(text.chars().take(60).collect()))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let max_stories = input.max_stories.unwrap_or(DEFAULT_STORIES);
    if !(1..=MAX_STORIES).contains(&max_stories) {
        return Err(NewsError::MaxStories(max_stories));
    }
    let max_age_hours = input.max_age_hours.unwrap_or(DEFAULT_MAX_AGE_HOURS);
    if !(1..=MAX_AGE_HOURS).contains(&max_age_hours) {
        return Err(NewsError::MaxAge(max_age_hours));
    }
    let similarity = input.similarity.unwrap_or(DEFAULT_SIMILARITY);
    if !(0.1..=1.0).contains(&similarity) {
        return Err(NewsError::Similarity(similarity));
    }
    Ok(Settings { feeds, now, max_stories, max_age_hours, similarity })
}

fn stamp(date: Option<DateTime<Utc>>) -> Option<String> {
    date.map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Fetches, parses and aggregates the feeds of `settings`.
pub fn aggregate(settings: &Settings, net: &impl Fetch) -> Result<Output, NewsError> {
    let mut reports = Vec::new();
    let mut sightings = Vec::new();
    let mut feed_titles = Vec::new();
    for (index, url) in settings.feeds.iter().enumerate() {
        let parsed = net.fetch(url).and_then(|body| parse::parse(&body).map_err(|e| e.to_string()));
        match parsed {
            Ok(feed) => {
                let mut error = None;
                if feed.skipped > 0 {
                    error = Some(format!("{} items beyond the first {} ignored", feed.skipped, parse::MAX_ITEMS));
                }
                reports.push(FeedReport {
                    url: url.clone(),
                    ok: true,
                    format: Some(feed.format),
                    title: Some(feed.title.clone()),
                    items: feed.items.len(),
                    error,
                });
                feed_titles.push(if feed.title.is_empty() { url.clone() } else { feed.title });
                sightings.extend(feed.items.into_iter().map(|item| Sighting { feed: index, item }));
            }
            Err(error) => {
                reports.push(FeedReport {
                    url: url.clone(),
                    ok: false,
                    format: None,
                    title: None,
                    items: 0,
                    error: Some(error),
                });
                feed_titles.push(url.clone());
            }
        }
    }
    if !reports.iter().any(|r| r.ok) {
        let first = reports.first().and_then(|r| r.error.clone()).unwrap_or_default();
        return Err(NewsError::NoFeed(first));
    }
    let items = sightings.len();
    let now = settings.now.or_else(|| sightings.iter().filter_map(|s| s.item.published).max());
    let horizon = now.map(|n| n - chrono::Duration::hours(i64::from(settings.max_age_hours)));
    let before = sightings.len();
    sightings.retain(|s| match (s.item.published, horizon) {
        (Some(p), Some(h)) => p >= h,
        _ => true,
    });
    let stale = before - sightings.len();
    let clustered = cluster::build(sightings, settings.similarity, now);
    let story_count = clustered.stories.len();
    let stories = clustered
        .stories
        .into_iter()
        .take(settings.max_stories)
        .map(|story| {
            let lead = &story.sightings[0].item;
            StoryOut {
                title: normalize::headline(&lead.title).to_owned(),
                link: lead.link.clone(),
                summary: lead.summary.clone(),
                published: stamp(story.published),
                source_count: story.sources,
                score: (story.score * 1000.0).round() / 1000.0,
                sources: story
                    .sightings
                    .iter()
                    .take(MAX_SOURCES_SHOWN)
                    .map(|s| SourceOut {
                        feed: feed_titles[s.feed].clone(),
                        title: s.item.title.clone(),
                        link: s.item.link.clone(),
                        published: stamp(s.item.published),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Output {
        stories,
        feeds: reports,
        stats: Stats { items, duplicates: clustered.duplicates, stale, stories: story_count },
        now: stamp(now),
    })
}

#[cfg(test)]
mod tests;
