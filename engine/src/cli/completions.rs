//! `ralph-loop completions <shell>`

use clap::Args;
use clap_complete::Shell;

use super::Exit;

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut command = super::command();
    clap_complete::generate(args.shell, &mut command, "ralph-loop", &mut std::io::stdout());
    Ok(Exit::Ok)
}
