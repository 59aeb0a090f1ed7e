//! Parser fixtures written for these tests, shaped like real publishers' feeds.

use super::*;

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Example &amp; Sons News</title>
  <link>https://news.example/</link>
  <item>
    <title><![CDATA[Ports shut as storm <hits> coast]]></title>
    <link>https://news.example/storm?utm_source=rss</link>
    <pubDate>Sun, 06 Dec 2026 22:00:00 GMT</pubDate>
    <description>Winds &lt;b&gt;above&lt;/b&gt; 120&#160;km/h &#x2014; ports closed&nbsp;today.</description>
  </item>
  <item>
    <title>Guid only &quot;item&quot;</title>
    <guid>https://news.example/guid-only</guid>
    <dc:date>2026-12-06T20:30:00+01:00</dc:date>
  </item>
  <item>
    <title>Opaque guid</title>
    <guid isPermaLink="false">urn:uuid:1234</guid>
    <pubDate>not a date</pubDate>
  </item>
  <item><description>no title and no link: dropped</description></item>
</channel>
</rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="text">Example Atom</title>
  <link rel="self" href="https://atom.example/feed"/>
  <author><name>Desk</name></author>
  <entry>
    <title type="html">Chip rules &lt;em&gt;take effect&lt;/em&gt;</title>
    <link rel="replies" href="https://atom.example/chips#comments"/>
    <link rel="alternate" type="text/html" href="https://atom.example/chips"/>
    <id>tag:atom.example,2026:chips</id>
    <published>2026-12-06T10:00:00Z</published>
    <updated>2026-12-06T12:00:00Z</updated>
    <content type="html">&lt;p&gt;Vendors say costs rise.&lt;/p&gt;</content>
  </entry>
</feed>"#;

#[test]
fn reads_rss_with_cdata_entities_extensions_and_guids() {
    let feed = parse(RSS).expect("parses");
    assert_eq!((feed.format, feed.title.as_str(), feed.items.len()), (Format::Rss, "Example & Sons News", 3));
    let storm = &feed.items[0];
    assert_eq!(storm.title, "Ports shut as storm <hits> coast");
    assert_eq!(storm.link, "https://news.example/storm?utm_source=rss");
    // Markup dropped, character references resolved, every space (NBSP too) collapsed.
    assert_eq!(storm.summary, "Winds above 120 km/h \u{2014} ports closed today.");
    assert_eq!(storm.published, parse_date("2026-12-06T22:00:00Z"));
    assert_eq!(feed.items[1].title, "Guid only \"item\"");
    assert_eq!(feed.items[1].link, "https://news.example/guid-only");
    assert_eq!(feed.items[1].published, parse_date("2026-12-06T19:30:00Z"));
    // A non-permalink guid is no link; an unparseable date is none.
    assert_eq!((feed.items[2].link.as_str(), feed.items[2].published), ("", None));
}

#[test]
fn reads_atom_alternate_links_and_html_titles() {
    let feed = parse(ATOM).expect("parses");
    assert_eq!((feed.format, feed.title.as_str()), (Format::Atom, "Example Atom"));
    let entry = &feed.items[0];
    assert_eq!(entry.title, "Chip rules take effect");
    assert_eq!(entry.link, "https://atom.example/chips");
    assert_eq!(entry.published, parse_date("2026-12-06T10:00:00Z"), "published wins over updated");
    assert_eq!(entry.summary, "Vendors say costs rise.");
}

#[test]
fn broken_documents_are_errors_not_partial_feeds() {
    let unclosed = "<rss version=\"2.0\"><channel><title>T</title><item><title>x</title></item>";
    assert_eq!(parse(unclosed), Err(ParseError::Truncated("channel".into())));
    assert!(matches!(parse("<rss><channel><item></channel></rss>"), Err(ParseError::Xml { .. })));
    assert_eq!(parse("<html><body>nope</body></html>"), Err(ParseError::NotAFeed("html".into())));
    assert_eq!(parse(""), Err(ParseError::NotAFeed(String::new())));
    let deep = format!("<rss>{}", "<x>".repeat(100));
    assert_eq!(parse(&deep), Err(ParseError::TooDeep));
}

#[test]
fn items_and_fields_are_bounded() {
    let item = format!("<item><title>{}</title><link>https://x.example/1</link></item>", "long ".repeat(200));
    let xml = format!("<rss version=\"2.0\"><channel><title>Big</title>{}</channel></rss>", item.repeat(MAX_ITEMS + 5));
    let feed = parse(&xml).expect("parses");
    assert_eq!((feed.items.len(), feed.skipped), (MAX_ITEMS, 5));
    assert!(feed.items[0].title.chars().count() <= MAX_TITLE_CHARS + 1, "clipped with an ellipsis");
    assert!(feed.items[0].title.ends_with('…'));
}
