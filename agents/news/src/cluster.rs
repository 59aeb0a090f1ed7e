//! Deduplication, clustering into stories and ranking.
//!
//! 1. **Dedup**: items with the same canonical link or the same headline key are one article,
//!    whichever feeds carried them (RSS and Atom of one feed, syndicated copies).
//! 2. **Clustering**: articles whose headline tokens are similar (Jaccard ≥ the input's
//!    threshold) to a story's lead article join that story. Leader clustering, oldest first, was
//!    chosen over single-link agglomeration: single-link chains "storm closes ports" to
//!    "ports reopen" to "port strike" into one story, while comparing with the lead keeps
//!    each story about its first headline, in O(articles × stories).
//! 3. **Ranking**: `score = sources + 0.5^(age / 12 h)`: the number of distinct feeds carrying
//!    the story dominates, recency (half-life 12 hours against `now`) orders stories carried
//!    equally widely. Undated stories get no recency.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::normalize::{canonical_link, similarity, title_key, tokens};
use crate::parse::Item;

pub const HALF_LIFE_HOURS: f64 = 12.0;

/// One item as published by one feed.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// Index of the feed in the input.
    pub feed: usize,
    pub item: Item,
}

/// One article: the sightings of one link or headline.
#[derive(Debug, Clone)]
struct Article {
    sightings: Vec<Sighting>,
    tokens: BTreeSet<String>,
    first: Option<DateTime<Utc>>,
}

/// A ranked story.
#[derive(Debug, Clone)]
pub struct Story {
    /// Sightings, earliest first; the first is the story's lead.
    pub sightings: Vec<Sighting>,
    /// Distinct feeds carrying it.
    pub sources: usize,
    pub published: Option<DateTime<Utc>>,
    pub score: f64,
}

/// Result of [`build`]: the stories, best first, and how many sightings were duplicates.
#[derive(Debug)]
pub struct Clustered {
    pub stories: Vec<Story>,
    pub duplicates: usize,
}

fn dedup(sightings: Vec<Sighting>) -> (Vec<Article>, usize) {
    let mut articles: Vec<Article> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut duplicates = 0;
    for sighting in sightings {
        let keys = [
            format!("link:{}", canonical_link(&sighting.item.link)),
            format!("title:{}", title_key(&sighting.item.title)),
        ];
        let keys: Vec<String> = keys.into_iter().filter(|k| !k.ends_with(':')).collect();
        let index = match keys.iter().find_map(|k| by_key.get(k).copied()) {
            Some(index) => {
                duplicates += 1;
                let article = &mut articles[index];
                article.first = min_date(article.first, sighting.item.published);
                article.sightings.push(sighting);
                index
            }
            None => {
                articles.push(Article {
                    tokens: tokens(&sighting.item.title),
                    first: sighting.item.published,
                    sightings: vec![sighting],
                });
                articles.len() - 1
            }
        };
        for key in keys {
            by_key.entry(key).or_insert(index);
        }
    }
    (articles, duplicates)
}

fn min_date(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Recency weight of a story first published at `published`, seen from `now`.
pub fn recency(published: Option<DateTime<Utc>>, now: Option<DateTime<Utc>>) -> f64 {
    match (published, now) {
        (Some(p), Some(now)) => {
            let hours = ((now - p).num_seconds().max(0) as f64) / 3600.0;
            0.5f64.powf(hours / HALF_LIFE_HOURS)
        }
        _ => 0.0,
    }
}

/// Dedups, clusters and ranks `sightings` (see the module docs).
pub fn build(sightings: Vec<Sighting>, threshold: f64, now: Option<DateTime<Utc>>) -> Clustered {
    let (mut articles, duplicates) = dedup(sightings);
    // Oldest first (undated last), so each story's lead is its first publication; ties keep
    // input order, so the result never depends on hashing.
    articles.sort_by_key(|a| (a.first.is_none(), a.first));
    let mut groups: Vec<(BTreeSet<String>, Vec<Article>)> = Vec::new();
    for article in articles {
        let best = groups
            .iter()
            .enumerate()
            .map(|(i, (lead, _))| (i, similarity(lead, &article.tokens)))
            .filter(|(_, s)| *s >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, _)) => groups[i].1.push(article),
            None => groups.push((article.tokens.clone(), vec![article])),
        }
    }
    let mut stories: Vec<Story> = groups
        .into_iter()
        .map(|(_, articles)| {
            let mut sightings: Vec<Sighting> = articles.into_iter().flat_map(|a| a.sightings).collect();
            sightings.sort_by_key(|s| (s.item.published.is_none(), s.item.published));
            let sources = sightings.iter().map(|s| s.feed).collect::<BTreeSet<_>>().len();
            let published = sightings.first().and_then(|s| s.item.published);
            let score = sources as f64 + recency(published, now);
            Story { sightings, sources, published, score }
        })
        .collect();
    stories.sort_by(|a, b| b.score.total_cmp(&a.score));
    Clustered { stories, duplicates }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours_ago: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_796_601_600 - hours_ago * 3600, 0)
    }

    fn seen(feed: usize, title: &str, link: &str, hours_ago: i64) -> Sighting {
        Sighting {
            feed,
            item: Item { title: title.into(), link: link.into(), published: at(hours_ago), summary: String::new() },
        }
    }

    #[test]
    fn dedups_by_link_and_title_then_clusters_rewordings() {
        let sightings = vec![
            seen(0, "Storm closes North Sea ports for 48 hours", "https://a.example/storm?utm_source=a", 10),
            seen(
                1,
                "Storm closes North Sea ports for 48 hours | world desk",
                "https://a.example/storm?utm_source=b",
                9,
            ),
            seen(2, "Storm closes North Sea ports for 48 hours", "https://c.example/other-link", 8),
            seen(3, "North Sea ports closed by storm for 48 hours", "https://d.example/ports", 7),
            seen(0, "Central bank holds rates", "https://a.example/rates", 1),
        ];
        let out = build(sightings, 0.5, at(0));
        assert_eq!(out.duplicates, 2, "same link once, same headline once");
        assert_eq!(out.stories.len(), 2);
        let storm = &out.stories[0];
        assert_eq!((storm.sources, storm.sightings.len()), (4, 4));
        assert_eq!(
            storm.sightings[0].item.link, "https://a.example/storm?utm_source=a",
            "the lead is the first publication"
        );
        assert_eq!(storm.published, at(10));
        // 4 sources + 0.5^(10/12).
        assert!((storm.score - (4.0 + 0.5f64.powf(10.0 / 12.0))).abs() < 1e-9, "{}", storm.score);
        assert_eq!(out.stories[1].sources, 1);
    }

    #[test]
    fn recency_orders_equally_sourced_stories_and_the_threshold_splits() {
        let sightings = vec![
            seen(0, "Old news about a harbour", "https://a.example/1", 30),
            seen(0, "Fresh report on chip exports", "https://a.example/2", 1),
            seen(1, "Chip exports: report says rules bite", "https://b.example/2", 2),
        ];
        let merged = build(sightings.clone(), 0.5, at(0));
        assert_eq!(merged.stories.len(), 2);
        assert_eq!(merged.stories[0].sources, 2);
        let strict = build(sightings, 0.95, at(0));
        assert_eq!(strict.stories.len(), 3);
        // Each story has one source now: the freshest ranks first.
        assert_eq!(strict.stories[0].sightings[0].item.link, "https://a.example/2");
        assert_eq!(strict.stories[2].sightings[0].item.link, "https://a.example/1");
        assert_eq!(recency(None, at(0)), 0.0);
        assert!((recency(at(12), at(0)) - 0.5).abs() < 1e-12);
    }
}
