//! Learnings: what agents found out in one task that later tasks should know, kept per project
//! in `.ralph/learnings.json`, deduplicated, and ranked against a task by BM25.
//!
//! The scoring and the deduplication are pure (no clock, no files); [`load`] and [`save`] are
//! the only I/O, and the runner and the `learnings` verb are their only callers.
//!
//! # Tokenization
//!
//! Text is lowercased and split on every character that is not alphanumeric (so `utf8`,
//! `parser_rs` → `parser`, `rs`; `src/parser.rs` → `src`, `parser`, `rs`). Tokens of one
//! character, pure numbers and the [`STOPWORDS`] are dropped. There is no stemming: `parser` and
//! `parsers` are different terms.
//!
//! # Relevance
//!
//! A task's query is its title, description, acceptance criteria and the files it names. Each
//! learning is a document; its score is Okapi BM25 (`k1` = 1.2, `b` = 0.75) with the
//! non-negative idf `ln(1 + (N − n + 0.5) / (n + 0.5))`. A learning that shares no term with the
//! query scores 0 and is never given; of the rest, the [`MOST_RELEVANT`] highest are, ties
//! broken by the learning seen more often, then by id.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How many learnings a packet carries at most.
pub const MOST_RELEVANT: usize = 5;
/// How many learnings a project keeps at most: past it, the least recently seen is dropped.
pub const MAX_LEARNINGS: usize = 1000;
/// The longest learning kept, in characters (a longer one is cut).
pub const MAX_TEXT_CHARS: usize = 500;
/// How many learnings one step may report (the rest are ignored).
pub const MAX_PER_STEP: usize = 20;
/// The largest `learnings.json` read.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words too common to say what a text is about.
pub const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "but", "by", "can", "do", "does", "each", "for", "from", "has", "have", "how", "if", "in", "into", "is",
    "it", "its", "may", "more", "must", "need", "needs", "no", "not", "of", "on", "one", "or", "other",
    "should", "so", "some", "than", "that", "the", "their", "then", "there", "these", "this", "to", "too",
    "use", "used", "uses", "was", "we", "were", "when", "which", "while", "will", "with", "you", "your",
];

/// Where a learning was first reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The run.
    pub run: String,
    /// The step.
    pub step: String,
    /// The task, when the step worked on one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

/// One learning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learning {
    /// Its id (`L1`, `L2`, …), never reused within a project.
    pub id: String,
    /// What was learnt.
    pub text: String,
    /// Where it was first reported.
    pub source: Source,
    /// When it was first reported.
    pub first_seen: String,
    /// When it was last reported.
    pub last_seen: String,
    /// How many times it was reported.
    pub count: u32,
}

/// A project's learnings, as `.ralph/learnings.json` holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learnings {
    /// The number of the last id given.
    #[serde(default)]
    pub last_id: u64,
    /// The learnings, in the order first reported.
    #[serde(default)]
    pub learnings: Vec<Learning>,
}

/// Lowercase alphanumeric words, less one-character words, numbers and stopwords.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1 && !w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// The text two learnings are the same by: lowercased, words alone, single-spaced (so case,
/// punctuation and spacing do not make a new learning).
pub fn normalized(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A learning as given: trimmed, a leading `- ` or `* ` bullet dropped, whitespace runs made
/// single spaces, cut at [`MAX_TEXT_CHARS`]. `None` when nothing is left.
pub fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix("- ").or_else(|| text.strip_prefix("* ")).unwrap_or(text);
    let text: String =
        text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_TEXT_CHARS).collect();
    (!normalized(&text).is_empty()).then_some(text)
}

/// The learnings in the text an agent appended to `.ralph/learnings.md`: one per line that
/// starts with `- ` or `* ` (other lines, such as headings, are ignored).
pub fn from_markdown(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("- ") || l.starts_with("* "))
        .filter_map(clean)
        .take(MAX_PER_STEP)
        .collect()
}

impl Learnings {
    /// Records a learning reported `at` by `source`: a text already known (by
    /// [`normalized`] text) counts once more and is seen again; a new one gets the next id.
    /// Returns the learning's id, or `None` when the text is empty.
    pub fn record(&mut self, text: &str, source: Source, at: &str) -> Option<String> {
        let text = clean(text)?;
        let key = normalized(&text);
        if let Some(known) = self.learnings.iter_mut().find(|l| normalized(&l.text) == key) {
            known.count = known.count.saturating_add(1);
            at.clone_into(&mut known.last_seen);
            return Some(known.id.clone());
        }
        self.last_id += 1;
        let id = format!("L{}", self.last_id);
        self.learnings.push(Learning {
            id: id.clone(),
            text,
            source,
            first_seen: at.to_owned(),
            last_seen: at.to_owned(),
            count: 1,
        });
        if self.learnings.len() > MAX_LEARNINGS {
            // The least recently seen goes (the first of them, when several were seen alike).
            if let Some(oldest) = self
                .learnings
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.last_seen.cmp(&b.1.last_seen))
                .map(|(i, _)| i)
            {
                self.learnings.remove(oldest);
            }
        }
        Some(id)
    }

    /// The learning with `id`.
    pub fn get(&self, id: &str) -> Option<&Learning> {
        self.learnings.iter().find(|l| l.id == id)
    }

    /// Removes the learning with `id`; whether there was one.
    pub fn forget(&mut self, id: &str) -> bool {
        let before = self.learnings.len();
        self.learnings.retain(|l| l.id != id);
        self.learnings.len() != before
    }

    /// The BM25 score of every learning against `query`, in store order.
    pub fn scores(&self, query: &str) -> Vec<f64> {
        let docs: Vec<Vec<String>> = self.learnings.iter().map(|l| tokens(&l.text)).collect();
        bm25(&docs, &tokens(query))
    }

    /// The [`MOST_RELEVANT`] learnings most relevant to `query`, best first; only those that
    /// share a term with it (score > 0).
    pub fn relevant(&self, query: &str) -> Vec<&Learning> {
        let scores = self.scores(query);
        let mut ranked: Vec<(f64, &Learning)> =
            scores.into_iter().zip(&self.learnings).filter(|(score, _)| *score > 0.0).collect();
        ranked.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(b.1.count.cmp(&a.1.count))
                .then(id_number(&a.1.id).cmp(&id_number(&b.1.id)))
        });
        ranked.into_iter().take(MOST_RELEVANT).map(|(_, l)| l).collect()
    }

    /// The ids, for "did you mean".
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.learnings.iter().map(|l| l.id.as_str())
    }
}

fn id_number(id: &str) -> u64 {
    id.trim_start_matches('L').parse().unwrap_or(u64::MAX)
}

/// Okapi BM25 of each document against the query terms (each distinct query term counted once).
pub fn bm25(docs: &[Vec<String>], query: &[String]) -> Vec<f64> {
    let n = docs.len() as f64;
    if docs.is_empty() {
        return Vec::new();
    }
    let average = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let terms: BTreeSet<&str> = query.iter().map(String::as_str).collect();
    let mut containing: BTreeMap<&str, f64> = BTreeMap::new();
    for doc in docs {
        let distinct: BTreeSet<&str> = doc.iter().map(String::as_str).collect();
        for term in distinct.intersection(&terms) {
            *containing.entry(term).or_default() += 1.0;
        }
    }
    docs.iter()
        .map(|doc| {
            let length = doc.len() as f64;
            terms
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|t| t == term).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = containing.get(term).copied().unwrap_or_default();
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    let norm = if average > 0.0 { length / average } else { 1.0 };
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * norm))
                })
                .sum()
        })
        .collect()
}

/// The query of a task: its title, description, acceptance criteria and the files it names.
pub fn query_of(title: &str, description: &str, criteria: &[String], files: &[String]) -> String {
    let mut query = format!("{title}\n{description}");
    for part in criteria.iter().chain(files) {
        query.push('\n');
        query.push_str(part);
    }
    query
}

/// Where a project keeps its learnings.
pub fn path(project_dir: &Path) -> PathBuf {
    project_dir.join(".ralph").join("learnings.json")
}

/// Where agents may append learnings during a step.
pub fn markdown_path(project_dir: &Path) -> PathBuf {
    project_dir.join(".ralph").join("learnings.md")
}

/// Reads a project's learnings; none when the file does not exist.
pub fn load(path: &Path) -> io::Result<Learnings> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Learnings::default()),
        Err(e) => return Err(e),
        Ok(meta) if meta.len() > MAX_FILE_BYTES => {
            return Err(io::Error::other(format!("`{}` is over {MAX_FILE_BYTES} bytes", path.display())));
        }
        Ok(_) => {}
    }
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidData, format!("`{}` is not valid: {e}", path.display()))
    })
}

/// Writes a project's learnings atomically.
pub fn save(path: &Path, learnings: &Learnings) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = serde_json::to_string_pretty(learnings).map_err(io::Error::other)?;
    text.push('\n');
    crate::atomic_file::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn source(task: &str) -> Source {
        Source { run: "r1".into(), step: "build".into(), task: Some(task.into()) }
    }

    fn store(texts: &[&str]) -> Learnings {
        let mut store = Learnings::default();
        for (i, text) in texts.iter().enumerate() {
            store.record(text, source(&format!("t{i}")), "2026-01-01T00:00:00Z");
        }
        store
    }

    #[test]
    fn tokens_drop_case_punctuation_stopwords_and_numbers() {
        assert_eq!(
            tokens("The parser module needs UTF8 normalization!"),
            ["parser", "module", "utf8", "normalization"]
        );
        assert_eq!(tokens("src/parser.rs line 42 a"), ["src", "parser", "rs", "line"]);
    }

    #[test]
    fn bm25_worked_example() {
        // Three documents; the query `parser utf8`. `parser` is in two of them (idf
        // ln(1 + 1.5/2.5) = 0.4700), `utf8` in one (idf ln(1 + 2.5/1.5) = 0.9808). The average
        // length is 3; each document has 3 terms, so the length norm is 1 and a term found once
        // scores idf × 2.2 / 2.2 = idf.
        let docs: Vec<Vec<String>> =
            [["parser", "needs", "utf8"], ["parser", "is", "slow"], ["ci", "is", "flaky"]]
                .iter()
                .map(|d| d.iter().map(|s| (*s).to_owned()).collect())
                .collect();
        let scores = bm25(&docs, &["parser".to_owned(), "utf8".to_owned()]);
        let parser = (1.0f64 + 1.5 / 2.5).ln();
        let utf8 = (1.0f64 + 2.5 / 1.5).ln();
        assert!((scores[0] - (parser + utf8)).abs() < 1e-9, "{scores:?}");
        assert!((scores[1] - parser).abs() < 1e-9, "{scores:?}");
        assert_eq!(scores[2], 0.0);
    }

    #[test]
    fn relevant_ranks_by_score_and_leaves_out_unrelated() {
        let store = store(&[
            "The CI runner is flaky on Mondays",
            "The parser module needs utf8 normalization",
            "Parser errors carry spans",
        ]);
        let found: Vec<&str> = store
            .relevant("Fix the parser: accept utf8 input in src/parser.rs")
            .iter()
            .map(|l| l.id.as_str())
            .collect();
        assert_eq!(found, ["L2", "L3"]);
        assert!(store.relevant("Write the README install section").is_empty());
        // A stopword shared is not a shared term.
        assert!(store.relevant("the on is").is_empty());
    }

    #[test]
    fn relevant_gives_at_most_five() {
        let texts: Vec<String> =
            (0..8).map(|i| format!("parser fact number {}", "x".repeat(i + 2))).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert_eq!(store(&texts).relevant("parser").len(), MOST_RELEVANT);
    }

    #[test]
    fn a_repeat_counts_instead_of_adding() {
        let mut store = store(&["The parser needs utf8 normalization."]);
        let id =
            store.record("  the PARSER needs UTF8   normalization ", source("t9"), "2026-01-02T00:00:00Z");
        assert_eq!(id.as_deref(), Some("L1"));
        assert_eq!(store.learnings.len(), 1);
        let kept = &store.learnings[0];
        assert_eq!((kept.count, kept.last_seen.as_str()), (2, "2026-01-02T00:00:00Z"));
        assert_eq!(kept.source.task.as_deref(), Some("t0"), "the source stays the first reporter");
        assert_eq!(kept.text, "The parser needs utf8 normalization.");
        assert_eq!(store.record(" - ", source("t1"), "x"), None);
    }

    #[test]
    fn forgotten_ids_are_not_reused() {
        let mut store = store(&["one fact", "two facts"]);
        assert!(store.forget("L2"));
        assert!(!store.forget("L2"));
        assert_eq!(store.record("three facts", source("t"), "x").as_deref(), Some("L3"));
    }

    #[test]
    fn markdown_bullets_are_learnings() {
        let text =
            "# Learnings\n- The parser needs utf8.\n* Tests run with `cargo nextest`\nplain line\n-  \n";
        assert_eq!(from_markdown(text), ["The parser needs utf8.", "Tests run with `cargo nextest`"]);
    }

    #[test]
    fn the_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        assert_eq!(load(&file).unwrap(), Learnings::default());
        let store = store(&["parser needs utf8"]);
        save(&file, &store).unwrap();
        assert_eq!(load(&file).unwrap(), store);
    }

    fn word() -> impl Strategy<Value = String> {
        proptest::sample::select(vec!["parser", "utf8", "lexer", "cache", "retry", "docs", "spans", "budget"])
            .prop_map(str::to_owned)
    }

    proptest! {
        #[test]
        fn ranking_is_deterministic_and_unshared_terms_score_zero(
            docs in proptest::collection::vec(proptest::collection::vec(word(), 1..6), 1..12),
            query in proptest::collection::vec(word(), 1..4),
        ) {
            let texts: Vec<String> = docs.iter().map(|d| d.join(" ")).collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let store = store(&texts);
            let query = query.join(" ");
            let first: Vec<String> = store.relevant(&query).iter().map(|l| l.id.clone()).collect();
            let again: Vec<String> = self::store(&texts).relevant(&query).iter().map(|l| l.id.clone()).collect();
            prop_assert_eq!(&first, &again);
            let wanted: BTreeSet<String> = tokens(&query).into_iter().collect();
            for (score, learning) in store.scores(&query).iter().zip(&store.learnings) {
                let shares = tokens(&learning.text).iter().any(|t| wanted.contains(t));
                prop_assert_eq!(*score > 0.0, shares, "{} against {}", learning.text, query);
            }
            for id in &first {
                let learning = store.get(id).unwrap();
                prop_assert!(tokens(&learning.text).iter().any(|t| wanted.contains(t)));
            }
        }
    }
}
