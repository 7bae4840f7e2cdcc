//! The keys the language accepts that do nothing (yet), each with what to use instead: the one
//! list `validate` reports from and the schema walk of the tests classifies against.
//!
//! The rule: every key the schema accepts either acts, or is listed here and reported (`inert-key`,
//! a warning, an error with `--strict`). A key that validates and then does nothing is worse
//! than an error, so nothing is accepted in silence. Like the rest of `workflow/`, this module
//! knows nothing about agents' processes, the store or telemetry: it reads the typed document.

use super::model::{AgentKind, Backend, Document, ExporterSpec, PersistenceKind, Toggle};
use super::path::{FieldPath, Segment};
use crate::diagnostic::{Diagnostic, Severity};

/// Where a key is used without effect, with what was found there (for `found`).
pub type Places = Vec<(FieldPath, Option<String>)>;

/// A key that is accepted but has no effect, in some or all of its uses.
#[derive(Debug)]
pub struct InertKey {
    /// The key as a schema path: `*` stands for any name of a map, `[]` for any list index
    /// (`agents.*.temperature`, `workflow.states[].timeout`).
    pub key: &'static str,
    /// When it has no effect, for the documentation (`always`, "with a backend other than `openai`").
    pub when: &'static str,
    /// What does not happen; completes "… has no effect: ".
    pub why: &'static str,
    /// Whether the keys under it are reported with it (`notification` and its `slack`, `email`…).
    pub with_children: bool,
    /// What to use instead, one sentence.
    pub instead: &'static str,
    /// A minimal file that uses the key where it has no effect (the tests validate it).
    pub example: &'static str,
    /// Where `doc` uses the key without effect, with what it found there.
    find: fn(&Document) -> Places,
}

impl InertKey {
    /// The places in `doc` where this key has no effect.
    pub fn places(&self, doc: &Document) -> Places {
        (self.find)(doc)
    }
}

/// The exporter kinds telemetry sends to (`telemetry/settings.rs` reads these names).
pub const EXPORTERS: [&str; 3] = ["otlp", "jaeger", "prometheus"];

fn root() -> FieldPath {
    FieldPath::root()
}

fn quoted(text: &str) -> Option<String> {
    Some(format!("`{text}`"))
}

/// Every accepted-but-inert key. Keep `docs/language.md` ("No key accepted in silence") in step.
pub const INERT_KEYS: &[InertKey] = &[
    InertKey {
        key: "state.persistence.type",
        when: "`database`",
        why: "runs are kept only in the embedded store; there is no database store",
        with_children: false,
        instead: "leave out `type` and `url`; `state.persistence.path` sets the store's directory",
        example: "state:\n  persistence:\n    type: database\n",
        find: |doc| {
            let kind = doc.state.as_ref().and_then(|s| s.persistence.as_ref()).and_then(|p| p.kind);
            match kind {
                Some(PersistenceKind::Database) => {
                    vec![(root().key("state").key("persistence").key("type"), quoted("database"))]
                }
                _ => Vec::new(),
            }
        },
    },
    InertKey {
        key: "state.persistence.url",
        when: "always",
        why: "no store is reached by URL; runs are kept in the embedded store",
        with_children: false,
        instead: "leave out `url`; `state.persistence.path` sets the store's directory",
        example: "state:\n  persistence:\n    url: ${DATABASE_URL}\n",
        find: |doc| {
            let url = doc.state.as_ref().and_then(|s| s.persistence.as_ref()).and_then(|p| p.url.as_ref());
            url.map(|_| (root().key("state").key("persistence").key("url"), None)).into_iter().collect()
        },
    },
    InertKey {
        key: "observability.provider",
        when: "anything but `opentelemetry`",
        why: "telemetry is always OpenTelemetry",
        with_children: false,
        instead: "write `provider: opentelemetry` or leave it out; exporters say where data goes",
        example: "observability:\n  provider: datadog\n",
        find: |doc| {
            let provider = doc.observability.as_ref().and_then(|o| o.provider.as_deref());
            match provider {
                Some(p) if !p.eq_ignore_ascii_case("opentelemetry") => {
                    vec![(root().key("observability").key("provider"), quoted(p))]
                }
                _ => Vec::new(),
            }
        },
    },
    InertKey {
        key: "observability.exporters.*",
        when: "a kind (its `type`, else its name) other than `otlp`, `jaeger` or `prometheus` (e.g. `cloudwatch`)",
        why: "nothing is exported to it",
        with_children: false,
        instead: "use an `otlp` exporter (an OpenTelemetry Collector forwards to CloudWatch and others) or `prometheus`",
        example: "observability:\n  exporters:\n    cloudwatch:\n      region: us-east-1\n",
        find: |doc| {
            let Some(obs) = &doc.observability else { return Vec::new() };
            let at = root().key("observability").key("exporters");
            obs.exporters
                .iter()
                .filter(|(name, spec)| !known_exporter(name, spec))
                .map(|(name, spec)| (at.key(name), quoted(exporter_kind(name, spec))))
                .collect()
        },
    },
    InertKey {
        key: "observability.metrics.exporters[].type",
        when: "a kind other than `otlp`, `jaeger` or `prometheus` (e.g. `cloudwatch`)",
        why: "nothing is exported to it",
        with_children: false,
        instead: "use an `otlp` exporter (an OpenTelemetry Collector forwards to CloudWatch and others) or `prometheus`",
        example: "observability:\n  metrics:\n    exporters:\n      - type: cloudwatch\n",
        find: |doc| {
            metric_exporters(doc)
                .filter(|(_, spec)| !known_exporter("", spec))
                .map(|(path, spec)| (path.key("type"), quoted(exporter_kind("", spec))))
                .collect()
        },
    },
    InertKey {
        key: "observability.exporters.*.region",
        when: "always",
        why: "no exporter reads a region (there is no CloudWatch exporter)",
        with_children: false,
        instead: "use an `otlp` exporter and set the region in the OpenTelemetry Collector it sends to",
        example: "observability:\n  exporters:\n    otlp:\n      endpoint: http://localhost:4317\n      region: us-east-1\n",
        find: |doc| {
            let Some(obs) = &doc.observability else { return Vec::new() };
            let at = root().key("observability").key("exporters");
            obs.exporters
                .iter()
                .filter(|(_, spec)| spec.region.is_some())
                .map(|(name, _)| (at.key(name).key("region"), None))
                .collect()
        },
    },
    InertKey {
        key: "observability.metrics.exporters[].region",
        when: "always",
        why: "no exporter reads a region (there is no CloudWatch exporter)",
        with_children: false,
        instead: "use an `otlp` exporter and set the region in the OpenTelemetry Collector it sends to",
        example: "observability:\n  metrics:\n    exporters:\n      - type: cloudwatch\n        region: us-east-1\n",
        find: |doc| {
            metric_exporters(doc)
                .filter(|(_, spec)| spec.region.is_some())
                .map(|(path, _)| (path.key("region"), None))
                .collect()
        },
    },
    InertKey {
        key: "observability.dashboard.enabled",
        when: "always",
        why: "no dashboard is started or stopped by the engine",
        with_children: false,
        instead: "run `ralph-loop dashboard` (it checks the monitoring stack and `--write` writes the Grafana dashboards); `observability.dashboard.url` says where Grafana is",
        example: "observability:\n  dashboard:\n    enabled: true\n",
        find: |doc| dashboard_key(doc, "enabled", |d| d.enabled.is_some()),
    },
    InertKey {
        key: "observability.dashboard.type",
        when: "always",
        why: "the dashboards are always Grafana's, from `monitoring/`",
        with_children: false,
        instead: "run `ralph-loop dashboard`; `observability.dashboard.url` says where Grafana is",
        example: "observability:\n  dashboard:\n    type: grafana\n",
        find: |doc| dashboard_key(doc, "type", |d| d.kind.is_some()),
    },
    InertKey {
        key: "observability.dashboard.config",
        when: "always",
        why: "no dashboard configuration file is read",
        with_children: false,
        instead: "`ralph-loop dashboard --write` writes the Grafana dashboards and provisioning to edit",
        example: "observability:\n  dashboard:\n    config: ./grafana/dashboard.yaml\n",
        find: |doc| dashboard_key(doc, "config", |d| d.config.is_some()),
    },
    InertKey {
        key: "agents.*.temperature",
        when: "a backend other than `openai` (the agent CLIs take no temperature)",
        why: "only the `openai` backend sends a temperature",
        with_children: false,
        instead: "set `backend: openai` to send it, or leave it out: the agent CLIs choose their own",
        example: "agents:\n  builder:\n    backend: claude\n    temperature: 0.7\n",
        find: |doc| {
            agents(doc)
                .filter(|(_, agent, backend)| {
                    agent.temperature.is_some() && *backend != Some(Backend::Openai)
                })
                .map(|(path, _, _)| (path.key("temperature"), None))
                .collect()
        },
    },
    InertKey {
        key: "agents.*.tools",
        when: "a backend other than `claude` (or a command agent)",
        why: "only Claude Code is given the allowed tools (`--allowedTools`)",
        with_children: false,
        instead: "give other backends their tools in their own configuration, or through `args`",
        example: "agents:\n  builder:\n    backend: codex\n    tools: [Read, Edit]\n",
        find: |doc| {
            agents(doc)
                .filter(|(_, agent, backend)| {
                    !agent.tools.is_empty()
                        && (agent.kind == Some(AgentKind::Command)
                            || agent.command.is_some() && agent.backend.is_none()
                            || backend.is_some_and(|b| b != Backend::Claude))
                })
                .map(|(path, _, _)| (path.key("tools"), None))
                .collect()
        },
    },
    InertKey {
        key: "agents.*.parallel",
        when: "always",
        why: "whether agents run at once is decided by the state or the DAG, not by the agent",
        with_children: false,
        instead: "list the agents under a state's `agents:` with `parallel: true`, or make them DAG nodes (`--jobs` bounds how many run at once)",
        example: "agents:\n  builder:\n    parallel: true\n",
        find: |doc| {
            agents(doc)
                .filter(|(_, agent, _)| agent.parallel.is_some())
                .map(|(path, _, _)| (path.key("parallel"), None))
                .collect()
        },
    },
    InertKey {
        key: "agents.*.hooks",
        when: "`workflow.*` and `state.on_change` (agents run at a step's hooks)",
        why: "agents run only at a step's hooks: `phase.before_<phase>`, `phase.after_<phase>`, `agent.on_invoke`",
        with_children: false,
        instead: "name a step's hook (`phase.before_build`), or write a plugin for the run's hooks (`ralph-loop plugin new`)",
        example: "agents:\n  announcer:\n    command: \"true\"\n    hooks: [workflow.on_start]\n",
        find: |doc| {
            agents(doc)
                .filter_map(|(path, agent, _)| {
                    let elsewhere: Vec<String> = agent
                        .hooks
                        .iter()
                        .filter(|h| {
                            h.parse::<ralph_plugin_sdk::Hook>()
                                .is_ok_and(|h| !super::vocabulary::agents_run_at(&h))
                        })
                        .map(|h| format!("`{h}`"))
                        .collect();
                    (!elsewhere.is_empty()).then(|| (path.key("hooks"), Some(elsewhere.join(", "))))
                })
                .collect()
        },
    },
];

/// Whether an exporter of `observability.exporters` (named `name`) or of
/// `observability.metrics.exporters` (`name` empty) is one telemetry sends to.
fn known_exporter(name: &str, spec: &ExporterSpec) -> bool {
    let kind = exporter_kind(name, spec);
    EXPORTERS.iter().any(|k| kind.eq_ignore_ascii_case(k))
}

fn exporter_kind<'a>(name: &'a str, spec: &'a ExporterSpec) -> &'a str {
    spec.kind.as_deref().unwrap_or(name)
}

fn metric_exporters(doc: &Document) -> impl Iterator<Item = (FieldPath, &ExporterSpec)> {
    let list = match doc.observability.as_ref().and_then(|o| o.metrics.as_ref()) {
        Some(Toggle::Settings(m)) => m.exporters.as_slice(),
        _ => &[],
    };
    let at = root().key("observability").key("metrics").key("exporters");
    list.iter().enumerate().map(move |(i, spec)| (at.index(i), spec))
}

fn dashboard_key(doc: &Document, key: &str, set: fn(&super::model::Dashboard) -> bool) -> Places {
    let dashboard = doc.observability.as_ref().and_then(|o| o.dashboard.as_ref());
    match dashboard {
        Some(d) if set(d) => vec![(root().key("observability").key("dashboard").key(key), None)],
        _ => Vec::new(),
    }
}

/// Each agent with its path and its backend as far as the file says (`loop.backend` for
/// agents that name none; `None` when the backend is detected at run time).
fn agents(doc: &Document) -> impl Iterator<Item = (FieldPath, &super::model::Agent, Option<Backend>)> {
    let default = doc.loop_settings.as_ref().and_then(|l| l.backend);
    doc.agents.iter().map(move |(name, agent)| {
        let backend = match agent.backend {
            Some(b) => Some(b),
            None if agent.kind == Some(AgentKind::Command) || agent.command.is_some() => {
                Some(Backend::Command)
            }
            None => default,
        };
        (root().key("agents").key(name), agent, backend)
    })
}

/// Whether a concrete `path` is an instance of the schema path `pattern` (`*` any key, `[]` any
/// index).
pub fn matches(pattern: &str, path: &FieldPath) -> bool {
    let mut want: Vec<&str> = Vec::new();
    for part in pattern.split('.') {
        let (key, indices) =
            part.split_once("[]").map_or((part, 0), |(k, rest)| (k, 1 + rest.matches("[]").count()));
        want.push(key);
        want.extend(std::iter::repeat_n("[]", indices));
    }
    let got = path.segments();
    got.len() == want.len()
        && got.iter().zip(&want).all(|(segment, want)| match segment {
            Segment::Key(k) => *want == "*" || want == k,
            Segment::Index(_) => *want == "[]",
        })
}

/// The `inert-key` diagnostics of a (merged) document: warnings, errors when `strict`.
pub fn check(doc: &Document, strict: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for inert in INERT_KEYS {
        for (path, found) in inert.places(doc) {
            let mut d = Diagnostic::warning("inert-key", format!("`{path}` has no effect: {}", inert.why))
                .at(path)
                .note(format!("instead: {}", inert.instead));
            if let Some(found) = found {
                d = d.found(found);
            }
            if strict {
                d.severity = Severity::Error;
            } else {
                d = d.note("`workflow validate --strict` makes this an error");
            }
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_names_and_indices() {
        let path = FieldPath::parse("workflow.states[3].ui.type");
        assert!(matches("workflow.states[].ui.type", &path));
        assert!(!matches("workflow.states.ui.type", &path));
        assert!(matches("agents.*.tools", &FieldPath::parse("agents.builder.tools")));
        assert!(!matches("agents.*.tools", &FieldPath::parse("agents.builder.tools[0]")));
    }

    #[test]
    fn every_example_is_found_where_its_key_is() {
        for inert in INERT_KEYS {
            let doc: Document =
                serde_yaml::from_str(inert.example).unwrap_or_else(|e| panic!("{}: {e}", inert.key));
            let places = inert.places(&doc);
            assert!(!places.is_empty(), "{}: its example is not found", inert.key);
            for (path, _) in places {
                assert!(matches(inert.key, &path), "{}: found at {path}", inert.key);
            }
        }
    }
}
