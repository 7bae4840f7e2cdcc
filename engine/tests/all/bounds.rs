//! Every input has a bound: what an agent leaves behind (a FIFO, a directory or a gigabyte in
//! place of its result file, a gigabyte summary, a flood of output) fails its step or is cut,
//! and never hangs or bloats the loop; absurd values (`timeout: 0`, `--jobs 0`, a task line
//! with two markers) are refused up front. See: issue 14.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Output, events, project, ralph};

/// Waits for `child` at most `limit`, killing it past that: a test of a hang must not hang.
fn finish_within(mut child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the loop did not end within {limit:?}\nstdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let output = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (output, elapsed)
}

fn start_loop(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ralph-loop"))
        .args(["--color", "never", "loop", "--workflow", "w.yaml", "--json"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The `step_finished` event of `step`.
fn finished(events: &[serde_json::Value], step: &str) -> serde_json::Value {
    events
        .iter()
        .find(|e| e["event"] == "step_finished" && e["step"] == step)
        .unwrap_or_else(|| panic!("no step_finished for `{step}`"))
        .clone()
}

/// Waits (bounded) for a file a step writes.
fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(30), "{} never appeared", path.display());
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

#[test]
fn a_fifo_result_fails_its_step_within_its_timeout_and_the_loop_goes_on() {
    // `left` leaves a FIFO where its result goes and exits; `writer` blocks writing into one
    // (nobody reads it) until its timeout; `fine` runs beside them.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: left\n      agent: leaver\n    - id: writer\n      agent: blocked\n    - id: fine\n      agent: fine\n\
         agents:\n  leaver:\n    command: 'mkfifo \"$RALPH_RESULT_FILE\"'\n    timeout: 5s\n  blocked:\n    command: 'mkfifo \"$RALPH_RESULT_FILE\"; echo {} > \"$RALPH_RESULT_FILE\"'\n    timeout: 1s\n  fine:\n    command: 'echo fine > fine.txt'\n",
    )]);
    let (out, elapsed) = finish_within(start_loop(dir.path(), &[]), Duration::from_secs(60));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let events = events(&out.stdout);
    let left = finished(&events, "left");
    assert_eq!(left["outcome"]["class"], "agent_error");
    let error = left["outcome"]["error"].as_str().unwrap();
    assert!(error.contains("0001-left.result.json` is a FIFO, not a regular file"), "{error}");
    let writer = finished(&events, "writer");
    assert_eq!(writer["outcome"]["class"], "timeout", "a timeout stays a timeout");
    let error = writer["outcome"]["error"].as_str().unwrap();
    assert!(error.starts_with("timed out after 1s") && error.contains("is a FIFO"), "{error}");
    assert_eq!(finished(&events, "fine")["outcome"]["success"], true);
    assert!(dir.path().join("fine.txt").exists());
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    // The writer's 1 s, its kill grace at most, and the rest: nowhere near forever.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    // `debug` reads the same files, and must not block on the FIFO either.
    let shown = ralph(["debug", "--iteration", "1"]).current_dir(dir.path()).expect(0);
    assert!(shown.stdout.contains("is a FIFO"), "{}", shown.stdout);
}

#[test]
fn sigterm_still_stops_a_loop_whose_agent_left_a_fifo_result() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: left\n      agent: leaver\n    - id: long\n      agent: sleeper\n\
         agents:\n  leaver:\n    command: 'mkfifo \"$RALPH_RESULT_FILE\"'\n  sleeper:\n    command: 'touch started; sleep 300'\n",
    )]);
    // One node at a time: `left` has finished when `long` starts.
    let child = start_loop(dir.path(), &["--jobs", "1"]);
    wait_for(&dir.path().join("started"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .unwrap();
    let (out, _) = finish_within(child, Duration::from_secs(30));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let events = events(&out.stdout);
    assert!(finished(&events, "left")["outcome"]["error"].as_str().unwrap().contains("is a FIFO"));
    let end = events.iter().rfind(|e| e["event"] == "run_finished").unwrap();
    assert_eq!(end["reason"], "interrupted by SIGTERM", "{end}");
}

#[test]
fn fifos_planted_where_the_next_step_packet_goes_are_replaced_not_opened() {
    // Opening either FIFO for writing would block the loop until someone read it.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: planter\n    - id: b\n      agent: reader\n      depends_on: [a]\n\
         agents:\n  planter:\n    command: 'cd .ralph/runs/$RALPH_RUN_ID/packets && mkfifo 0002-b.json 0002-b.completed.json'\n  \
         reader:\n    command: 'cat \"$RALPH_PACKET_FILE\" > got.json'\n    reads_packet: true\n",
    )]);
    let (out, _) = finish_within(start_loop(dir.path(), &[]), Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("got.json")).unwrap()).unwrap();
    assert_eq!(got["workflow"]["phase"], "b", "{got}");
}

#[test]
fn a_one_gigabyte_result_fails_its_step_at_once_without_being_read() {
    // `truncate` makes it sparse: a gigabyte that costs no disk, only a read would cost time
    // and memory. The size in the message is the file's, from `fstat`: nothing was read.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: big\n      agent: big\nagents:\n  big:\n    command: 'truncate -s 1G \"$RALPH_RESULT_FILE\"'\n",
    )]);
    let (out, elapsed) = finish_within(start_loop(dir.path(), &[]), Duration::from_secs(60));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let big = finished(&events(&out.stdout), "big");
    let error = big["outcome"]["error"].as_str().unwrap();
    assert!(
        error.ends_with(
            "0001-big.result.json` is 1.0 GiB (1073741824 bytes), over the 4.0 MiB limit; keep it to an \
             outcome, a summary and small details"
        ),
        "{error}"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn a_result_path_made_a_directory_fails_its_step_clearly() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: odd\n      agent: odd\nagents:\n  odd:\n    command: 'mkdir \"$RALPH_RESULT_FILE\"'\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(1);
    let odd = finished(&events(&out.stdout), "odd");
    assert_eq!(odd["outcome"]["class"], "agent_error");
    let error = odd["outcome"]["error"].as_str().unwrap();
    assert!(
        error.ends_with(
            "0001-odd.result.json` is a directory, not a regular file; the agent must write its result as a plain file"
        ),
        "{error}"
    );
}

#[test]
fn a_huge_summary_is_journaled_cut_with_its_length_and_status_stays_small() {
    // 3 MB of summary: under the result file's cap, far over what a journal entry may hold.
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: talk\n      agent: talker\nagents:\n  talker:\n    command: |\n      { printf '{\"outcome\": \"done\", \"summary\": \"'; head -c 3000000 /dev/zero | tr '\\0' s; printf '\"}'; } > \"$RALPH_RESULT_FILE\"\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--json"]).current_dir(dir.path()).expect(0);
    assert!(out.stdout.len() < 200_000, "the events carry {} bytes", out.stdout.len());
    let talk = finished(&events(&out.stdout), "talk");
    let summary = talk["outcome"]["summary"].as_str().unwrap();
    assert!(summary.len() <= 64 * 1024 + 64, "{}", summary.len());
    assert!(summary.starts_with("ssss") && summary.ends_with("… (truncated, 3000000 bytes in all)"));
    assert_eq!(talk["outcome"]["result"], "done");
    // What later verbs read is the journal: it holds the cut summary, not 3 MB.
    let logs = ralph(["logs", "--json"]).current_dir(dir.path()).expect(0);
    assert!(logs.stdout.len() < 200_000, "`logs` printed {} bytes", logs.stdout.len());
    assert!(logs.stdout.contains("(truncated, 3000000 bytes in all)"));
    let status = ralph(["status", "--json"]).current_dir(dir.path()).expect(0);
    assert!(status.stdout.len() < 200_000, "`status` printed {} bytes", status.stdout.len());
    let debug = ralph(["debug", "--iteration", "1"]).current_dir(dir.path()).expect(0);
    assert!(debug.stdout.len() < 200_000, "`debug` printed {} bytes", debug.stdout.len());
}

fn step_files(dir: &Path) -> Vec<PathBuf> {
    let runs = dir.join(".ralph/runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(run.join("steps")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn a_flood_of_output_leaves_a_log_rotated_at_its_cap_with_the_tail_kept() {
    let dir = project(&[(
        "w.yaml",
        "logging:\n  step_logs:\n    max_size: 1MiB\n    max_files: 2\n\
         workflow:\n  nodes:\n    - id: flood\n      agent: flood\n\
         agents:\n  flood:\n    command: \"head -c 10000000 /dev/zero | tr '\\\\0' x; echo; echo the very end\"\n",
    )]);
    ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(0);
    let files = step_files(dir.path());
    let names: Vec<String> =
        files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["0001-flood.log", "0001-flood.log.1", "0001-flood.log.2"]);
    for file in &files {
        let size = std::fs::metadata(file).unwrap().len();
        assert!(size <= 1024 * 1024, "{}: {size} bytes", file.display());
    }
    let last = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        last.starts_with(
            "[ralph-loop: the log is rotated every 1.0 MiB (2 older files kept); the output before this line is in `0001-flood.log.1`]\n"
        ),
        "{}",
        &last[..200]
    );
    assert!(last.ends_with("xxxx\nthe very end\n"), "the tail is kept");
    let shown = ralph(["debug", "--iteration", "1"]).current_dir(dir.path()).expect(0);
    assert!(shown.stdout.contains("the very end"), "{}", shown.stdout);
}

#[test]
fn jobs_zero_is_a_usage_error() {
    let dir = project(&[(
        "w.yaml",
        "workflow:\n  nodes:\n    - id: a\n      agent: a\nagents:\n  a:\n    command: 'touch ran'\n",
    )]);
    let out = ralph(["loop", "--workflow", "w.yaml", "--jobs", "0"]).current_dir(dir.path()).expect(2);
    assert!(
        out.stderr.contains("invalid value '0' for '--jobs <N>': `0` would run nothing; give at least 1"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("ran").exists());
    ralph(["loop", "--workflow", "w.yaml", "-j", "1"]).current_dir(dir.path()).expect(0);
}

#[test]
fn a_task_line_with_two_markers_is_refused_at_its_place_and_left_as_it_was() {
    let todo = "- [ ] T-1: first <!-- ralph: failed --> <!-- ralph: in_progress -->\n- [ ] T-2: second\n";
    let dir = project(&[
        (
            "w.yaml",
            "workflow:\n  nodes:\n    - id: build\n      agent: b\nagents:\n  b:\n    command: 'echo x >> ran'\n",
        ),
        ("TODO.md", todo),
    ]);
    let out = ralph(["loop", "--workflow", "w.yaml"]).current_dir(dir.path()).expect(3);
    assert!(
        out.stderr.contains(
            "TODO.md:1:18: this task carries two `ralph:` markers, `failed` and `in_progress`; keep the one \
             that is true and delete the other"
        ),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("ran").exists(), "no step ran");
    assert_eq!(std::fs::read_to_string(dir.path().join("TODO.md")).unwrap(), todo);
}
