#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine (Graphviz for the
# diagram tests, promtool for /metrics and the monitoring stack, rotel as the OTLP receiver,
# aiosmtpd as the SMTP server and openssl for its certificates (the email notification tests),
# check-jsonschema as an independent JSON Schema validator, the Mermaid parser and Claude Code
# from npm, the pinned toolchain's wasm32-wasip2 target for the plugins, componentize-py and jco /
# componentize-js for the Python and JavaScript plugins, Chromium and its ChromeDriver for the
# dashboard's browser test), checks that the committed plugin
# components match their sources, then runs the formatting check, clippy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi; }

if ! command -v dot >/dev/null 2>&1; then
  echo "==> installing graphviz"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "==> installing prometheus (promtool checks monitoring/prometheus.yml and the dashboards' queries)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
if ! command -v check-jsonschema >/dev/null 2>&1; then
  echo "==> installing check-jsonschema"
  python3 -m pip install --quiet --disable-pip-version-check check-jsonschema
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi

if ! python3 -c "import rotel" >/dev/null 2>&1; then
  echo "==> installing rotel (a real OTLP receiver the export tests send to over gRPC and HTTP)"
  python3 -m pip install --quiet --disable-pip-version-check --pre rotel
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "==> installing aiosmtpd (a real SMTP server the email notification tests send to)"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "==> installing openssl (the STARTTLS test makes a throw-away certificate authority)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
# The plugin toolchains, pinned to the releases the guest libraries are written against
# (engine/src/plugin/toolchain.rs): componentize-py for Python plugins, jco with
# componentize-js (npm ci in engine/tests/plugin-langs) for JavaScript and TypeScript ones.
if [ "$(componentize-py --version 2>/dev/null)" != "componentize-py 0.25.1" ]; then
  echo "==> installing componentize-py (builds the Python plugins the tests run)"
  python3 -m pip install --quiet --disable-pip-version-check componentize-py==0.25.1
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  export PATH="$(python3 -m site --user-base)/bin:$PATH"
fi
if [ ! -x engine/tests/plugin-langs/node_modules/.bin/jco ]; then
  echo "==> installing jco and componentize-js (npm ci in engine/tests/plugin-langs)"
  (cd engine/tests/plugin-langs && npm ci --silent --no-audit --no-fund)
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver (the dashboard's end-to-end test drives a real headless browser)"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -d engine/tests/mermaid/node_modules/mermaid ]; then
  echo "==> installing the Mermaid parser (npm ci in engine/tests/mermaid)"
  (cd engine/tests/mermaid && npm ci --silent --no-audit --no-fund)
fi
if [ ! -x engine/tests/agents/node_modules/.bin/claude ]; then
  echo "==> installing Claude Code (npm ci in engine/tests/agents; the tests run it offline, not logged in)"
  (cd engine/tests/agents && npm ci --silent --no-audit --no-fund)
fi

# The bundled plugins the binary embeds (plugins/dist/*.wasm) must be what their sources build:
# rebuilt reproducibly (pinned toolchain, installed with the wasm32-wasip2 target when missing)
# into a temporary directory and compared byte for byte. On a mismatch it names the plugin and
# says how to refresh them (`plugins/build.sh --update`, then commit plugins/dist/).
echo "==> checking the bundled plugins against their sources (plugins/build.sh --check)"
bash plugins/build.sh --check

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -q -- -D warnings
echo "==> cargo test"
# Property tests run 256 cases per property unless PROPTEST_CASES says otherwise.
export PROPTEST_CASES="${PROPTEST_CASES:-256}"
# The span-tree tests of telemetry::run run alone: `tracing` caches each callsite's interest
# process-wide, and a runner test on another thread that reaches a span's callsite first, while
# only the no-op dispatcher exists, can cache it as "never" and race the scoped subscriber those
# tests install (seen once in CI-like runs as a missing `invoke_workflow` root span).
cargo test --workspace --all-targets --locked -- --skip telemetry::run::tests
cargo test -p ralph-loop --lib --locked -- --test-threads=1 telemetry::run::tests
cargo test --workspace --doc --locked
