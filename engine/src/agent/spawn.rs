//! Starting an agent's process: `posix_spawn` with the engine's environment encoded once, and
//! the child watched through a pidfd on the runtime.
//!
//! Why not `std::process::Command` (through tokio's): a command that sets variables — every
//! agent gets `RALPH_RUN_ID`, `RALPH_STEP`, `RALPH_RESULT_FILE`, … — makes std copy the whole
//! environment into a map and encode each variable again at every spawn. In a DAG of thousands
//! of short commands that was the largest avoidable cost of a step (about 26 µs of the engine's
//! own 310 µs per step of a 1,000-step chain, measured with perf; a spawn loop like the engine's
//! ran about 60 µs per spawn faster this way). Here the engine's environment is encoded on the
//! first spawn (the engine never changes its own environment) and each spawn adds only its own
//! variables.
//!
//! What the child gets, as with std: its own process group, an empty signal mask, `SIGPIPE` at
//! its default (Rust ignores it in the engine), every other signal the engine did not find
//! ignored when it started (`nohup`) at its default too, the given working directory, the
//! three given descriptors as stdin, stdout and stderr, and nothing else (every other
//! descriptor of the engine is close-on-exec).
//!
//! Why the signals are named: for a signal left out of the spawn's "default" set, glibc's child
//! asks the signal's disposition before it sets it, two calls per signal, 128 system calls
//! between the fork and the exec of every agent. Naming them all (those ignored at the engine's
//! start excepted, which stay ignored, as std leaves them) halves that, on the path from one
//! step's end to the next one's start.
//!
//! **Architecture invariant:** the only `unsafe` of the agents; nothing here knows about steps.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Mutex, OnceLock};

use tokio::io::unix::AsyncFd;

/// The engine's environment, each variable encoded as `NAME=value`, with its name.
static BASE: OnceLock<Vec<(OsString, CString)>> = OnceLock::new();

/// The signals a child gets at their default: all but those ignored when the engine started
/// (looked at once, on the first spawn), plus `SIGPIPE`, which Rust ignores in the engine.
static DEFAULTS: OnceLock<SignalSet> = OnceLock::new();

/// A `sigset_t` shared between spawns (it is only read once made).
struct SignalSet(libc::sigset_t);

// SAFETY: a sigset_t is plain data; it is written only while the OnceLock initializes it.
#[allow(unsafe_code)]
unsafe impl Sync for SignalSet {}
// SAFETY: as above: plain data, never written after it is made.
#[allow(unsafe_code)]
unsafe impl Send for SignalSet {}

#[allow(unsafe_code)]
fn defaults() -> &'static libc::sigset_t {
    &DEFAULTS
        .get_or_init(|| {
            // SAFETY: sigemptyset/sigaddset write into a set we own; sigaction with a null new
            // action only reads the disposition into `old`, which we own.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                for sig in 1..=libc::SIGRTMAX() {
                    if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                        continue;
                    }
                    let mut old: libc::sigaction = std::mem::zeroed();
                    let ignored = libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                        && old.sa_sigaction == libc::SIG_IGN;
                    if !ignored || sig == libc::SIGPIPE {
                        libc::sigaddset(&mut set, sig);
                    }
                }
                SignalSet(set)
            }
        })
        .0
}

/// Children dropped before they were reaped (a cancelled step): reaped at later spawns.
static UNREAPED: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

fn base() -> &'static [(OsString, CString)] {
    BASE.get_or_init(|| {
        std::env::vars_os()
            .filter(|(name, _)| !WITHHELD.iter().any(|w| OsStr::new(w) == name))
            .filter_map(|(name, value)| Some((name.clone(), encode(&name, &value)?)))
            .collect()
    })
}

/// The engine's variables an agent never gets: the web dashboard's token would let an agent
/// approve its own work through the page.
const WITHHELD: &[&str] = &["RALPH_DASHBOARD_TOKEN"];

/// `NAME=value`, or `None` when either holds a NUL (no process can be given it).
fn encode(name: &OsStr, value: &OsStr) -> Option<CString> {
    let mut bytes = Vec::with_capacity(name.len() + value.len() + 1);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(value.as_bytes());
    CString::new(bytes).ok()
}

fn c_string(text: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument"))
}

/// The program to execute, and whether `posix_spawnp` looks it up on the engine's `PATH` (a
/// name without `/`, when the agent's variables leave `PATH` alone). A name looked up on a
/// `PATH` the agent sets is found here, with the `PATH`'s relative directories taken from the
/// agent's working directory, as the lookup in the child would.
fn resolve(program: &str, env: &[(String, String)], cwd: &Path) -> io::Result<(CString, bool)> {
    let set_path = env.iter().rev().find(|(k, _)| k == "PATH");
    let Some((_, path)) = set_path.filter(|_| !program.contains('/')) else {
        return Ok((c_string(program)?, !program.contains('/')));
    };
    std::env::split_paths(OsStr::new(path))
        .map(|dir| cwd.join(dir).join(program))
        .find(|candidate| super::process::is_executable(candidate))
        .map(|found| Ok((c_string(found.into_os_string().into_vec())?, false)))
        .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::NotFound)))
}

/// A started process, watched on the runtime. Dropped before it was waited for, it is killed
/// (its group is the caller's business) and reaped later.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    /// `None` only once dropped (handed to the reaper).
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
}

/// Starts `argv` in `cwd` with the engine's environment plus `env` (later entries win), its own
/// process group, and `stdio` as descriptors 0, 1 and 2.
pub fn spawn(
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    stdio: [BorrowedFd<'_>; 3],
) -> io::Result<Child> {
    reap_dropped();
    let program = argv.first().map(String::as_str).unwrap_or_default();
    let (path, search) = resolve(program, env, cwd)?;
    let args: Vec<CString> = argv.iter().map(|a| c_string(a.as_bytes())).collect::<io::Result<_>>()?;
    let mut arg_ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    arg_ptrs.push(std::ptr::null());
    // The engine's variables, except those `env` sets, then `env`'s (the last of a name wins).
    let own: Vec<(usize, CString)> = env
        .iter()
        .enumerate()
        .filter(|&(i, (name, _))| !env[i + 1..].iter().any(|(later, _)| later == name))
        .map(|(i, (name, value))| {
            encode(OsStr::new(name), OsStr::new(value))
                .map(|c| (i, c))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a variable"))
        })
        .collect::<io::Result<_>>()?;
    let mut env_ptrs: Vec<*const libc::c_char> = base()
        .iter()
        .filter(|(name, _)| !env.iter().any(|(set, _)| OsStr::new(set) == name))
        .map(|(_, encoded)| encoded.as_ptr())
        .chain(own.iter().map(|(_, encoded)| encoded.as_ptr()))
        .collect();
    env_ptrs.push(std::ptr::null());
    // The engine's own directory needs no `chdir` in the child (one path walk less per spawn).
    let here = std::env::current_dir().is_ok_and(|here| here == cwd);
    let dir = if here { None } else { Some(c_string(cwd.as_os_str().as_bytes())?) };
    let pid = posix_spawn(&path, search, &arg_ptrs, &env_ptrs, dir.as_ref(), stdio)?;
    let pidfd = match pidfd_open(pid).and_then(watch) {
        Ok(fd) => fd,
        Err(e) => {
            // Not watchable: not left running either.
            kill_and_reap(pid);
            return Err(e);
        }
    };
    Ok(Child { pid, pidfd: Some(pidfd), status: None })
}

#[allow(unsafe_code)]
fn posix_spawn(
    path: &CString,
    search: bool,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    dir: Option<&CString>,
    stdio: [BorrowedFd<'_>; 3],
) -> io::Result<libc::pid_t> {
    let defaults = defaults();
    let check = |rc: libc::c_int| if rc == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(rc)) };
    // SAFETY: the attribute and file-action objects are initialized before use and destroyed
    // on every path; every pointer handed to `posix_spawn` (path, argv, envp, dir) points
    // into NUL-terminated strings and NULL-terminated arrays that outlive the call; the
    // descriptors are borrowed, open for the duration of the call.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        if let Err(e) = check(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(e);
        }
        let result = (|| {
            for (target, fd) in stdio.iter().enumerate() {
                check(libc::posix_spawn_file_actions_adddup2(&mut actions, fd.as_raw_fd(), target as i32))?;
            }
            if let Some(dir) = dir {
                check(libc::posix_spawn_file_actions_addchdir_np(&mut actions, dir.as_ptr()))?;
            }
            let mut signals: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut signals);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &signals))?;
            check(libc::posix_spawnattr_setsigdefault(&mut attr, defaults))?;
            check(libc::posix_spawnattr_setpgroup(&mut attr, 0))?;
            let flags =
                libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETPGROUP;
            check(libc::posix_spawnattr_setflags(&mut attr, flags as libc::c_short))?;
            let mut pid: libc::pid_t = 0;
            let spawn = if search { libc::posix_spawnp } else { libc::posix_spawn };
            check(spawn(
                &mut pid,
                path.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr().cast(),
                envp.as_ptr().cast(),
            ))?;
            Ok(pid)
        })();
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        result
    }
}

#[allow(unsafe_code)]
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor, owned from here.
    // (A pidfd is always close-on-exec; PIDFD_NONBLOCK is the only flag.)
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::O_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor pidfd_open just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Registers a pidfd with the runtime, for readiness (readable: the process ended).
#[allow(unsafe_code)]
fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is a valid, open descriptor that stays open, and the same, for as
    // long as the `AsyncFd` that owns it.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(Into::into)
}

/// `waitpid`; `Some` when the child was reaped.
#[allow(unsafe_code)]
fn reap(pid: libc::pid_t, block: bool) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local integer.
        let rc = unsafe { libc::waitpid(pid, &mut status, if block { 0 } else { libc::WNOHANG }) };
        match rc {
            0 => return Ok(None),
            r if r == pid => return Ok(Some(ExitStatus::from_raw(status))),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// Kills `pid`; whether it is reaped already (or cannot be: not our child any more).
fn kill_now(pid: libc::pid_t) -> bool {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    !matches!(reap(pid, false), Ok(None))
}

/// Leaves a killed child to the next spawn's [`reap_dropped`].
fn reap_later(pid: libc::pid_t) {
    UNREAPED.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
}

fn kill_and_reap(pid: libc::pid_t) {
    if !kill_now(pid) {
        reap_later(pid);
    }
}

/// Reaps the dropped children that have ended since (killed, they end at once).
fn reap_dropped() {
    let mut unreaped = UNREAPED.lock().unwrap_or_else(|p| p.into_inner());
    unreaped.retain(|pid| matches!(reap(*pid, false), Ok(None)));
}

impl Child {
    /// The process id (its process group's too).
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the process to end. Cancel-safe: a wait that is dropped loses nothing.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let Some(pidfd) = &self.pidfd else { return Err(io::Error::from(io::ErrorKind::NotFound)) };
        loop {
            let mut ready = pidfd.readable().await?;
            // The pidfd is readable once the process has ended: it is a zombie, reaped at once.
            match reap(self.pid, false)? {
                Some(status) => {
                    self.status = Some(status);
                    return Ok(status);
                }
                None => ready.clear_ready(),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let pid = self.pid;
        if kill_now(pid) {
            return;
        }
        // Killed, it ends at once: reaped as soon as it has, so that no zombie of a cancelled
        // step lingers (a paused loop may spawn nothing for hours).
        match (self.pidfd.take(), tokio::runtime::Handle::try_current()) {
            (Some(pidfd), Ok(runtime)) => {
                runtime.spawn(async move {
                    let _ = pidfd.readable().await;
                    if matches!(reap(pid, false), Ok(None)) {
                        reap_later(pid);
                    }
                });
            }
            _ => reap_later(pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn run(argv: &[&str], env: &[(&str, &str)], cwd: &Path) -> (ExitStatus, String) {
        let (read, write) = io::pipe().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let env: Vec<(String, String)> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let write: OwnedFd = write.into();
        let rt = runtime();
        let _in_runtime = rt.enter();
        let mut child = spawn(&argv, &env, cwd, [null.as_fd(), write.as_fd(), write.as_fd()]).unwrap();
        drop(write);
        let status = rt.block_on(child.wait()).unwrap();
        (status, io::read_to_string(read).unwrap())
    }

    #[test]
    fn the_child_gets_the_engine_s_environment_its_own_variables_and_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (status, out) = run(
            &["sh", "-c", "echo \"$RALPH_A $RALPH_B $HOME\"; pwd; exit 3"],
            &[("RALPH_A", "one"), ("RALPH_B", "two"), ("RALPH_A", "three")],
            dir.path(),
        );
        assert_eq!(status.code(), Some(3));
        let home = std::env::var("HOME").unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("three two {home}"));
        assert_eq!(Path::new(lines[1]).canonicalize().unwrap(), dir.path().canonicalize().unwrap());
    }

    #[test]
    fn the_child_leads_its_own_group_with_sigpipe_at_its_default() {
        let (_, out) = run(
            &["sh", "-c", "cut -d' ' -f5 /proc/$$/stat; grep SigIgn /proc/$$/status"],
            &[],
            Path::new("."),
        );
        let mut lines = out.lines();
        let pgid: u32 = lines.next().unwrap().trim().parse().unwrap();
        assert_ne!(pgid, std::process::id(), "{out}");
        let ignored =
            u64::from_str_radix(lines.next().unwrap().split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(ignored & (1 << (libc::SIGPIPE - 1)), 0, "{out}");
    }

    #[test]
    fn a_missing_program_is_not_found_and_a_dropped_child_is_killed_and_reaped() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let fds = [null.as_fd(), null.as_fd(), null.as_fd()];
        let missing = spawn(&["no-such-program-here".to_owned()], &[], Path::new("."), fds).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let rt = runtime();
        let child =
            rt.block_on(async { spawn(&["sleep".to_owned(), "30".to_owned()], &[], Path::new("."), fds) });
        let pid = child.unwrap().pid;
        // Dropped: killed; reaped now or at the next spawn, never left a zombie for long.
        let gone = || !Path::new(&format!("/proc/{pid}")).exists();
        rt.block_on(async { drop(spawn(&["true".to_owned()], &[], Path::new("."), fds).unwrap()) });
        reap_dropped();
        let mut tries = 0;
        while !gone() && tries < 1000 {
            reap_dropped();
            std::thread::yield_now();
            tries += 1;
        }
        assert!(gone(), "the dropped child was not reaped");
    }
}
