#!/usr/bin/env python3
"""The SAM template agrees with the code.

Reads the code's own contract (`cargo run -p onecount-tests --example contract`: table
keys, index and TTL attribute; each function's environment variables; metric names) and
checks infra/template.yaml against it:

- the table's key schema, index, projection, TTL attribute and billing mode;
- every function binary is deployed; channel-push once per channel; each function is
  given every variable it needs and nothing it does not read;
- queue wiring: each SQS-triggered function reports batch item failures and is invoked
  without a batching window (latency), its queue has a
  DLQ (redrive) and a visibility timeout at least 6x the function's timeout; the queue a
  producer is told to send to is the queue its consumer reads; every DLQ has an alarm;
  alarms go to the alert topic the functions publish to;
- alarms reach people: each publishes to a topic CloudWatch can use (not encrypted with an
  AWS-managed key such as alias/aws/sns, whose key policy cannot grant CloudWatch; a
  customer-managed key's policy grants cloudwatch.amazonaws.com kms:Decrypt and
  kms:GenerateDataKey*; the topic policy lets CloudWatch publish), that topic is read by
  the alarm-notify function, which publishes to the alert topic, and each alarm's name
  is one the function knows;
- alarms and dashboard use only metric names the code writes.

Usage: infra_check.py CONTRACT.json [TEMPLATE]  (exit 1 with one line per problem)
"""

import json
import re
import sys

from cfnlint.decode import cfn_yaml

TEMPLATE = sys.argv[2] if len(sys.argv) > 2 else "infra/template.yaml"
problems = []


def check(ok, msg):
    if not ok:
        problems.append(msg)


def ref(v):
    """The logical id a value points at (Ref or GetAtt), else None."""
    if isinstance(v, dict):
        if "Ref" in v:
            return v["Ref"]
        if "Fn::GetAtt" in v:
            g = v["Fn::GetAtt"]
            return (g if isinstance(g, list) else g.split("."))[0]
    return None


def key_statements(key):
    doc = key.get("Properties", {}).get("KeyPolicy", {})
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def listed(v):
    return v if isinstance(v, list) else [v]


def check_alarm_topic(res, lid, tid, by_binary, alert_topic, env_of):
    """CloudWatch can publish to alarm topic `tid`, and what it publishes becomes alerts."""
    t = res.get(tid, {})
    if t.get("Type") != "AWS::SNS::Topic":
        check(False, f"{lid}: alarm action {tid} is not an SNS topic")
        return
    kms = t.get("Properties", {}).get("KmsMasterKeyId")
    # An AWS-managed key, however written: alias/aws/sns, its alias ARN, or in a !Sub.
    if kms is not None and "alias/aws/" in json.dumps(kms):
        check(
            False,
            f"{lid}: alarm publishes to {tid}, encrypted with the AWS-managed key {kms}, whose key "
            "policy cannot grant cloudwatch.amazonaws.com: the alarm would never notify anyone "
            "(use a customer-managed key)",
        )
    elif kms is not None:
        key = res.get(ref(kms), {})
        grants = set()
        for st in key_statements(key):
            principal = st.get("Principal", {})
            services = listed(principal.get("Service", [])) if isinstance(principal, dict) else []
            if st.get("Effect") == "Allow" and "cloudwatch.amazonaws.com" in services:
                grants |= set(listed(st.get("Action", [])))
        check(
            key.get("Type") == "AWS::KMS::Key"
            and {"kms:Decrypt", "kms:GenerateDataKey*"} <= grants,
            f"{lid}: the key of {tid} does not let cloudwatch.amazonaws.com use it "
            "(kms:Decrypt and kms:GenerateDataKey*)",
        )
    allowed = False
    for pol in res.values():
        if pol["Type"] != "AWS::SNS::TopicPolicy":
            continue
        if tid not in [ref(x) for x in pol["Properties"].get("Topics", [])]:
            continue
        for st in listed(pol["Properties"]["PolicyDocument"].get("Statement", [])):
            principal = st.get("Principal", {})
            services = listed(principal.get("Service", [])) if isinstance(principal, dict) else []
            if "cloudwatch.amazonaws.com" in services and "sns:Publish" in listed(st.get("Action")):
                allowed = True
    check(allowed, f"{lid}: no topic policy lets CloudWatch publish to {tid}")
    readers = [
        l
        for l in by_binary.get("onecount-alarm-notify", [])
        for ev in res[l]["Properties"].get("Events", {}).values()
        if ev["Type"] == "SNS" and ref(ev["Properties"].get("Topic")) == tid
    ]
    check(readers, f"{lid}: {tid} is not read by the alarm-notify function (alarms would arrive as raw JSON, without severity)")
    for r in readers:
        check(ref(env_of[r].get("ONECOUNT_ALERT_TOPIC_ARN")) == alert_topic, f"{r}: does not publish to the alert topic")


def check_alarm_name(lid, name, contract):
    """The alarm-notify function knows the alarm by its name: <stack>-onecount-<key>[-<channel>]."""
    sub = name.get("Fn::Sub") if isinstance(name, dict) else None
    m = re.fullmatch(r"\$\{AWS::StackName\}-onecount-([a-z0-9-]+)", sub or "")
    known = False
    if m:
        rest = m.group(1)
        for a in contract["alarms"]:
            if not a["per_channel"] and rest == a["key"]:
                known = True
            if a["per_channel"] and any(rest == f"{a['key']}-{c}" for c in contract["channels"]):
                known = True
    check(known, f"{lid}: AlarmName {name} is not one the alarm-notify function knows (see ALARMS in shared/src/alerts/alarm.rs)")


def main():
    contract = json.load(open(sys.argv[1]))
    t = cfn_yaml.load(TEMPLATE)
    res = t["Resources"]

    # --- table ---------------------------------------------------------------
    tables = [r for r in res.values() if r["Type"] == "AWS::DynamoDB::Table"]
    check(len(tables) == 1, f"expected one table, found {len(tables)}")
    tp = tables[0]["Properties"]
    want = contract["table"]
    keys = {k["KeyType"]: k["AttributeName"] for k in tp["KeySchema"]}
    check(keys == {"HASH": want["hash_key"], "RANGE": want["range_key"]}, f"table keys {keys}")
    idx = {
        i["IndexName"]: (
            {k["KeyType"]: k["AttributeName"] for k in i["KeySchema"]},
            i["Projection"]["ProjectionType"],
        )
        for i in tp.get("GlobalSecondaryIndexes", [])
    }
    for i in want["indexes"]:
        got = idx.get(i["name"])
        check(
            got == ({"HASH": i["hash_key"], "RANGE": i["range_key"]}, i["projection"]),
            f"index {i['name']}: template has {got}",
        )
    check(len(idx) == len(want["indexes"]), f"template indexes {sorted(idx)}")
    ttl = tp.get("TimeToLiveSpecification", {})
    check(
        ttl.get("AttributeName") == want["ttl_attribute"] and ttl.get("Enabled") is True,
        f"TTL {ttl}",
    )
    check(tp.get("BillingMode") == want["billing_mode"], f"billing {tp.get('BillingMode')}")
    defs = {d["AttributeName"]: d["AttributeType"] for d in tp["AttributeDefinitions"]}
    used = {want["hash_key"], want["range_key"]} | {
        k for i in want["indexes"] for k in (i["hash_key"], i["range_key"])
    }
    check(set(defs) == used and set(defs.values()) == {"S"}, f"attribute definitions {defs}")

    # --- functions and their environment --------------------------------------
    genv = (
        t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    functions = {
        lid: r for lid, r in res.items() if r["Type"] == "AWS::Serverless::Function"
    }
    by_binary = {}
    for lid, f in functions.items():
        binary = f.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        check(
            f.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda",
            f"{lid}: BuildMethod must be rust-cargolambda",
        )
        by_binary.setdefault(binary, []).append(lid)
    spec = {f["binary"]: f for f in contract["functions"]}
    for b in spec:
        check(b in by_binary, f"{b} is not deployed")
    for b in by_binary:
        check(b in spec, f"{b} is deployed but the code has no such function")
    env_of = {}
    for b, lids in by_binary.items():
        if b not in spec:
            continue
        for lid in lids:
            env = dict(genv)
            env.update(
                functions[lid]["Properties"].get("Environment", {}).get("Variables", {})
            )
            env_of[lid] = env
            names = set(env)
            need = set(spec[b]["required"])
            may = need | set(spec[b]["optional"])
            check(need <= names, f"{lid}: missing {sorted(need - names)}")
            check(names <= may, f"{lid}: sets variables the code never reads {sorted(names - may)}")
    pushers = [env_of[l].get("ONECOUNT_CHANNEL") for l in by_binary.get("onecount-channel-push", [])]
    check(
        sorted(pushers) == sorted(contract["channels"]),
        f"channel-push must be deployed once per channel, found {pushers}",
    )

    # --- queue wiring ------------------------------------------------------------
    topic_refs = {ref(e.get("ONECOUNT_ALERT_TOPIC_ARN")) for e in env_of.values()}
    check(len(topic_refs) == 1, f"functions publish to different topics {topic_refs}")
    topic = next(iter(topic_refs))
    check(res.get(topic, {}).get("Type") == "AWS::SNS::Topic", "alert topic is not a topic")
    consumers = {}
    for lid, f in functions.items():
        p = f["Properties"]
        for ev in p.get("Events", {}).values():
            if ev["Type"] != "SQS":
                continue
            q = ref(ev["Properties"]["Queue"])
            consumers[q] = lid
            check(
                "ReportBatchItemFailures" in ev["Properties"].get("FunctionResponseTypes", []),
                f"{lid}: SQS event without ReportBatchItemFailures",
            )
            # The local host's poller hands over what one receive returns, at once; a
            # batching window would add its seconds to every sale's push in AWS, and
            # no local run would show it. Bursts batch anyway while the cap is busy.
            check(
                ev["Properties"].get("MaximumBatchingWindowInSeconds", 0) == 0,
                f"{lid}: SQS event waits MaximumBatchingWindowInSeconds before invoking",
            )
            qp = res[q]["Properties"]
            check("RedrivePolicy" in qp, f"{q}: no DLQ")
            dlq = ref(qp.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
            check(res.get(dlq, {}).get("Type") == "AWS::SQS::Queue", f"{q}: DLQ is not a queue")
            check(
                int(qp.get("VisibilityTimeout", 30)) >= 6 * int(p.get("Timeout", 3)),
                f"{q}: visibility timeout {qp.get('VisibilityTimeout')} < 6 x {lid} timeout {p.get('Timeout')}",
            )
            alarmed = [
                a
                for a in res.values()
                if a["Type"] == "AWS::CloudWatch::Alarm"
                and any(ref(d.get("Value")) == dlq for d in a["Properties"].get("Dimensions", []))
            ]
            check(alarmed, f"{dlq}: no alarm on the DLQ")
    for lid, env in env_of.items():
        for var, val in env.items():
            if not var.endswith("_QUEUE_URL") and "_QUEUE_URL_" not in var:
                continue
            q = ref(val)
            check(q in consumers, f"{lid}: {var} points at {q}, which no function reads")
    order_consumer = consumers.get(ref(env_of[by_binary["onecount-webhook-ingest"][0]]["ONECOUNT_ORDER_QUEUE_URL"]))
    check(
        order_consumer in by_binary["onecount-stock-decrement"],
        "the order queue ingest writes to is not the one stock-decrement reads",
    )
    for lid in by_binary["onecount-channel-push"]:
        ch = env_of[lid]["ONECOUNT_CHANNEL"]
        var = f"ONECOUNT_PUSH_QUEUE_URL_{ch.upper()}"
        q = ref(env_of[lid].get(var))
        check(consumers.get(q) == lid, f"{lid}: {var} is not the queue it consumes")
        for producer in by_binary["onecount-stock-decrement"] + by_binary["onecount-drift-check"]:
            check(
                ref(env_of[producer].get(var)) == q,
                f"{producer} sends {ch} pushes to a queue {lid} does not read",
            )

    # --- alarms and dashboard -----------------------------------------------------
    ns = contract["metrics"]["namespace"]
    names = set(contract["metrics"]["names"])
    for lid, a in res.items():
        if a["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = a["Properties"]
        check(p.get("AlarmActions"), f"{lid}: alarm notifies no one (no AlarmActions)")
        targets = {
            ref(x)
            for k in ("AlarmActions", "OKActions", "InsufficientDataActions")
            for x in p.get(k, [])
        }
        for tid in sorted(t for t in targets if t):
            check_alarm_topic(res, lid, tid, by_binary, topic, env_of)
        check_alarm_name(lid, p.get("AlarmName"), contract)
        if p.get("Namespace") == ns:
            check(p["MetricName"] in names, f"{lid}: metric {p['MetricName']} is not written by the code")
    body = json.dumps(res["Dashboard"]["Properties"]["DashboardBody"])
    for m in re.findall(r'\[\\?"' + ns + r'\\?", \\?"(\w+)', body):
        check(m in names, f"dashboard: metric {m} is not written by the code")
    check(
        sum(1 for a in res.values() if a["Type"] == "AWS::CloudWatch::Alarm" and a["Properties"].get("MetricName") == "OversoldUnits") == 1,
        "no oversell alarm",
    )

    if problems:
        for p in problems:
            print(f"template/code disagreement: {p}")
        sys.exit(1)
    print(f"template agrees with the code: {len(functions)} functions, {len(consumers)} queues wired, table and metrics match")


if __name__ == "__main__":
    main()
