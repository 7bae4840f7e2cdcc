//! The dependency rules shared by every kind of task file: ids are unique, references resolve,
//! nothing waits on itself in a circle, and what a task is waiting for.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{Milestone, Task, TaskError, TaskStatus};

/// Checks ids, references and cycles among `tasks` and `milestones`.
pub(super) fn check(path: &Path, tasks: &[Task], milestones: &[Milestone]) -> Result<(), TaskError> {
    let task_index = unique(path, "task", tasks.iter().map(|t| (t.id.as_str(), t.line)))?;
    let milestone_index = unique(path, "milestone", milestones.iter().map(|m| (m.id.as_str(), m.line)))?;
    for task in tasks {
        if let Some(dependency) = task.depends_on.iter().find(|d| !task_index.contains_key(d.as_str())) {
            return Err(TaskError::UnknownDependency {
                path: path.to_path_buf(),
                line: task.line,
                task: task.id.clone(),
                dependency: dependency.clone(),
            });
        }
    }
    for milestone in milestones {
        if let Some(blocker) = milestone.blocked_by.iter().find(|b| !milestone_index.contains_key(b.as_str()))
        {
            return Err(TaskError::UnknownMilestone {
                path: path.to_path_buf(),
                line: milestone.line,
                milestone: milestone.id.clone(),
                blocker: blocker.clone(),
            });
        }
    }

    // One graph over tasks (nodes 0..n) and milestones (n..n+m): a task waits for its
    // dependencies and for the milestones blocking its own; a milestone waits for its tasks and
    // for its blockers. Any cycle here means some task can never be ready.
    let n = tasks.len();
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n + milestones.len()];
    for (i, task) in tasks.iter().enumerate() {
        edges[i].extend(task.depends_on.iter().map(|d| task_index[d.as_str()]));
        if let Some(&m) = task.milestone.as_deref().and_then(|m| milestone_index.get(m)) {
            edges[n + m].push(i);
            edges[i].extend(milestones[m].blocked_by.iter().map(|b| n + milestone_index[b.as_str()]));
        }
    }
    for (m, milestone) in milestones.iter().enumerate() {
        edges[n + m].extend(milestone.blocked_by.iter().map(|b| n + milestone_index[b.as_str()]));
    }
    if let Some(cycle) = find_cycle(&edges) {
        let name =
            |node: usize| if node < n { tasks[node].id.clone() } else { milestones[node - n].id.clone() };
        return Err(TaskError::Cycle {
            path: path.to_path_buf(),
            cycle: cycle.into_iter().map(name).collect(),
        });
    }
    Ok(())
}

/// Maps each id to its position, or reports the first duplicate.
fn unique<'a>(
    path: &Path,
    what: &'static str,
    ids: impl Iterator<Item = (&'a str, u32)>,
) -> Result<HashMap<&'a str, usize>, TaskError> {
    let mut index: HashMap<&str, (usize, u32)> = HashMap::new();
    for (i, (id, line)) in ids.enumerate() {
        if let Some(&(_, first_line)) = index.get(id) {
            return Err(TaskError::DuplicateId {
                path: path.to_path_buf(),
                what,
                id: id.to_owned(),
                line,
                first_line,
            });
        }
        index.insert(id, (i, line));
    }
    Ok(index.into_iter().map(|(id, (i, _))| (id, i)).collect())
}

/// A cycle of `edges`, as the nodes around it with the first repeated at the end. Iterative, so
/// that a long chain cannot overflow the stack.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Finished,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for root in 0..edges.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // The current path, each node with the index of its next edge to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match mark[to] {
                    Mark::New => {
                        mark[to] = Mark::OnPath;
                        path.push((to, 0));
                    }
                    Mark::OnPath => {
                        let start = path.iter().position(|&(n, _)| n == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = path[start..].iter().map(|&(n, _)| n).collect();
                        cycle.push(to);
                        return Some(cycle);
                    }
                    Mark::Finished => {}
                }
            } else {
                mark[node] = Mark::Finished;
                path.pop();
            }
        }
    }
    None
}

/// What tasks wait for, computed once for a whole file.
pub(super) struct Waits<'a> {
    /// The ids of the `done` tasks.
    done: HashSet<&'a str>,
    /// The ids of the milestones with a task that is not `done`.
    unfinished: HashSet<&'a str>,
    /// Each milestone's `blocked_by`.
    blockers: HashMap<&'a str, &'a [String]>,
}

impl<'a> Waits<'a> {
    pub(super) fn new(tasks: &'a [Task], milestones: &'a [Milestone]) -> Self {
        let done = tasks.iter().filter(|t| t.status == TaskStatus::Done).map(|t| t.id.as_str()).collect();
        let unfinished = tasks
            .iter()
            .filter(|t| t.status != TaskStatus::Done)
            .filter_map(|t| t.milestone.as_deref())
            .collect();
        let blockers = milestones.iter().map(|m| (m.id.as_str(), m.blocked_by.as_slice())).collect();
        Waits { done, unfinished, blockers }
    }

    /// What `task` waits for: its dependencies that are not `done`, then the milestones blocking
    /// its milestone that are not finished.
    pub(super) fn of(&self, task: &Task) -> Vec<String> {
        let mut waiting: Vec<String> =
            task.depends_on.iter().filter(|d| !self.done.contains(d.as_str())).cloned().collect();
        if let Some(blockers) = task.milestone.as_deref().and_then(|m| self.blockers.get(m)) {
            waiting.extend(blockers.iter().filter(|b| self.unfinished.contains(b.as_str())).cloned());
        }
        waiting
    }

    /// Whether `task` waits for nothing.
    pub(super) fn is_clear(&self, task: &Task) -> bool {
        task.depends_on.iter().all(|d| self.done.contains(d.as_str()))
            && task
                .milestone
                .as_deref()
                .and_then(|m| self.blockers.get(m))
                .is_none_or(|blockers| blockers.iter().all(|b| !self.unfinished.contains(b.as_str())))
    }
}
