#!/usr/bin/env bash
# `make infra-check`: the SAM template is valid, safe by default, and agrees with the code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
t=infra/template.yaml

echo "==> sam validate --lint" >&2
scripts/tools.sh run sam validate --lint --template "$t"
echo "==> cfn-lint" >&2
scripts/tools.sh run cfn-lint "$t"
echo "==> checkov (every failed check must be fixed or waived in the template with its reason)" >&2
scripts/tools.sh run checkov -f "$t" --framework cloudformation --compact --quiet --skip-download
echo "==> template against the code's own contract" >&2
contract="$(mktemp)"
trap 'rm -f "$contract" "$contract.bad.yaml"' EXIT
cargo run --locked -q -p onecount-tests --example contract >"$contract"
scripts/tools.sh run python3 scripts/infra_check.py "$contract" "$t"
# The check must catch a template that drifted from the code.
sed 's/AttributeName: expires_at/AttributeName: ttl/; s/ONECOUNT_CHANNEL: etsy/ONECOUNT_CHANNEL: ebay/' "$t" >"$contract.bad.yaml"
if scripts/tools.sh run python3 scripts/infra_check.py "$contract" "$contract.bad.yaml" >/dev/null; then
  echo "infra_check.py accepted a template with the wrong TTL attribute and channel" >&2
  exit 1
fi
# …and a pusher made to wait for fuller batches (seconds on every sale's push).
sed 's/MaximumBatchingWindowInSeconds: 0/MaximumBatchingWindowInSeconds: 2/' "$t" >"$contract.bad.yaml"
said="$(scripts/tools.sh run python3 scripts/infra_check.py "$contract" "$contract.bad.yaml" 2>&1 || true)"
if ! grep -q "waits MaximumBatchingWindowInSeconds" <<<"$said"; then
  echo "infra_check.py accepted a template whose SQS consumers wait for fuller batches" >&2
  exit 1
fi
# …and alarms sent to a topic CloudWatch cannot use: encrypted with the AWS-managed key
# alias/aws/sns (the template did this until the alarm topic got a key of its own).
sed 's#KmsMasterKeyId: !Ref AlarmKey#KmsMasterKeyId: alias/aws/sns#' "$t" >"$contract.bad.yaml"
said="$(scripts/tools.sh run python3 scripts/infra_check.py "$contract" "$contract.bad.yaml" 2>&1 || true)"
if ! grep -q "encrypted with the AWS-managed key alias/aws/sns" <<<"$said"; then
  echo "infra_check.py accepted alarms that publish to a topic encrypted with alias/aws/sns" >&2
  exit 1
fi
# The last template with that mistake, from git history (skipped in a shallow clone).
if git cat-file -e f9f5e85:infra/template.yaml 2>/dev/null; then
  git show f9f5e85:infra/template.yaml >"$contract.bad.yaml"
  said="$(scripts/tools.sh run python3 scripts/infra_check.py "$contract" "$contract.bad.yaml" 2>&1 || true)"
  if ! grep -q "OrderDLQAlarm: alarm publishes to AlertTopic, encrypted with the AWS-managed key alias/aws/sns" <<<"$said"; then
    echo "infra_check.py did not catch the alias/aws/sns alarm topic of template f9f5e85" >&2
    exit 1
  fi
fi
echo "template checks passed" >&2
