//! The plugin host: one wasmtime [`Engine`] for the process, components compiled once (and
//! cached on disk), and a fresh [`Store`] per call with a memory limit, fuel and an epoch
//! deadline. Plugins get a WASI context that grants nothing: no preopened directory, no
//! environment variable, no socket; their standard output and error are captured for the log.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use ralph_plugin_sdk::Descriptor;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::cache;
use super::error::PluginError;
use super::limits::Limits;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugins-sdk/wit",
        world: "plugin",
    });
}

use bindings::ralph::plugin::host::{Host, Level};

/// The package a plugin's imports must come from, and the major version this engine speaks.
const PACKAGE: &str = "ralph:plugin/";
const MAJOR: &str = "1.";
/// The SDK release that builds plugins this engine loads.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How many plugin instances may live at once, and the most memory one may have.
const POOL: u32 = 64;
pub const MAX_MEMORY: usize = 1 << 30;
/// Freed instances' memory is returned to the kernel in batches: one `madvise` per batch
/// instead of one per call (measured: median call 23 µs → 18 µs).
const DECOMMIT_BATCH: usize = 16;
/// A freed instance's dirty pages (found with Linux's `PAGEMAP_SCAN`, 6.7+) are reset in place
/// and stay mapped, up to this much: the next call of the plugin takes no page fault. Measured
/// on the budget guard: 7 page faults and 27 µs per call before, none and 15.5 µs after. A
/// memory bomb's pages beyond it are returned to the kernel as before.
const KEEP_RESIDENT: usize = 2 << 20;
const KEEP_TABLES_RESIDENT: usize = 64 << 10;

/// How often the deadline clock ticks while a call runs.
const TICK: Duration = Duration::from_millis(5);
/// What one call may say: log lines (each cut at `MAX_LINE` bytes), metrics, notifications.
const MAX_LOG_LINES: usize = 64;
const MAX_LINE: usize = 4096;
const MAX_METRICS: usize = 256;
const MAX_NOTIFICATIONS: usize = 8;
/// Captured standard output and error, per call.
const MAX_OUTPUT: usize = 16 * 1024;

/// A log line a plugin wrote (with `log`, or on its standard output or error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`; `stdout`/`stderr` for captured output.
    pub level: &'static str,
    /// The line.
    pub message: String,
}

/// A metric a plugin emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its labels.
    pub labels: Vec<(String, String)>,
}

/// A webhook call a plugin asked for (only with the `notify` capability).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Where to POST.
    pub url: String,
    /// The JSON body.
    pub body: String,
}

/// What a call needs besides the hook and context: the plugin's settings and grants.
#[derive(Debug, Clone, Default)]
pub struct CallEnv {
    /// The plugin's `config:`, values as `config-get` returns them.
    pub config: Arc<std::collections::BTreeMap<String, String>>,
    /// Whether `notify` is granted.
    pub notify: bool,
}

/// What a call produced.
#[derive(Debug, Default)]
pub struct CallOutput {
    /// The answer of `on-hook`: the decision's JSON, or the plugin's error message.
    pub decision: Option<Result<String, String>>,
    /// Log lines, output first-come.
    pub logs: Vec<LogLine>,
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Notifications to send.
    pub notifications: Vec<Notification>,
    /// Calls the plugin made that were refused (`notify` without the capability).
    pub refused: Vec<String>,
    /// Whether the call asked for more memory than its limit (and was refused).
    pub memory_limit_hit: bool,
}

/// The state of one call's store.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    env: CallEnv,
    out: CallOutput,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// `text` cut to at most `limit` bytes (at a character boundary), marked with `…` when cut:
/// what a plugin says, or is shown, is bounded.
pub fn cut(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        text.truncate(text.floor_char_boundary(limit));
        text.push('…');
    }
    text
}

impl Host for CallState {
    fn log(&mut self, level: Level, message: String) {
        if self.out.logs.len() < MAX_LOG_LINES {
            let level = match level {
                Level::Trace => "trace",
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => "warn",
                Level::Error => "error",
            };
            self.out.logs.push(LogLine { level, message: cut(message, MAX_LINE) });
        }
    }

    fn emit_metric(&mut self, name: String, value: f64, labels: Vec<(String, String)>) {
        if self.out.metrics.len() < MAX_METRICS {
            self.out.metrics.push(Metric { name: cut(name, MAX_LINE), value, labels });
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.env.config.get(&key).cloned()
    }

    fn notify(&mut self, url: String, body: String) -> Result<(), String> {
        if !self.env.notify {
            self.out.refused.push(format!("notify {}", cut(url, MAX_LINE)));
            return Err("the `notify` capability is not granted to this plugin in ralph.yaml".into());
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("`{url}` is not an http(s) URL"));
        }
        if self.out.notifications.len() >= MAX_NOTIFICATIONS {
            return Err(format!("at most {MAX_NOTIFICATIONS} notifications per call"));
        }
        self.out.notifications.push(Notification { url, body });
        Ok(())
    }
}

/// Caps a call's memory and tables, and remembers that it asked for more.
struct Limiter {
    memory_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Ticks the engine's epoch while calls run, and sleeps otherwise.
struct Ticker {
    running: AtomicUsize,
    thread: OnceLock<Thread>,
}

impl Ticker {
    fn enter(&self) {
        if self.running.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The process's plugin host.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    ticker: Arc<Ticker>,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// The host, made on first use: one wasmtime engine per process.
    ///
    /// # Errors
    ///
    /// When wasmtime cannot be set up on this machine.
    pub fn shared() -> Result<&'static Runtime, PluginError> {
        RUNTIME
            .get_or_init(|| Runtime::new().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|message| PluginError::Host { plugin: String::new(), message: message.clone() })
    }

    fn new() -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.epoch_interruption(true);
        // Plugins are small and called often: keep compiled code and memory images ready.
        config.memory_init_cow(true);
        // Instances come from a pool of pre-reserved slots: a call instantiates in microseconds
        // instead of mapping fresh memory. The pool caps how many calls run at once; each
        // call's own limit (the limiter) is at most `MAX_MEMORY`.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL)
            .total_core_instances(POOL * 8)
            .total_memories(POOL * 2)
            .total_tables(POOL * 8)
            .max_memory_size(MAX_MEMORY)
            .decommit_batch_size(DECOMMIT_BATCH)
            .pagemap_scan(wasmtime::Enabled::Auto);
        // Without `PAGEMAP_SCAN`, keeping pages resident means `memset`ting all of them after
        // every call, which costs more than the page faults it saves.
        if has_pagemap_scan() {
            pool.linear_memory_keep_resident(KEEP_RESIDENT).table_keep_resident(KEEP_TABLES_RESIDENT);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        let ticker = Arc::new(Ticker { running: AtomicUsize::new(0), thread: OnceLock::new() });
        let (weak, clock) = (Arc::downgrade(&ticker), engine.weak());
        let handle = std::thread::Builder::new().name("plugin-clock".into()).spawn(move || {
            loop {
                let Some(ticker) = weak.upgrade() else { return };
                if ticker.running.load(Ordering::SeqCst) == 0 {
                    drop(ticker);
                    std::thread::park_timeout(Duration::from_secs(1));
                    continue;
                }
                drop(ticker);
                std::thread::sleep(TICK);
                match clock.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })?;
        let _ = ticker.thread.set(handle.thread().clone());
        Ok(Runtime { engine, linker, ticker })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a component: from the cache in `cache_dir` when it holds this content compiled by a
    /// compatible engine, else compiled (and cached). Checks the contract version and asks the
    /// plugin to describe itself.
    ///
    /// # Errors
    ///
    /// A corrupt file, a core module, a plugin of another contract version, a component that
    /// is not a plugin, or a `describe` that fails.
    pub fn load(
        &self,
        name: &str,
        bytes: &[u8],
        cache_dir: Option<&Path>,
        limits: Limits,
    ) -> Result<Loaded, PluginError> {
        let sha256 = cache::sha256_hex(bytes);
        let component = cache::component(&self.engine, name, bytes, &sha256, cache_dir)?;
        check_imports(&self.engine, name, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::NotAPlugin { plugin: name.to_owned(), reason: format!("{e:#}") })?;
        let pre = bindings::PluginPre::new(pre)
            .map_err(|e| PluginError::NotAPlugin { plugin: name.to_owned(), reason: format!("{e:#}") })?;
        let mut loaded = Loaded {
            name: name.to_owned(),
            pre,
            descriptor: Descriptor::default(),
            sha256,
            limits,
            ticker: Arc::clone(&self.ticker),
        };
        loaded.descriptor = loaded.describe()?;
        Ok(loaded)
    }
}

/// Whether the kernel has the `PAGEMAP_SCAN` ioctl (Linux 6.7 and later).
fn has_pagemap_scan() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else { return false };
    let mut numbers =
        release.trim().split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (6, 7)
}

/// Runs a call where WASI's synchronous host functions may block on their own futures: WASI
/// (standard output, the clock) drives async code with the current tokio runtime's
/// `block_on`, which a runtime worker must not do. On a multi-threaded runtime the worker
/// steps aside for the call (`block_in_place`); on a current-thread runtime the call runs on a
/// thread of its own; outside a runtime it runs here.
fn blocking<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// Refuses a component that imports another major version of the contract, with the version
/// it was built for.
fn check_imports(engine: &Engine, name: &str, component: &Component) -> Result<(), PluginError> {
    for (import, _) in component.component_type().imports(engine) {
        if let Some(rest) = import.strip_prefix(PACKAGE) {
            if let Some((_, version)) = rest.split_once('@') {
                if !version.starts_with(MAJOR) {
                    return Err(PluginError::WrongVersion {
                        plugin: name.to_owned(),
                        found: import.to_owned(),
                        sdk: SDK_VERSION,
                    });
                }
            }
        }
    }
    Ok(())
}

/// A loaded plugin: its compiled component, ready to instantiate.
pub struct Loaded {
    name: String,
    pre: bindings::PluginPre<CallState>,
    descriptor: Descriptor,
    sha256: String,
    limits: Limits,
    ticker: Arc<Ticker>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// What the plugin says it is.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The SHA-256 of its component file.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The limits each call gets.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn store(
        &self,
        env: CallEnv,
    ) -> Result<(Store<CallState>, MemoryOutputPipe, MemoryOutputPipe), PluginError> {
        let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
        let stderr = MemoryOutputPipe::new(MAX_OUTPUT);
        // Nothing is inherited or preopened: no files, no environment, no arguments, no sockets.
        let wasi = WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX),
                hit: false,
            },
            env,
            out: CallOutput::default(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(self.limits.fuel).map_err(|e| self.host_error(&e))?;
        let ticks = self.limits.timeout.as_millis().div_ceil(TICK.as_millis()).max(1) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        Ok((store, stdout, stderr))
    }

    fn host_error(&self, e: &wasmtime::Error) -> PluginError {
        PluginError::Host { plugin: self.name.clone(), message: format!("{e:#}") }
    }

    /// What went wrong in a call that failed in the guest, from the trap and what it logged.
    fn classify(&self, hook: &str, error: &wasmtime::Error, state: &CallState) -> PluginError {
        let (plugin, hook) = (self.name.clone(), hook.to_owned());
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return PluginError::Timeout {
                    plugin,
                    hook,
                    timeout_ms: self.limits.timeout.as_millis() as u64,
                };
            }
            Some(Trap::OutOfFuel) => return PluginError::OutOfFuel { plugin, hook, fuel: self.limits.fuel },
            _ => {}
        }
        if state.limiter.hit {
            return PluginError::OutOfMemory { plugin, hook, limit_mib: self.limits.memory_bytes >> 20 };
        }
        if let Some(line) = state.out.logs.iter().rev().find(|l| l.message.starts_with("plugin panicked")) {
            let message = line.message.trim_start_matches("plugin panicked: ").to_owned();
            return PluginError::Panicked { plugin, hook, message };
        }
        let message = match error.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => format!("{error:#}"),
        };
        PluginError::Trapped { plugin, hook, message }
    }

    /// Runs `f` on a fresh instance with the call's limits; the deadline clock runs meanwhile.
    fn with_instance<R: Send>(
        &self,
        hook: &str,
        env: CallEnv,
        f: impl FnOnce(&bindings::Plugin, &mut Store<CallState>) -> wasmtime::Result<R> + Send,
    ) -> Result<(R, CallOutput), PluginError> {
        let (mut store, stdout, stderr) = self.store(env)?;
        self.ticker.enter();
        let result =
            blocking(|| self.pre.instantiate(&mut store).and_then(|instance| f(&instance, &mut store)));
        self.ticker.leave();
        let captured = [("stdout", stdout.contents()), ("stderr", stderr.contents())];
        let state = store.data_mut();
        for (level, bytes) in captured {
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if state.out.logs.len() < MAX_LOG_LINES {
                    state.out.logs.push(LogLine { level, message: cut(line.to_owned(), MAX_LINE) });
                }
            }
        }
        match result {
            Ok(value) => {
                let state = store.data_mut();
                state.out.memory_limit_hit = state.limiter.hit;
                Ok((value, std::mem::take(&mut state.out)))
            }
            Err(e) => Err(self.classify(hook, &e, store.data())),
        }
    }

    fn describe(&self) -> Result<Descriptor, PluginError> {
        let (d, _) = self.with_instance("describe", CallEnv::default(), |p, store| p.call_describe(store))?;
        Ok(Descriptor {
            name: d.name,
            version: d.version,
            description: d.description,
            hooks: d.hooks,
            capabilities: d.capabilities,
        })
    }

    /// Calls `on-hook` in a fresh instance.
    ///
    /// # Errors
    ///
    /// A trap, a timeout, running out of fuel or memory, or a panic; an `Err` answer of the
    /// plugin is not an error here but the output's `decision`.
    pub fn call(&self, hook: &str, context_json: &str, env: CallEnv) -> Result<CallOutput, PluginError> {
        let (decision, mut out) =
            self.with_instance(hook, env, |p, store| p.call_on_hook(store, hook, context_json))?;
        // An interpreter (Python, JavaScript) turns a refused allocation into an exception the
        // plugin answers as an error: that error is the memory limit's doing, as a trap is.
        if decision.is_err() && out.memory_limit_hit {
            return Err(PluginError::OutOfMemory {
                plugin: self.name.clone(),
                hook: hook.to_owned(),
                limit_mib: self.limits.memory_bytes >> 20,
            });
        }
        out.decision = Some(decision);
        Ok(out)
    }
}
