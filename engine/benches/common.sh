# Sourced by the benches (not run alone): the binary to measure, a temporary directory removed at
# exit, and the git work tree the tools run in.
#
#   RALPH_BIN=/path/to/ralph-loop   measure that binary; otherwise `cargo build --release --locked`
#                                   here and measure target/release/ralph-loop
#   BENCH_KEEP=1                    keep the temporary directory (its path is printed) to look at

benches="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$benches/../.." && pwd)"
export PYTHONPATH="$benches${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# needs TOOL…: stop with a hint when a tool is missing.
needs() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      case "$tool" in
        ninja) echo "install ninja first: apt-get install ninja-build" >&2 ;;
        time) echo "install GNU time first: apt-get install time" >&2 ;;
        *) echo "install $tool first: apt-get install $tool" >&2 ;;
      esac
      exit 2
    }
  done
  [ -x /usr/bin/time ] || { echo "install GNU time first: apt-get install time" >&2; exit 2; }
}

# ralph_bin: print the path of the binary to measure.
ralph_bin() {
  if [ -n "${RALPH_BIN:-}" ]; then
    [ -x "$RALPH_BIN" ] || { echo "RALPH_BIN=$RALPH_BIN is not an executable" >&2; exit 2; }
    (cd "$(dirname "$RALPH_BIN")" && echo "$PWD/$(basename "$RALPH_BIN")")
  else
    (cd "$repo" && cargo build --release --locked -q) >&2
    echo "$repo/target/release/ralph-loop"
  fi
}

# bench_tmp: make the temporary directory `$work`, removed when the script exits.
bench_tmp() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/ralph-bench.XXXXXX")"
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "keeping $work" >&2
  else
    trap 'rm -rf "$work"' EXIT
  fi
}

# make_worktree DIR: the project the tools run in (engine/benches/worktree.py: 2,000 tracked
# files, untracked files lying around, two modified files, `.ralph/` not ignored).
make_worktree() {
  python3 "$benches/worktree.py" "$1" --files "${BENCH_FILES:-2000}"
}
