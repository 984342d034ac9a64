#!/usr/bin/env bash
# Fails when a module names a layer above its own, names a module through the crate root's
# re-exports, or when two sibling files import each other (docs/ARCHITECTURE.md, "Layers").
# Usage: scripts/check-layers.sh [SRC_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/check-layers.py "${1:-src}"
