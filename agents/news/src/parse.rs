//! RSS 2.0 and Atom 1.0 documents to [`Feed`]s, with quick-xml's streaming reader.
//!
//! Only what aggregation needs is kept: the feed's title and, per item, title, link, date and
//! summary. Namespaced extensions are matched by local name (`dc:date`, `content:encoded`),
//! since publishers use arbitrary prefixes. A document that is not well-formed XML is an error
//! for the whole feed: items read before the fault are dropped rather than trusted, because a
//! truncated or spliced document can attach a title to the wrong link.

use chrono::{DateTime, Utc};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Items read per feed; the rest is ignored (and said so in the feed's report).
pub const MAX_ITEMS: usize = 200;
/// Characters kept of a title and a summary.
pub const MAX_TITLE_CHARS: usize = 300;
pub const MAX_SUMMARY_CHARS: usize = 400;
/// Deepest element nesting accepted (feeds are shallow; this bounds the reader's stack).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Rss,
    Atom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub title: String,
    pub link: String,
    pub published: Option<DateTime<Utc>>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub format: Format,
    pub title: String,
    pub items: Vec<Item>,
    /// Items beyond [`MAX_ITEMS`] that were skipped.
    pub skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    #[error("not an RSS 2.0 or Atom 1.0 feed (root element <{0}>)")]
    NotAFeed(String),
    #[error("the document ends inside <{0}>")]
    Truncated(String),
    #[error("elements nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// The item field an element's text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    FeedTitle,
    Title,
    Link,
    Guid,
    Date,
    Summary,
}

#[derive(Debug, Default)]
struct Draft {
    title: String,
    title_is_html: bool,
    link: String,
    /// RSS `guid isPermaLink` (the default) is a link when `link` is absent.
    guid_link: String,
    date: String,
    summary: String,
}

impl Draft {
    fn finish(self) -> Option<Item> {
        let link = if self.link.trim().is_empty() { self.guid_link } else { self.link };
        let title = if self.title_is_html { strip_tags(&self.title) } else { self.title };
        let title = clip(&collapse(&title), MAX_TITLE_CHARS);
        let link = link.trim().to_owned();
        // An item with neither a title nor a link cannot be shown or deduplicated.
        if title.is_empty() && link.is_empty() {
            return None;
        }
        let summary = clip(&collapse(&strip_tags(&self.summary)), MAX_SUMMARY_CHARS);
        Some(Item { title, link, published: parse_date(&self.date), summary })
    }
}

/// Parses one feed document.
pub fn parse(xml: &str) -> Result<Feed, ParseError> {
    let mut reader = Reader::from_str(xml);
    let xml_error = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| ParseError::Xml {
        position: reader.error_position(),
        message: e.to_string(),
    };
    let mut stack: Vec<String> = Vec::new();
    let mut format = None;
    let mut feed_title = String::new();
    let mut items = Vec::new();
    let mut skipped = 0;
    let mut draft: Option<Draft> = None;
    // The field being captured and the depth of its element (descendants' text included).
    let mut capture: Option<(Field, usize)> = None;
    loop {
        let event = reader.read_event().map_err(|e| xml_error(&reader, &e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = local(e);
                if stack.is_empty() {
                    format = Some(match name.as_str() {
                        "rss" => Format::Rss,
                        "feed" => Format::Atom,
                        other => return Err(ParseError::NotAFeed(other.chars().take(40).collect())),
                    });
                }
                let in_item = draft.is_some();
                let parent = stack.last().map(String::as_str);
                if !empty && matches!((name.as_str(), parent), ("item", Some("channel")) | ("entry", Some("feed"))) {
                    draft = Some(Draft::default());
                } else if capture.is_none()
                    && let Some(d) = draft.as_mut().filter(|_| parent.is_some_and(|p| p == "item" || p == "entry"))
                {
                    capture = field(format, &name, e, d).map(|f| (f, stack.len() + 1));
                } else if capture.is_none() && !in_item && name == "title" && matches!(parent, Some("channel" | "feed"))
                {
                    capture = Some((Field::FeedTitle, stack.len() + 1));
                }
                if empty {
                    if capture.is_some_and(|(_, depth)| depth == stack.len() + 1) {
                        capture = None;
                    }
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(ParseError::TooDeep);
                    }
                    stack.push(name);
                }
            }
            Event::End(_) => {
                if capture.is_some_and(|(_, depth)| depth == stack.len()) {
                    capture = None;
                }
                if let Some(name) = stack.pop()
                    && (name == "item" || name == "entry")
                    && let Some(d) = draft.take()
                    && let Some(item) = d.finish()
                {
                    if items.len() < MAX_ITEMS {
                        items.push(item);
                    } else {
                        skipped += 1;
                    }
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| xml_error(&reader, &e))?;
                push(capture, &mut draft, &mut feed_title, &text);
            }
            Event::CData(c) => {
                let text = c.decode().map_err(|e| xml_error(&reader, &e))?;
                push(capture, &mut draft, &mut feed_title, &text);
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref().map_err(|e| xml_error(&reader, &e))? {
                    Some(c) => c.to_string(),
                    None => entity(&r.decode().map_err(|e| xml_error(&reader, &e))?),
                };
                push(capture, &mut draft, &mut feed_title, &text);
            }
            Event::Eof => {
                return match (stack.last(), format) {
                    (Some(open), _) => Err(ParseError::Truncated(open.clone())),
                    (None, Some(format)) => {
                        Ok(Feed { format, title: clip(&collapse(&feed_title), MAX_TITLE_CHARS), items, skipped })
                    }
                    (None, None) => Err(ParseError::NotAFeed(String::new())),
                };
            }
            _ => {}
        }
    }
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase()
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Which field an item child feeds; Atom links carry the URL in `href` and are taken here.
fn field(format: Option<Format>, name: &str, e: &BytesStart<'_>, draft: &mut Draft) -> Option<Field> {
    match (format, name) {
        (_, "title") => {
            draft.title_is_html = attr(e, "type").is_some_and(|t| t == "html" || t == "xhtml");
            draft.title.clear();
            Some(Field::Title)
        }
        (Some(Format::Atom), "link") => {
            let rel = attr(e, "rel").unwrap_or_else(|| "alternate".to_owned());
            if rel == "alternate" && draft.link.is_empty() {
                draft.link = attr(e, "href").unwrap_or_default();
            }
            None
        }
        (Some(Format::Rss), "link") => Some(Field::Link),
        (Some(Format::Rss), "guid") => (attr(e, "ispermalink").or_else(|| attr(e, "isPermaLink")).as_deref()
            != Some("false"))
        .then_some(Field::Guid),
        // The first date seen wins: `pubDate`/`published` come before `updated` in practice,
        // and an item's first publication is what recency should measure.
        (_, "pubdate" | "published" | "updated" | "date") if draft.date.is_empty() => Some(Field::Date),
        (_, "description" | "summary") if draft.summary.is_empty() => Some(Field::Summary),
        (_, "encoded" | "content") if draft.summary.is_empty() => Some(Field::Summary),
        _ => None,
    }
}

fn push(capture: Option<(Field, usize)>, draft: &mut Option<Draft>, feed_title: &mut String, text: &str) {
    let Some((field, _)) = capture else { return };
    let target = match (field, draft.as_mut()) {
        (Field::FeedTitle, _) => feed_title,
        (Field::Title, Some(d)) => &mut d.title,
        (Field::Link, Some(d)) => &mut d.link,
        (Field::Guid, Some(d)) => &mut d.guid_link,
        (Field::Date, Some(d)) => &mut d.date,
        (Field::Summary, Some(d)) => &mut d.summary,
        (_, None) => return,
    };
    // Bounded: a hostile feed cannot grow one field past what is ever shown.
    if target.len() < 16 * 1024 {
        target.push_str(text);
    }
}

/// XML's predefined entities; HTML ones that leak into feeds become their character or stay
/// literal (a feed is not refused for `&nbsp;`).
fn entity(name: &str) -> String {
    match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        _ => return format!("&{name};"),
    }
    .to_owned()
}

/// RFC 822/2822 (RSS) or RFC 3339 (Atom, `dc:date`).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc2822(text)
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Text of an HTML fragment: tags dropped, common entities decoded (summaries are HTML escaped
/// inside XML, so they arrive here as markup).
pub fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn collapse(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Tags dropped before punctuation leave a space in front of it ("<b>1bn</b>." -> "1bn .").
    for p in [" .", " ,", " ;", " :", " !", " ?"] {
        out = out.replace(p, &p[1..]);
    }
    out
}

fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
