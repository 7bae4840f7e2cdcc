//! The JSON Schema: generated from the types, committed, and checked with a real validator.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{assert_matches_file, ralph, repo, yaml_files};

#[test]
fn the_committed_schemas_are_current() {
    for which in ["workflow", "config"] {
        let out = ralph(["schema", which]).expect(0);
        assert_matches_file(&out.stdout, &repo().join(format!("schemas/{which}.schema.json")));
    }
}

/// Validates YAML files with the `check-jsonschema` tool (python-jsonschema underneath), an
/// implementation independent of ours. Returns the files it rejected.
fn rejected_by_external_validator(schema: &str, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut rejected = Vec::new();
    for file in files {
        let status = Command::new("check-jsonschema")
            .arg("--schemafile")
            .arg(repo().join("schemas").join(schema))
            .arg(file)
            .output()
            .expect(
                "check-jsonschema is installed (the test script installs it: pip install check-jsonschema)",
            );
        if !status.status.success() {
            rejected.push(file.clone());
        }
    }
    rejected
}

#[test]
fn an_independent_validator_accepts_every_bundled_workflow() {
    let files = yaml_files("workflows");
    assert!(!files.is_empty());
    assert_eq!(rejected_by_external_validator("workflow.schema.json", &files), Vec::<PathBuf>::new());
    let seeds = yaml_files("engine/tests/cases/valid");
    assert_eq!(rejected_by_external_validator("config.schema.json", &seeds), Vec::<PathBuf>::new());
}

#[test]
fn an_independent_validator_rejects_the_unknown_keys_of_the_broken_cases() {
    // Every broken case whose expected diagnostics include an unknown key.
    let cases: Vec<PathBuf> = yaml_files("engine/tests/cases/invalid")
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(f.with_extension("stderr"))
                .is_ok_and(|s| s.contains("error[unknown-key]"))
        })
        .collect();
    assert!(cases.len() >= 3, "expected several unknown-key cases, found {}", cases.len());
    let rejected = rejected_by_external_validator("config.schema.json", &cases);
    assert_eq!(rejected, cases, "the schema must reject every unknown key");
}
