#!/usr/bin/env bash
# Where cargo puts this workspace's builds: target/, or CARGO_TARGET_DIR (or a
# build.target-dir setting) when set. Scripts run binaries from here, never ./target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
