//! Property tests: random and mutated YAML never panics the parser, the checks or the plan.
//! Bounded for CI by `PROPTEST_CASES` (default 256 per property).

use proptest::prelude::*;
use ralph_loop::source::SourceFile;
use ralph_loop::workflow::load::load_source;
use ralph_loop::workflow::schema::SchemaKind;
use ralph_loop::workflow::validate::{Options, validate_loaded};

use crate::support::repo;

fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(load_seeds)
}

fn load_seeds() -> Vec<String> {
    let mut texts = Vec::new();
    for dir in ["workflows", "engine/tests/cases/valid", "engine/tests/cases/invalid"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                texts.push(std::fs::read_to_string(path).unwrap_or_default());
            }
        }
    }
    texts
}

fn check_text(text: &str) {
    let options = Options { project_dir: std::env::temp_dir(), ..Options::default() };
    let loaded = load_source(SourceFile::new("fuzz.yaml", text.to_owned()), SchemaKind::Config);
    let validation = validate_loaded(loaded, &options).expect("no file is read");
    for d in &validation.diagnostics {
        let _ = d.render(validation.source_of(d), &ralph_loop::diagnostic::Styles::plain());
    }
    if let Some(plan) = &validation.plan {
        let _ = ralph_loop::plan::render_mermaid(plan);
        let _ = ralph_loop::plan::render_dot(plan, "fuzz");
    }
}

/// A mutation of a text: delete, duplicate or insert a chunk, or swap bytes for YAML-ish tokens.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let tokens = prop::sample::select(vec![
        ":",
        "- ",
        "  ",
        "\n",
        "[",
        "]",
        "{",
        "}",
        "&a ",
        "*a",
        "<<: *a\n",
        "'",
        "\"",
        "#",
        "|\n",
        "\t",
        "~",
        "!!str ",
        "workflow:",
        "states:",
        "- id: x\n",
        "depends_on: [",
        "condition: \"{{\"",
        "${",
        "5 parsecs",
        "---\n",
        "\u{0}",
        "é",
    ]);
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), tokens).prop_map(|(a, t)| Mutation::Insert(a, t)),
        (any::<usize>(), 0usize..200).prop_map(|(a, n)| Mutation::Duplicate(a, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Insert(at, token) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, token.bytes());
            }
            Mutation::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                let chunk: Vec<u8> = bytes.get(at..end).map(<[u8]>::to_vec).unwrap_or_default();
                bytes.splice(at..at, chunk);
            }
            Mutation::Truncate(at) => bytes.truncate(at % len),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_workflows_never_panic(index in any::<prop::sample::Index>(), mutations in prop::collection::vec(mutation(), 1..8)) {
        let seeds = seeds();
        let text = apply(index.get::<String>(seeds), &mutations);
        check_text(&text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        check_text(&text);
    }

    #[test]
    fn random_yaml_shaped_text_never_panics(lines in prop::collection::vec("( {0,6})(- )?[a-z_]{0,12}(: )?([a-z0-9_\\[\\]{},*&!'\"]{0,12})", 0..40)) {
        check_text(&lines.join("\n"));
    }
}
