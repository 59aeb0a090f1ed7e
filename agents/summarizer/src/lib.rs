//! Extractive summarizer: picks the most representative sentences of a text and returns them in
//! their original order, each with its score.
//!
//! Why extractive, and why these features: an agent in a `FROM scratch` container has no model
//! weights and no network, and a buyer must be able to trust that every summary sentence is in
//! the source. Each sentence is scored from four signals that together work well on news, reports
//! and documentation without any training:
//!
//! - **content**: how much of the text's frequent vocabulary the sentence carries (SumBasic-style
//!   word probabilities, stop words removed), normalised by the square root of its distinct terms
//!   so long sentences do not win by length alone;
//! - **centrality**: the sum of its TF-IDF cosine similarities to every other sentence
//!   (TextRank's graph, one step: degree centrality, computed in linear time through the sum
//!   of all sentence vectors), so sentences that restate the text's main thread rank above
//!   digressions;
//! - **position**: a lead bias, `1/sqrt(1 + index)`, since authors put the point first;
//! - **length**: a multiplier that damps fragments under 8 words and run-ons over 40.
//!
//! Selection is greedy by score and skips a sentence nearly identical (cosine > 0.7) to one
//! already chosen, so the summary does not repeat itself.
//!
//! URL mode (`{"url": ...}`): the page is fetched through the egress door from a host the
//! metadata allowlists ([`web`]), its HTML reduced to paragraphs ([`html`]), then summarized the
//! same way; the output then also says what was fetched (`source`).

pub mod html;
mod split;
pub mod web;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use split::sentences;

/// Largest text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// Most sentences a summary may ask for.
pub const MAX_SENTENCES: usize = 100;
/// Sentences selected when the input does not say.
pub const DEFAULT_SENTENCES: usize = 3;
/// Cosine similarity above which a candidate repeats an already selected sentence.
const REDUNDANCY: f64 = 0.7;
/// Weights of the content, centrality and position signals.
const W_CONTENT: f64 = 0.45;
const W_CENTRALITY: f64 = 0.40;
const W_POSITION: f64 = 0.15;

/// The agent's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The text to summarize (or give `url`).
    #[serde(default)]
    pub text: Option<String>,
    /// A page to fetch and summarize instead of `text` ([`web::ALLOWED`]).
    #[serde(default)]
    pub url: Option<String>,
    /// How many sentences to return (1..=100, default 3).
    #[serde(default)]
    pub sentences: Option<usize>,
}

/// The agent's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// The selected sentences joined by spaces, in their original order.
    pub summary: String,
    /// The selected sentences, in their original order.
    pub sentences: Vec<Scored>,
    /// The most frequent content words of the text, most frequent first.
    pub keywords: Vec<String>,
    pub stats: Stats,
    /// What URL mode fetched (absent for a `text` input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<web::Source>,
}

/// One selected sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    /// Position of the sentence in the text, from 0.
    pub index: usize,
    pub text: String,
    /// Score in [0, 1], rounded to 4 decimals.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub sentence_count: usize,
    pub word_count: usize,
    pub character_count: usize,
    /// Characters of the summary over characters of the text, rounded to 4 decimals.
    pub compression_ratio: f64,
}

/// Why a text cannot be summarized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SummarizeError {
    #[error("give exactly one of text and url")]
    NoText,
    #[error("text is {0} bytes, more than {MAX_TEXT_BYTES}")]
    TooLong(usize),
    #[error("sentences must be between 1 and {MAX_SENTENCES}, got {0}")]
    BadCount(usize),
}

/// How many sentences `input` asks for, checked (URL mode checks it before fetching).
pub fn sentence_count(input: &Input) -> Result<usize, SummarizeError> {
    let k = input.sentences.unwrap_or(DEFAULT_SENTENCES);
    if !(1..=MAX_SENTENCES).contains(&k) {
        return Err(SummarizeError::BadCount(k));
    }
    Ok(k)
}

/// Summarizes `input.text` into at most `input.sentences` sentences.
pub fn summarize(input: &Input) -> Result<Output, SummarizeError> {
    let text = match (&input.text, &input.url) {
        (Some(text), None) => text.as_str(),
        _ => return Err(SummarizeError::NoText),
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err(SummarizeError::TooLong(text.len()));
    }
    let k = sentence_count(input)?;
    let sents = sentences(text);
    let scores = score(&sents);
    let chosen = select(&sents, &scores, k);

    let selected: Vec<Scored> =
        chosen.iter().map(|&i| Scored { index: i, text: sents[i].clone(), score: round4(scores.total[i]) }).collect();
    let summary = selected.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    let character_count = text.chars().count();
    let compression_ratio =
        if character_count == 0 { 0.0 } else { round4(summary.chars().count() as f64 / character_count as f64) };
    Ok(Output {
        summary,
        sentences: selected,
        keywords: scores.keywords,
        stats: Stats {
            sentence_count: sents.len(),
            word_count: text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count(),
            character_count,
            compression_ratio,
        },
        source: None,
    })
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Per-sentence scores and the vectors selection needs for redundancy checks.
struct Scores {
    total: Vec<f64>,
    vectors: Vec<Vec<(usize, f64)>>,
    keywords: Vec<String>,
}

/// Scores every sentence; see the module docs for the signals.
fn score(sents: &[String]) -> Scores {
    let n = sents.len();
    let mut vocab: HashMap<String, usize> = HashMap::new();
    let mut terms: Vec<String> = Vec::new();
    // Term ids of each sentence, with repetitions.
    let tokenized: Vec<Vec<usize>> = sents
        .iter()
        .map(|s| {
            tokens(s)
                .into_iter()
                .map(|t| {
                    let next = vocab.len();
                    *vocab.entry(t.clone()).or_insert_with(|| {
                        terms.push(t);
                        next
                    })
                })
                .collect()
        })
        .collect();
    let mut doc_tf = vec![0usize; terms.len()];
    let mut df = vec![0usize; terms.len()];
    let mut tfs: Vec<Vec<(usize, usize)>> = Vec::with_capacity(n);
    for ids in &tokenized {
        let mut tf: HashMap<usize, usize> = HashMap::new();
        for &id in ids {
            *tf.entry(id).or_default() += 1;
            doc_tf[id] += 1;
        }
        let mut tf: Vec<(usize, usize)> = tf.into_iter().collect();
        tf.sort_unstable();
        for &(id, _) in &tf {
            df[id] += 1;
        }
        tfs.push(tf);
    }
    let total_tokens: usize = doc_tf.iter().sum();

    // Content: mean word probability over the sentence's distinct terms, times sqrt(distinct).
    let content: Vec<f64> = tfs
        .iter()
        .map(|tf| {
            if tf.is_empty() || total_tokens == 0 {
                return 0.0;
            }
            let sum: f64 = tf.iter().map(|&(id, _)| doc_tf[id] as f64 / total_tokens as f64).sum();
            sum / (tf.len() as f64).sqrt()
        })
        .collect();

    // TF-IDF vectors, unit length, sorted by term id for merge-style dot products.
    let vectors: Vec<Vec<(usize, f64)>> = tfs
        .iter()
        .map(|tf| {
            let mut v: Vec<(usize, f64)> = tf
                .iter()
                .map(|&(id, count)| {
                    let idf = ((1.0 + n as f64) / (1.0 + df[id] as f64)).ln() + 1.0;
                    (id, (1.0 + (count as f64).ln()) * idf)
                })
                .collect();
            let norm = v.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|(_, w)| *w /= norm);
            }
            v
        })
        .collect();
    let centrality = degree_centrality(&vectors, terms.len());

    let max_content = content.iter().copied().fold(0.0, f64::max);
    let max_centrality = centrality.iter().copied().fold(0.0, f64::max);
    let total = (0..n)
        .map(|i| {
            let c = if max_content > 0.0 { content[i] / max_content } else { 0.0 };
            let k = if max_centrality > 0.0 { centrality[i] / max_centrality } else { 0.0 };
            let position = 1.0 / ((1 + i) as f64).sqrt();
            let words = sents[i].split_whitespace().count() as f64;
            let length = (words / 8.0).min(1.0) * (40.0 / words.max(1.0)).min(1.0);
            (W_CONTENT * c + W_CENTRALITY * k + W_POSITION * position) * length
        })
        .collect();

    let mut ranked: Vec<usize> = (0..terms.len()).filter(|&id| doc_tf[id] > 1).collect();
    ranked.sort_by(|&a, &b| doc_tf[b].cmp(&doc_tf[a]).then_with(|| terms[a].cmp(&terms[b])));
    let keywords = ranked.into_iter().take(8).map(|id| terms[id].clone()).collect();
    Scores { total, vectors, keywords }
}

/// Each sentence's sum of cosine similarities to all the others. The vectors are unit length,
/// so that sum is the sentence's dot product with the sum of all vectors minus its own |v|^2:
/// O(n) instead of comparing every pair, which took seconds on a 1 MiB text.
fn degree_centrality(vectors: &[Vec<(usize, f64)>], terms: usize) -> Vec<f64> {
    let mut sum = vec![0.0; terms];
    for v in vectors {
        for &(id, w) in v {
            sum[id] += w;
        }
    }
    vectors
        .iter()
        .map(|v| {
            let dot: f64 = v.iter().map(|&(id, w)| w * sum[id]).sum();
            let own: f64 = v.iter().map(|(_, w)| w * w).sum();
            (dot - own).max(0.0)
        })
        .collect()
}

/// Cosine similarity of two unit vectors sorted by term id.
fn cosine(a: &[(usize, f64)], b: &[(usize, f64)]) -> f64 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}

/// Greedy selection by score, skipping near-duplicates; returns indices in text order.
fn select(sents: &[String], scores: &Scores, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sents.len()).collect();
    order.sort_by(|&a, &b| scores.total[b].total_cmp(&scores.total[a]).then(a.cmp(&b)));
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    for i in order {
        if chosen.len() == k {
            break;
        }
        if chosen.iter().all(|&c| cosine(&scores.vectors[c], &scores.vectors[i]) <= REDUNDANCY) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    chosen
}

/// English function words that carry no topic.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "being", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "may", "more", "most", "much", "must", "not", "of", "on", "one", "only", "or",
    "other", "our", "out", "over", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "through", "to", "too", "up", "very", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "will", "with", "would", "you", "your",
];

/// Han, Hiragana and Katakana: written without spaces, so each character is a term.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

/// Lowercased content terms of a sentence: letter/digit runs, stop words and one-letter
/// words dropped, a light plural stemming ("companies" → "company", "tokens" → "token").
pub fn tokens(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word.chars().count() > 1 && !STOP_WORDS.contains(&word.as_str()) {
            out.push(stem(word));
        }
        word.clear();
    };
    for c in sentence.chars() {
        if is_cjk(c) {
            flush(&mut word, &mut out);
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn stem(word: &str) -> String {
    if !word.is_ascii() || word.len() <= 4 {
        return word.to_string();
    }
    if let Some(base) = word.strip_suffix("ies") {
        return format!("{base}y");
    }
    if word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") && !word.ends_with("is") {
        return word[..word.len() - 1].to_string();
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str, k: usize) -> Input {
        Input { text: Some(text.into()), url: None, sentences: Some(k) }
    }

    #[test]
    fn tokens_drop_stop_words_and_stem_plurals() {
        assert_eq!(tokens("The companies' tokens are in a class of 3 bosses."), ["company", "token", "class", "bosse"]);
        assert_eq!(tokens("東京タワー"), ["東", "京", "タ", "ワ", "ー"]);
        assert_eq!(tokens("Élan vital über"), ["élan", "vital", "über"]);
    }

    #[test]
    fn picks_the_on_topic_sentences_in_original_order() {
        let text = "Solar panels convert sunlight into electricity for homes. \
            My neighbour owns a very loud and rather old dog named Rex. \
            Modern solar panels reach twenty percent efficiency in converting sunlight. \
            The cafeteria serves soup on Tuesdays and sometimes on Fridays. \
            Cheaper solar panels have made electricity from sunlight affordable for many homes.";
        let out = summarize(&input(text, 2)).expect("summarizes");
        let picked: Vec<usize> = out.sentences.iter().map(|s| s.index).collect();
        assert!(!picked.contains(&1) && !picked.contains(&3), "picked an off-topic sentence: {picked:?}");
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "not in original order: {picked:?}");
        assert_eq!(out.stats.sentence_count, 5);
        assert!(out.keywords.starts_with(&["electricity".to_string()]) || out.keywords.contains(&"solar".to_string()));
        assert!(out.sentences.iter().all(|s| (0.0..=1.0).contains(&s.score)));
        assert_eq!(out.summary, out.sentences.iter().map(|s| s.text.clone()).collect::<Vec<_>>().join(" "));
    }

    #[test]
    fn linear_centrality_equals_the_pairwise_sum() {
        let sents: Vec<String> = sentences(
            "Rust makes systems programming safe. Cargo builds Rust code. \
             Memory safety matters in systems code. Cats sleep a lot.",
        );
        let scores = score(&sents);
        let terms = scores.vectors.iter().flatten().map(|&(id, _)| id + 1).max().unwrap_or(0);
        let centrality = degree_centrality(&scores.vectors, terms);
        assert_eq!(centrality.len(), sents.len());
        for (i, (c, v)) in centrality.iter().zip(&scores.vectors).enumerate() {
            let pairwise: f64 =
                scores.vectors.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, w)| cosine(v, w)).sum();
            assert!((c - pairwise).abs() < 1e-9, "{i}: {c} vs {pairwise}");
        }
        assert_eq!(centrality[3], 0.0, "the off-topic sentence shares no term");
        assert!(centrality[0] > 0.0);
    }

    #[test]
    fn skips_near_duplicates() {
        let text = "Rust guarantees memory safety without a garbage collector. \
            Rust guarantees memory safety without a garbage collector! \
            The borrow checker enforces ownership rules for memory at compile time.";
        let out = summarize(&input(text, 2)).expect("summarizes");
        let picked: Vec<usize> = out.sentences.iter().map(|s| s.index).collect();
        assert_eq!(picked, [0, 2]);
    }

    #[test]
    fn short_texts_return_every_sentence() {
        let out = summarize(&input("Only one sentence here, nothing more.", 3)).expect("summarizes");
        assert_eq!(out.sentences.len(), 1);
        assert_eq!(out.summary, "Only one sentence here, nothing more.");
        assert_eq!(out.stats.compression_ratio, 1.0);
    }

    #[test]
    fn empty_input_gives_an_empty_summary() {
        for text in ["", "   \n\n  ", "..."] {
            let out = summarize(&input(text, 3)).expect("summarizes");
            assert!(out.sentences.is_empty() && out.summary.is_empty() && out.keywords.is_empty());
            assert_eq!(out.stats.sentence_count, 0);
        }
    }

    #[test]
    fn rejects_bad_counts_and_oversized_texts() {
        assert_eq!(summarize(&input("a.", 0)), Err(SummarizeError::BadCount(0)));
        assert_eq!(summarize(&input("a.", 101)), Err(SummarizeError::BadCount(101)));
        let big = "word ".repeat(MAX_TEXT_BYTES / 5 + 1);
        assert!(matches!(summarize(&input(&big, 3)), Err(SummarizeError::TooLong(_))));
    }

    #[test]
    fn summarizes_cjk_text() {
        let text = "東京は日本の首都です。東京の人口はとても多いです。猫が寝ています。東京には多くの会社があります。";
        let out = summarize(&input(text, 2)).expect("summarizes");
        assert!(out.sentences.iter().all(|s| s.text.contains("東京")), "{out:?}");
    }
}
