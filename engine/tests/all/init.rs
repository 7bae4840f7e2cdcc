//! `ralph-loop init`: every template makes a project that validates and runs.

use crate::support::ralph;

fn init(dir: &std::path::Path, template: &str, extra: &[&str]) -> crate::support::Output {
    ralph(["init", "--template", template]).args_from(extra).current_dir(dir).expect(0)
}

#[test]
fn every_template_validates_strictly_and_a_second_init_keeps_the_files() {
    for template in ["basic", "advanced", "dag", "saga"] {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path(), template, &["--with-plugins", "--with-dashboard"]);
        for file in ["ralph.yaml", "TODO.md", "AGENTS.md", "SPEC.md", "PROMPT.md", ".gitignore"] {
            assert!(dir.path().join(file).is_file(), "{template}: {file}");
        }
        assert!(dir.path().join("plugins").is_dir() && dir.path().join("monitoring").is_dir());
        let workflow =
            std::fs::read_dir(dir.path().join("workflows")).unwrap().next().unwrap().unwrap().path();
        ralph(["workflow", "validate", "--strict", "--deny-warnings"])
            .arg(&workflow)
            .current_dir(dir.path())
            .expect(0);
        std::fs::write(dir.path().join("TODO.md"), "mine\n").unwrap();
        let again = init(dir.path(), template, &[]);
        assert!(again.stderr.contains("kept    TODO.md"), "{}", again.stderr);
        assert_eq!(std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(), "mine\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = ralph(["init", "--template", "nope"]).current_dir(dir.path()).expect(2);
    assert!(out.stderr.contains("choose one of basic, advanced, dag, saga"), "{}", out.stderr);
}

#[test]
fn the_saga_template_runs_its_scripts_and_an_ai_template_names_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "saga", &[]);
    // `loop.workflow` in the template's ralph.yaml names the workflow: no flag needed.
    ralph(["loop"]).current_dir(dir.path()).expect(0);
    // One pass of the saga per task of the template's TODO.md, each checked off.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("saga.log")).unwrap(),
        "schema up\ndata apply\ndeploy --env production\n".repeat(2)
    );
    let todo = std::fs::read_to_string(dir.path().join("TODO.md")).unwrap();
    assert_eq!(todo.matches("- [x] ").count(), 2, "{todo}");
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "basic", &[]);
    // No agent program on PATH: the environment's failure (4), not the workflow's.
    let out = ralph(["loop"]).current_dir(dir.path()).env("PATH", "/usr/bin:/bin").expect(4);
    assert!(
        out.stderr.contains("needs an AI backend") && out.stderr.contains("npm install -g"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join(".ralph").exists(), "nothing is recorded for a run that cannot start");
}

#[test]
fn the_basic_template_runs_with_an_agent_cli_installed() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "basic", &[]);
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("claude"), crate::seeds::FAKE_CLAUDE).unwrap();
    crate::support::executable(&bin.join("claude"));
    let path = crate::support::path_with(&bin);
    let out = ralph(["loop", "--json"]).current_dir(dir.path()).env("PATH", path).expect(0);
    assert!(out.stdout.contains("\"status\":\"succeeded\""), "{}", out.stdout);
}
