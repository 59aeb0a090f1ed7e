//! Splitting a long text into requests that fit the model's context.
//!
//! Boundaries are preferred in this order: paragraph (a blank line), sentence (after `.`, `!`,
//! `?`, `…` and the CJK full stops), word (whitespace), and only for a single unbroken run
//! longer than a chunk, a character boundary. Whitespace around each chunk is kept out of the
//! request and put back around the translation, so paragraph breaks survive exactly.
//!
//! The token estimate is deliberately conservative rather than a tokenizer (a BPE table would
//! weigh more than the whole agent and differs per model): an ASCII character counts a quarter
//! token, any other character a whole one (CJK is about one token per character; accented
//! Latin and Cyrillic are overcounted, which only makes chunks smaller).

/// A piece of the source text: `lead` + `body` + `trail` is the exact original slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub lead: &'a str,
    pub body: &'a str,
    pub trail: &'a str,
}

/// Quarter-token units of one character.
fn units(c: char) -> usize {
    if c.is_ascii() { 1 } else { 4 }
}

/// Estimated tokens of `text` (see the module docs).
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().map(units).sum::<usize>().div_ceil(4)
}

const TERMINATORS: [char; 7] = ['.', '!', '?', '…', '。', '！', '？'];
/// Terminators that end a sentence without a following space (CJK).
const CJK_TERMINATORS: [char; 3] = ['。', '！', '？'];

/// Splits `text` into chunks of at most `max_tokens` estimated tokens each.
pub fn split(text: &str, max_tokens: usize) -> Vec<Chunk<'_>> {
    let budget = max_tokens.max(1) * 4;
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let rest = &text[start..];
        let cut = cut_point(rest, budget);
        chunks.push(trimmed(&rest[..cut]));
        start += cut;
    }
    chunks
}

/// Byte length of the next chunk of `rest`.
fn cut_point(rest: &str, budget: usize) -> usize {
    let (mut paragraph, mut sentence, mut word) = (None, None, None);
    let mut used = 0;
    let mut fits = 0;
    // State of the whitespace run before the current character.
    let mut in_space = false;
    let mut newlines = 0;
    let mut before_space: Option<char> = None;
    let mut previous: Option<char> = None;
    for (i, c) in rest.char_indices() {
        if used + units(c) > budget {
            let best = paragraph.or(sentence).or(word).unwrap_or(fits);
            // At least one character, so a tiny budget still makes progress.
            return if best == 0 { c.len_utf8() } else { best };
        }
        if c.is_whitespace() {
            if !in_space {
                in_space = true;
                newlines = 0;
                before_space = previous;
            }
            if c == '\n' {
                newlines += 1;
            }
        } else {
            if in_space && i > 0 {
                if newlines >= 2 {
                    paragraph = Some(i);
                } else if before_space.is_some_and(|p| TERMINATORS.contains(&p) || p == '"' || p == '\'') {
                    sentence = Some(i);
                } else {
                    word = Some(i);
                }
            } else if previous.is_some_and(|p| CJK_TERMINATORS.contains(&p)) {
                sentence = Some(i);
            }
            in_space = false;
        }
        used += units(c);
        fits = i + c.len_utf8();
        previous = Some(c);
    }
    rest.len()
}

fn trimmed(slice: &str) -> Chunk<'_> {
    let body_start = slice.len() - slice.trim_start().len();
    let body = slice.trim();
    let body_end = body_start + body.len();
    Chunk { lead: &slice[..body_start], body, trail: &slice[body_end..] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejoin(chunks: &[Chunk<'_>]) -> String {
        chunks.iter().map(|c| format!("{}{}{}", c.lead, c.body, c.trail)).collect()
    }

    #[test]
    fn estimate_counts_ascii_as_quarter_tokens_and_others_as_whole() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("日本語"), 3);
    }

    #[test]
    fn a_short_text_is_one_chunk_with_its_whitespace_kept_aside() {
        let chunks = split("\n  Hello world.  \n", 100);
        assert_eq!(chunks, [Chunk { lead: "\n  ", body: "Hello world.", trail: "  \n" }]);
    }

    #[test]
    fn paragraphs_win_over_sentences() {
        // Budget 12 tokens = 48 ASCII chars: both paragraphs fit only separately.
        let text = "First paragraph. It has two sentences.\n\nSecond one here. Also two.";
        let chunks = split(text, 12);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!(chunks[0].body, "First paragraph. It has two sentences.");
        assert_eq!(chunks[0].trail, "\n\n");
        assert_eq!(chunks[1].body, "Second one here. Also two.");
        assert_eq!(rejoin(&chunks), text);
    }

    #[test]
    fn a_long_paragraph_splits_after_sentences_not_mid_sentence() {
        let text = "One short sentence here. Another sentence follows it. And a third one ends.";
        let chunks = split(text, 14); // 56 chars
        assert_eq!(chunks[0].body, "One short sentence here. Another sentence follows it.");
        assert_eq!(chunks[1].body, "And a third one ends.");
        assert_eq!(rejoin(&chunks), text);
    }

    #[test]
    fn cjk_sentences_split_after_full_stops_without_spaces() {
        let text = "今日は晴れです。明日は雨です。";
        let chunks = split(text, 10);
        assert_eq!(chunks.iter().map(|c| c.body).collect::<Vec<_>>(), ["今日は晴れです。", "明日は雨です。"]);
    }

    #[test]
    fn unbroken_runs_fall_back_to_words_then_characters() {
        let words = split("alpha beta gamma delta", 3); // 12 chars
        assert_eq!(words.iter().map(|c| c.body).collect::<Vec<_>>(), ["alpha beta", "gamma delta"]);
        let run = "x".repeat(10);
        let chars = split(&run, 1);
        assert_eq!(chars.len(), 3);
        assert_eq!(rejoin(&chars), run);
        // A multi-byte character larger than the budget still makes progress.
        assert_eq!(split("日本", 0).len(), 2);
    }
}
