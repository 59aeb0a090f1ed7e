//! Wikipedia-style article pages: `GET /wiki/<Title>`, for the summarizer's URL mode.
//!
//! Mirrors what en.wikipedia.org serves a plain `GET /wiki/<Title>`: a full HTML document
//! (`text/html; charset=UTF-8`) whose `<title>` is `<Title> - Wikipedia`, with the page furniture
//! a text extractor must get past: `<head>` scripts and styles, the jump links and navigation,
//! a hatnote, an infobox table, citation marks (`<sup class="reference">`), section headings
//! with `[edit]` links, the reference list, a navbox, category links and the footer. An unknown
//! title is a 404 HTML page, as on Wikipedia.
//!
//! Simplified: a few fixed articles written for the sandbox ([`ARTICLES`]); no redirects,
//! no `action=` or `oldid=` handling (query strings are ignored), no language variants.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `(title, infobox rows, sections)`: each section a heading (empty for the lead) and
/// paragraphs. Citation marks are written `[n]` in the text and served as `<sup>` elements.
type Article =
    (&'static str, &'static [(&'static str, &'static str)], &'static [(&'static str, &'static [&'static str])]);

pub const ARTICLES: &[Article] = &[
    (
        "Tide",
        &[("Period", "12 h 25 min (semidiurnal)"), ("Cause", "Gravity of the Moon and Sun")],
        &[
            (
                "",
                &[
                    "Tides are the rise and fall of sea levels caused by the gravitational pull of the Moon and the Sun combined with the rotation of the Earth.[1] Most coastlines see two high tides and two low tides every lunar day.",
                    "The difference in height between high and low water, called the tidal range, varies from almost nothing in enclosed seas to more than fifteen metres in funnel-shaped bays.[2]",
                ],
            ),
            (
                "Causes",
                &[
                    "The Moon pulls the ocean on the near side of the Earth toward it, while the ocean on the far side lags behind, so two bulges of water form on opposite sides of the planet.[3] As the Earth rotates beneath these bulges, a given coast passes through both of them each day.",
                    "The Sun produces a similar but weaker effect, less than half as strong as the Moon's because the Sun is so much farther away.",
                ],
            ),
            (
                "Spring and neap tides",
                &[
                    "When the Sun and the Moon line up at new moon and full moon, their pulls add together and produce spring tides with the largest tidal range.[4] When they stand at right angles, at the quarter moons, their pulls partly cancel and the weaker neap tides follow.",
                    "Sailors, fishers and harbour pilots plan their work around these fortnightly cycles of spring and neap tides.",
                ],
            ),
            (
                "Tidal power",
                &[
                    "Because tides are driven by the Moon and the Sun, tidal power can be predicted years in advance, unlike wind or sunshine.[5] A few tidal power stations already turn the flow of water through estuaries into electricity.",
                ],
            ),
        ],
    ),
    (
        "Lighthouse",
        &[("Purpose", "Navigational aid"), ("Oldest in use", "Tower of Hercules")],
        &[
            (
                "",
                &[
                    "A lighthouse is a tower that carries a bright light to guide ships at sea and warn them of rocks, shoals and dangerous coasts.[1] Each lighthouse shows its own pattern of flashes, so sailors can tell one from another at night.",
                ],
            ),
            (
                "History",
                &[
                    "Ancient ports lit fires on hilltops to guide ships home, and the Pharos of Alexandria became the most famous of these early towers.[2] The Tower of Hercules in Spain, built by the Romans, is still in use as a lighthouse today.",
                    "In the nineteenth century the Fresnel lens concentrated the light of a single lamp into a beam visible from more than thirty kilometres away.[3]",
                ],
            ),
            (
                "Automation",
                &[
                    "Most lighthouses are now automated, and the keepers who once tended the lamps have left.[4] Satellite navigation has reduced their importance, but many remain in service as a backup for ships whose electronics fail.",
                ],
            ),
        ],
    ),
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A paragraph with `[n]` citation marks as Wikipedia's `<sup class="reference">` links.
fn paragraph(text: &str) -> String {
    let mut html = String::from("<p>");
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|c| open + c) else { break };
        let n = &rest[open + 1..close];
        html.push_str(&escape(&rest[..open]));
        html.push_str(&format!(
            r##"<sup id="cite_ref-{n}" class="reference"><a href="#cite_note-{n}">&#91;{n}&#93;</a></sup>"##
        ));
        rest = &rest[close + 1..];
    }
    html.push_str(&escape(rest));
    html.push_str("</p>\n");
    html
}

fn document(title: &str, content: &str) -> String {
    let t = escape(title);
    format!(
        r##"<!DOCTYPE html>
<html class="client-nojs" lang="en" dir="ltr">
<head>
<meta charset="UTF-8">
<title>{t} - Wikipedia</title>
<script>document.documentElement.className="client-js";RLCONF={{"wgTitle":"{t}"}};</script>
<link rel="stylesheet" href="/w/load.php?modules=site.styles">
<style>.mw-parser-output p {{ margin: 0.5em 0 }}</style>
</head>
<body class="mediawiki skin-vector">
<a class="mw-jump-link" href="#bodyContent">Jump to content</a>
<nav id="mw-navigation" role="navigation"><ul><li><a href="/wiki/Main_Page">Main page</a></li><li><a href="/wiki/Special:Random">Random article</a></li></ul></nav>
<main id="content" class="mw-body">
<h1 id="firstHeading" class="firstHeading"><span class="mw-page-title-main">{t}</span></h1>
<div id="bodyContent">
<div id="siteSub" class="noprint">From Wikipedia, the free encyclopedia</div>
<div id="mw-content-text" class="mw-body-content"><div class="mw-parser-output">
{content}</div></div>
<div id="catlinks" class="catlinks"><a href="/wiki/Help:Category">Categories</a>: <a href="/wiki/Category:{t}">{t}</a></div>
</div>
</main>
<footer id="footer" class="mw-footer"><ul><li>Text is available under the Creative Commons Attribution-ShareAlike License 4.0.</li></ul></footer>
</body>
</html>
"##
    )
}

fn article_html(article: &Article) -> String {
    let (title, infobox, sections) = article;
    let mut content = format!(
        r#"<div role="note" class="hatnote navigation-not-searchable">For other uses, see <a href="/wiki/{0}_(disambiguation)">{0} (disambiguation)</a>.</div>
"#,
        escape(title)
    );
    content.push_str(r#"<table class="infobox"><tbody>"#);
    for (key, value) in *infobox {
        content.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", escape(key), escape(value)));
    }
    content.push_str("</tbody></table>\n");
    let mut notes = 0;
    for (heading, paragraphs) in *sections {
        if !heading.is_empty() {
            content.push_str(&format!(
                r#"<div class="mw-heading mw-heading2"><h2 id="{0}">{0}</h2><span class="mw-editsection"><span class="mw-editsection-bracket">[</span><a href="/w/index.php?action=edit">edit</a><span class="mw-editsection-bracket">]</span></span></div>
"#,
                escape(heading)
            ));
        }
        for p in *paragraphs {
            notes += p.matches('[').count();
            content.push_str(&paragraph(p));
        }
    }
    content.push_str(r#"<div class="mw-heading mw-heading2"><h2 id="References">References</h2></div><div class="reflist"><ol class="references">"#);
    for n in 1..=notes {
        content.push_str(&format!(
            r#"<li id="cite_note-{n}"><span class="reference-text">Sandbox source {n}.</span></li>"#
        ));
    }
    content.push_str("</ol></div>\n");
    content.push_str(r#"<div role="navigation" class="navbox"><table class="nowraplinks"><tr><th>Related</th><td><a href="/wiki/Ocean">Ocean</a> · <a href="/wiki/Coast">Coast</a></td></tr></table></div>
"#);
    document(title, &content)
}

async fn page(Path(title): Path<String>) -> Response {
    let html = |status: StatusCode, body: String| {
        (status, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], body).into_response()
    };
    match ARTICLES.iter().find(|a| a.0 == title) {
        Some(article) => html(StatusCode::OK, article_html(article)),
        None => html(
            StatusCode::NOT_FOUND,
            document(&title.replace('_', " "), "<p>Wikipedia does not have an article with this exact name.</p>\n"),
        ),
    }
}

pub fn router() -> Router {
    Router::new().route("/wiki/{title}", get(page))
}
