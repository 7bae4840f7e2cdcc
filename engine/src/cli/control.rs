//! `ralph-loop pause | interrupt | redirect | hint | add-iterations` (and the live halves of
//! `resume`, `approve`, `reject`): signals to the running loop over its control socket.

use clap::Args;

use super::{Env, Exit};
use crate::control::client::ask;
use crate::control::{Reply, Request, Signal};

/// Arguments of `pause` and `interrupt`.
#[derive(Debug, Args)]
pub struct SignalArgs {}

/// Arguments of `hint`.
#[derive(Debug, Args)]
pub struct HintArgs {
    /// The hint, delivered into the next agent's PROMPT.md.
    pub text: String,
}

/// Arguments of `redirect`.
#[derive(Debug, Args)]
pub struct RedirectArgs {
    /// The state the run goes to next (state machines).
    #[arg(long, value_name = "STATE")]
    pub to: String,
}

/// Arguments of `add-iterations`.
#[derive(Debug, Args)]
pub struct AddIterationsArgs {
    /// How many agent invocations to add to this run's `max_iterations`.
    pub n: u64,
}

/// What a live loop said about a signal.
pub enum Sent {
    /// No loop runs on this state directory.
    NoLoop,
    /// The loop journaled it; what it does.
    Accepted(String),
    /// The loop refused it; why.
    Refused(String),
}

/// Sends `signal` to the loop running on the state directory, if one runs. The loop records it
/// under the OS user it finds on the other end of its socket.
pub fn send(env: &Env, signal: Signal) -> anyhow::Result<Sent> {
    send_as(env, signal, None)
}

/// [`send`], with a name to record beside the OS user (`--as NAME`).
pub fn send_as(env: &Env, signal: Signal, display_name: Option<String>) -> anyhow::Result<Sent> {
    match ask(&env.state_dir, &Request::Signal { signal, display_name })? {
        None => Ok(Sent::NoLoop),
        Some(Reply::Accepted { message }) => Ok(Sent::Accepted(message)),
        Some(Reply::Refused { message }) => Ok(Sent::Refused(message)),
        Some(other) => anyhow::bail!("the loop answered `{}` to a signal", serde_json::to_string(&other)?),
    }
}

/// Says what happened and maps it to an exit status: 0 accepted, 1 refused or no loop.
pub fn report(env: &Env, sent: Sent, no_loop: &str) -> Exit {
    let style = env.styles.error;
    match sent {
        Sent::Accepted(message) => {
            eprintln!("{message}");
            Exit::Ok
        }
        Sent::Refused(message) => {
            eprintln!("{}error{}: {message}", style.render(), style.render_reset());
            Exit::Failed
        }
        Sent::NoLoop => {
            eprintln!(
                "{}error{}: no loop is running on `{}`: {no_loop}",
                style.render(),
                style.render_reset(),
                env.state_dir.display()
            );
            Exit::Failed
        }
    }
}

/// `pause`.
pub fn pause(env: &Env) -> anyhow::Result<Exit> {
    let sent = send(env, Signal::Pause)?;
    Ok(report(
        env,
        sent,
        "nothing to pause (`touch .ralph/pause` makes the next loop wait before its first step)",
    ))
}

/// `interrupt`.
pub fn interrupt(env: &Env) -> anyhow::Result<Exit> {
    let sent = send(env, Signal::Interrupt)?;
    Ok(report(env, sent, "nothing to interrupt"))
}

/// `redirect --to <state>`.
pub fn redirect(args: &RedirectArgs, env: &Env) -> anyhow::Result<Exit> {
    let sent = send(env, Signal::Redirect { to: args.to.clone() })?;
    Ok(report(env, sent, "nothing to redirect (a stopped run goes on with `ralph-loop resume`)"))
}

/// `add-iterations N`.
pub fn add_iterations(args: &AddIterationsArgs, env: &Env) -> anyhow::Result<Exit> {
    let sent = send(env, Signal::AddIterations { n: args.n })?;
    Ok(report(env, sent, "raise `loop.max_iterations` in the workflow instead"))
}

/// `hint "…"`: to the running loop; without one, left in `.ralph/hint` for the next run (the
/// same file scripts use).
pub fn hint(args: &HintArgs, env: &Env) -> anyhow::Result<Exit> {
    match send(env, Signal::Hint { text: args.text.clone() })? {
        Sent::NoLoop => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let dir = env.project_dir.join(".ralph");
            crate::private::create_dir_all(&dir)?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(crate::private::FILE_MODE)
                .open(dir.join("hint"))?;
            writeln!(file, "{}", args.text)?;
            eprintln!("no loop is running: the hint waits in `.ralph/hint` for the next run's first agent");
            Ok(Exit::Ok)
        }
        sent => Ok(report(env, sent, "")),
    }
}
