//! Retries, as the policies say: attempts and delays recorded, classes respected.

use crate::support::{project, ralph};

fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An agent that fails until its third run.
const FLAKY: &str = "    command: \"echo x >> runs; test $(wc -l < runs) -ge 3\"\n";

#[test]
fn an_agent_that_fails_twice_then_succeeds_finishes_with_its_attempts_and_delays_recorded() {
    for (kind, workflow) in [
        ("dag", "workflow:\n  nodes:\n    - id: build\n      agent: flaky\n      retry: quick\n"),
        ("state machine", "workflow:\n  states:\n    - id: build\n      agent: flaky\n      retry: quick\n"),
        ("saga", "workflow:\n  steps:\n    - name: build\n      action: flaky\n      retry: quick\n"),
    ] {
        let dir = project(&[(
            "w.yaml",
            &format!(
                "{workflow}retry:\n  quick:\n    strategy: linear\n    max_attempts: 4\n    delay: 100ms\nagents:\n  flaky:\n{FLAKY}"
            ),
        )]);
        let started = std::time::Instant::now();
        let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
        let events = events(&out.stdout);
        let retries: Vec<(u64, u64)> = events
            .iter()
            .filter(|e| e["event"] == "step_retrying")
            .map(|e| (e["attempt"].as_u64().unwrap(), e["delay_ms"].as_u64().unwrap()))
            .collect();
        assert_eq!(retries, [(1, 100), (2, 200)], "{kind}");
        let attempts: Vec<u64> = events
            .iter()
            .filter(|e| e["event"] == "step_started")
            .map(|e| e["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [1, 2, 3], "{kind}");
        assert!(started.elapsed() >= std::time::Duration::from_millis(300), "{kind}: the delays were waited");
        assert_eq!(events.last().unwrap()["status"], "succeeded", "{kind}");
    }
}

#[test]
fn max_attempts_counts_the_first_and_a_class_outside_retry_on_is_not_retried() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: build\n      agent: flaky\n    - id: slow\n      agent: sleeper\nretry:\n  default:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\n    retry_on: [ExitError]\nagents:\n  flaky:\n    command: \"echo x >> runs; test $(wc -l < runs) -ge 3\"\n  sleeper:\n    command: \"echo y >> slow-runs; sleep 5\"\n    timeout: 200ms\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let events = events(&out.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runs")).unwrap().lines().count(),
        2,
        "two attempts in all"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("slow-runs")).unwrap().lines().count(),
        1,
        "timeouts are not in retry_on"
    );
    let policy = events.iter().find(|e| e["event"] == "step_retrying").unwrap();
    assert_eq!(policy["policy"], "default");
    assert_eq!(policy["class"], "nonzero_exit");
}
