//! `ralph-loop notify test [CHANNEL]`: sends a test message to the `notifications:` channels
//! of the project's workflow, so a wrong webhook is found before a review waits on it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::Env;
use super::exit::Exit;

/// `notify` verbs.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to a channel (default: every channel) and say whether it arrived.
    Test(TestArgs),
}

/// `notify test`'s arguments.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The channel, by its name under `notifications.channels`.
    pub channel: Option<String>,
    /// The workflow whose channels to test; defaults as for `loop`.
    #[arg(long, value_name = "FILE", env = "RALPH_WORKFLOW")]
    pub workflow: Option<PathBuf>,
    /// The project configuration; defaults to `ralph.yaml` in the project directory.
    #[arg(long, value_name = "FILE", env = "RALPH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON object per channel (`channel`, `sent`, `error`) instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `loop`'s arguments with their defaults, to load the workflow the way `loop` does.
#[derive(Debug, Parser)]
struct Defaults {
    #[command(flatten)]
    args: super::run::LoopArgs,
}

/// Runs a `notify` verb.
pub fn run(command: &NotifyCommand, env: &Env) -> anyhow::Result<Exit> {
    let NotifyCommand::Test(args) = command;
    let mut loop_args = Defaults::try_parse_from(["ralph-loop"])?.args;
    loop_args.workflow.clone_from(&args.workflow);
    loop_args.config.clone_from(&args.config);
    let loaded = match super::run::load(&loop_args, env)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let Some(section) = loaded.doc.notifications.as_ref().filter(|n| !n.channels.is_empty()) else {
        eprintln!("`{}` has no `notifications.channels`: add one to test it", loaded.workflow.display());
        return Ok(Exit::Usage);
    };
    if let Some(name) = &args.channel {
        if !section.channels.contains_key(name) {
            let known: Vec<String> = section.channels.keys().map(|k| format!("`{k}`")).collect();
            let hint =
                crate::workflow::suggest::did_you_mean(name, section.channels.keys().map(String::as_str))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
            eprintln!("no notification channel `{name}`{hint}: the channels are {}", known.join(", "));
            return Ok(Exit::Usage);
        }
    }
    let mut redactor = crate::redact::Redactor::for_document(&loaded.doc);
    let project = env.project_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let results =
        runtime.block_on(crate::run::notify::test(section, args.channel.as_deref(), &project, &mut redactor));
    let mut failed = false;
    for (name, failure) in results {
        let why = failure.map(|why| redactor.redact(&why).into_owned());
        failed |= why.is_some();
        if args.json {
            println!("{}", serde_json::json!({"channel": name, "sent": why.is_none(), "error": why}));
            continue;
        }
        match why {
            None => println!("`{name}`: sent"),
            Some(why) => eprintln!("`{name}`: not sent: {why}"),
        }
    }
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}
