//! Who may send a running loop a control signal: a person's terminal may; an agent the engine
//! started for a step may not — it would approve its own review — unless the workflow makes it
//! an `approver`.
//!
//! A sender is placed by its process as the kernel and `/proc` tell it ([`Peer`]), never by
//! what its request says: it is an agent of the run when it, or any of its ancestors, is in a
//! process group (or a session) the engine started for a step, when it descends from the loop
//! itself (this also covers an agent whose group's report the runner has not taken yet), or
//! when it was started with this run's `RALPH_RUN_ID`. A sender whose process cannot be read
//! is not placed, and is refused too: an agent could connect and exit before it is looked at.
//!
//! The loop's own process is not an agent: it is where `loop --dashboard` serves the web
//! dashboard, which relays people's requests under its own access rules.
//!
//! What this cannot see: a process an agent detached from everything the engine can trace
//! (`setsid` after a double fork, with its environment scrubbed). The socket is owner-only, so
//! such a process still runs as the user; the journal keeps its pid and user.
//!
//! **Architecture invariant:** a pure judgement over what it is given; it reads nothing itself.

use std::collections::BTreeMap;

use crate::control::peer::Peer;

/// Where a control request's sender stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Sender {
    /// A process outside everything the engine started: a person's terminal, a script.
    Person,
    /// A process of the run's agents: of this step, when it is known.
    Agent {
        /// The step.
        step: Option<String>,
        /// How it was told, for people.
        how: String,
    },
    /// The process could not be read (it ended, or there is no `/proc`).
    Unplaced,
}

/// Places `peer` against the loop's process id, the run's id and the process groups of the
/// agents running now (group → step).
pub(super) fn place(peer: &Peer, loop_pid: i32, run_id: &str, groups: &BTreeMap<i32, String>) -> Sender {
    let Some(pid) = peer.pid else { return Sender::Unplaced };
    if peer.line.first().is_none_or(|p| p.pid != pid) {
        return Sender::Unplaced;
    }
    // The loop's own process: its web dashboard (`loop --dashboard`), relaying what people ask
    // under the dashboard's own access rules. No agent runs as the loop's process; its agents
    // are its children, placed below.
    if pid == loop_pid {
        return Sender::Person;
    }
    for proc in &peer.line {
        if let Some(step) = groups.get(&proc.pgrp).or_else(|| groups.get(&proc.session)) {
            return Sender::Agent {
                step: Some(step.clone()),
                how: format!("process {} is in the process group of `{step}`'s agent", proc.pid),
            };
        }
        if proc.pid == loop_pid {
            return Sender::Agent { step: peer.step.clone(), how: "it descends from the loop".into() };
        }
    }
    if peer.run_id.as_deref() == Some(run_id) {
        return Sender::Agent {
            step: peer.step.clone(),
            how: format!("it was started with RALPH_RUN_ID={run_id}"),
        };
    }
    Sender::Person
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::peer::Proc;

    fn peer(line: &[(i32, i32, i32, i32)]) -> Peer {
        Peer {
            pid: line.first().map(|p| p.0),
            uid: 1000,
            user: "ana".into(),
            line: line.iter().map(|&(pid, ppid, pgrp, session)| Proc { pid, ppid, pgrp, session }).collect(),
            run_id: None,
            step: None,
        }
    }

    #[test]
    fn a_sender_is_an_agent_by_its_group_its_session_its_ancestry_or_its_run_id() {
        let groups = BTreeMap::from([(500, "build".to_owned())]);
        // A person's terminal: a shell in its own session, under init.
        let person = peer(&[(900, 800, 900, 800), (800, 1, 800, 800), (1, 0, 1, 1)]);
        assert_eq!(place(&person, 100, "r1", &groups), Sender::Person);
        // `ralph-loop approve` run by the agent's shell: its parent is in the agent's group.
        let child = peer(&[(700, 500, 700, 100), (500, 100, 500, 100), (100, 50, 100, 50), (1, 0, 1, 1)]);
        assert!(
            matches!(place(&child, 100, "r1", &groups), Sender::Agent { step: Some(s), .. } if s == "build")
        );
        // A process that left the group but not the session the agent made.
        let session = peer(&[(701, 1, 701, 500), (1, 0, 1, 1)]);
        assert!(matches!(place(&session, 100, "r1", &groups), Sender::Agent { .. }));
        // The loop itself (its own dashboard) is not one of its agents.
        let itself = peer(&[(100, 50, 100, 50), (50, 1, 50, 50), (1, 0, 1, 1)]);
        assert_eq!(place(&itself, 100, "r1", &groups), Sender::Person);
        // An agent whose group the runner has not heard of yet: it descends from the loop.
        let early = peer(&[(702, 600, 600, 50), (600, 100, 600, 50), (100, 50, 100, 50)]);
        assert!(matches!(place(&early, 100, "r1", &BTreeMap::new()), Sender::Agent { .. }));
        // A detached process that kept the run's environment.
        let mut detached = peer(&[(703, 1, 703, 703), (1, 0, 1, 1)]);
        detached.run_id = Some("r1".into());
        detached.step = Some("build".into());
        assert!(
            matches!(place(&detached, 100, "r1", &groups), Sender::Agent { step: Some(s), .. } if s == "build")
        );
        detached.run_id = Some("another-run".into());
        assert_eq!(place(&detached, 100, "r1", &groups), Sender::Person);
        // A process that is gone before it is looked at.
        assert_eq!(place(&peer(&[]), 100, "r1", &groups), Sender::Unplaced);
        let mut gone = peer(&[]);
        gone.pid = Some(704);
        assert_eq!(place(&gone, 100, "r1", &groups), Sender::Unplaced);
    }
}
