//! The monitoring stack (`monitoring/`) and `ralph-loop dashboard`: the dashboards query only
//! metrics the engine emits, the configuration files agree with each other and with Prometheus's
//! own checker, and the verb finds the dashboards, asks the endpoints and writes the stack.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::support::{project, ralph, repo};

/// The dashboards of the stack, by file, with their uids.
const DASHBOARDS: &[(&str, &str)] = &[
    ("overview.json", "ralph-overview"),
    ("agents.json", "ralph-agents"),
    ("policies.json", "ralph-policies"),
    ("plugins.json", "ralph-plugins"),
];

// ---------------------------------------------------------------------------------------------
// The names a PromQL expression uses.

/// PromQL's aggregation operators: names that may stand before `by (…)` instead of `(`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords: set operators, modifiers and literals, never metrics.
const KEYWORDS: &[&str] = &["bool", "offset", "and", "or", "unless", "atan2", "inf", "nan"];

/// Keywords followed by a parenthesized list of label names (optional after `group_left`
/// and `group_right`).
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// Grafana's variable-query functions whose arguments are no expression (`metrics(regex)`,
/// `label_names()`): their contents are skipped.
const OPAQUE: &[&str] = &["metrics", "label_names"];

/// The metric and label names an expression uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub metrics: BTreeSet<String>,
    pub labels: BTreeSet<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// A cursor over an expression.
struct Scanner {
    chars: Vec<char>,
    at: usize,
}

impl Scanner {
    fn new(text: &str) -> Scanner {
        Scanner { chars: text.chars().collect(), at: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    /// The next character that is not white space, without taking it.
    fn next_significant(&self) -> Option<char> {
        self.chars[self.at..].iter().copied().find(|c| !c.is_whitespace())
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(is_ident) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    /// Skips a string literal ("…", '…' with escapes, `…` raw) starting at the cursor.
    fn skip_string(&mut self) {
        let quote = self.chars[self.at];
        self.at += 1;
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == '\\' && quote != '`' {
                self.at += 1;
            } else if c == quote {
                return;
            }
        }
    }

    /// Skips from an opening bracket at the cursor past its closing one, strings and nested
    /// brackets of the same kind included; returns what was between them.
    fn group(&mut self, open: char, close: char) -> String {
        let start = self.at + 1;
        let mut depth = 0;
        while let Some(c) = self.peek() {
            match c {
                '"' | '\'' | '`' => {
                    self.skip_string();
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return self.chars[start..self.at - 1].iter().collect();
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        self.chars[start.min(self.chars.len())..].iter().collect()
    }
}

/// The identifiers of a text outside its string literals (label names in `{…}` and `(…)` lists).
fn identifiers(text: &str) -> Vec<String> {
    let mut s = Scanner::new(text);
    let mut found = Vec::new();
    while let Some(c) = s.peek() {
        if matches!(c, '"' | '\'' | '`') {
            s.skip_string();
        } else if is_ident_start(c) {
            found.push(s.ident());
        } else {
            s.at += 1;
        }
    }
    found
}

/// Splits a function's arguments at the commas outside brackets and strings.
fn arguments(text: &str) -> Vec<String> {
    let mut s = Scanner::new(text);
    let (mut args, mut start) = (Vec::new(), 0);
    while let Some(c) = s.peek() {
        match c {
            '"' | '\'' | '`' => s.skip_string(),
            '(' => {
                s.group('(', ')');
            }
            '{' => {
                s.group('{', '}');
            }
            '[' => {
                s.group('[', ']');
            }
            ',' => {
                args.push(s.chars[start..s.at].iter().collect::<String>().trim().to_owned());
                s.at += 1;
                start = s.at;
            }
            _ => s.at += 1,
        }
    }
    args.push(s.chars[start..].iter().collect::<String>().trim().to_owned());
    args.retain(|a| !a.is_empty());
    args
}

/// The metric and label names of a PromQL expression or a Grafana variable query
/// (`label_values(metric{…}, label)`). Metric names are the identifiers that are no function
/// (those are followed by `(`), aggregation operator or keyword; label names are those inside
/// `{…}` matchers and `by (…)`-like lists, and `label_values`'s label. Strings, numbers,
/// durations (`[5m]`, `offset 1h`) and Grafana variables (`$agent`, `${agent}`) are neither.
pub fn promql_names(expr: &str) -> Names {
    let mut names = Names::default();
    scan(expr, &mut names);
    names
}

fn scan(expr: &str, names: &mut Names) {
    let mut s = Scanner::new(expr);
    while let Some(c) = s.peek() {
        match c {
            '"' | '\'' | '`' => s.skip_string(),
            '{' => names.labels.extend(identifiers(&s.group('{', '}'))),
            // Ranges, subqueries and Grafana's `[[variable]]`.
            '[' => {
                s.group('[', ']');
            }
            '$' => {
                s.at += 1;
                if s.peek() == Some('{') {
                    s.group('{', '}');
                } else {
                    s.ident();
                }
            }
            // A number or a duration: `0.95`, `1e3`, `5m`, `0x1f`.
            c if c.is_ascii_digit()
                || (c == '.' && s.chars.get(s.at + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while s.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
                    s.at += 1;
                }
            }
            c if is_ident_start(c) => {
                let ident = s.ident();
                let lower = ident.to_ascii_lowercase();
                let call = s.next_significant() == Some('(');
                if lower == "label_values" && call {
                    s.skip_space();
                    let args = arguments(&s.group('(', ')'));
                    // `label_values(label)` or `label_values(series, label)`.
                    if let [series, _] = args.as_slice() {
                        scan(series, names);
                    }
                    if let Some(label) = args.last() {
                        names.labels.insert(label.clone());
                    }
                } else if OPAQUE.contains(&lower.as_str()) && call {
                    s.skip_space();
                    s.group('(', ')');
                } else if LABEL_LISTS.contains(&lower.as_str()) {
                    if call {
                        s.skip_space();
                        names.labels.extend(identifiers(&s.group('(', ')')));
                    }
                } else if call || AGGREGATIONS.contains(&lower.as_str()) || KEYWORDS.contains(&lower.as_str())
                {
                    // A function or an operator; its arguments are scanned as they come.
                } else {
                    names.metrics.insert(ident);
                }
            }
            _ => s.at += 1,
        }
    }
}

/// Every panel of a dashboard, those nested in (collapsed) rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Every PromQL text of a dashboard: its panels' targets' `expr`, its template variables'
/// `query` (a string, or an object with a `query`) and `definition`, its annotations' `expr`.
fn queries(dashboard: &Value) -> Vec<&str> {
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            found.extend(target["expr"].as_str());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        found.extend(variable["query"].as_str().or_else(|| variable["query"]["query"].as_str()));
        found.extend(variable["definition"].as_str());
    }
    for annotation in dashboard["annotations"]["list"].as_array().into_iter().flatten() {
        found.extend(annotation["expr"].as_str());
    }
    found
}

/// The metric names a dashboard's queries use.
pub fn dashboard_metrics(dashboard: &Value) -> BTreeSet<String> {
    queries(dashboard).into_iter().flat_map(|q| promql_names(q).metrics).collect()
}

/// The label names a dashboard uses: in its queries, and in its legends (`{{label}}`).
fn dashboard_labels(dashboard: &Value) -> BTreeSet<String> {
    let mut labels: BTreeSet<String> =
        queries(dashboard).into_iter().flat_map(|q| promql_names(q).labels).collect();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let mut rest = target["legendFormat"].as_str().unwrap_or("");
            while let Some((_, after)) = rest.split_once("{{") {
                let Some((label, tail)) = after.split_once("}}") else { break };
                labels.insert(label.trim().to_owned());
                rest = tail;
            }
        }
    }
    labels
}

/// The metric names a real run emits: `/metrics` of a running loop and `ralph-loop metrics
/// --prometheus` (see `telemetry.rs`).
fn emitted_metric_names() -> BTreeSet<String> {
    crate::telemetry::emitted_metric_names()
}

/// The label names a real run's metrics carry.
fn emitted_label_names() -> BTreeSet<String> {
    crate::telemetry::emitted_label_names()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn promql_names_of_a_histogram_quantile_are_its_bucket_and_labels() {
    let names = promql_names(
        r#"histogram_quantile(0.95, sum by (le, gen_ai_agent_name) (rate(gen_ai_client_operation_duration_seconds_bucket{gen_ai_agent_name=~"$agent"}[$__rate_interval])))"#,
    );
    assert_eq!(names.metrics, set(&["gen_ai_client_operation_duration_seconds_bucket"]));
    assert_eq!(names.labels, set(&["le", "gen_ai_agent_name"]));
}

#[test]
fn promql_names_of_label_values_are_its_series_and_its_label() {
    let names = promql_names("label_values(ralph_step_outcomes_total, gen_ai_workflow_name)");
    assert_eq!(names.metrics, set(&["ralph_step_outcomes_total"]));
    assert_eq!(names.labels, set(&["gen_ai_workflow_name"]));
    let names = promql_names(r#"label_values(m{agent=~"$agent", x="a,b"}, model)"#);
    assert_eq!(names.metrics, set(&["m"]));
    assert_eq!(names.labels, set(&["agent", "x", "model"]));
    let names = promql_names("label_values(gen_ai_request_model)");
    assert!(names.metrics.is_empty(), "{names:?}");
    assert_eq!(names.labels, set(&["gen_ai_request_model"]));
    assert_eq!(promql_names("metrics(ralph_.*)"), Names::default());
}

#[test]
fn promql_names_of_vector_matching_and_trailing_grouping() {
    let names = promql_names("a / on(x) group_left b");
    assert_eq!(names.metrics, set(&["a", "b"]));
    assert_eq!(names.labels, set(&["x"]));
    let names = promql_names("a * ignoring (i) group_right (extra) b");
    assert_eq!(names.metrics, set(&["a", "b"]));
    assert_eq!(names.labels, set(&["i", "extra"]));
    let names = promql_names("sum(x) by (y)");
    assert_eq!(names.metrics, set(&["x"]));
    assert_eq!(names.labels, set(&["y"]));
    let names = promql_names("SUM WITHOUT (instance) (up) > BOOL 0");
    assert_eq!(names.metrics, set(&["up"]));
    assert_eq!(names.labels, set(&["instance"]));
}

#[test]
fn promql_names_skip_strings_numbers_durations_and_variables() {
    let names = promql_names(
        r#"sum(increase(m{l="a}b{", k!~'x\'{y'}[5m] offset 1h)) / $__range_s * 1e3 + 0.5 or vector(0) unless n @ start()"#,
    );
    assert_eq!(names.metrics, set(&["m", "n"]));
    assert_eq!(names.labels, set(&["l", "k"]));
    let names =
        promql_names(r#"count_values("version", build_info) and topk(3, rate(job:req:rate5m[1h:5m]))"#);
    assert_eq!(names.metrics, set(&["build_info", "job:req:rate5m"]));
    let names = promql_names("rate(x[${interval}]) > ${threshold} and rate(y[[[interval]]])");
    assert_eq!(names.metrics, set(&["x", "y"]));
}

#[test]
fn dashboard_metrics_walks_rows_targets_and_variables() {
    let dashboard = serde_json::json!({
        "panels": [
            {"type": "row", "collapsed": true, "panels": [{"targets": [{"expr": "sum(nested_total)"}]}]},
            {"targets": [{"expr": "rate(top_total[5m])"}, {"refId": "B"}]}
        ],
        "templating": {"list": [
            {"query": {"query": "label_values(from_query, l)"}, "definition": "label_values(from_definition, l)"},
            {"query": "label_values(from_string, l)"}
        ]}
    });
    assert_eq!(
        dashboard_metrics(&dashboard),
        set(&["nested_total", "top_total", "from_query", "from_definition", "from_string"])
    );
}

// ---------------------------------------------------------------------------------------------
// The dashboards.

fn monitoring() -> PathBuf {
    repo().join("monitoring")
}

fn dashboard(file: &str) -> Value {
    let path = monitoring().join("grafana/dashboards").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `expr` anywhere in a JSON value.
fn every_expr(value: &Value, out: &mut usize) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "expr" && v.is_string() {
                    *out += 1;
                }
                every_expr(v, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|v| every_expr(v, out)),
        _ => {}
    }
}

#[test]
fn every_metric_and_label_the_dashboards_query_is_one_the_engine_emits() {
    let emitted = emitted_metric_names();
    let labels = emitted_label_names();
    let mut used = BTreeSet::new();
    for (file, _) in DASHBOARDS {
        let dashboard = dashboard(file);
        // The walk sees every query there is: no `expr` hides where it does not look.
        let mut exprs = 0;
        every_expr(&dashboard, &mut exprs);
        let seen = panels(&dashboard)
            .iter()
            .flat_map(|p| p["targets"].as_array().into_iter().flatten())
            .filter(|t| t["expr"].is_string())
            .count()
            + dashboard["annotations"]["list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["expr"].is_string())
                .count();
        assert_eq!(exprs, seen, "{file}: an `expr` outside panels' targets and annotations");
        let metrics = dashboard_metrics(&dashboard);
        assert!(!metrics.is_empty(), "{file} queries no metric");
        let unknown: Vec<&String> = metrics.difference(&emitted).collect();
        assert!(unknown.is_empty(), "{file} queries metrics the engine does not emit: {unknown:?}");
        let unknown: Vec<String> = dashboard_labels(&dashboard).difference(&labels).cloned().collect();
        assert!(unknown.is_empty(), "{file} uses labels the engine's metrics do not carry: {unknown:?}");
        used.extend(metrics);
    }
    // Every metric is on some dashboard (a histogram once any of its series is), but for those
    // that would only repeat another.
    let family = |name: &str| {
        ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name).to_owned()
    };
    let shown: BTreeSet<String> = used.iter().map(|m| family(m)).collect();
    let missing: BTreeSet<String> = emitted
        .iter()
        .map(|m| family(m))
        .filter(|f| !shown.contains(f) && !NOT_ON_DASHBOARDS.contains(&f.as_str()))
        .collect();
    assert!(missing.is_empty(), "metrics no dashboard shows: {missing:?}");
}

/// Metrics the dashboards leave out on purpose: `gen_ai_workflow_duration_seconds` times the
/// same runs as `cicd_pipeline_run_duration_seconds` (under the GenAI convention's name), which
/// Overview shows with their results; `target_info` is the exporter's description of the
/// process (service name and version), not a measurement.
const NOT_ON_DASHBOARDS: &[&str] = &["gen_ai_workflow_duration_seconds", "target_info"];

#[test]
fn every_dashboard_has_its_uid_title_datasources_and_notes() {
    let datasources = set(&["prometheus", "jaeger", "${datasource}"]);
    let dir = monitoring().join("grafana/dashboards");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<String> = DASHBOARDS.iter().map(|(f, _)| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(files, expected, "the dashboards in {}", dir.display());
    for (file, uid) in DASHBOARDS {
        let d = dashboard(file);
        assert_eq!(d["uid"], *uid, "{file}");
        let title = d["title"].as_str().unwrap_or("");
        assert!(title.starts_with("ralph-loop / "), "{file}: title {title:?}");
        assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 39), "{file}: schemaVersion");
        let notes_path = dir.join(file.replace(".json", ".md"));
        let notes = std::fs::read_to_string(&notes_path)
            .unwrap_or_else(|_| panic!("{} is missing", notes_path.display()));
        assert!(notes.contains(uid), "{}: name the dashboard's uid", notes_path.display());
        let mut ids = BTreeSet::new();
        for panel in panels(&d) {
            let name = panel["title"].as_str().unwrap_or("");
            assert!(
                ids.insert(panel["id"].as_u64().expect("a panel id")),
                "{file}: panel id of {name:?} repeated"
            );
            if panel["type"] == "row" {
                continue;
            }
            assert!(notes.contains(name), "{}: panel {name:?} is not described", notes_path.display());
            let mut refs = vec![&panel["datasource"]];
            refs.extend(panel["targets"].as_array().into_iter().flatten().map(|t| &t["datasource"]));
            assert!(
                panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{file}: {name:?} has no query"
            );
            for datasource in refs {
                let uid = datasource["uid"].as_str().unwrap_or("");
                assert!(datasources.contains(uid), "{file}: {name:?} uses datasource {datasource}");
            }
        }
        for variable in d["templating"]["list"].as_array().into_iter().flatten() {
            if variable["type"] == "query" {
                let uid = variable["datasource"]["uid"].as_str().unwrap_or("");
                assert!(
                    datasources.contains(uid),
                    "{file}: variable {} uses datasource {uid:?}",
                    variable["name"]
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The configuration files.

fn yaml(file: &str) -> serde_yaml::Value {
    let path = monitoring().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(value: &serde_yaml::Value) -> Vec<String> {
    value.as_sequence().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

/// The host ports a compose service publishes (`"4317:4317"`, `"127.0.0.1:3000:3000/tcp"`).
fn published(service: &serde_yaml::Value) -> BTreeSet<u16> {
    strings(&service["ports"])
        .iter()
        .filter_map(|p| {
            let parts: Vec<&str> = p.split('/').next()?.split(':').collect();
            parts.get(parts.len().checked_sub(2)?)?.parse().ok()
        })
        .collect()
}

#[test]
fn the_compose_file_collector_and_provisioning_agree() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    for (name, ports, image) in [
        ("otel-collector", &[4317, 4318][..], "otel/opentelemetry-collector-contrib:"),
        ("jaeger", &[16686], "jaegertracing/"),
        ("prometheus", &[9090], "prom/prometheus:"),
        ("grafana", &[3000], "grafana/grafana:"),
    ] {
        let service = &services[name];
        let tag = service["image"].as_str().unwrap_or_else(|| panic!("service {name} has no image"));
        assert!(tag.starts_with(image), "{name}: image {tag}");
        let version = tag.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            version.chars().any(|c| c.is_ascii_digit()) && version != "latest",
            "{name}: pin the image, not {tag}"
        );
        let published = published(service);
        for port in ports {
            assert!(published.contains(port), "{name} publishes {published:?}, not {port}");
        }
    }
    assert_eq!(services.as_mapping().map(serde_yaml::Mapping::len), Some(4), "four services");

    // Prometheus reaches the engine on the host.
    assert!(
        strings(&services["prometheus"]["extra_hosts"])
            .contains(&"host.docker.internal:host-gateway".to_owned())
    );

    // The collector reads the file mounted where its command says.
    let collector = &services["otel-collector"];
    let config_arg = strings(&collector["command"])
        .into_iter()
        .find_map(|a| a.strip_prefix("--config=").map(str::to_owned));
    let config_arg = config_arg.expect("the collector's --config");
    assert!(strings(&collector["volumes"]).contains(&format!("./otel-collector.yaml:{config_arg}:ro")));
    let otel = yaml("otel-collector.yaml");
    assert_eq!(otel["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(otel["receivers"]["otlp"]["protocols"]["http"]["endpoint"], "0.0.0.0:4318");
    let pipelines = &otel["service"]["pipelines"];
    let traces_to = strings(&pipelines["traces"]["exporters"]);
    assert!(
        traces_to.iter().any(|e| otel["exporters"][e.as_str()]["endpoint"] == "jaeger:4317"),
        "traces go to Jaeger"
    );
    assert!(strings(&pipelines["metrics"]["exporters"]).contains(&"prometheus".to_owned()));
    let exporter = otel["exporters"]["prometheus"]["endpoint"].as_str().unwrap().to_owned();
    let exporter_port = exporter.rsplit_once(':').unwrap().1;

    // Prometheus scrapes the collector's exporter and the engine's /metrics.
    let prometheus = yaml("prometheus.yml");
    let targets: Vec<String> = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| {
            job["static_configs"].as_sequence().unwrap().iter().flat_map(|c| strings(&c["targets"]))
        })
        .collect();
    assert!(targets.contains(&format!("otel-collector:{exporter_port}")), "{targets:?}");
    assert!(targets.contains(&"host.docker.internal:9464".to_owned()), "{targets:?}");

    // The datasources have the uids the dashboards use, at the compose services.
    let datasources = yaml("grafana/provisioning/datasources/datasources.yaml");
    let by_uid: BTreeMap<String, String> = datasources["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| (d["uid"].as_str().unwrap().to_owned(), d["url"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(by_uid.get("prometheus").map(String::as_str), Some("http://prometheus:9090"));
    assert_eq!(by_uid.get("jaeger").map(String::as_str), Some("http://jaeger:16686"));

    // The dashboards provider reads the folder compose mounts the dashboards in.
    let provider = yaml("grafana/provisioning/dashboards/dashboards.yaml");
    let path = provider["providers"][0]["options"]["path"].as_str().expect("the provider's path").to_owned();
    let grafana = strings(&services["grafana"]["volumes"]);
    assert!(
        grafana.iter().any(|v| v.starts_with(&format!("./grafana/dashboards:{path}"))),
        "compose mounts {grafana:?}, the provider reads {path}"
    );
    for kind in ["datasources", "dashboards"] {
        let mount = format!("./grafana/provisioning/{kind}:/etc/grafana/provisioning/{kind}");
        assert!(grafana.iter().any(|v| v.starts_with(&mount)), "compose mounts {grafana:?}, not {mount}");
    }
    let home =
        services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].as_str().unwrap();
    assert_eq!(home, format!("{path}/overview.json"));
    assert_eq!(services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"], "true");
}

/// promtool, which the test command installs (Debian's `prometheus` package).
fn promtool(args: &[&str], file: &Path) -> String {
    let out = Command::new("promtool").args(args).arg(file).output().unwrap_or_else(|e| {
        panic!("promtool: {e} (install it: `apt-get install prometheus`; scripts/test.sh does)")
    });
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} {}:\n{text}", file.display());
    text
}

#[test]
fn prometheus_checks_its_configuration_and_every_dashboard_query() {
    promtool(&["check", "config"], &monitoring().join("prometheus.yml"));
    // Every query, Grafana's variables given values, as a recording rule Prometheus parses.
    let mut rules = Vec::new();
    for (file, _) in DASHBOARDS {
        let d = dashboard(file);
        for panel in panels(&d) {
            for expr in panel["targets"].as_array().into_iter().flatten().filter_map(|t| t["expr"].as_str()) {
                let mut expr = expr.replace("$__rate_interval", "1m").replace("$__range", "6h");
                for variable in d["templating"]["list"].as_array().into_iter().flatten() {
                    expr = expr.replace(&format!("${}", variable["name"].as_str().unwrap()), ".*");
                }
                assert!(!expr.contains('$'), "{file}: a variable the test does not know in {expr}");
                rules.push(serde_json::json!({"record": format!("check:{}", rules.len()), "expr": expr}));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yml");
    std::fs::write(
        &file,
        serde_json::json!({"groups": [{"name": "dashboards", "rules": rules}]}).to_string(),
    )
    .unwrap();
    let out = promtool(&["check", "rules"], &file);
    assert!(out.contains(&format!("{} rules found", rules.len())), "{out}");
}

// ---------------------------------------------------------------------------------------------
// `ralph-loop dashboard`.

/// A server on a random local port answering every request `HTTP/1.1 200`, recording the
/// request lines it gets. It lives as long as the test process.
fn http_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            if let Some(line) = text.lines().next().filter(|l| !l.is_empty()) {
                record.lock().unwrap().push(line.to_owned());
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(grafana: u16, prometheus: u16, jaeger: u16, otlp: u16) -> String {
    format!(
        "observability:\n  exporters:\n    prometheus:\n      endpoint: http://127.0.0.1:{prometheus}\n    jaeger:\n      endpoint: http://127.0.0.1:{jaeger}\n    otlp:\n      endpoint: http://127.0.0.1:{otlp}\n  dashboard:\n    url: http://127.0.0.1:{grafana}\n"
    )
}

/// `dashboard` in `dir`, the OTLP endpoint of the test's own environment left out.
fn dashboard_verb(dir: &Path, args: &[&str]) -> crate::support::Run {
    ralph(["dashboard"]).args_from(args).current_dir(dir).env("OTEL_EXPORTER_OTLP_ENDPOINT", "")
}

#[test]
fn dashboard_reports_each_endpoint_up_or_down_and_exits_1_when_one_is_down() {
    let (grafana, grafana_seen) = http_server();
    let (prometheus, prometheus_seen) = http_server();
    let (otlp, _) = http_server();
    let jaeger = closed_port();
    let dir = project(&[("ralph.yaml", &config(grafana, prometheus, jaeger, otlp))]);
    let out = dashboard_verb(dir.path(), &[]).expect(1);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{}", out.stdout))
    };
    assert!(
        line("grafana").contains(&format!("http://127.0.0.1:{grafana}")) && line("grafana").ends_with(" up"),
        "{}",
        out.stdout
    );
    assert!(line("prometheus").ends_with(" up"), "{}", out.stdout);
    assert!(line("jaeger").ends_with("down (connection refused)"), "{}", out.stdout);
    assert!(line("otlp").ends_with(" up"), "{}", out.stdout);
    assert!(out.stderr.contains("docker compose -f monitoring/docker-compose.yml up -d"), "{}", out.stderr);
    assert_eq!(*grafana_seen.lock().unwrap(), ["GET /api/health HTTP/1.1"]);
    assert_eq!(*prometheus_seen.lock().unwrap(), ["GET /-/ready HTTP/1.1"]);
    // The dashboards are not in this project: the bundled ones are named, at ralph.yaml's Grafana.
    assert!(out.stdout.contains("not in this project"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("http://127.0.0.1:{grafana}/d/ralph-overview")), "{}", out.stdout);
}

#[test]
fn dashboard_exits_0_when_every_endpoint_answers() {
    let (grafana, _) = http_server();
    let (prometheus, _) = http_server();
    let (jaeger, jaeger_seen) = http_server();
    let (otlp, _) = http_server();
    let dir = project(&[("ralph.yaml", &config(grafana, prometheus, jaeger, otlp))]);
    let out = dashboard_verb(dir.path(), &["--json"]).expect(0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["all_up"], true, "{report}");
    let names: Vec<&str> =
        report["endpoints"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["grafana", "prometheus", "jaeger", "otlp"]);
    assert!(
        report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "up" && e["from"].as_str().unwrap().starts_with("ralph.yaml"))
    );
    let uids: Vec<&str> =
        report["dashboards"]["list"].as_array().unwrap().iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(uids, DASHBOARDS.iter().map(|(_, uid)| *uid).collect::<Vec<_>>());
    assert_eq!(*jaeger_seen.lock().unwrap(), ["GET / HTTP/1.1"]);
}

#[test]
fn dashboard_no_check_only_says_where_things_are() {
    let dir = project(&[]);
    let out = dashboard_verb(dir.path(), &["--no-check"]).expect(0);
    assert!(out.stdout.contains("http://localhost:3000/d/ralph-plugins"), "{}", out.stdout);
    assert!(
        out.stdout.contains("http://localhost:4317") && out.stdout.contains("not checked"),
        "{}",
        out.stdout
    );
    // OTLP from the environment wins over the default.
    let out = ralph(["dashboard", "--no-check", "--json"])
        .current_dir(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
        .expect(0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["endpoints"][3]["url"], "http://collector:4317");
    assert_eq!(report["endpoints"][3]["from"], "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert_eq!(report["endpoints"][3]["status"], "unchecked");
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn assert_same_tree(written: &Path) {
    let want = tree(&monitoring());
    let got = tree(written);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the files written");
    for (name, bytes) in &want {
        assert!(got[name] == *bytes, "{name} differs from monitoring/{name}");
    }
}

#[test]
fn dashboard_write_writes_the_repositorys_stack_and_refuses_to_overwrite_changes() {
    let dir = project(&[]);
    dashboard_verb(dir.path(), &["--write", "out"]).expect(0);
    let out = dir.path().join("out");
    assert_same_tree(&out);

    // Again: nothing changes.
    let again = dashboard_verb(dir.path(), &["--write", "out"]).expect(0);
    assert!(
        again.stderr.lines().filter(|l| l.starts_with("unchanged")).count() == tree(&monitoring()).len(),
        "{}",
        again.stderr
    );
    assert_same_tree(&out);

    // A changed file is kept, and so is the rest: nothing is written.
    let prometheus = out.join("prometheus.yml");
    std::fs::write(&prometheus, "# mine\n").unwrap();
    std::fs::remove_file(out.join("grafana/dashboards/plugins.md")).unwrap();
    let refused = dashboard_verb(dir.path(), &["--write", "out"]).expect(2);
    assert!(
        refused.stderr.contains("prometheus.yml") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read_to_string(&prometheus).unwrap(), "# mine\n");
    assert!(!out.join("grafana/dashboards/plugins.md").exists());

    let forced = dashboard_verb(dir.path(), &["--write", "out", "--force"]).expect(0);
    assert!(forced.stderr.contains("replaced") && forced.stderr.contains("created"), "{}", forced.stderr);
    assert_same_tree(&out);
}

#[test]
fn init_with_dashboard_writes_the_stack_and_dashboard_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    ralph(["init", "--with-dashboard"]).current_dir(dir.path()).expect(0);
    assert_same_tree(&dir.path().join("monitoring"));
    let out = dashboard_verb(dir.path(), &["--no-check"]).expect(0);
    assert!(out.stdout.contains("monitoring/grafana/dashboards (4 found)"), "{}", out.stdout);
    // The Grafana of the generated ralph.yaml.
    assert!(out.stdout.contains("http://localhost:3000/d/ralph-overview"), "{}", out.stdout);
}
