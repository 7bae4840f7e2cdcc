//! `ralph-loop approve` and `reject`: a person's decision on the review a running loop waits
//! for, sent over its control socket.
//!
//! The loop records the decision under the OS user it finds on the other end of the socket
//! (`--as NAME` adds a name beside it), and refuses one sent from inside its agents' processes.
//! There is no other way in: a decision is never read from a file, which an agent could write.

use clap::Args;

use super::control::Sent;
use super::{Env, Exit};

/// Arguments of `approve` and `reject`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The run waiting for review (default: the one the running loop runs).
    pub run: Option<String>,
    /// A comment for the agents.
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
    /// A name recorded beside your OS user (which is always recorded), e.g. `--as "Ana Lima"`.
    #[arg(long = "as", value_name = "NAME")]
    pub display_name: Option<String>,
}

/// Arguments of `approve`: those of a decision, and the condition only an approval has.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub review: ReviewArgs,
    /// Approve on condition that the comment's changes are made (the `approved_with_changes`
    /// result).
    #[arg(long)]
    pub with_changes: bool,
}

/// Sends the decision: an approval (with or without changes asked for), or a rejection.
pub fn run(args: &ReviewArgs, approve: Option<bool>, env: &Env) -> anyhow::Result<Exit> {
    let no_loop = "a review waits only while its loop runs; start it again with `ralph-loop resume`, then decide while `ralph-loop status` shows it waiting";
    let Some(reply) = crate::control::client::ask(&env.state_dir, &crate::control::Request::Status)? else {
        return Ok(super::control::report(env, Sent::NoLoop, no_loop));
    };
    let live = match reply {
        crate::control::Reply::Status { status } => status.run_id,
        _ => String::new(),
    };
    if let Some(asked) = args.run.as_deref().filter(|r| !live.starts_with(r)) {
        return Err(super::exit::failed(format!(
            "run {asked} is not the one the loop on `{}` runs ({live}); only a running loop's review can be decided",
            env.state_dir.display()
        )));
    }
    let signal = match approve {
        Some(with_changes) => crate::control::Signal::Approve { comment: args.comment.clone(), with_changes },
        None => crate::control::Signal::Reject { comment: args.comment.clone() },
    };
    let sent = super::control::send_as(env, signal, args.display_name.clone())?;
    Ok(super::control::report(env, sent, no_loop))
}
