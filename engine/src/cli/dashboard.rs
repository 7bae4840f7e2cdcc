//! `ralph-loop dashboard`: where the Grafana dashboards are and their addresses, and whether the
//! monitoring stack's endpoints answer; `--write DIR` writes the stack itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::table::{Align, Table};
use super::{ConfigArgs, Env, Exit};
use crate::init::monitoring::{self, Dashboard, WriteError, Written};
use crate::telemetry::endpoints::{self, Endpoint, ProbeError};
use crate::workflow::load::load_path;
use crate::workflow::model::Document;
use crate::workflow::schema::SchemaKind;

/// How long each endpoint has to answer: a local service answers in milliseconds, and one that
/// takes longer is as good as down for someone about to open a dashboard.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Arguments of `dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Write the monitoring stack (compose file, collector and Prometheus configuration, Grafana
    /// provisioning, dashboards) into DIR, e.g. `monitoring`.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// With --write: replace files that differ from this build's.
    #[arg(long, requires = "write")]
    pub force: bool,
    /// Only say where things are; do not ask the endpoints.
    #[arg(long, conflicts_with = "write")]
    pub no_check: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Serve the built-in web dashboard of this project's loop at ADDR (a port, or IP:PORT; default
    /// 127.0.0.1:8080) until Ctrl-C: live while a loop runs, the store's runs otherwise.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = crate::dashboard::DEFAULT_ADDR,
        value_parser = crate::dashboard::parse_addr,
        conflicts_with_all = ["write", "no_check", "json"]
    )]
    pub serve: Option<std::net::SocketAddr>,
    /// With --serve: the token every request must carry (`Authorization: Bearer …` or
    /// `?token=…`); generated and printed once when ADDR is not loopback and none is given.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RALPH_DASHBOARD_TOKEN",
        requires = "serve",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// Shows the dashboards and checks the endpoints, or writes the stack.
pub fn run(args: &DashboardArgs, env: &Env) -> anyhow::Result<Exit> {
    if let Some(addr) = args.serve {
        return serve(addr, args.token.clone(), env);
    }
    if let Some(dir) = &args.write {
        return write(&in_project(env, dir), args);
    }
    let doc = project_document(args.config.config.as_deref(), env)?;
    let endpoints = endpoints::endpoints(doc.observability.as_ref(), &|name| std::env::var(name).ok());
    let grafana = endpoints[0].url.clone();
    let location = Location::find(env);
    let answers = if args.no_check { None } else { Some(endpoints::check_all(&endpoints, TIMEOUT)?) };
    let all_up = answers.as_ref().is_none_or(|a| a.iter().all(Result::is_ok));
    if args.json {
        super::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json(&location, &grafana, &endpoints, answers.as_deref()))?
        ));
    } else {
        super::out(&human(&location, &grafana, &endpoints, answers.as_deref()));
    }
    if all_up {
        return Ok(Exit::Ok);
    }
    let stack = in_project(env, Path::new(monitoring::PROJECT_DIR));
    let write_first = if location.in_project {
        String::new()
    } else {
        format!("`ralph-loop dashboard --write {}`, then ", stack.display())
    };
    eprintln!(
        "hint: not every endpoint answers; start the monitoring stack with {write_first}`docker compose -f {} up -d`",
        stack.join("docker-compose.yml").display()
    );
    Ok(Exit::Failed)
}

/// A path of the project as the user can type it: relative ones under the project directory,
/// without the `./` of the default one.
fn in_project(env: &Env, path: &Path) -> PathBuf {
    if env.project_dir == Path::new(".") { path.to_path_buf() } else { env.project_dir.join(path) }
}

/// The project's `ralph.yaml` (or `--config`); none is an empty one, as for the plugin verbs.
pub fn project_document(config: Option<&Path>, env: &Env) -> anyhow::Result<Document> {
    let file = match config {
        Some(path) => in_project(env, path),
        None => {
            let file = env.project_dir.join("ralph.yaml");
            if !file.is_file() {
                return Ok(Document::default());
            }
            file
        }
    };
    let loaded = load_path(&file, SchemaKind::Config)
        .map_err(|e| anyhow::Error::from(e).context(format!("cannot read `{}`", file.display())))?;
    match loaded.document {
        Some(doc) if !loaded.has_errors() => Ok(doc),
        _ => Err(super::exit::invalid(format!(
            "`{}` has errors: `ralph-loop workflow validate {}` shows them",
            file.display(),
            file.display()
        ))),
    }
}

/// Where the dashboards are: the project's own, or (none there) the ones this build carries.
struct Location {
    /// The project's dashboards directory.
    dir: PathBuf,
    /// Whether it is there (else `dashboards` are the bundled ones, on no disk yet).
    in_project: bool,
    dashboards: Vec<Dashboard>,
}

impl Location {
    fn find(env: &Env) -> Location {
        let dir = in_project(env, &Path::new(monitoring::PROJECT_DIR).join(monitoring::DASHBOARDS_DIR));
        match monitoring::dashboards_in(&dir) {
            Ok(dashboards) => Location { dir, in_project: true, dashboards },
            Err(_) => Location { dir, in_project: false, dashboards: monitoring::bundled_dashboards() },
        }
    }
}

/// The report for people: the dashboards and their addresses, then the endpoints.
fn human(
    location: &Location,
    grafana: &str,
    endpoints: &[Endpoint],
    answers: Option<&[Result<(), ProbeError>]>,
) -> String {
    let mut text = if location.in_project {
        format!("dashboards: {} ({} found)\n", location.dir.display(), location.dashboards.len())
    } else {
        format!(
            "dashboards: not in this project (no {}); `ralph-loop dashboard --write {}` writes the monitoring stack with them\n",
            location.dir.display(),
            monitoring::PROJECT_DIR
        )
    };
    let mut links = Table::new(&[("DASHBOARD", Align::Left), ("URL", Align::Left)]);
    for dashboard in &location.dashboards {
        links.row(vec![dashboard.title.clone(), dashboard.url(grafana)]);
    }
    text.push_str(&indent(&links.render()));
    text.push('\n');
    let mut table = Table::new(&[("ENDPOINT", Align::Left), ("URL", Align::Left), ("STATUS", Align::Left)]);
    for (i, endpoint) in endpoints.iter().enumerate() {
        let status = match answers.map(|a| &a[i]) {
            None => format!("not checked ({}, from {})", endpoint.check(), endpoint.origin),
            Some(Ok(())) => "up".to_owned(),
            Some(Err(reason)) => format!("down ({reason})"),
        };
        table.row(vec![endpoint.service.name().to_owned(), endpoint.url.clone(), status]);
    }
    text.push_str(&table.render());
    text
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// The report for scripts.
fn json(
    location: &Location,
    grafana: &str,
    endpoints: &[Endpoint],
    answers: Option<&[Result<(), ProbeError>]>,
) -> serde_json::Value {
    let dashboards: Vec<_> = location
        .dashboards
        .iter()
        .map(|d| serde_json::json!({"title": d.title, "uid": d.uid, "file": d.file, "url": d.url(grafana)}))
        .collect();
    let checked: Vec<_> = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (status, reason) = match answers.map(|a| &a[i]) {
                None => ("unchecked", None),
                Some(Ok(())) => ("up", None),
                Some(Err(reason)) => ("down", Some(reason.to_string())),
            };
            serde_json::json!({
                "name": e.service.name(),
                "url": e.url,
                "from": e.origin.to_string(),
                "check": e.check(),
                "status": status,
                "reason": reason,
            })
        })
        .collect();
    serde_json::json!({
        "dashboards": {
            "directory": location.dir.display().to_string(),
            "in_project": location.in_project,
            "grafana": grafana,
            "list": dashboards,
        },
        "endpoints": checked,
        "all_up": answers.map(|a| a.iter().all(Result::is_ok)),
    })
}

/// `--write DIR`: the stack into `dir`.
fn write(dir: &Path, args: &DashboardArgs) -> anyhow::Result<Exit> {
    let written = match monitoring::write(dir, args.force) {
        Ok(written) => written,
        Err(e @ WriteError::Differs { .. }) => {
            return Err(super::exit::usage(format!("{e}; nothing was written (`--force` replaces them)")));
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        let files: Vec<_> = written
            .iter()
            .map(|(path, what)| serde_json::json!({"path": path.display().to_string(), "written": what}))
            .collect();
        super::out(&format!("{}\n", serde_json::to_string_pretty(&serde_json::json!({"files": files}))?));
    } else {
        for (path, what) in &written {
            let verb = match what {
                Written::Created => "created  ",
                Written::Unchanged => "unchanged",
                Written::Replaced => "replaced ",
            };
            eprintln!("{verb} {}", path.display());
        }
        eprintln!(
            "\nnext: docker compose -f {} up -d\n      ralph-loop dashboard",
            dir.join("docker-compose.yml").display()
        );
    }
    Ok(Exit::Ok)
}

/// A web dashboard being served, on a runtime of its own (two threads: the loop's runtime is
/// left alone). Stops when dropped.
pub struct Served {
    // Dropped first: the server's task is aborted while its runtime still runs.
    dashboard: crate::dashboard::Dashboard,
    runtime: tokio::runtime::Runtime,
    /// Its address as people open it (`http://127.0.0.1:8080/`), without the token.
    shown: String,
}

impl Served {
    /// The review form's address (`http://ADDR/review`), without the token: for the
    /// notifications of a review.
    pub fn review_url(&self) -> String {
        format!("{}review", self.shown)
    }
}

/// Serves the web dashboard of `env`'s project at `addr` and says where. Changes always need
/// a token, and reads too off loopback or when one is given: without one, one is made and
/// printed once, in the page's address.
/// `lasts` says how long it serves (`Ctrl-C stops it`, `it ends with the loop`).
pub fn start(
    addr: std::net::SocketAddr,
    token: Option<String>,
    lasts: &str,
    env: &Env,
) -> anyhow::Result<Served> {
    let chosen = token.is_some();
    let token = match token {
        Some(token) => token,
        None => crate::dashboard::auth::new_token()?,
    };
    let open_reads = addr.ip().is_loopback() && !chosen;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dashboard")
        .enable_all()
        .build()?;
    let options = crate::dashboard::Options {
        addr,
        token: token.clone(),
        open_reads,
        project_dir: env.project_dir.clone(),
        state_dir: env.state_dir.clone(),
    };
    let dashboard = match runtime.block_on(crate::dashboard::serve(options)) {
        Ok(d) => d,
        Err(e @ crate::dashboard::ServeError::Bind { .. }) => {
            return Err(super::exit::environment(format!(
                "{e}: is another dashboard or server on that port? `--serve 127.0.0.1:0` picks a free one"
            )));
        }
        Err(e) => return Err(super::exit::usage(e)),
    };
    let shown = if dashboard.addr().ip().is_unspecified() {
        // Every interface: shown under this machine's name, as another machine reaches it.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned());
        format!(
            "http://{}:{}/",
            host.ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into()),
            dashboard.addr().port()
        )
    } else {
        format!("http://{}/", dashboard.addr())
    };
    let project = std::fs::canonicalize(&env.project_dir).unwrap_or_else(|_| env.project_dir.clone());
    if chosen {
        eprintln!("dashboard of `{}`: {shown} ({lasts}); it takes the token you gave", project.display());
    } else {
        let reads =
            if open_reads { "changes (pause, hint, approve, …) need" } else { "every request needs" };
        eprintln!(
            "dashboard of `{}`: {shown}?token={token} ({lasts})\n  {reads} this token, shown once: open the page at that address, or send `Authorization: Bearer <token>`; RALPH_DASHBOARD_TOKEN chooses one",
            project.display()
        );
    }
    Ok(Served { dashboard, runtime, shown })
}

/// `dashboard --serve`: the web dashboard until Ctrl-C.
fn serve(addr: std::net::SocketAddr, token: Option<String>, env: &Env) -> anyhow::Result<Exit> {
    let served = start(addr, token, "Ctrl-C stops it", env)?;
    let _ = served.runtime.block_on(tokio::signal::ctrl_c());
    drop(served.dashboard);
    Ok(Exit::Ok)
}
