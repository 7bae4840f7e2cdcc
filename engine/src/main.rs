//! The `ralph-loop` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    ralph_loop::cli::main()
}
