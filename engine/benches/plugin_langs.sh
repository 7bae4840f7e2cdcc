#!/usr/bin/env bash
# The hook-call median of the same plugin written in Rust, Python and JavaScript: each made by
# `ralph-loop plugin new --lang …`, built by `ralph-loop plugin build`, then called N times at
# `phase.before_build` by `ralph-loop plugin call --times N` (a fresh instance per call,
# instantiation included; the first call, which compiles the component, is outside the timed
# calls' median only in that it is one of N). Needs componentize-py, jco (engine/tests/plugin-langs
# after `npm ci`, or on PATH) and the wasm32-wasip2 target.
#
#   bash engine/benches/plugin_langs.sh [N]        default N = 200
set -euo pipefail
source "$(dirname "$0")/common.sh"
calls="${1:-200}"
bin="$(ralph_bin)"
bench_tmp
export PATH="$repo/engine/tests/plugin-langs/node_modules/.bin:$PATH"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for lang in rust python javascript; do
  dir="$work/guard-$lang"
  "$bin" plugin new guard --lang "$lang" --dir "$dir" >/dev/null
  build="$("$bin" plugin build "$dir" --json)"
  wasm="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["output"])' <<<"$build")"
  case "$wasm" in /*) ;; *) wasm="$PWD/$wasm" ;; esac
  size="$(stat -c %s "$wasm")"
  # The first call compiles the component into the project's cache; the measured calls load it.
  (cd "$work" && "$bin" plugin call "$wasm" phase.before_build >/dev/null)
  report="$(cd "$work" && "$bin" plugin call "$wasm" phase.before_build --times "$calls" --json)"
  python3 - "$lang" "$size" "$report" <<'PY'
import json, sys
lang, size, report = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
print(f"{lang:<11} component {size / 1e6:6.2f} MB   median call {report['median_us'] / 1000:8.3f} ms"
      f"   ok {report['ok']}/{report['calls']}   RSS {report.get('rss_kib_end', 0) / 1024:.1f} MiB")
PY
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
