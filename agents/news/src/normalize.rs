//! Keys for deduplication and tokens for clustering.

use std::collections::BTreeSet;

/// Query parameters that only track the click, never select the content.
const TRACKING: [&str; 8] = ["fbclid", "gclid", "mc_cid", "mc_eid", "ocid", "cmpid", "ref", "src"];

/// The link with what varies between copies of one article removed: scheme, `www.`, case of
/// the host, fragment, tracking parameters (`utm_*` and [`TRACKING`]) and a trailing slash.
/// Empty for something that is not an http(s) URL.
pub fn canonical_link(link: &str) -> String {
    let link = link.trim();
    let Some(rest) = link.strip_prefix("https://").or_else(|| link.strip_prefix("http://")) else {
        return String::new();
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = address.split_once('/').map_or((address, ""), |(h, p)| (h, p));
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let path = path.trim_end_matches('/');
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default().to_ascii_lowercase();
            !pair.is_empty() && !key.starts_with("utm_") && !TRACKING.contains(&key.as_str())
        })
        .collect();
    let mut key = format!("{host}/{path}");
    if !kept.is_empty() {
        key.push('?');
        key.push_str(&kept.join("&"));
    }
    key
}

/// The headline without a syndication tag (`Headline | Desk`, `Headline - Publisher`): the
/// last such segment is dropped when it is short (at most four words) and the rest is not.
pub fn headline(title: &str) -> &str {
    for separator in [" | ", " — ", " – ", " - "] {
        if let Some((head, tail)) = title.rsplit_once(separator)
            && tail.split_whitespace().count() <= 4
            && head.split_whitespace().count() >= 3
        {
            return head.trim();
        }
    }
    title.trim()
}

/// Lower-cased words of the headline, punctuation dropped: two copies of one headline get
/// the same key.
pub fn title_key(title: &str) -> String {
    words(headline(title)).collect::<Vec<_>>().join(" ")
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

const STOPWORDS: [&str; 40] = [
    "a", "an", "the", "and", "or", "but", "of", "in", "on", "at", "to", "for", "from", "by", "with", "as", "is", "are",
    "was", "were", "be", "been", "its", "it", "this", "that", "after", "before", "over", "into", "than", "new", "says",
    "say", "said", "will", "has", "have", "not", "no",
];

/// Content tokens of a headline for similarity: stopwords dropped and a light suffix strip
/// ("closes", "closed" → "clos"), enough for headlines without a language-specific stemmer.
pub fn tokens(title: &str) -> BTreeSet<String> {
    words(headline(title))
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| {
            for suffix in ["ing", "es", "ed", "s"] {
                if w.chars().count() > suffix.len() + 2
                    && let Some(stem) = w.strip_suffix(suffix)
                {
                    return stem.to_owned();
                }
            }
            w
        })
        .collect()
}

/// Jaccard similarity of two token sets (0 when either is empty).
pub fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let shared = a.intersection(b).count();
    let union = a.len() + b.len() - shared;
    if union == 0 { 0.0 } else { shared as f64 / union as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_links_ignore_tracking_scheme_and_www() {
        let a = canonical_link("https://www.Example.com/stories/x/?utm_source=tech&id=7#top");
        let b = canonical_link("http://example.com/stories/x?id=7&fbclid=abc");
        assert_eq!(a, "example.com/stories/x?id=7");
        assert_eq!(a, b);
        assert_ne!(a, canonical_link("https://example.com/stories/y?id=7"));
        assert_eq!(canonical_link("javascript:alert(1)"), "");
    }

    #[test]
    fn headlines_lose_short_syndication_tags_only() {
        assert_eq!(
            headline("Layer-2 fees fall 40% after blob upgrade | tech desk"),
            "Layer-2 fees fall 40% after blob upgrade"
        );
        assert_eq!(headline("Storm closes ports - BBC News"), "Storm closes ports");
        // Too short a head: the dash is part of the headline.
        assert_eq!(
            headline("Bitcoin - the next ten years of the network"),
            "Bitcoin - the next ten years of the network"
        );
        assert_eq!(title_key("ETH funds see \"record\" inflows | markets desk"), "eth funds see record inflows");
    }

    #[test]
    fn reworded_headlines_of_one_story_are_similar_and_others_not() {
        let a = tokens("Storm closes North Sea ports for 48 hours");
        let b = tokens("North Sea ports closed by storm for 48 hours");
        let c = tokens("Central bank holds rates, signals cuts in Q2");
        assert_eq!(a, b);
        assert!((similarity(&a, &b) - 1.0).abs() < 1e-9);
        assert_eq!(similarity(&a, &c), 0.0);
        let d = tokens("Storm warning for North Sea shipping");
        let s = similarity(&a, &d);
        assert!(s > 0.2 && s < 0.5, "{s}");
    }
}
