#!/usr/bin/env bash
# Deployment tools from PyPI, in venvs of their own (their pins clash with moto's):
#
#   scripts/tools.sh setup          .venv-tools (aws-sam-cli, cfn-lint, cargo-lambda with zig)
#                                   and .venv-checkov (checkov)
#   scripts/tools.sh run CMD ARGS   run CMD with both venvs on PATH
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.venv-tools"
checkov="$root/.venv-checkov"
# Pinned: the versions the checks were written against.
tools_req=("aws-sam-cli==1.170.0" "cfn-lint==1.58.0" "cargo-lambda==1.9.2")
checkov_req=("checkov==3.3.30")

install() {
  local venv="$1" probe="$2"; shift 2
  if [ ! -x "$venv/bin/$probe" ]; then
    echo "==> creating $venv with $*" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}

setup() {
  install "$tools" sam "${tools_req[@]}"
  install "$checkov" checkov "${checkov_req[@]}"
}

case "${1:-}" in
  setup) setup ;;
  run)
    shift
    setup
    export PATH="$tools/bin:$checkov/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    exec "$@"
    ;;
  *) echo "usage: scripts/tools.sh setup | run CMD [ARGS]" >&2; exit 2 ;;
esac
