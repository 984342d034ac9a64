#!/usr/bin/env bash
# Checks the exposition with real validators: promtool (Debian's prometheus package, unpacked
# without installing a service) and Python prometheus_client's OpenMetrics parser (in a venv).
# Installs both under .tools/ when missing. Usage: scripts/check-exposition.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
install_promtool
install_openmetrics_python
export PROMTOOL OPENMETRICS_PYTHON
cargo test -p perf-instrument --test validators -- --ignored
