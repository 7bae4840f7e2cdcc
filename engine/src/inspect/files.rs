//! The files an execution of a step left under `.ralph/runs/<id>/`: its steering packet (as
//! built, and as completed with the outcome), and for each of its agents the stacked prompt,
//! the result file and the output log.
//!
//! They are found by the name the runner gives them: the run's invocation count when the step
//! started, then the step (`0007-build`), then — when a step has several agents (a chain,
//! parallel agents) or a hook's agent ran for it (`on_failure`, `on_open`, `on_timeout`) — the
//! agent's name (`0007-build.linter`). A file that is missing is simply not there: command
//! agents that read no files get no prompt or packet, and a killed agent may leave no result.

use std::collections::BTreeSet;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::agent::command::file_name;

/// The files of one run.
#[derive(Debug, Clone, Default)]
pub struct RunFiles {
    dir: PathBuf,
    steps: BTreeSet<String>,
    packets: BTreeSet<String>,
}

/// The files of one execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepFiles {
    /// The steering packet the step was given.
    pub packet: Option<PathBuf>,
    /// The packet completed with its outcome.
    pub completed_packet: Option<PathBuf>,
    /// Each agent's files: one unnamed unit for a step with one agent.
    pub units: Vec<UnitFiles>,
}

/// One agent's files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitFiles {
    /// The agent (or hook) the files are named after; none for a step's only agent.
    pub name: Option<String>,
    /// The stacked prompt it was given.
    pub prompt: Option<PathBuf>,
    /// The result file it wrote.
    pub result: Option<PathBuf>,
    /// Its stdout and stderr.
    pub log: Option<PathBuf>,
}

const KINDS: [&str; 3] = [".prompt.md", ".result.json", ".log"];

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
        })
        .unwrap_or_default()
}

impl RunFiles {
    /// Lists a run's files once (a DAG of thousands of steps must not list its directory per
    /// step).
    pub fn scan(run_dir: &Path) -> RunFiles {
        RunFiles {
            dir: run_dir.to_owned(),
            steps: names(&run_dir.join("steps")),
            packets: names(&run_dir.join("packets")),
        }
    }

    /// The files of the execution numbered `invocation` of `step`.
    pub fn of(&self, invocation: u64, step: &str) -> StepFiles {
        let stem = format!("{invocation:04}-{}", file_name(step));
        let packet = |suffix: &str| {
            let name = format!("{stem}{suffix}");
            self.packets.contains(&name).then(|| self.dir.join("packets").join(name))
        };
        let mut units: Vec<UnitFiles> = Vec::new();
        // Names sort after their stem, so the step's files are one range of the sorted set.
        for name in self.steps.range(stem.clone()..).take_while(|n| n.starts_with(&stem)) {
            let rest = &name[stem.len()..];
            let Some(kind) = KINDS.iter().find(|k| rest.ends_with(*k)) else { continue };
            let unit = &rest[..rest.len() - kind.len()];
            let unit = match unit.strip_prefix('.') {
                Some(agent) if !agent.is_empty() => Some(agent.to_owned()),
                None if unit.is_empty() => None,
                // `0007-buildx.log` belongs to step `buildx`, not to `build`.
                _ => continue,
            };
            let index = match units.iter().position(|u| u.name == unit) {
                Some(i) => i,
                None => {
                    units.push(UnitFiles { name: unit, ..UnitFiles::default() });
                    units.len() - 1
                }
            };
            let path = Some(self.dir.join("steps").join(name));
            match *kind {
                ".prompt.md" => units[index].prompt = path,
                ".result.json" => units[index].result = path,
                _ => units[index].log = path,
            }
        }
        // The step's own agent first, then the others in name order.
        units.sort_by(|a, b| a.name.cmp(&b.name));
        StepFiles { packet: packet(".json"), completed_packet: packet(".completed.json"), units }
    }
}

/// Part of a text file: its first or last lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excerpt {
    /// The text.
    pub text: String,
    /// Whether the file holds more than `text`.
    pub truncated: bool,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// How far back from a log's end to look for its last lines: agent logs can be many megabytes,
/// and their tail is what tells how a step ended.
const TAIL_WINDOW: u64 = 256 * 1024;

/// The last `lines` lines of a file (all of it when `lines` is `None`).
pub fn tail(path: &Path, lines: Option<usize>) -> std::io::Result<Excerpt> {
    let mut file = std::fs::File::open(path)?;
    let bytes = file.metadata()?.len();
    let Some(lines) = lines else {
        let text = String::from_utf8_lossy(&std::fs::read(path)?).into_owned();
        return Ok(Excerpt { text, truncated: false, bytes });
    };
    let start = bytes.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    // A window that starts mid-file starts mid-line: that first piece is not a line.
    let whole = if start > 0 { all.get(1..).unwrap_or_default() } else { &all[..] };
    let keep = &whole[whole.len().saturating_sub(lines)..];
    let truncated = start > 0 || keep.len() < all.len();
    Ok(Excerpt { text: join_lines(keep), truncated, bytes })
}

/// How much of a file's start is read for its first lines: a prompt is read whole unless it is
/// larger than this.
const HEAD_WINDOW: u64 = 1024 * 1024;

/// The first `lines` lines of a file (all of it when `lines` is `None`), from at most its first
/// [`HEAD_WINDOW`] bytes when `lines` is given.
pub fn head(path: &Path, lines: Option<usize>) -> std::io::Result<Excerpt> {
    let file = std::fs::File::open(path)?;
    let bytes = file.metadata()?.len();
    let Some(lines) = lines else {
        let text = String::from_utf8_lossy(&std::fs::read(path)?).into_owned();
        return Ok(Excerpt { text, truncated: false, bytes });
    };
    let mut buf = Vec::new();
    file.take(HEAD_WINDOW).read_to_end(&mut buf)?;
    let cut = (buf.len() as u64) < bytes;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let all: Vec<&str> = text.lines().collect();
    // A window that ends mid-file ends mid-line: that last piece is not a line.
    let whole = if cut { &all[..all.len().saturating_sub(1)] } else { &all[..] };
    if !cut && whole.len() <= lines {
        return Ok(Excerpt { text, truncated: false, bytes });
    }
    Ok(Excerpt { text: join_lines(&whole[..whole.len().min(lines)]), truncated: true, bytes })
}

fn join_lines(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executions_files_are_found_by_number_step_and_agent() {
        let dir = tempfile::tempdir().unwrap();
        let (steps, packets) = (dir.path().join("steps"), dir.path().join("packets"));
        std::fs::create_dir_all(&steps).unwrap();
        std::fs::create_dir_all(&packets).unwrap();
        for name in [
            "0003-build.prompt.md",
            "0003-build.log",
            "0003-build.on_failure.log",
            "0003-buildx.log",
            "0004-build.log",
            "0005-verify.lint.log",
            "0005-verify.types.result.json",
        ] {
            std::fs::write(steps.join(name), "x").unwrap();
        }
        std::fs::write(packets.join("0003-build.json"), "{}").unwrap();
        std::fs::write(packets.join("0003-build.completed.json"), "{}").unwrap();
        let files = RunFiles::scan(dir.path());
        let build = files.of(3, "build");
        assert_eq!(build.packet, Some(packets.join("0003-build.json")));
        assert_eq!(build.completed_packet, Some(packets.join("0003-build.completed.json")));
        assert_eq!(build.units.len(), 2, "{build:?}");
        assert_eq!(build.units[0].name, None);
        assert_eq!(build.units[0].prompt, Some(steps.join("0003-build.prompt.md")));
        assert_eq!(build.units[1].name.as_deref(), Some("on_failure"));
        let verify = files.of(5, "verify");
        assert_eq!(verify.packet, None);
        let names: Vec<_> = verify.units.iter().map(|u| u.name.clone().unwrap()).collect();
        assert_eq!(names, ["lint", "types"]);
        assert!(files.of(6, "build").units.is_empty());
    }

    #[test]
    fn a_tail_is_the_last_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let t = tail(&path, Some(3)).unwrap();
        assert_eq!(t.text, "line 8\nline 9\nline 10\n");
        assert!(t.truncated);
        let all = tail(&path, None).unwrap();
        assert_eq!(all.text, text);
        assert!(!all.truncated);
        let big: String = (0..100_000).map(|i| format!("{i:08}\n")).collect();
        std::fs::write(&path, &big).unwrap();
        assert_eq!(tail(&path, Some(2)).unwrap().text, "00099998\n00099999\n");
        let h = head(&path, Some(1)).unwrap();
        assert_eq!((h.text.as_str(), h.truncated), ("00000000\n", true));
        // A head never reads more than its window, and cuts at a whole line.
        let huge: String = (0..300_000).map(|i| format!("{i:08}\n")).collect();
        std::fs::write(&path, &huge).unwrap();
        let h = head(&path, Some(usize::MAX)).unwrap();
        assert!(h.truncated && h.text.len() as u64 <= HEAD_WINDOW && h.text.ends_with('\n'));
        assert_eq!(h.bytes, huge.len() as u64);
        std::fs::write(&path, "one\ntwo").unwrap();
        let h = head(&path, Some(5)).unwrap();
        assert_eq!((h.text.as_str(), h.truncated), ("one\ntwo", false));
    }
}
