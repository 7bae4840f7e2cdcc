//! Agents a dead loop left running: finding their process groups and ending them, but only
//! groups that are certainly the run's own.
//!
//! Every agent runs in its own process group, and its environment carries `RALPH_RUN_ID` and
//! `RALPH_STEP`. A loop killed with SIGKILL cannot stop its agents; the next loop on the run
//! ends them before it starts anything. It knows their groups from the journal (each backend
//! reports a group right after it starts it, as a [`Spawned`]) or, for one whose report never
//! reached the journal, by looking for the run's id in the environments of the machine's
//! processes ([`find_groups`]).
//!
//! A process group id is a process id, and process ids are reused: the group a journal names
//! may be gone and its number taken by something else. So a group is ended only when one of
//! its living members has `RALPH_RUN_ID=<run>` (and `RALPH_STEP=<step>`, when the step is
//! known) in its environment as `/proc/<pid>/environ` shows it — what the process was started
//! with, which an agent cannot mistake for another run's. What is left to chance is only the
//! moment between that check and the signal.
//!
//! What this cannot reach: processes that left the group (`setsid`, daemons) and a group whose
//! every living member scrubbed its environment (`env -i`): those are not recognisably ours.
//!
//! Linux only: it reads `/proc`.
//!
//! **Architecture invariant:** knows nothing about workflows, runs or the journal: it gets ids
//! and reports what it did.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use ralph_plugin_sdk::env;

/// A process group a backend started for a step, reported right after the spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spawned {
    /// The step's id.
    pub step: String,
    /// The process group id (the id of the group's first process).
    pub pgid: i32,
}

/// Where backends report the process groups they start.
pub type SpawnedSender = tokio::sync::mpsc::UnboundedSender<Spawned>;

/// What [`end_group`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The group was the run's and it ended after SIGTERM, within the grace period.
    Terminated,
    /// The group was the run's and it needed SIGKILL.
    Killed,
    /// The group has living processes, but none of them is the run's: it was left alone.
    NotOurs,
    /// No living process is in the group (it ended, or was never there).
    Gone,
}

/// Why the processes could not be looked at or ended.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    /// There is no `/proc` to read processes from.
    #[error(
        "cannot look for the run's agents: `/proc` is not there (agents left running by a dead loop can be found only on Linux with /proc mounted); stop them by hand if any are running"
    )]
    NoProc,
    /// Reading `/proc` failed.
    #[error("cannot read `/proc`: {0}")]
    Proc(std::io::Error),
    /// The group could not be signalled.
    #[error("cannot stop process group {pgid}: {source}")]
    Signal {
        /// The group.
        pgid: i32,
        /// Why.
        source: nix::Error,
    },
    /// The group survived SIGKILL (a process stuck in the kernel, e.g. on a dead network disk).
    #[error("process group {pgid} is still running after SIGKILL; stop it by hand (`kill -9 -{pgid}`)")]
    Survived {
        /// The group.
        pgid: i32,
    },
}

/// How long a group gets to go after SIGKILL before it counts as surviving it.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// How often `/proc` is looked at while waiting for a group to go.
const POLL: Duration = Duration::from_millis(20);

/// One living process: its id, its process group and its environment's run and step.
#[derive(Debug, Clone)]
struct Member {
    pgid: i32,
    run_id: Option<String>,
    step: Option<String>,
}

/// Ends process group `pgid` if it is the run's: SIGTERM to the group, up to `grace` for it to
/// go, then SIGKILL. A group none of whose living members has `RALPH_RUN_ID=<run_id>` (and
/// `RALPH_STEP=<step>`, when given) is left alone ([`Ended::NotOurs`]); the group of the caller
/// itself is never ended.
pub fn end_group(pgid: i32, run_id: &str, step: Option<&str>, grace: Duration) -> Result<Ended, OrphanError> {
    if pgid <= 1 || pgid == nix::unistd::getpgrp().as_raw() {
        return Ok(Ended::NotOurs);
    }
    let members = group_members(pgid)?;
    if members.is_empty() {
        return Ok(Ended::Gone);
    }
    let ours = members.iter().any(|m| {
        m.run_id.as_deref() == Some(run_id) && step.is_none_or(|step| m.step.as_deref() == Some(step))
    });
    if !ours {
        return Ok(Ended::NotOurs);
    }
    signal(pgid, Signal::SIGTERM)?;
    if wait_gone(pgid, grace)? {
        return Ok(Ended::Terminated);
    }
    signal(pgid, Signal::SIGKILL)?;
    if wait_gone(pgid, AFTER_KILL)? {
        return Ok(Ended::Killed);
    }
    Err(OrphanError::Survived { pgid })
}

/// The process groups of the machine's living processes started for run `run_id`, with the
/// step each was started for (when its environment says): the groups a dead loop's agents may
/// still be running in. The caller's own group is never among them.
pub fn find_groups(run_id: &str) -> Result<Vec<(i32, Option<String>)>, OrphanError> {
    let own = nix::unistd::getpgrp().as_raw();
    let mut groups: Vec<(i32, Option<String>)> = Vec::new();
    for member in living(None, true)? {
        if member.run_id.as_deref() != Some(run_id) || member.pgid == own || member.pgid <= 1 {
            continue;
        }
        match groups.iter_mut().find(|(pgid, _)| *pgid == member.pgid) {
            Some((_, step)) => {
                if step.is_none() {
                    *step = member.step;
                }
            }
            None => groups.push((member.pgid, member.step)),
        }
    }
    groups.sort_by_key(|(pgid, _)| *pgid);
    Ok(groups)
}

fn signal(pgid: i32, signal: Signal) -> Result<(), OrphanError> {
    match killpg(Pid::from_raw(pgid), signal) {
        // Gone between the look and the signal: that is the goal.
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(OrphanError::Signal { pgid, source }),
    }
}

/// Waits, polling `/proc`, until no living process is in the group; false when `limit` passed.
fn wait_gone(pgid: i32, limit: Duration) -> Result<bool, OrphanError> {
    let deadline = Instant::now() + limit;
    loop {
        if members(pgid, false)?.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(POLL);
    }
}

/// The living members of a group, with their run and step (`with_env`), or without (enough to
/// count them, and cheaper: a poll reads no environments).
fn members(pgid: i32, with_env: bool) -> Result<Vec<Member>, OrphanError> {
    living(Some(pgid), with_env)
}

fn group_members(pgid: i32) -> Result<Vec<Member>, OrphanError> {
    members(pgid, true)
}

/// Every living (not zombie) process `/proc` shows (of group `only`, when given), with its group
/// and, when `with_env`, its run and step.
fn living(only: Option<i32>, with_env: bool) -> Result<Vec<Member>, OrphanError> {
    let proc = Path::new("/proc");
    let entries = match std::fs::read_dir(proc) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OrphanError::NoProc),
        Err(e) => return Err(OrphanError::Proc(e)),
    };
    if !proc.join("self/stat").exists() {
        return Err(OrphanError::NoProc);
    }
    let mut members = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        // A process may end at any moment: whatever cannot be read is not there.
        let Some(pgid) = living_group(pid) else { continue };
        if only.is_some_and(|only| only != pgid) {
            continue;
        }
        let (run_id, step) = if with_env { run_and_step(pid) } else { (None, None) };
        members.push(Member { pgid, run_id, step });
    }
    Ok(members)
}

/// The process group of `pid` from `/proc/<pid>/stat`, unless it is a zombie (which holds no
/// resources and cannot be signalled into going: its parent must reap it).
fn living_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses, so fields are
    // counted from the last `)`.
    let (_, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    (state != "Z" && state != "X").then_some(pgrp)
}

/// `RALPH_RUN_ID` and `RALPH_STEP` from the environment `pid` was started with (unreadable for
/// other users' processes: those are not ours).
fn run_and_step(pid: i32) -> (Option<String>, Option<String>) {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { return (None, None) };
    let mut run_id = None;
    let mut step = None;
    for var in environ.split(|b| *b == 0) {
        let value = |name: &str| {
            var.strip_prefix(name.as_bytes())
                .and_then(|rest| rest.strip_prefix(b"="))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        if let Some(v) = value(env::RUN_ID) {
            run_id = Some(v);
        } else if let Some(v) = value(env::STEP) {
            step = Some(v);
        }
    }
    (run_id, step)
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A process group of its own (`setsid`), a shell with a child, with this environment.
    /// Returns the leader (the group's id is its pid).
    fn group(vars: &[(&str, &str)]) -> Child {
        let mut command = Command::new("setsid");
        command
            .args(["sh", "-c", "sleep 30 & sleep 30; wait"])
            .env_remove(env::RUN_ID)
            .env_remove(env::STEP)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().expect("setsid is installed");
        // Ready when the group's members are there (setsid execs at once, the shell forks).
        let pgid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_members(pgid).unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "the group did not start");
            std::thread::sleep(POLL);
        }
        child
    }

    fn reap(mut child: Child) {
        let _ = child.kill();
        let _ = child.wait();
    }

    /// A unique run id per test, so that tests running side by side never see each other's.
    fn run_id(name: &str) -> String {
        format!("run-{name}-{}", std::process::id())
    }

    #[test]
    fn a_group_of_the_run_is_ended_with_all_its_members() {
        let run = run_id("ended");
        let leader = group(&[(env::RUN_ID, &run), (env::STEP, "build")]);
        let pgid = leader.id() as i32;
        assert_eq!(find_groups(&run).unwrap(), vec![(pgid, Some("build".to_owned()))]);
        let ended = end_group(pgid, &run, Some("build"), Duration::from_secs(5)).unwrap();
        assert_eq!(ended, Ended::Terminated);
        assert!(group_members(pgid).unwrap().is_empty(), "the shell's child went with it");
        assert!(find_groups(&run).unwrap().is_empty());
        reap(leader);
    }

    #[test]
    fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period() {
        let run = run_id("killed");
        let mut command = Command::new("setsid");
        command
            .args(["sh", "-c", "trap '' TERM; sleep 30 & wait; wait"])
            .env(env::RUN_ID, &run)
            .stdin(Stdio::null());
        let leader = command.spawn().unwrap();
        let pgid = leader.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_members(pgid).unwrap().len() < 2 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(POLL);
        }
        // The shell ignores SIGTERM, and so does its `sleep` (an ignored signal stays ignored
        // across fork and exec): the group must take SIGKILL.
        let started = Instant::now();
        assert_eq!(end_group(pgid, &run, None, Duration::from_millis(300)).unwrap(), Ended::Killed);
        assert!(started.elapsed() < Duration::from_secs(5));
        reap(leader);
    }

    #[test]
    fn a_group_without_the_runs_environment_is_left_alone() {
        let run = run_id("not-ours");
        let other = group(&[(env::RUN_ID, "some-other-run"), (env::STEP, "build")]);
        let plain = group(&[]);
        for leader in [&other, &plain] {
            let pgid = leader.id() as i32;
            assert_eq!(end_group(pgid, &run, None, Duration::from_millis(100)).unwrap(), Ended::NotOurs);
            assert_eq!(group_members(pgid).unwrap().len(), 3, "nothing of it was touched");
        }
        // The run's id but another step: not the group the journal named.
        let step = group(&[(env::RUN_ID, &run), (env::STEP, "verify")]);
        let pgid = step.id() as i32;
        assert_eq!(end_group(pgid, &run, Some("build"), Duration::from_millis(100)).unwrap(), Ended::NotOurs);
        assert_eq!(find_groups(&run).unwrap(), vec![(pgid, Some("verify".to_owned()))]);
        assert_eq!(end_group(pgid, &run, Some("verify"), Duration::from_secs(5)).unwrap(), Ended::Terminated);
        for leader in [other, plain, step] {
            reap(leader);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backend_reports_the_group_it_starts_and_the_group_can_be_found_and_ended() {
        let run = run_id("backend");
        let dir = tempfile::tempdir().unwrap();
        let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel();
        let inv = crate::agent::command::Invocation {
            run_id: run.clone(),
            step: "build".into(),
            workdir: dir.path().to_owned(),
            steps_dir: dir.path().to_owned(),
            stale_result: true,
            file_stem: "0001-build".into(),
            packet_path: None,
            signals: None,
            packet: None,
            prompt: None,
            timeout: Some(Duration::from_secs(60)),
            idle_timeout: None,
            env: Vec::new(),
            log_limit: Default::default(),
            spawned: Some(sender),
        };
        // As a dead loop's agent: still running, its group known only from the report.
        let step = tokio::spawn(async move {
            crate::agent::command::run("sleep 30 & sleep 30; wait", None, None, false, &inv).await
        });
        let reported = reports.recv().await.expect("the group is reported");
        assert_eq!(reported.step, "build");
        let (pgid, run2) = (reported.pgid, run.clone());
        let found = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let found = find_groups(&run2).unwrap();
                if !found.is_empty() || Instant::now() > deadline {
                    return found;
                }
                std::thread::sleep(POLL);
            }
        })
        .await
        .unwrap();
        assert_eq!(found, vec![(pgid, Some("build".to_owned()))], "the agent's environment names the run");
        let ended =
            tokio::task::spawn_blocking(move || end_group(pgid, &run, Some("build"), Duration::from_secs(5)))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(ended, Ended::Terminated);
        let outcome = step.await.unwrap();
        assert!(!outcome.success, "{outcome:?}");
    }

    #[test]
    fn a_vanished_group_is_gone_and_the_callers_own_group_is_never_ended() {
        let run = run_id("gone");
        let mut leader = group(&[(env::RUN_ID, &run)]);
        let pgid = leader.id() as i32;
        assert_eq!(end_group(pgid, &run, None, Duration::from_secs(5)).unwrap(), Ended::Terminated);
        leader.wait().unwrap();
        assert_eq!(end_group(pgid, &run, None, Duration::from_millis(100)).unwrap(), Ended::Gone);
        let own = nix::unistd::getpgrp().as_raw();
        assert_eq!(end_group(own, &run, None, Duration::from_millis(100)).unwrap(), Ended::NotOurs);
        assert_eq!(end_group(1, &run, None, Duration::from_millis(100)).unwrap(), Ended::NotOurs);
    }
}
