//! Glossary: terms that must be translated a given way. The entries relevant to a chunk go into
//! its prompt; the translation is then checked, because a model may ignore an instruction.
//! Violations are reported in the output rather than failing the run: the buyer still gets the
//! translation and knows exactly which terms to review.

use serde::{Deserialize, Serialize};

/// One required rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub source: String,
    pub target: String,
}

/// A chunk's translation lacks a required rendering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    pub source: String,
    pub target: String,
    /// Index of the chunk.
    pub chunk: usize,
    /// Occurrences of the source term in the chunk.
    pub expected: usize,
    /// Occurrences of the required target term in its translation.
    pub found: usize,
}

/// Occurrences of `term` in `text`, case-insensitive, as whole words: a term starting or
/// ending with a letter or digit must not touch another one ("cat" is not in "category").
pub fn count(text: &str, term: &str) -> usize {
    let (text, term) = (text.to_lowercase(), term.to_lowercase());
    if term.is_empty() {
        return 0;
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (term.chars().next(), term.chars().next_back());
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = text[from..].find(&term) {
        let start = from + at;
        let end = start + term.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        let clean_start = !(word(first) && word(before));
        let clean_end = !(word(last) && word(after));
        if clean_start && clean_end {
            n += 1;
            from = end;
        } else {
            from = start + term.chars().next().map_or(1, char::len_utf8);
        }
    }
    n
}

/// The entries whose source term occurs in `chunk`.
pub fn relevant<'g>(glossary: &'g [Term], chunk: &str) -> Vec<&'g Term> {
    glossary.iter().filter(|t| count(chunk, &t.source) > 0).collect()
}

/// Violations of `glossary` by the translation of chunk `index`.
pub fn check(glossary: &[Term], index: usize, source: &str, translation: &str) -> Vec<Violation> {
    glossary
        .iter()
        .filter_map(|t| {
            let expected = count(source, &t.source);
            let found = count(translation, &t.target);
            (expected > 0 && found < expected).then(|| Violation {
                source: t.source.clone(),
                target: t.target.clone(),
                chunk: index,
                expected,
                found,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(source: &str, target: &str) -> Term {
        Term { source: source.to_owned(), target: target.to_owned() }
    }

    #[test]
    fn counts_whole_words_case_insensitively() {
        assert_eq!(count("The Cat sat on the cat-flap; category.", "cat"), 2);
        assert_eq!(count("smart contracts and Smart Contract", "smart contract"), 1);
        assert_eq!(count("Der Vertrag", "vertrag"), 1);
        assert_eq!(count("GmbH & Co. KG", "& Co."), 1);
        assert_eq!(count("anything", ""), 0);
    }

    #[test]
    fn reports_each_missing_or_short_rendering() {
        let glossary = [term("wallet", "Wallet"), term("gas fee", "Gasgebühr"), term("token", "Token")];
        let source = "Your wallet pays the gas fee. The gas fee is small.";
        let translation = "Ihre Wallet zahlt die Gasgebühr. Die Gebühr ist klein.";
        let violations = check(&glossary, 3, source, translation);
        assert_eq!(
            violations,
            [Violation { source: "gas fee".into(), target: "Gasgebühr".into(), chunk: 3, expected: 2, found: 1 }]
        );
        assert_eq!(relevant(&glossary, source).len(), 2);
    }
}
