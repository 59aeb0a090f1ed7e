//! Feeds upstream: RSS 2.0 and Atom 1.0 documents parse as XML, escape their text, carry valid
//! dates, overlap across feeds, and the malformed feed fails a parser.

use chrono::DateTime;
use nexus_sandbox::{Sandbox, SandboxConfig};
use quick_xml::Reader;
use quick_xml::events::Event;

/// One element: its slash-separated path from the root, its text, its attributes.
#[derive(Debug)]
struct Element {
    path: String,
    text: String,
    attrs: Vec<(String, String)>,
}

/// Elements in document order, or why the XML is not well formed
/// (quick-xml's error, an unknown entity, or an element left open at the end).
fn parse(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<usize> = Vec::new();
    let mut out: Vec<Element> = Vec::new();
    let attrs = |e: &quick_xml::events::BytesStart| -> Result<Vec<(String, String)>, String> {
        e.attributes()
            .map(|a| {
                let a = a.map_err(|e| e.to_string())?;
                let value = a.unescape_value().map_err(|e| e.to_string())?;
                Ok((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value.into_owned()))
            })
            .collect()
    };
    let path = |stack: &[usize], out: &[Element], name: &str| match stack.last() {
        Some(parent) => format!("{}/{name}", out[*parent].path),
        None => name.to_owned(),
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                out.push(Element { path: path(&stack, &out, &name), text: String::new(), attrs: attrs(&e)? });
                stack.push(out.len() - 1);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                out.push(Element { path: path(&stack, &out, &name), text: String::new(), attrs: attrs(&e)? });
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                if let Some(i) = stack.last() {
                    out[*i].text.push_str(&t.decode().map_err(|e| e.to_string())?);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.decode().map_err(|e| e.to_string())?.as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    other => return Err(format!("unknown entity &{other};")),
                };
                if let Some(i) = stack.last() {
                    out[*i].text.push(ch);
                }
            }
            Event::Eof if stack.is_empty() => return Ok(out),
            Event::Eof => return Err(format!("{} elements left open", stack.len())),
            _ => {}
        }
    }
}

fn texts(doc: &[Element], path: &str) -> Vec<String> {
    doc.iter().filter(|e| e.path == path).map(|e| e.text.clone()).collect()
}

async fn get(sandbox: &Sandbox, path: &str) -> (u16, String, String) {
    let response = reqwest::get(format!("{}{path}", sandbox.feeds.base_url)).await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn rss_is_well_formed_escaped_and_dated() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, content_type, body) = get(&sandbox, "/feeds/markets.rss").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/rss+xml; charset=utf-8");
    let doc = parse(&body).unwrap();
    assert_eq!(doc[0].attrs, vec![("version".to_owned(), "2.0".to_owned())]);
    assert_eq!(texts(&doc, "rss/channel/description"), ["Sandbox markets stories & briefs"]);
    let titles = texts(&doc, "rss/channel/item/title");
    assert_eq!(titles.len(), 5);
    assert!(titles.contains(&"ETH funds see record inflows as \"staking\" debate returns".to_owned()));
    assert!(
        texts(&doc, "rss/channel/item/description")
            .contains(&"Net inflows into ether products topped <b>$1bn</b> in a week.".to_owned())
    );
    let now = SandboxConfig::default().now_ms as i64 / 1000;
    for date in texts(&doc, "rss/channel/item/pubDate") {
        let parsed = DateTime::parse_from_rfc2822(&date).unwrap();
        assert!(parsed.timestamp() < now, "{date} is not in the past");
    }
    let links = texts(&doc, "rss/channel/item/link");
    assert_eq!(texts(&doc, "rss/channel/item/guid"), links);
    assert!(links[0].starts_with(&format!("{}/stories/", sandbox.feeds.base_url)));
}

#[tokio::test]
async fn atom_is_well_formed_with_rfc3339_dates() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, content_type, body) = get(&sandbox, "/feeds/tech.atom").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/atom+xml; charset=utf-8");
    let doc = parse(&body).unwrap();
    assert_eq!(doc[0].attrs, vec![("xmlns".to_owned(), "http://www.w3.org/2005/Atom".to_owned())]);
    let titles = texts(&doc, "feed/entry/title");
    assert_eq!(titles.len(), 5);
    assert!(titles.iter().any(|t| t == "Layer-2 fees fall 40% after blob upgrade | tech desk"));
    assert!(texts(&doc, "feed/entry/summary").iter().any(|s| s.contains("<code>gen</code>")));
    for date in texts(&doc, "feed/entry/updated").into_iter().chain(texts(&doc, "feed/updated")) {
        DateTime::parse_from_rfc3339(&date).unwrap();
    }
    let ids = texts(&doc, "feed/entry/id");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
    let hrefs: Vec<_> = doc.iter().filter(|e| e.path == "feed/entry/link").map(|e| e.attrs.clone()).collect();
    assert!(hrefs.iter().all(|a| a.iter().any(|(k, v)| k == "href" && v.contains("/stories/"))));
}

#[tokio::test]
async fn a_story_appears_in_several_feeds_under_one_canonical_link() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let mut canonical_by_feed = Vec::new();
    for path in ["/feeds/markets.rss", "/feeds/tech.atom", "/feeds/world.rss"] {
        let (_, _, body) = get(&sandbox, path).await;
        let doc = parse(&body).unwrap();
        let mut links = texts(&doc, "rss/channel/item/link");
        links.extend(
            doc.iter()
                .filter(|e| e.path == "feed/entry/link")
                .flat_map(|e| e.attrs.iter().filter(|(k, _)| k == "href").map(|(_, v)| v.clone())),
        );
        let canonical: Vec<String> = links.iter().map(|l| l.split('?').next().unwrap().to_owned()).collect();
        assert!(links.iter().all(|l| l.contains("?utm_source=")), "tracking query present");
        canonical_by_feed.push(canonical);
    }
    let shared = |a: &Vec<String>, b: &Vec<String>| a.iter().filter(|l| b.contains(l)).count();
    assert!(shared(&canonical_by_feed[0], &canonical_by_feed[1]) >= 2);
    assert!(shared(&canonical_by_feed[0], &canonical_by_feed[2]) >= 2);
    assert!(canonical_by_feed.iter().all(|c| c.iter().any(|l| l.ends_with("/stories/eth-etf-inflows"))));
}

#[tokio::test]
async fn broken_and_unknown_feeds() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let (status, _, body) = get(&sandbox, "/feeds/broken.rss").await;
    assert_eq!(status, 200);
    assert!(parse(&body).is_err());
    assert_eq!(get(&sandbox, "/feeds/nope.rss").await.0, 404);
    assert_eq!(get(&sandbox, "/feeds/markets.json").await.0, 404);
    assert_eq!(get(&sandbox, "/feeds/markets").await.0, 404);
}

#[tokio::test]
async fn feeds_are_deterministic() {
    let a = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let b = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let strip = |s: String, base: &str| s.replace(base, "BASE");
    let (_, _, one) = get(&a, "/feeds/world.atom").await;
    let (_, _, two) = get(&b, "/feeds/world.atom").await;
    assert_eq!(strip(one, &a.feeds.base_url), strip(two, &b.feeds.base_url));
}

#[tokio::test]
async fn real_feed_paths_serve_the_same_feeds() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for (path, name, format) in nexus_sandbox::feeds::REAL_PATHS {
        let (status, content_type, body) = get(&sandbox, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(content_type.starts_with(&format!("application/{format}+xml")), "{path}: {content_type}");
        assert_eq!(body, get(&sandbox, &format!("/feeds/{name}.{format}")).await.2, "{path}");
    }
}
