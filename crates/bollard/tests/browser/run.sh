#!/usr/bin/env bash
# Runs the console's browser tests: builds (or takes) the bollard binary, starts
# `bollard demo` on free loopback ports, runs every *.test.mjs in headless Chromium
# (the system's /usr/bin/chromium; no browser is ever downloaded), then stops the demo.
#
#   crates/bollard/tests/browser/run.sh
#
# Environment: BOLLARD_BIN (a built binary; default: cargo build, then target/debug/bollard),
# CHROMIUM (default /usr/bin/chromium). Screenshots land in ./screenshots/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
  echo "run.sh: $chromium is missing; install it with: apt-get install -y chromium" >&2
  exit 1
fi
if [ -z "${BOLLARD_BIN:-}" ]; then
  (cd "$root" && cargo build -p bollard --bin bollard)
  BOLLARD_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/bollard"
fi

cd "$here"
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi
mkdir -p screenshots
rm -f screenshots/*.png

# Two free ports, chosen by the kernel.
read -r agent_port admin_port < <(node -e '
  const net = require("net");
  const one = () => new Promise((ok) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); }); });
  (async () => { const a = await one(); let b = await one(); while (b === a) b = await one(); console.log(a, b); })();
')

log="$here/demo.log"
"$BOLLARD_BIN" demo --listen "127.0.0.1:$agent_port" --admin-listen "127.0.0.1:$admin_port" >"$log" 2>&1 &
demo_pid=$!
stop_demo() {
  if kill -0 "$demo_pid" 2>/dev/null; then
    kill -INT "$demo_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$demo_pid" 2>/dev/null || true
  fi
  wait "$demo_pid" 2>/dev/null || true
}
trap stop_demo EXIT

for _ in $(seq 1 300); do
  grep -q 'Admin key:' "$log" && break
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "run.sh: bollard demo exited early:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done

admin_key="$(grep -oE 'bol_admin_[0-9a-f]+' "$log" | head -n 1)"
console_url="$(grep -oE 'Admin console: +http://[^ ]+' "$log" | awk '{print $3}' | head -n 1)"
agent_url="$(grep -oE 'Agents \(REST and MCP\): +http://[0-9.:]+' "$log" | grep -oE 'http://[0-9.:]+' | head -n 1)"
if [ -z "$admin_key" ] || [ -z "$console_url" ] || [ -z "$agent_url" ]; then
  echo "run.sh: could not read the admin key and URLs from bollard demo's output:" >&2
  cat "$log" >&2
  exit 1
fi

export BOLLARD_ADMIN_KEY="$admin_key" BOLLARD_CONSOLE_URL="$console_url" BOLLARD_AGENT_URL="$agent_url" CHROMIUM="$chromium"
# Every *.test.mjs file, one at a time, against the one demo: each file makes its own agents.
node --test --test-reporter=spec --test-concurrency=1 ./*.test.mjs
