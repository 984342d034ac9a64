#!/usr/bin/env bash
# The HTML reports in a real browser: headless Chromium (Debian's package) driven through the
# DevTools protocol. Runs the example service with --html and checks, while it runs, that the
# live page at /report refreshes itself with new counts; then that its HTML report (under 1 MB,
# opened from a file, no network) loads with no console error, every chart drew data, and every
# number in its tables equals the report's JSON, and its chart of calls in flight equals the run
# record's; the same for the comparison page of `perf-instrument compare --html`, with the
# calls in flight of both sides overlaid. The screenshot goes to target/artifacts/report.png.
# Usage: scripts/browser.sh [--update-docs]   (also copies the screenshot to docs/report.png)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

out=target/artifacts
mkdir -p "$out"

# Chromium: Debian's package; unpacked under .tools/ when it cannot be installed.
chromium=""
if command -v chromium >/dev/null; then
  chromium=$(command -v chromium)
elif [ "$(id -u)" = 0 ] && { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 ||
  { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; }; then
  chromium=$(command -v chromium)
else
  dl="$TOOLS/download-chromium"
  mkdir -p "$dl" "$TOOLS/chromium"
  (cd "$dl" && apt-get download chromium chromium-common >/dev/null)
  for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$TOOLS/chromium"; done
  rm -rf "$dl"
  chromium="$TOOLS/chromium/usr/lib/chromium/chromium"
fi
echo "browser: $("$chromium" --version 2>/dev/null | tail -1)"

# A websocket client for the DevTools protocol, in the tools' venv.
if [ ! -x "$TOOLS/venv/bin/python" ]; then python3 -m venv "$TOOLS/venv"; fi
if ! "$TOOLS/venv/bin/python" -c "import websocket" 2>/dev/null; then
  "$TOOLS/venv/bin/python" -m pip install --quiet "websocket-client==1.8.0"
fi
py="$TOOLS/venv/bin/python"

cargo build --quiet --example event_pipeline --bin perf-instrument
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/debug/examples/event_pipeline --listen "127.0.0.1:$port" --duration 12s --rate 300 \
  --html "$out/report.html" --report-json "$out/report.json" --record "$out/run.json" \
  >"$out/example.log" 2>&1 &
example=$!
trap 'kill "$example" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/report?format=json" >/dev/null && break
  sleep 0.1
done
"$py" scripts/browser_check.py live "$chromium" "http://127.0.0.1:$port/report"
wait "$example"
trap - EXIT

size=$(stat -c %s "$out/report.html")
echo "report.html: $size bytes"
if [ "$size" -ge 1048576 ]; then
  echo "browser: the example's HTML report is $size bytes, over 1 MB" >&2
  exit 1
fi
"$py" scripts/browser_check.py static "$chromium" "$out/report.html" "$out/report.json" "$out/report.png" \
  "$out/run.json"

# A comparison page: the run against itself (A/A), so every row is compared.
target/debug/perf-instrument compare "$out/run.json" "$out/run.json" \
  --json "$out/compare.json" --html "$out/compare.html" >/dev/null
"$py" scripts/browser_check.py comparison "$chromium" "$out/compare.html" "$out/compare.json" \
  "$out/run.json" "$out/run.json"

if [ "${1:-}" = "--update-docs" ]; then
  cp "$out/report.png" docs/report.png
  echo "browser: docs/report.png updated"
fi
echo "browser: ok"
