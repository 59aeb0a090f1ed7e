//! Sentence splitting.
//!
//! Extractive summaries are only as good as their sentence boundaries: a summary that cuts
//! "Dr. Smith" in two, or glues two sentences together, reads as broken. A period ends a sentence
//! only when whitespace (or the end) follows, the word before it is not a known abbreviation or an
//! initial, it does not close a list number ("2. Remove the tray."), and the next word does not
//! start in lowercase. `!`, `?` and `…` always end one; CJK full stops end one without needing a
//! following space, and a blank line ends a paragraph and with it any unterminated sentence.

/// Abbreviations that practically never end a sentence (titles, "e.g.", months, "No. 5").
const NEVER_FINAL: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "vs", "gen", "gov", "sen", "rep", "col", "capt", "lt",
    "sgt", "fig", "figs", "no", "nos", "vol", "pp", "cf", "approx", "dept", "est", "eg", "ie", "us", "uk", "jan",
    "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "ca", "resp", "viz",
];

/// Abbreviations that often end a sentence: they end one when the next word is capitalised.
const MAYBE_FINAL: &[&str] = &["etc", "al", "inc", "ltd", "co", "corp", "am", "pm", "phd", "bros"];

/// Characters that may follow a terminator and still belong to its sentence.
fn is_closing(c: char) -> bool {
    matches!(c, '"' | '\'' | ')' | ']' | '}' | '»' | '”' | '’' | '」' | '』' | '）')
}

fn is_cjk_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '．')
}

/// The word right before byte offset `end` (letters and inner dots), lowercased, dots removed.
fn word_before(text: &str, end: usize) -> (String, usize) {
    let head = &text[..end];
    let start =
        head.char_indices().rev().take_while(|&(_, c)| c.is_alphanumeric() || c == '.').last().map_or(end, |(i, _)| i);
    let word = &head[start..];
    let letters = word.chars().filter(|c| c.is_alphanumeric()).count();
    (word.chars().filter(|&c| c != '.').flat_map(char::to_lowercase).collect(), letters)
}

/// Splits `text` into trimmed sentences with their internal whitespace collapsed. Fragments
/// without any letter or digit (stray punctuation, list bullets) are dropped.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        // Blank line: paragraph break.
        if c == '\n' {
            let mut j = i + 1;
            while j < chars.len() && chars[j].1 != '\n' && chars[j].1.is_whitespace() {
                j += 1;
            }
            if j < chars.len() && chars[j].1 == '\n' {
                push(&mut out, &text[start..pos]);
                start = chars[j].0;
                i = j + 1;
                continue;
            }
        }
        let terminator = matches!(c, '.' | '!' | '?' | '…') || is_cjk_terminator(c);
        if !terminator {
            i += 1;
            continue;
        }
        // Take the whole run of terminators and closing quotes/brackets: `?!`, `."`, `...)`.
        let mut j = i + 1;
        while j < chars.len()
            && (matches!(chars[j].1, '.' | '!' | '?' | '…') || is_cjk_terminator(chars[j].1) || is_closing(chars[j].1))
        {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(p, _)| p);
        let at_end = j >= chars.len();
        let next_is_space = chars.get(j).is_some_and(|&(_, c)| c.is_whitespace());
        let splits = if is_cjk_terminator(c) {
            true
        } else if !(at_end || next_is_space) {
            // "3.14", "example.com", "U.S" inside a token.
            false
        } else if c == '.' && j == i + 1 {
            // A list number ("1. Open the box.") belongs to the sentence it starts.
            let head = text[start..pos].trim();
            let list_number = !head.is_empty() && head.len() <= 3 && head.chars().all(|c| c.is_ascii_digit());
            !list_number && period_ends_sentence(text, pos, next_word_start(&chars, j))
        } else {
            true
        };
        if splits {
            push(&mut out, &text[start..end]);
            start = end;
        }
        i = j;
    }
    push(&mut out, &text[start..]);
    out
}

/// The first non-whitespace character at or after index `j`.
fn next_word_start(chars: &[(usize, char)], j: usize) -> Option<char> {
    chars[j..].iter().map(|&(_, c)| c).find(|c| !c.is_whitespace())
}

fn period_ends_sentence(text: &str, period: usize, next: Option<char>) -> bool {
    let Some(next) = next else { return true };
    if next.is_lowercase() {
        return false;
    }
    let (word, letters) = word_before(text, period);
    if word.is_empty() {
        return true;
    }
    // An initial: "J. R. R. Tolkien", "Harry S. Truman".
    if letters == 1 && word.chars().all(char::is_alphabetic) {
        return false;
    }
    if NEVER_FINAL.contains(&word.as_str()) {
        return false;
    }
    if MAYBE_FINAL.contains(&word.as_str()) {
        return next.is_uppercase();
    }
    true
}

fn push(out: &mut Vec<String>, fragment: &str) {
    let collapsed = fragment.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().any(char::is_alphanumeric) {
        out.push(collapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::sentences;

    #[test]
    fn splits_on_terminators_followed_by_space() {
        assert_eq!(
            sentences("One two. Three four! Five six? Seven"),
            ["One two.", "Three four!", "Five six?", "Seven"]
        );
    }

    #[test]
    fn keeps_abbreviations_initials_and_numbers_together() {
        let text =
            "Dr. Smith met Mr. J. R. Jones at 3.5 p.m. on Jan. 5. They talked, e.g. about the U.S. budget. Done.";
        assert_eq!(
            sentences(text),
            [
                "Dr. Smith met Mr. J. R. Jones at 3.5 p.m. on Jan. 5.",
                "They talked, e.g. about the U.S. budget.",
                "Done."
            ]
        );
    }

    #[test]
    fn maybe_final_abbreviations_end_a_sentence_before_a_capital() {
        assert_eq!(sentences("Apples, pears, etc. The end."), ["Apples, pears, etc.", "The end."]);
        assert_eq!(sentences("Smith et al. showed it."), ["Smith et al. showed it."]);
    }

    #[test]
    fn closing_quotes_and_ellipses_stay_with_their_sentence() {
        assert_eq!(
            sentences("He said \"stop.\" Then he left... Why?!\n"),
            ["He said \"stop.\"", "Then he left...", "Why?!"]
        );
    }

    #[test]
    fn paragraph_breaks_end_sentences_and_whitespace_collapses() {
        assert_eq!(
            sentences("A title\n\nFirst line\ncontinues here. Next."),
            ["A title", "First line continues here.", "Next."]
        );
    }

    #[test]
    fn list_numbers_stay_with_their_item() {
        assert_eq!(
            sentences("Steps follow. 1. Open the box. 2. Remove the tray.\n3. Done"),
            ["Steps follow.", "1. Open the box.", "2. Remove the tray.", "3. Done"]
        );
    }

    #[test]
    fn cjk_and_unicode() {
        assert_eq!(sentences("今日は晴れです。明日は雨です。"), ["今日は晴れです。", "明日は雨です。"]);
        assert_eq!(
            sentences("Ça va très bien. Über alles! Ελληνικά."),
            ["Ça va très bien.", "Über alles!", "Ελληνικά."]
        );
    }

    #[test]
    fn empty_and_punctuation_only_inputs_have_no_sentences() {
        assert!(sentences("").is_empty());
        assert!(sentences("  \n\n ... !! ").is_empty());
    }
}
