//! HTML to text for the URL mode: the readable paragraphs of a page, boundedly.
//!
//! A hand-written scanner rather than an HTML5 parser crate (html5ever, scraper): the summarizer
//! only needs text and block boundaries, the input is bounded by the fetch, and every step here
//! is linear in it. What it does:
//!
//! - drops whole elements that are never prose: `script`, `style`, `head` (its `<title>` is
//!   kept aside), `nav`, `footer`, `aside`, `form`, `table`, `sup` (citation marks like `[1]`),
//!   headings (they have no sentence end and would glue onto the next sentence), and elements
//!   whose `class` names page furniture (`navbox`, `infobox`, `reflist`, `mw-editsection`, ...,
//!   Wikipedia's and most CMSs' names);
//! - turns block elements (`p`, `div`, `li`, `br`, ...) into blank lines, which the sentence
//!   splitter treats as paragraph ends;
//! - decodes character references (numeric, and the named ones prose uses);
//! - stops at [`crate::MAX_TEXT_BYTES`] of text (reported as truncated).
//!
//! Malformed markup never fails: an unclosed skipped element drops the rest of the page, an
//! unterminated tag ends the scan.

/// Elements whose whole content is dropped.
const SKIPPED: &[&str] = &[
    "script", "style", "head", "noscript", "template", "svg", "math", "nav", "footer", "aside", "form", "button",
    "select", "table", "sup", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "iframe", "object",
];
/// `class` names (any of the element's classes) whose element is dropped.
const SKIPPED_CLASSES: &[&str] = &[
    "navbox",
    "infobox",
    "reflist",
    "references",
    "mw-editsection",
    "hatnote",
    "noprint",
    "toc",
    "sidebar",
    "metadata",
    "mw-jump-link",
    "catlinks",
    "thumb",
];
/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "dl",
    "dd",
    "dt",
    "section",
    "article",
    "main",
    "blockquote",
    "pre",
    "hr",
    "tr",
    "header",
    "figcaption",
    "address",
    "details",
    "summary",
];
/// Elements without content or end tag.
const VOID: &[&str] = &["br", "hr", "img", "meta", "link", "input", "wbr", "source", "area", "base", "col", "embed"];
/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// The text of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageText {
    pub title: Option<String>,
    pub text: String,
    /// Whether the text was cut at `max_bytes`.
    pub truncated: bool,
}

/// One tag: its lower-cased name, whether it is an end tag, and its `class` attribute.
struct Tag<'a> {
    name: String,
    end: bool,
    self_closing: bool,
    class: Option<&'a str>,
}

fn parse_tag(inner: &str) -> Tag<'_> {
    let end = inner.starts_with('/');
    let body = inner.trim_start_matches('/');
    let name_len = body.find(|c: char| c.is_whitespace() || c == '/' || c == '>').unwrap_or(body.len());
    let name = body[..name_len].to_ascii_lowercase();
    let attrs = &body[name_len..];
    Tag { name, end, self_closing: inner.ends_with('/'), class: attribute(attrs, "class") }
}

/// The value of attribute `name` (quoted or bare) in `attrs`.
fn attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = attrs[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value = rest[1..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default(),
            _ => value.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or_default(),
        });
    }
    None
}

/// Decodes one character reference at the start of `s` (after `&`): `(text, bytes consumed)`.
fn reference(s: &str) -> Option<(char, usize)> {
    let end = s.find(';').filter(|&e| e <= 10)?;
    let name = &s[..end];
    let c = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(code).filter(|c| !c.is_control() || c.is_whitespace())?
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            "ndash" => '–',
            "mdash" => '—',
            "hellip" => '…',
            "lsquo" => '‘',
            "rsquo" => '’',
            "ldquo" => '“',
            "rdquo" => '”',
            "laquo" => '«',
            "raquo" => '»',
            "eacute" => 'é',
            "euro" => '€',
            "pound" => '£',
            "copy" => '©',
            "deg" => '°',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

/// Appends decoded `raw` text, whitespace collapsed to single spaces.
fn push_text(out: &mut String, raw: &str) {
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        let (c, used) =
            if c == '&' { reference(&rest[1..]).map_or(('&', 1), |(c, n)| (c, n + 1)) } else { (c, c.len_utf8()) };
        rest = &rest[used..];
        if c.is_whitespace() {
            if !out.is_empty() && !out.ends_with([' ', '\n']) {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

fn paragraph_break(out: &mut String) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
}

/// The readable text of `html`, at most `max_bytes` of it.
pub fn to_text(html: &str, max_bytes: usize) -> PageText {
    let mut out = String::new();
    let mut title: Option<String> = None;
    let mut in_title = false;
    // (element name, nesting depth) while inside a dropped element.
    let mut skipping: Option<(String, usize)> = None;
    let mut rest = html;
    while !rest.is_empty() {
        if out.len() > max_bytes {
            break;
        }
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                push_text(&mut out, rest);
            }
            break;
        };
        let (text, markup) = rest.split_at(lt);
        if in_title {
            let t = title.get_or_insert_with(String::new);
            push_text(t, text);
        } else if skipping.is_none() {
            push_text(&mut out, text);
        }
        // Comments, doctype and CDATA.
        if let Some(after) = markup.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = markup.find('>') else { break };
        let inner = &markup[1..gt];
        rest = &markup[gt + 1..];
        if inner.starts_with('!') || inner.starts_with('?') || inner.is_empty() {
            continue;
        }
        let tag = parse_tag(inner);
        if tag.name == "title" && !tag.end && title.is_none() {
            in_title = true;
            continue;
        }
        if tag.name == "title" && tag.end {
            in_title = false;
            continue;
        }
        let void = VOID.contains(&tag.name.as_str()) || tag.self_closing;
        if let Some((name, depth)) = &mut skipping {
            if *name == tag.name && !void {
                if tag.end {
                    *depth -= 1;
                } else {
                    *depth += 1;
                }
                if *depth == 0 {
                    skipping = None;
                }
            }
            continue;
        }
        let furniture = tag.class.is_some_and(|c| c.split_whitespace().any(|k| SKIPPED_CLASSES.contains(&k)));
        if !tag.end && !void && (SKIPPED.contains(&tag.name.as_str()) || furniture) {
            skipping = Some((tag.name, 1));
            continue;
        }
        if BLOCKS.contains(&tag.name.as_str()) {
            paragraph_break(&mut out);
        }
    }
    let truncated = out.len() > max_bytes;
    if truncated {
        let mut cut = max_bytes;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    let title = title.map(|t| t.trim().chars().take(MAX_TITLE_CHARS).collect::<String>()).filter(|t| !t.is_empty());
    PageText { title, text: out.trim().to_owned(), truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_prose_and_drops_furniture() {
        let html = r#"<!DOCTYPE html><html><head><title>Tide &amp; Time - Wikipedia</title>
            <style>p { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><nav><a href="/">Home</a></nav>
            <h1>Tide</h1>
            <div class="hatnote">For other uses, see Tide (disambiguation).</div>
            <p>Tides are the rise and fall of sea levels.<sup class="reference">[1]</sup> They are caused by the Moon&#8217;s gravity.</p>
            <table class="infobox"><tr><td>Period</td><td>12 h</td></tr></table>
            <div class="navbox"><div><p>Nested</p></div> still navbox</div>
            <p>Spring tides occur&nbsp;twice a month.<br>Neap tides &lt;also&gt; do.</p>
            <!-- <p>commented out</p> -->
            <ul><li>First item.</li><li>Second item.</li></ul>
            </body></html>"#;
        let page = to_text(html, 10_000);
        assert_eq!(page.title.as_deref(), Some("Tide & Time - Wikipedia"));
        assert_eq!(
            page.text,
            "Tides are the rise and fall of sea levels. They are caused by the Moon’s gravity.\n\n\
             Spring tides occur twice a month.\n\nNeap tides <also> do.\n\nFirst item.\n\nSecond item."
        );
        assert!(!page.truncated);
    }

    #[test]
    fn bounded_and_tolerant_of_broken_markup() {
        let page = to_text(&format!("<p>{}</p>", "é".repeat(100)), 51);
        assert!(page.truncated);
        assert_eq!(page.text, "é".repeat(25));
        // Unclosed skipped element: the rest is dropped; unterminated tag: the scan ends.
        assert_eq!(to_text("<p>kept</p><script>lost", 100).text, "kept");
        assert_eq!(to_text("<p>kept <b", 100).text, "kept");
        // Unknown or overlong references stay literal; control characters are not decoded.
        assert_eq!(to_text("a &bogus; b &#0; c &amp d", 100).text, "a &bogus; b &#0; c &amp d");
        assert_eq!(attribute(r#" id=x data-class="navbox" class='a  infobox'"#, "class"), Some("a  infobox"));
    }
}
