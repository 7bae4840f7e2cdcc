//! The data-driven language cases: `engine/tests/cases/{valid,invalid}/*.yaml`, each next to a
//! `.stderr` file with the exact diagnostics expected. A new case is a new pair of files
//! (`RALPH_BLESS=1` writes the `.stderr` of a new case; read it before committing it).

use std::path::{Path, PathBuf};

use crate::support::{assert_matches_file, ralph, repo, yaml_files};

fn cases(kind: &str) -> Vec<PathBuf> {
    yaml_files(&format!("engine/tests/cases/{kind}"))
}

fn check(case: &Path, want_code: i32) -> Result<(), String> {
    let dir = case.parent().expect("case has a directory");
    let name = case.file_name().expect("case has a name");
    let out = ralph(["workflow", "validate"]).current_dir(dir).arg(name).output();
    if out.code != want_code {
        return Err(format!("{}: exit {} (want {want_code})\n{}", case.display(), out.code, out.stderr));
    }
    let expected = case.with_extension("stderr");
    std::panic::catch_unwind(|| assert_matches_file(&out.stderr, &expected)).map_err(|e| {
        e.downcast_ref::<String>().cloned().unwrap_or_else(|| format!("{}: stderr differs", case.display()))
    })
}

fn run_all(kind: &str, code: i32, minimum: usize) {
    let files = cases(kind);
    assert!(files.len() >= minimum, "expected at least {minimum} {kind} cases, found {}", files.len());
    let failures: Vec<String> = files.iter().filter_map(|c| check(c, code).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} {kind} cases failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_seed_example_and_valid_case_validates() {
    run_all("valid", 0, 19);
}

#[test]
fn every_broken_case_reports_exactly_its_expected_diagnostics() {
    run_all("invalid", 3, 30);
}

#[test]
fn every_diagnostic_of_a_broken_case_has_a_location_and_a_path() {
    for case in cases("invalid") {
        let out = ralph(["workflow", "validate", "--format", "json"])
            .current_dir(case.parent().unwrap())
            .arg(case.file_name().unwrap())
            .output();
        let report: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.display(), out.stdout));
        for d in report["files"][0]["diagnostics"].as_array().expect("diagnostics") {
            assert!(
                d["line"].as_u64().is_some() && d["column"].as_u64().is_some(),
                "{}: no position in {d}",
                case.display()
            );
            let structural = [
                "yaml-syntax",
                "duplicate-key",
                "empty-file",
                "yaml-too-deep",
                "yaml-multiple-documents",
                "invalid-utf8",
                "yaml-too-large",
                "yaml-complex-key",
            ];
            if !structural.contains(&d["code"].as_str().unwrap_or_default()) {
                assert!(d["path"].is_string(), "{}: no field path in {d}", case.display());
            }
        }
    }
}

#[test]
fn the_bundled_workflows_validate() {
    let files = yaml_files("workflows");
    assert!(files.len() >= 6, "workflows/ should hold at least 6 workflows");
    let mut args = vec!["workflow".to_owned(), "validate".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let out = ralph(args).current_dir(repo()).expect(0);
    assert!(!out.stderr.contains("error["), "{}", out.stderr);
}
