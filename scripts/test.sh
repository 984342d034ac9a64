#!/usr/bin/env bash
# The whole test suite: unit, integration and doc tests, the exposition validators, a real
# Prometheus scraping native histograms and exemplars, push export into real receivers, the
# example's before/after verdict, the HTML reports in headless Chromium, the loom models.
# Installs what it needs (Debian's prometheus package unpacked, a Python venv) under .tools/,
# and Debian's chromium.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "unit and integration tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --no-fail-fast
else
  cargo test --workspace --all-features --lib --bins --tests
fi

step "doc tests"
cargo test --workspace --all-features --doc

step "exposition checked by promtool and prometheus_client"
scripts/check-exposition.sh

step "native histograms through a real Prometheus"
scripts/native-histograms.sh

step "two example services, their dashboard and report through a real Prometheus"
scripts/prometheus-e2e.sh

step "push export into a real Pushgateway, Prometheus, VictoriaMetrics and an OTLP receiver"
scripts/push-e2e.sh

step "exemplars through a real Prometheus: the slowest event's trace id, classic and native"
scripts/exemplars-e2e.sh

step "the before/after verdict on the example: A/A passes the gate, a 10% slowdown fails it"
scripts/verdict.sh

step "the HTML reports in headless Chromium: live page, charts drawn, numbers equal the JSON"
scripts/browser.sh

step "loom models"
scripts/loom.sh
