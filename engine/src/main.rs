//! The `ralph-loop` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    // glibc gives each thread that allocates an arena of its own (up to eight per core); the
    // journal's, sled's and the runtime's short-lived allocations then fragment several of
    // them. Two arenas: a 10,000-node DAG peaked at 80 MiB instead of 91-111 MiB, at the same
    // speed (engine/benches). Set before any thread exists.
    // SAFETY: mallopt only sets an allocator parameter; no other thread runs yet.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    ralph_loop::cli::main()
}
