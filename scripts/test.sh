#!/usr/bin/env bash
# `make test`: everything a fresh clone needs, then every test against local AWS (moto).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "make test needs $1: $2" >&2; exit 1; }; }
need cargo "install Rust from https://rustup.rs"
need python3 "install Python 3 (3.9 or newer)"

scripts/moto.sh setup
echo "==> building (first build of the AWS SDK takes a few minutes)" >&2
cargo build --locked --workspace --all-targets

if cargo nextest --version >/dev/null 2>&1; then
  run=(cargo nextest run --locked --workspace --no-fail-fast)
else
  run=(cargo test --locked --workspace --no-fail-fast)
fi
scripts/moto.sh run "${run[@]}"
