//! `ralph-loop traces`: a run's span tree, read from its journal, named and attributed as the
//! OpenTelemetry GenAI and CI/CD conventions say.

use crate::support::{path_with, project, ralph};

#[test]
fn a_runs_span_tree_has_the_genai_and_cicd_attributes_and_its_decisions() {
    let yaml = "workflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: test\n      agent: flaky\n      depends_on: build\n      retry: quick\nretry:\n  quick:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\nagents:\n  builder:\n    backend: claude\n    model: claude-sonnet-4\n    prompt: PROMPT-BUILDER.md\n  flaky:\n    command: \"echo x >> runs; test $(wc -l < runs) -ge 2\"\n";
    let dir = project(&[("w.yaml", yaml), ("bin/claude", crate::support::CLAUDE_CENT)]);
    crate::support::executable(&dir.path().join("bin/claude"));
    let path = path_with(&dir.path().join("bin"));
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).env("PATH", &path).expect(0);

    let out = ralph(["traces", "--json"]).current_dir(dir.path()).expect(0);
    let root: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(root["name"], "invoke_workflow w");
    assert_eq!(root["status"], "ok");
    let attributes = &root["attributes"];
    assert_eq!(attributes["gen_ai.workflow.name"], "w");
    assert_eq!(attributes["cicd.pipeline.name"], "w");
    assert_eq!(attributes["cicd.pipeline.result"], "success");
    assert!(attributes["cicd.pipeline.run.id"].as_str().unwrap().len() > 10);
    let iteration = &root["children"][0];
    assert_eq!(iteration["name"], "iteration 1");
    let steps = iteration["children"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["invoke_agent builder", "invoke_agent flaky", "invoke_agent flaky"]);
    let build = &steps[0]["attributes"];
    assert_eq!(build["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(build["gen_ai.agent.name"], "builder");
    assert_eq!(build["gen_ai.provider.name"], "anthropic");
    assert_eq!(build["gen_ai.request.model"], "claude-sonnet-4");
    assert_eq!(build["gen_ai.usage.input_tokens"], 1000);
    assert_eq!(build["gen_ai.usage.output_tokens"], 100);
    // The first try of `test` failed and was retried: an error span with a retry event.
    assert_eq!(steps[1]["status"], "error");
    assert_eq!(steps[1]["attributes"]["error.type"], "nonzero_exit");
    assert!(steps[1]["events"].as_array().unwrap().iter().any(|e| e["name"] == "retry"), "{}", steps[1]);
    assert_eq!(steps[2]["status"], "ok");
    assert_eq!(steps[2]["attributes"]["ralph.attempt"], 2);
    // No content: the prompt and the output are not in the spans.
    assert!(!out.stdout.contains("Perform the"), "{}", out.stdout);

    let text = ralph(["traces"]).current_dir(dir.path()).expect(0).stdout;
    assert!(text.starts_with("invoke_workflow w  "), "{text}");
    assert!(text.contains("└─ iteration 1"), "{text}");
    assert!(text.contains("invoke_agent builder") && text.contains("1100 tokens"), "{text}");
    assert!(text.contains("· retry: attempt 2 in 10ms"), "{text}");
}
