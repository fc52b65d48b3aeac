#!/usr/bin/env bash
# Local AWS for onecount: a venv with moto, started on a free loopback port.
#
#   scripts/moto.sh setup            create .venv and install moto (once)
#   scripts/moto.sh start            start moto; prints `export AWS_ENDPOINT_URL=...`
#   scripts/moto.sh stop             stop the moto this checkout started
#   scripts/moto.sh run CMD [ARGS]   start moto, run CMD with the endpoint set, stop moto
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ONECOUNT_VENV:-$root/.venv}"
state="$root/target/moto"
# Pinned: the versions the tests were written against.
moto_req="moto[server]==5.2.5"
# The SAM translator, for the test that creates the template's resources in moto.
sam_req="aws-sam-translator==1.110.0"

setup() {
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import moto, samtranslator' 2>/dev/null; then
    echo "==> creating $venv with $moto_req $sam_req" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$moto_req" "$sam_req"
  fi
}

# Launch moto in the background; sets moto_pid and moto_url.
launch() {
  setup
  mkdir -p "$state"
  local port_file="$state/port.$$"
  rm -f "$port_file"
  "$venv/bin/python" "$root/scripts/moto_server.py" "$port_file" >"$state/moto.$$.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 200); do
    [ -s "$port_file" ] && break
    kill -0 "$moto_pid" 2>/dev/null || { echo "moto failed to start:" >&2; cat "$state/moto.$$.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$port_file" ] || { echo "moto did not start within 20 s" >&2; kill "$moto_pid"; exit 1; }
  moto_url="http://127.0.0.1:$(cat "$port_file")"
  rm -f "$port_file"
}

start() {
  launch
  echo "$moto_pid" >"$state/pid"
  echo "export AWS_ENDPOINT_URL=$moto_url"
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}

run() {
  launch
  trap 'kill $moto_pid 2>/dev/null || true; wait $moto_pid 2>/dev/null || true; rm -f "$state/moto.$$.log"' EXIT
  export AWS_ENDPOINT_URL="$moto_url"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  echo "==> moto at $AWS_ENDPOINT_URL" >&2
  "$@"
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  stop) stop ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 setup|start|stop|run CMD [ARGS]" >&2; exit 2 ;;
esac
