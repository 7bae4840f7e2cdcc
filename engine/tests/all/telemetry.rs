//! Observability end to end: a run exported over OTLP (gRPC and HTTP) to a real OTLP receiver
//! on 127.0.0.1 (rotel, installed by the test command), `/metrics` and `ralph-loop metrics`
//! checked by `promtool`, and planted secrets looked for in everything a run leaves behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{executable, path_with, plugin_wasm, project, ralph};

/// The rotel agent the PyPI package `rotel` ships.
fn rotel() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))"])
        .output()
        .expect("python3 runs");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.is_file(),
        "the OTLP receiver is not installed: `pip install --pre rotel` (scripts/test.sh does)"
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A rotel agent printing what it receives (the collector's debug format) to a file.
struct Receiver {
    child: Child,
    out: PathBuf,
    grpc: u16,
    http: u16,
}

impl Receiver {
    fn start(dir: &Path) -> Receiver {
        let (grpc, http) = (free_port(), free_port());
        let out = dir.join("received.txt");
        let file = std::fs::File::create(&out).unwrap();
        let child = Command::new(rotel())
            .args(["start", "--exporter", "blackhole", "--debug-log", "traces", "--debug-log", "metrics"])
            .args(["--debug-log-verbosity", "detailed"])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let receiver = Receiver { child, out, grpc, http };
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in [grpc, http] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "rotel did not listen: {}", receiver.text());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        receiver
    }

    fn text(&self) -> String {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // Whatever colours its log lines carry.
        let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
        ansi.replace_all(&text, "").into_owned()
    }

    /// What it received, once every needle is in it (the exporters send in the background).
    fn received(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            assert!(Instant::now() < deadline, "the receiver never got {needles:?}:\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A span as the receiver printed it.
#[derive(Debug, Default, Clone)]
struct Received {
    trace: String,
    parent: String,
    id: String,
    name: String,
    status: String,
    attributes: BTreeMap<String, String>,
    events: Vec<String>,
}

fn field(line: &str, name: &str) -> Option<String> {
    let rest = line.trim().strip_prefix(name)?.trim_start();
    Some(rest.strip_prefix(':')?.trim().to_owned())
}

/// The spans of the receiver's output.
fn spans(text: &str) -> Vec<Received> {
    let mut spans: Vec<Received> = Vec::new();
    let (mut in_span, mut in_events) = (false, false);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Span #") {
            spans.push(Received::default());
            (in_span, in_events) = (true, false);
            continue;
        }
        // A new resource or scope (the metrics that follow, say) ends the span.
        if trimmed.starts_with("Resource") || trimmed.starts_with("Scope") || trimmed.starts_with("Metric #")
        {
            (in_span, in_events) = (false, false);
        }
        let Some(span) = spans.last_mut().filter(|_| in_span) else { continue };
        if trimmed == "Events:" {
            in_events = true;
        } else if let Some(v) = field(line, "Trace ID") {
            span.trace = v;
        } else if let Some(v) = field(line, "Parent ID") {
            span.parent = v;
        } else if let Some(v) = field(line, "ID") {
            span.id = v;
        } else if let Some(v) = field(line, "Name").filter(|_| !trimmed.starts_with("->")) {
            span.name = v;
        } else if let Some(v) = field(line, "Status code") {
            span.status = v;
        } else if let Some(name) = trimmed.strip_prefix("-> Name: ").filter(|_| in_events) {
            span.events.push(name.to_owned());
        } else if let Some(kv) = trimmed.strip_prefix("-> ").filter(|_| !in_events) {
            if let Some((key, value)) = kv.split_once(": ") {
                // `Str(x)`, `Int(1)`, `Double(0.5)`: the value inside.
                let value = value.split_once('(').map_or(value, |(_, v)| v.strip_suffix(')').unwrap_or(v));
                span.attributes.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    spans.retain(|s| !s.name.is_empty());
    spans
}

const WORKFLOW: &str = "workflow:\n  nodes:\n    - id: build\n      agent: builder\n    - id: test\n      agent: flaky\n      depends_on: build\n      retry: quick\nretry:\n  quick:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\nagents:\n  builder:\n    backend: claude\n    model: claude-sonnet-4\n    prompt: PROMPT-BUILDER.md\n  flaky:\n    command: \"echo $TRACEPARENT >> traceparents; echo x >> runs; test $(wc -l < runs) -ge 2\"\nbudget:\n  max_cost_usd: 100\n  daily_cost_usd: 50\n  max_tokens: 10000000\nplugins:\n  - name: budget-guard\n    entry: plugins/budget-guard.wasm\n    capabilities: [veto]\n    config:\n      max_cost_usd: 100\n";

/// A project running `yaml` (see [`WORKFLOW`]: a fake Claude Code, a step that fails once, a
/// plugin); returns it and the `PATH` that finds the fake.
fn a_project(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = project(&[("w.yaml", yaml), ("bin/claude", crate::support::CLAUDE_CENT)]);
    executable(&dir.path().join("bin/claude"));
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::copy(plugin_wasm("budget-guard"), dir.path().join("plugins/budget-guard.wasm")).unwrap();
    let path = path_with(&dir.path().join("bin"));
    (dir, path)
}

fn assert_full_tree(spans: &[Received], traceparents: &str, how: &str) {
    let named = |name: &str| spans.iter().filter(|s| s.name == name).collect::<Vec<_>>();
    let roots = named("invoke_workflow w");
    assert_eq!(roots.len(), 1, "{how}: one run span in {spans:#?}");
    let root = roots[0];
    assert!(root.parent.is_empty(), "{how}: the run is the root");
    for (key, value) in [
        ("gen_ai.operation.name", "invoke_workflow"),
        ("gen_ai.workflow.name", "w"),
        ("cicd.pipeline.name", "w"),
        ("cicd.pipeline.result", "success"),
    ] {
        assert_eq!(root.attributes.get(key).map(String::as_str), Some(value), "{how}: {key} of {root:#?}");
    }
    assert!(root.attributes["cicd.pipeline.run.id"].len() > 10, "{how}");
    let iteration = named("iteration 1");
    assert_eq!(iteration.len(), 1, "{how}");
    let iteration = iteration[0];
    assert_eq!(iteration.parent, root.id, "{how}");
    assert!(iteration.events.contains(&"retry".to_owned()), "{how}: the retry decision: {iteration:#?}");

    let build = named("invoke_agent builder");
    assert_eq!(build.len(), 1, "{how}");
    let build = build[0];
    assert_eq!(build.parent, iteration.id, "{how}");
    for (key, value) in [
        ("gen_ai.operation.name", "invoke_agent"),
        ("gen_ai.agent.name", "builder"),
        ("gen_ai.provider.name", "anthropic"),
        ("gen_ai.request.model", "claude-sonnet-4"),
        ("gen_ai.usage.input_tokens", "1000"),
        ("gen_ai.usage.output_tokens", "100"),
    ] {
        assert_eq!(build.attributes.get(key).map(String::as_str), Some(value), "{how}: {key} of {build:#?}");
    }
    let tests = named("invoke_agent flaky");
    assert_eq!(tests.len(), 2, "{how}: one span per attempt");
    assert!(tests.iter().all(|t| t.parent == iteration.id && t.trace == root.trace), "{how}");
    assert!(
        tests.iter().any(|t| t.attributes.get("error.type").map(String::as_str) == Some("nonzero_exit")),
        "{how}: {tests:#?}"
    );
    // The plugin's hook calls are spans under the step they were about.
    let hooks = named("plugin budget-guard agent.on_invoke");
    assert!(!hooks.is_empty(), "{how}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    assert!(hooks.iter().all(|h| h.parent == build.id || tests.iter().any(|t| t.id == h.parent)), "{how}");
    // Each agent process got its step's span as TRACEPARENT.
    let parents: Vec<&str> = traceparents.lines().collect();
    assert_eq!(parents.len(), 2, "{how}: {traceparents}");
    for (parent, test) in parents.iter().zip(&tests) {
        let parts: Vec<&str> = parent.split('-').collect();
        assert_eq!(parts.len(), 4, "{parent}");
        assert_eq!((parts[0], parts[1], parts[3]), ("00", root.trace.as_str(), "01"), "{how}");
        assert!(tests.iter().any(|t| t.id == parts[2]), "{how}: {parent} names a step span ({})", test.id);
    }
}

#[test]
fn a_run_seen_by_an_otlp_receiver_has_its_full_span_tree_over_grpc_and_over_http() {
    // gRPC, from the standard variables.
    let (dir, path) = a_project(WORKFLOW);
    let receiver = Receiver::start(dir.path());
    ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", receiver.grpc))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .expect(0);
    let text =
        receiver.received(&["invoke_workflow w", "gen_ai.client.token.usage", "ralph.plugin.hook.duration"]);
    let traceparents = std::fs::read_to_string(dir.path().join("traceparents")).unwrap();
    assert_full_tree(&spans(&text), &traceparents, "grpc");
    for metric in ["gen_ai.client.operation.duration", "cicd.pipeline.run.duration", "ralph.step.outcomes"] {
        assert!(text.contains(&format!("Name: {metric}")), "grpc: {metric} missing");
    }
    assert!(text.contains("service.name: Str(ralph-loop)"), "grpc: the resource names the service");
    // The packet carries the run's trace id.
    let root = spans(&text).into_iter().find(|s| s.name == "invoke_workflow w").unwrap();
    let packets = std::fs::read_dir(dir.path().join(".ralph/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("packets");
    let packet = std::fs::read_dir(&packets).unwrap().next().unwrap().unwrap().path();
    let packet: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(packet).unwrap()).unwrap();
    assert_eq!(packet["trace_id"], root.trace.as_str());
    // The log file's lines carry the same trace.
    let log = std::fs::read_to_string(dir.path().join(".ralph/logs/ralph.log")).unwrap();
    assert!(log.contains(&format!("trace_id={}", root.trace)), "{log}");
    drop(receiver);

    // HTTP, from ralph.yaml.
    let (dir, path) = a_project(WORKFLOW);
    let receiver = Receiver::start(dir.path());
    let exporter = format!(
        "observability:\n  traces:\n    enabled: true\n  exporters:\n    otlp:\n      endpoint: http://127.0.0.1:{}\n      protocol: http/protobuf\n",
        receiver.http
    );
    std::fs::write(dir.path().join("ralph.yaml"), exporter).unwrap();
    ralph(["loop", "--workflow", "w.yaml", "--log-format", "json"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .expect(0);
    let text = receiver.received(&["invoke_workflow w", "gen_ai.client.token.usage"]);
    let traceparents = std::fs::read_to_string(dir.path().join("traceparents")).unwrap();
    assert_full_tree(&spans(&text), &traceparents, "http");
    let root = spans(&text).into_iter().find(|s| s.name == "invoke_workflow w").unwrap();
    let log = std::fs::read_to_string(dir.path().join(".ralph/logs/ralph.log")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let finished: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "step_finished").collect();
    assert_eq!(finished.len(), 3, "{log}");
    for line in finished {
        assert_eq!(line["trace_id"], root.trace.as_str());
        assert_eq!(line["span_id"].as_str().unwrap().len(), 16);
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(line["level"] == "INFO" || line["level"] == "WARN");
    }
}

#[test]
fn a_collector_that_is_down_does_not_fail_the_run() {
    let (dir, path) = a_project(WORKFLOW);
    // Nothing listens there.
    let port = free_port();
    let out = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .expect(0);
    assert!(out.stderr.contains("Succeeded"), "{}", out.stderr);
    // Said once, at the end.
    let warning = format!("could not be sent to http://127.0.0.1:{port}");
    assert_eq!(out.stderr.matches(&warning).count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("the run was not affected"), "{}", out.stderr);
}

#[test]
fn a_collector_that_never_answers_is_named_at_the_end_for_both_protocols() {
    // It takes connections and says nothing: no export fails before the run's patience ends,
    // and the spans must not be lost without a word (gRPC and HTTP alike).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    for protocol in ["grpc", "http/protobuf"] {
        let (dir, path) = a_project(WORKFLOW);
        let out = ralph(["loop", "--workflow", "w.yaml"])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{port}"))
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .expect(0);
        assert!(out.stderr.contains("Succeeded"), "{protocol}: {}", out.stderr);
        let named = out.stderr.contains(&format!("delivered to http://127.0.0.1:{port}"))
            || out.stderr.contains(&format!("could not be sent to http://127.0.0.1:{port}"));
        assert!(named, "{protocol}: {}", out.stderr);
        assert!(out.stderr.contains("the run was not affected"), "{protocol}: {}", out.stderr);
    }
}

fn promtool(text: &str, what: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: `apt-get install prometheus` (scripts/test.sh does)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool rejects {what}:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The metric names of an exposition (with the `_bucket`, `_sum`, `_count` of histograms).
fn names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// What a run exposes to Prometheus: `/metrics` scraped by a step while the loop runs, then
/// `ralph-loop metrics --prometheus` after it ended — both checked by `promtool`. Made once.
fn emitted() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT
        .get_or_init(|| {
            let port = free_port();
            // A last node scrapes `/metrics` while the loop runs.
            let scraper = format!(
                "  scraper:\n    command: \"python3 -c \\\"import urllib.request; open('scrape.txt', 'w').write(urllib.request.urlopen('http://127.0.0.1:{port}/metrics').read().decode())\\\"\"\n"
            );
            let yaml = WORKFLOW
                .replacen("      retry: quick\n", "      retry: quick\n    - id: scrape\n      agent: scraper\n      depends_on: test\n", 1)
                .replacen("agents:\n", &format!("agents:\n{scraper}"), 1);
            let (dir, path) = a_project(&yaml);
            let out = ralph(["loop", "--workflow", "w.yaml", "--metrics-addr", &format!("127.0.0.1:{port}")])
                .current_dir(dir.path())
                .env("PATH", &path)
                .expect(0);
            assert!(out.stderr.contains(&format!("metrics: http://127.0.0.1:{port}/metrics")), "{}", out.stderr);
            let live = std::fs::read_to_string(dir.path().join("scrape.txt")).unwrap();
            promtool(&live, "the /metrics of a running loop");
            let replayed = ralph(["metrics", "--prometheus"]).current_dir(dir.path()).expect(0).stdout;
            promtool(&replayed, "`ralph-loop metrics --prometheus`");
            format!("{live}\n{replayed}")
        })
        .as_str()
}

/// Every metric name a run emits (with the `_bucket`, `_sum`, `_count` of histograms).
pub fn emitted_metric_names() -> BTreeSet<String> {
    names(emitted())
}

/// Every label name a run's metrics carry.
pub fn emitted_label_names() -> BTreeSet<String> {
    let label = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="#).unwrap();
    emitted()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some(l.split_once('{')?.1.rsplit_once('}')?.0.to_owned()))
        .flat_map(|labels| label.captures_iter(&labels).map(|c| c[1].to_owned()).collect::<Vec<_>>())
        .collect()
}

#[test]
fn metrics_pass_promtool_and_are_named_by_the_conventions() {
    let names = emitted_metric_names();
    for name in [
        "gen_ai_client_token_usage_bucket",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_workflow_duration_seconds_sum",
        "cicd_pipeline_run_duration_seconds_count",
        "cicd_pipeline_run_active",
        "cicd_pipeline_run_errors_total",
        "ralph_step_outcomes_total",
        "ralph_step_retries_total",
        "ralph_iterations_total",
        "ralph_ready_queue_depth",
        "ralph_breaker_state",
        "ralph_cost_usd_total",
        "ralph_budget_spent",
        "ralph_budget_limit",
        "ralph_plugin_hook_duration_seconds_bucket",
        "ralph_plugin_hook_failures_total",
        "ralph_plugin_decisions_total",
    ] {
        assert!(names.contains(name), "{name} is not emitted: {names:?}");
    }
}

#[test]
fn the_metrics_verb_shows_a_runs_figures() {
    let (dir, path) = a_project(WORKFLOW);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).env("PATH", &path).expect(0);
    let text = ralph(["metrics"]).current_dir(dir.path()).expect(0).stdout;
    assert!(text.contains("w (dag)  succeeded"), "{text}");
    assert!(text.contains("2 succeeded, 1 failed, 0 skipped, 0 interrupted; 1 retries"), "{text}");
    assert!(text.contains("1000 in, 100 out;  cost $0.0100"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("builder") && l.contains("claude-sonnet-4")), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ralph(["metrics", "--json"]).current_dir(dir.path()).expect(0).stdout).unwrap();
    let retries: f64 = json["ralph_step_retries_total"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .sum();
    assert_eq!(retries, 1.0);
}

#[test]
fn planted_secrets_never_show_up_in_any_output() {
    let key = "sk-planted-9f8e7d6c5b4a3921";
    let referenced = "ref-planted-1a2b3c4d5e6f";
    // A secret-named variable and one a `${…}` reference in ralph.yaml names. The agent echoes
    // both on stdout and stderr, fails once with them in its output, and sends one in a
    // signal: nothing the engine writes or shows may carry them.
    let yaml = "workflow:\n  nodes:\n    - id: leak\n      agent: leaker\n      retry: again\n    - id: build\n      agent: builder\n      depends_on: leak\nretry:\n  again:\n    strategy: fixed\n    max_attempts: 2\n    delay: 10ms\nagents:\n  leaker:\n    command: \"sh leak.sh\"\n  builder:\n    backend: claude\n    model: claude-sonnet-4\n    prompt: PROMPT-BUILDER.md\n";
    let leak = r#"echo "out $PLANTED_API_KEY $PLANTED_REF"
echo "{\"signal\": \"decision\", \"message\": \"chose $PLANTED_API_KEY\"}"
echo "err $PLANTED_API_KEY" >&2
echo x >> tries
test $(wc -l < tries) -ge 2
"#;
    let (dir, path) = a_project(yaml);
    std::fs::write(dir.path().join("leak.sh"), leak).unwrap();
    let receiver = Receiver::start(dir.path());
    let config = format!(
        "observability:\n  traces:\n    include_content: false\n  exporters:\n    otlp:\n      endpoint: http://127.0.0.1:{}\n      headers:\n        x-team: ${{PLANTED_REF}}\n",
        receiver.http
    );
    std::fs::write(dir.path().join("ralph.yaml"), config).unwrap();
    let run = |args: &[&str], code: i32| {
        let out = ralph(args.iter().copied())
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("PLANTED_API_KEY", key)
            .env("PLANTED_REF", referenced)
            .expect(code);
        format!("{}\n{}", out.stdout, out.stderr)
    };
    let mut seen = run(&["loop", "--workflow", "w.yaml", "--json", "--log-format", "json"], 0);
    // The agent did print them (the test would prove nothing otherwise).
    assert_eq!(std::fs::read_to_string(dir.path().join("tries")).unwrap().lines().count(), 2);
    for args in [
        &["logs", "--json"][..],
        &["logs"],
        &["traces", "--json"],
        &["metrics", "--json"],
        &["status", "--json"],
        &["runs", "--json"],
        &["debug", "--iteration", "1", "--full"],
        &["inspect", "--phase", "leak"],
    ] {
        seen.push_str(&run(args, 0));
    }
    seen.push_str(&receiver.received(&["invoke_workflow w"]));
    // Every file the run left: the store, the log file, packets, prompts, transcripts.
    let mut files = vec![dir.path().join(".ralph")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if !path.ends_with("control.sock") {
            let bytes = std::fs::read(&path).unwrap();
            for secret in [key, referenced] {
                let found = memchr_find(&bytes, secret.as_bytes());
                assert!(!found, "{secret} is in {}", path.display());
            }
        }
    }
    assert!(seen.contains("[REDACTED]"), "the secrets were there to mask:\n{seen}");
    for secret in [key, referenced] {
        assert!(!seen.contains(secret), "{secret} shows:\n{seen}");
    }
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_resumed_run_continues_its_trace() {
    let yaml = "workflow:\n  nodes:\n    - id: first\n      agent: quick\n    - id: second\n      agent: slow\n      depends_on: first\nagents:\n  quick:\n    command: \"echo $TRACEPARENT >> traceparents\"\n  slow:\n    command: \"echo $TRACEPARENT >> traceparents; test -f go || (touch started; sleep 60)\"\n";
    let (dir, path) = a_project(yaml);
    let receiver = Receiver::start(dir.path());
    let endpoint = format!("http://127.0.0.1:{}", receiver.http);
    let mut first = ralph(["loop", "--workflow", "w.yaml"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("started").exists() {
        assert!(Instant::now() < deadline, "the second step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    std::fs::write(dir.path().join("go"), "").unwrap();
    ralph(["resume"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .expect(0);
    let text = receiver.received(&["ralph.resumed"]);
    let traceparents = std::fs::read_to_string(dir.path().join("traceparents")).unwrap();
    let traces: BTreeSet<&str> = traceparents.lines().map(|l| l.split('-').nth(1).unwrap()).collect();
    assert_eq!(traceparents.lines().count(), 3, "first, second (killed), second again: {traceparents}");
    assert_eq!(traces.len(), 1, "the killed process and the resumed one are one trace: {traceparents}");
    let spans = spans(&text);
    let resumed = spans
        .iter()
        .find(|s| {
            s.name == "invoke_workflow w"
                && s.attributes.get("ralph.resumed").map(String::as_str) == Some("true")
        })
        .unwrap();
    assert_eq!(&resumed.trace, traces.first().unwrap());
    assert!(!resumed.parent.is_empty(), "a child of the first start's run span");
    let second = spans.iter().find(|s| s.name == "invoke_agent slow").unwrap();
    assert_eq!(second.trace, resumed.trace);
}

/// Credentials of thirteen formats, each built at run time so this file holds none whole.
fn unnamed_secrets() -> Vec<(&'static str, String)> {
    vec![
        ("aws-access-key-id", format!("AKIA{}", "Q3RZ7T2MXW4PLK9B")),
        ("github-token", format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A")),
        ("gitlab-token", format!("glpat-{}", "xR4tZq8Lm2Vb7Nc9Kd1W")),
        ("slack-token", format!("xoxb-{}", "1234567890-0987654321-AbCdEfGhIjKl")),
        ("stripe-key", format!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc")),
        ("google-api-key", format!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW")),
        ("anthropic-key", format!("sk-ant-{}", "api03-Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1x")),
        ("openai-key", format!("sk-proj-{}", "Qb3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5")),
        ("jwt", format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", "eyJzdWIiOiJwbGFudGVkIn0", "Tq9xR2vL8mN4kP7wZ3yB5c")),
        ("private-key", format!("MIIEpAIBAAKCAQEA{}", "7hZq2Vx9Lm4Tn7Wp3YsR8Kq2Vx9Lm4Tn")),
        ("url-password", format!("pg-{}", "Wq7Zr8Kq2Vx9Lm4T")),
        ("url-password", format!("hook-{}", "Lm4Tn7Wp3YsZr8Kq")),
        ("secret-value", format!("{}{}", "Yb6Nc1Xd5Tq9", "Wv3Pz7Rk2Mg8")),
    ]
}

#[test]
fn secrets_nothing_names_are_masked_by_kind_everywhere_and_ralph_is_owner_only() {
    // See: issue 14. An agent prints credentials of every format on stdout and stderr and
    // writes some into its result file; a hint and a webhook URL in ralph.yaml carry others.
    // No configured name points at any of them.
    let s = unnamed_secrets();
    let value = |kind: &str| s.iter().find(|(k, _)| *k == kind).unwrap().1.clone();
    let all: Vec<&String> = s.iter().map(|(_, v)| v).collect();
    let pem = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n-----END RSA PRIVATE KEY-----",
        value("private-key"),
        "aFDrBz9vFqU4yYhB7fBDdZ9Uq4Kk8vq2Yw=="
    );
    let leak = format!(
        "printf '%s\\n' 'id {aws} and {google}' 'auth: Bearer {jwt}' 'GITHUB_PAT={pat}' \
         'DATABASE_URL=postgres://app:{pg}@db.internal/app'\n\
         printf '%s\\n' '{pem}'\n\
         echo 'pushing with {ghp} and {anthropic}' >&2\n\
         printf '{{\"summary\": \"used {glpat} and {openai}\", \"details\": {{\"key\": \"{stripe}\"}}}}' > \"$RALPH_RESULT_FILE\"\n",
        aws = value("aws-access-key-id"),
        google = value("google-api-key"),
        jwt = value("jwt"),
        pat = value("secret-value"),
        pg = s[10].1,
        ghp = value("github-token"),
        anthropic = value("anthropic-key"),
        glpat = value("gitlab-token"),
        openai = value("openai-key"),
        stripe = value("stripe-key"),
    );
    let yaml = "workflow:\n  nodes:\n    - id: leak\n      agent: leaker\n    - id: build\n      agent: builder\n      depends_on: leak\nagents:\n  leaker:\n    command: \"sh leak.sh\"\n  builder:\n    backend: claude\n    model: claude-sonnet-4\n    prompt: PROMPT-BUILDER.md\n";
    let (dir, path) = a_project(yaml);
    std::fs::write(dir.path().join("leak.sh"), leak).unwrap();
    let receiver = Receiver::start(dir.path());
    let config = format!(
        "observability:\n  traces:\n    include_content: true\n  exporters:\n    otlp:\n      endpoint: http://127.0.0.1:{}\nnotifications:\n  channels:\n    ops:\n      webhook: \"https://bot:{}@127.0.0.1:9/hook\"\n  events:\n    on_complete: [ops]\n",
        receiver.http, s[11].1
    );
    std::fs::write(dir.path().join("ralph.yaml"), config).unwrap();
    // A hint is waiting when the loop starts (in a `.ralph` made as a careless user would).
    std::fs::create_dir_all(dir.path().join(".ralph")).unwrap();
    std::fs::write(dir.path().join(".ralph/hint"), format!("use the bot token {}", value("slack-token")))
        .unwrap();
    let run = |args: &[&str]| {
        let out = ralph(args.iter().copied()).current_dir(dir.path()).env("PATH", &path).expect(0);
        format!("{}\n{}", out.stdout, out.stderr)
    };
    let mut seen = run(&["loop", "--workflow", "w.yaml", "--json"]);
    // The agent did print them and the hint was taken (the test would prove nothing otherwise).
    assert!(!dir.path().join(".ralph/hint").exists(), "the hint was not taken");
    let hints: Vec<_> = std::fs::read_dir(dir.path().join(".ralph/hints")).unwrap().collect();
    assert!(!hints.is_empty());
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["logs"],
        &["logs", "--json"],
        &["runs", "--json"],
        &["debug", "--iteration", "1", "--full"],
        &["debug", "--iteration", "1", "--full", "--json"],
        &["traces", "--json"],
    ] {
        seen.push_str(&run(args));
    }
    seen.push_str(&receiver.received(&["invoke_workflow w"]));
    for kind in ["aws-access-key-id", "github-token", "jwt", "private-key", "url-password", "secret-value"] {
        assert!(seen.contains(&format!("[REDACTED:{kind}]")), "no `{kind}` mask shows:\n{seen}");
    }
    for secret in &all {
        assert!(!seen.contains(secret.as_str()), "{secret} shows:\n{seen}");
    }
    // Every file under `.ralph`: the store's (the journal's bytes), transcripts, the kept result
    // file, the hint archive, packets, prompts; and none readable by anyone but the owner.
    use std::os::unix::fs::PermissionsExt as _;
    let mut files = vec![dir.path().join(".ralph")];
    let mut looked = 0;
    // The stored definition (in the store's files) keeps the webhook, its password masked.
    let mut webhook_kept = false;
    while let Some(path) = files.pop() {
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        let mode = metadata.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        if metadata.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if metadata.is_file() {
            looked += 1;
            let bytes = std::fs::read(&path).unwrap();
            for secret in &all {
                assert!(!memchr_find(&bytes, secret.as_bytes()), "{secret} is in {}", path.display());
            }
            webhook_kept |= memchr_find(&bytes, b"bot:[REDACTED:url-password]@127.0.0.1:9/hook");
        }
    }
    assert!(looked > 10, "only {looked} files under .ralph");
    assert!(webhook_kept, "the stored definition was looked at");
    let kept = std::fs::read_dir(dir.path().join(".ralph/runs"))
        .unwrap()
        .flat_map(|run| std::fs::read_dir(run.unwrap().path().join("steps")).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("leak.result.json"))
        .expect("the result file is kept");
    let kept = std::fs::read_to_string(kept).unwrap();
    assert!(kept.contains("[REDACTED:gitlab-token]") && kept.contains("[REDACTED:stripe-key]"), "{kept}");
}
