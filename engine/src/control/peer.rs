//! Who is on the other end of a control connection: the kernel's word on the connecting
//! process (`SO_PEERCRED`: its pid and uid), the OS user that uid names, and the process's line
//! of ancestors with their process groups and sessions, read from `/proc`.
//!
//! A decision is recorded under the OS user this finds, never under a name the request gives;
//! and the runner uses the line of processes to tell a person's terminal from an agent the
//! engine started (see `run::authority`). This module judges nothing.
//!
//! **Architecture invariant:** knows nothing about runs, agents or the journal. Linux only (it
//! reads `/proc`); elsewhere the line is empty and the runner refuses what it cannot place.

use ralph_plugin_sdk::env;

/// How many ancestors are read at most: a deeper line is cut (init is never that far).
const MAX_DEPTH: usize = 64;

/// One process of a peer's line: the peer itself first, then its parent, up to init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// Its process id.
    pub pid: i32,
    /// Its parent's.
    pub ppid: i32,
    /// Its process group.
    pub pgrp: i32,
    /// Its session.
    pub session: i32,
}

/// The process on the other end of a control connection, as the kernel and `/proc` tell it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// The connecting process (`None`: the kernel did not say).
    pub pid: Option<i32>,
    /// Its user id.
    pub uid: u32,
    /// The OS user that uid names (`uid 1234` when the user database has no entry).
    pub user: String,
    /// The process and its ancestors, nearest first; empty when `/proc` could not be read
    /// (the process is gone already, or this is not Linux).
    pub line: Vec<Proc>,
    /// `RALPH_RUN_ID` and `RALPH_STEP` as the process was started with, if it carries them.
    pub run_id: Option<String>,
    /// The step.
    pub step: Option<String>,
}

impl Peer {
    /// The peer the kernel names by its credentials (`SO_PEERCRED`: `pid`, `uid`), with its
    /// line of processes and its environment read now.
    pub fn identify(pid: Option<i32>, uid: u32) -> Peer {
        let mut peer = Peer { pid, uid, user: user_name(uid), ..Peer::default() };
        if let Some(pid) = pid {
            peer.line = line(pid);
            let (run, step) = ralph_env(pid);
            peer.run_id = run;
            peer.step = step;
        }
        peer
    }

    /// A peer whose credentials the kernel did not give: it cannot be placed.
    pub fn unknown() -> Peer {
        Peer { user: "an unknown user".into(), uid: u32::MAX, ..Peer::default() }
    }

    /// For people: `root (pid 4242)`.
    pub fn describe(&self) -> String {
        match self.pid {
            Some(pid) => format!("{} (pid {pid})", self.user),
            None => self.user.clone(),
        }
    }
}

/// The user name of `uid`, from the user database (`getpwuid_r`), or `uid N` when it has none.
#[allow(unsafe_code)]
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `pwd` and `buf` outlive the call, `result` points into them when set, and the
        // name is copied out before either is dropped.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return format!("uid {uid}");
        }
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
}

/// The fields of `/proc/<pid>/stat` this needs. The command name (field 2) is in parentheses
/// and may hold spaces and `)`, so the fields are counted after its last `)`.
fn stat(pid: i32) -> Option<Proc> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

fn parse_stat(pid: i32, text: &str) -> Option<Proc> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(1);
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    Some(Proc { pid, ppid, pgrp, session })
}

/// `pid` and its ancestors, nearest first, up to init (or as far as `/proc` tells).
pub fn line(pid: i32) -> Vec<Proc> {
    let mut line = Vec::new();
    let mut next = pid;
    while next > 0 && line.len() < MAX_DEPTH {
        let Some(proc) = stat(next) else { break };
        line.push(proc);
        if proc.ppid == next {
            break;
        }
        next = proc.ppid;
    }
    line
}

/// `RALPH_RUN_ID` and `RALPH_STEP` from the environment `pid` was started with.
fn ralph_env(pid: i32) -> (Option<String>, Option<String>) {
    let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ")) else { return (None, None) };
    let mut found = (None, None);
    for var in bytes.split(|b| *b == 0) {
        let var = String::from_utf8_lossy(var);
        if let Some(value) = var.strip_prefix(env::RUN_ID).and_then(|v| v.strip_prefix('=')) {
            found.0 = Some(value.to_owned());
        } else if let Some(value) = var.strip_prefix(env::STEP).and_then(|v| v.strip_prefix('=')) {
            found.1 = Some(value.to_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_after_the_last_parenthesis_of_the_command_name() {
        let text = "4242 (a (weird) name) S 17 4242 99 34816 4242 4194560 0 0";
        assert_eq!(parse_stat(4242, text), Some(Proc { pid: 4242, ppid: 17, pgrp: 4242, session: 99 }));
        assert_eq!(parse_stat(1, "garbage"), None);
    }

    #[test]
    fn this_process_s_line_reaches_init_and_its_user_has_a_name() {
        let me = i32::try_from(std::process::id()).unwrap();
        let line = line(me);
        assert_eq!(line.first().map(|p| p.pid), Some(me));
        assert!(line.iter().any(|p| p.ppid == 0 || p.pid == 1), "{line:?}");
        let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap());
        let name = user_name(uid);
        assert!(!name.is_empty() && !name.starts_with("uid "), "{name}");
        assert_eq!(user_name(4_000_000_000), "uid 4000000000");
    }
}
