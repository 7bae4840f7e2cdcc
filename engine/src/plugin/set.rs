//! The plugins of a run: loaded once when the run starts, called at hooks, and what their
//! decisions do.
//!
//! A decision takes effect only within what ralph.yaml grants: a veto needs the `veto`
//! capability and a hook that can stop something, a modify needs `modify` and a steering
//! packet to change; anything else is ignored and reported. A failing plugin counts towards
//! `max_failures` (then it is disabled for the run); its `on_error` decides meanwhile:
//! `fail_open` carries on, `fail_closed` vetoes what the hook guards — and a disabled
//! `fail_closed` plugin stops the run, since nothing it guards could be let through.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use ralph_plugin_sdk::{Decision, Hook, HookContext};

use super::catalog::{Catalog, PluginSpec};
use super::error::PluginError;
use super::runtime::{CallEnv, Loaded, Notification, Runtime};
use crate::workflow::model::OnPluginError;

/// One thing a plugin call did that the run records (a journal event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The plugin.
    pub plugin: String,
    /// The hook.
    pub hook: String,
    /// `veto`, `veto_ignored`, `modify`, `modify_ignored`, `annotate`, `metric`, `log`,
    /// `error`, `disabled`, `refused`, `notify`.
    pub kind: &'static str,
    /// What, for people.
    pub message: String,
}

/// What the plugins said at one hook.
#[derive(Debug, Default)]
pub struct Fired {
    /// The first veto that takes effect: the plugin and its reason.
    pub veto: Option<(String, String)>,
    /// Merge patches for the step's packet, in plugin order.
    pub patches: Vec<serde_json::Value>,
    /// Notes for the step's packet.
    pub notes: Vec<String>,
    /// What to journal.
    pub reports: Vec<Report>,
    /// Webhook calls to make.
    pub notifications: Vec<(String, Notification)>,
    /// The run must stop: a `fail_closed` plugin was disabled.
    pub halt: Option<String>,
    /// Each call made: for the hook duration and failure metrics.
    pub calls: Vec<CallRecord>,
}

struct Active {
    spec: PluginSpec,
    loaded: Loaded,
    /// The hooks it is called at (ralph.yaml's, else the plugin's own), parsed once: matching
    /// them is on every step's path.
    hooks: Vec<Hook>,
    env: CallEnv,
    failures: u32,
    disabled: bool,
}

/// The plugins of a run.
#[derive(Default)]
pub struct PluginSet {
    active: Vec<Active>,
    /// Secret values (secret-named environment variables, resolved `${…}` config) that must
    /// not reach the journal through what a plugin says.
    redactor: crate::redact::Redactor,
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.active.iter().map(|a| &a.spec.name)).finish()
    }
}

/// A plugin that could not be loaded, and whether the run may go on without it.
#[derive(Debug)]
pub struct LoadFailure {
    /// The error.
    pub error: PluginError,
    /// `fail_closed`: the run must not start without it.
    pub fatal: bool,
}

/// Components larger than this are said before their first compilation (a Rust plugin of a few
/// hundred KB compiles in well under a second; an interpreter's component takes seconds).
const COMPILE_NOTICE_BYTES: usize = 1 << 20;

impl PluginSet {
    /// Loads the enabled plugins of `catalog` (compiled components cached in `cache_dir`).
    /// A plugin that cannot be loaded is left out; the failures say whether that is fatal.
    /// `notice` is told before a large component is compiled for the first time.
    pub fn load(catalog: &Catalog, cache_dir: &Path, notice: &dyn Fn(&str)) -> (PluginSet, Vec<LoadFailure>) {
        let mut set = PluginSet::default();
        let mut failures = Vec::new();
        let enabled: Vec<&PluginSpec> = catalog.plugins.iter().filter(|p| p.enabled).collect();
        if enabled.is_empty() {
            return (set, failures);
        }
        set.redactor = crate::redact::Redactor::from_env();
        for spec in &enabled {
            for secret in &spec.secrets {
                set.redactor.add(secret);
            }
        }
        let runtime = match Runtime::shared() {
            Ok(r) => r,
            Err(error) => {
                let fatal = enabled.iter().any(|p| p.on_error == OnPluginError::FailClosed);
                failures.push(LoadFailure { error, fatal });
                return (set, failures);
            }
        };
        for spec in enabled {
            let fatal = spec.on_error == OnPluginError::FailClosed;
            // A bundled plugin's component is in the binary and compiled once per machine, in
            // the user's cache (the project's when there is no home).
            let (bytes, cache) = match spec.bundled {
                Some(b) => (Ok(Cow::Borrowed(b.bytes)), super::bundled::cache_dir()),
                None => (std::fs::read(&spec.file).map(Cow::Owned), None),
            };
            let cache = cache.unwrap_or_else(|| cache_dir.to_path_buf());
            let loaded = bytes
                .map_err(|source| PluginError::Read {
                    plugin: spec.name.clone(),
                    path: spec.file.display().to_string(),
                    source,
                })
                .and_then(|bytes| {
                    if let Some(manifest) = &spec.manifest {
                        let sha = super::cache::sha256_hex(&bytes);
                        if sha != manifest.sha256 {
                            return Err(PluginError::Invalid {
                                plugin: spec.name.clone(),
                                reason: format!(
                                    "its file changed since it was installed (sha256 {sha}, installed {}): install it again",
                                    manifest.sha256
                                ),
                            });
                        }
                    }
                    // A Python or JavaScript component carries its interpreter: compiling it
                    // takes seconds, once per machine and engine version.
                    if bytes.len() > COMPILE_NOTICE_BYTES {
                        let sha = super::cache::sha256_hex(&bytes);
                        if !super::cache::artifact_path(&cache, runtime.engine(), &sha).is_file() {
                            notice(&format!(
                                "plugin `{}`: compiling its {:.1} MB component for this machine (once: it is cached)…",
                                spec.name,
                                bytes.len() as f64 / 1e6
                            ));
                        }
                    }
                    runtime.load(&spec.name, &bytes, Some(&cache), spec.limits)
                });
            match loaded {
                Ok(loaded) => {
                    let names = if spec.hooks.is_empty() { &loaded.descriptor().hooks } else { &spec.hooks };
                    // A name that is not a hook could never be called; ralph.yaml's are validated.
                    let hooks = names.iter().filter_map(|n| n.parse().ok()).collect();
                    let env =
                        CallEnv { config: Arc::new(spec.config.clone()), notify: spec.grants("notify") };
                    set.active.push(Active {
                        spec: spec.clone(),
                        loaded,
                        hooks,
                        env,
                        failures: 0,
                        disabled: false,
                    });
                }
                Err(error) => failures.push(LoadFailure { error, fatal }),
            }
        }
        (set, failures)
    }

    /// Whether no plugin is loaded.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The loaded plugins' names.
    pub fn names(&self) -> Vec<&str> {
        self.active.iter().map(|a| a.spec.name.as_str()).collect()
    }

    /// Whether some enabled plugin is called at any of `hooks` (checked before building a
    /// context nobody reads).
    pub fn wants(&self, hooks: &[Hook]) -> bool {
        self.active.iter().any(|a| !a.disabled && hooks.iter().any(|h| a.hooks.contains(h)))
    }

    /// Calls every plugin subscribed to one of `hooks` (each once, at the first it is
    /// subscribed to) with `context`, in ralph.yaml's order; a plugin's `modify` and
    /// `annotate` are collected for the caller to apply, a veto that takes effect stops the
    /// calls (later plugins have nothing left to guard).
    ///
    /// Each call is a span under `parent` (the step's, the iteration's or the run's).
    pub fn fire(&mut self, hooks: &[Hook], context: &HookContext, parent: Option<&tracing::Span>) -> Fired {
        let mut fired = Fired::default();
        let mut json: Option<String> = None;
        for active in &mut self.active {
            if active.disabled || fired.veto.is_some() {
                continue;
            }
            let Some(hook) = hooks.iter().find(|h| active.hooks.contains(h)) else {
                continue;
            };
            let json = json.get_or_insert_with(|| serde_json::to_string(context).unwrap_or_default());
            call(active, hook, json, &mut fired, parent);
        }
        let redact = |text: &mut String| {
            if let Cow::Owned(masked) = self.redactor.redact(text) {
                *text = masked;
            }
        };
        fired.reports.iter_mut().for_each(|r| redact(&mut r.message));
        fired.notes.iter_mut().for_each(redact);
        if let Some((_, reason)) = &mut fired.veto {
            redact(reason);
        }
        if let Some(reason) = &mut fired.halt {
            redact(reason);
        }
        fired
    }
}

fn report(fired: &mut Fired, plugin: &str, hook: &str, kind: &'static str, message: String) {
    fired.reports.push(Report { plugin: plugin.to_owned(), hook: hook.to_owned(), kind, message });
}

/// One call of a plugin's hook.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The plugin.
    pub plugin: String,
    /// The hook.
    pub hook: String,
    /// How long it took, instantiation included.
    pub seconds: f64,
    /// How it failed (`PluginError::kind`), if it did.
    pub error: Option<&'static str>,
    /// What it answered (`Decision::kind`), when it answered.
    pub decision: Option<&'static str>,
}

/// A metric as a `metric` event says it, whether emitted or answered: `name value k=v,k=v`.
fn metric_line<'a>(
    name: &str,
    value: f64,
    labels: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> String {
    let labels: Vec<String> = labels.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name} {value} {}", labels.join(","))
}

/// Calls one plugin and folds its answer into `fired`.
fn call(active: &mut Active, hook: &Hook, json: &str, fired: &mut Fired, parent: Option<&tracing::Span>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let name = active.spec.name.clone();
    let hook_name = hook.as_str().into_owned();
    let span = match parent {
        Some(parent) => tracing::info_span!(
            target: crate::telemetry::run::SPAN_TARGET,
            parent: parent,
            "plugin",
            otel.name = %format!("plugin {name} {hook_name}")
        ),
        None => tracing::Span::none(),
    };
    span.set_attribute("ralph.plugin.name", name.clone());
    span.set_attribute("ralph.plugin.hook", hook_name.clone());
    let started = std::time::Instant::now();
    let result = span.in_scope(|| active.loaded.call(&hook_name, json, active.env.clone()));
    let seconds = started.elapsed().as_secs_f64();
    let error = result.as_ref().err().map(PluginError::kind);
    let answer = match result {
        Ok(out) => {
            for line in &out.logs {
                report(fired, &name, &hook_name, "log", format!("[{}] {}", line.level, line.message));
            }
            for metric in &out.metrics {
                let line = metric_line(&metric.name, metric.value, metric.labels.iter().map(|(k, v)| (k, v)));
                report(fired, &name, &hook_name, "metric", line);
            }
            for refused in &out.refused {
                report(
                    fired,
                    &name,
                    &hook_name,
                    "refused",
                    format!("{refused}: the `notify` capability is not granted"),
                );
            }
            for n in out.notifications {
                report(fired, &name, &hook_name, "notify", format!("POST {}", n.url));
                fired.notifications.push((name.clone(), n));
            }
            match out.decision {
                Some(Ok(text)) => {
                    serde_json::from_str::<Decision>(&text).map_err(|e| PluginError::BadDecision {
                        plugin: name.clone(),
                        hook: hook_name.clone(),
                        reason: e.to_string(),
                    })
                }
                Some(Err(message)) => {
                    Err(PluginError::Failed { plugin: name.clone(), hook: hook_name.clone(), message })
                }
                None => Ok(Decision::Continue),
            }
        }
        Err(error) => Err(error),
    };
    let error = error.or_else(|| answer.as_ref().err().map(PluginError::kind));
    if let Some(kind) = error {
        span.set_attribute(crate::telemetry::semconv::ERROR_TYPE, kind);
        span.set_status(opentelemetry::trace::Status::error(kind));
    }
    let decision = answer.as_ref().ok().map(Decision::kind);
    if let Some(kind) = decision {
        span.set_attribute("ralph.plugin.decision", kind);
    }
    fired.calls.push(CallRecord { plugin: name.clone(), hook: hook_name.clone(), seconds, error, decision });
    match answer {
        Ok(decision) => {
            active.failures = 0;
            decide(active, hook, decision, fired);
        }
        Err(error) => {
            active.failures += 1;
            report(fired, &name, &hook_name, "error", format!("{error} ({})", error.kind()));
            let closed = active.spec.on_error == OnPluginError::FailClosed;
            if closed && hook.can_veto() {
                fired.veto = Some((name.clone(), format!("it failed and fails closed — {error}")));
            }
            if active.failures >= active.spec.max_failures {
                active.disabled = true;
                report(
                    fired,
                    &name,
                    &hook_name,
                    "disabled",
                    format!(
                        "disabled for the rest of the run after {} failed calls in a row",
                        active.failures
                    ),
                );
                if closed {
                    fired.halt = Some(format!(
                        "plugin `{name}` fails closed and was disabled after {} failed calls in a row: {error}",
                        active.failures
                    ));
                }
            }
        }
    }
}

fn decide(active: &Active, hook: &Hook, decision: Decision, fired: &mut Fired) {
    let name = active.spec.name.as_str();
    let hook_name = hook.as_str();
    match decision {
        Decision::Continue => {}
        Decision::Veto { reason } => {
            if !active.spec.grants("veto") {
                report(
                    fired,
                    name,
                    &hook_name,
                    "veto_ignored",
                    format!("vetoed ({reason}), but ralph.yaml does not grant it `veto`: ignored"),
                );
            } else if !hook.can_veto() {
                report(
                    fired,
                    name,
                    &hook_name,
                    "veto_ignored",
                    format!("vetoed ({reason}), but `{hook_name}` cannot stop anything: ignored"),
                );
            } else {
                report(fired, name, &hook_name, "veto", reason.clone());
                fired.veto = Some((name.to_owned(), reason));
            }
        }
        Decision::Modify { patch } => {
            if !active.spec.grants("modify") {
                report(
                    fired,
                    name,
                    &hook_name,
                    "modify_ignored",
                    "asked to modify the packet, but ralph.yaml does not grant it `modify`: ignored".into(),
                );
            } else {
                report(fired, name, &hook_name, "modify", patch.to_string());
                fired.patches.push(patch);
            }
        }
        Decision::Annotate { notes } => {
            for note in &notes {
                report(fired, name, &hook_name, "annotate", note.clone());
            }
            fired.notes.extend(notes);
        }
        Decision::Metrics { samples } => {
            for s in samples {
                report(fired, name, &hook_name, "metric", metric_line(&s.name, s.value, &s.labels));
            }
        }
    }
}
