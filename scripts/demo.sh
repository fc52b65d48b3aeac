#!/usr/bin/env bash
# `make demo`: the local flash sale. Sets up moto (a venv, once), builds the CLI, and runs
# `onecount demo`, which starts moto, the local stack and the channel sandboxes itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "make demo needs $1: $2" >&2; exit 1; }; }
need cargo "install Rust from https://rustup.rs"
need python3 "install Python 3 (3.9 or newer)"

scripts/moto.sh setup
echo "==> building the onecount CLI (the first build of the AWS SDK takes a few minutes)" >&2
cargo build --locked -q -p onecount-cli
echo "==> a 60-second flash sale on 50 SKUs, on Shopify, Etsy and eBay sandboxes" >&2
# Run the binary where cargo put it: the workspace's target/, or CARGO_TARGET_DIR when set.
exec "$(scripts/target_dir.sh)/debug/onecount" demo --out target/demo "$@"
