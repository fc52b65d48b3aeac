#!/usr/bin/env bash
# `make build`: an arm64 `bootstrap` for every Lambda function, as `sam build` makes them
# (cargo-lambda, release profile, aarch64-unknown-linux-gnu via zig), in
# target/lambda/<function>/bootstrap.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
    || rustup target add aarch64-unknown-linux-gnu
fi
functions=(onecount-webhook-ingest onecount-stock-decrement onecount-channel-push onecount-drift-check onecount-alarm-notify)
args=()
for f in "${functions[@]}"; do args+=(-p "$f"); done
echo "==> cargo lambda build --release --arm64 (a cold build takes several minutes)" >&2
scripts/tools.sh run cargo lambda build --release --arm64 --locked "${args[@]}"
# Where cargo put them: the workspace's target/, or CARGO_TARGET_DIR when set.
target_dir=$(scripts/target_dir.sh)
for f in "${functions[@]}"; do
  b="$target_dir/lambda/$f/bootstrap"
  [ -f "$b" ] || { echo "missing $b" >&2; exit 1; }
  # ELF e_machine (bytes 18-19) is 0xb7 for aarch64.
  [ "$(od -An -tx1 -j18 -N2 "$b" | tr -d ' ')" = "b700" ] || { echo "$b is not an arm64 binary" >&2; exit 1; }
  printf '%-44s %6s KiB\n' "$b" "$(( $(stat -c %s "$b") / 1024 ))"
done
