#!/usr/bin/env python3
"""Translate the SAM template to CloudFormation offline (aws-sam-translator) and create
its data plane — the table, queues with their DLQs and redrive, the alert topic, the alarm
topic and its key — as a
stack in moto's CloudFormation. Prints the stack outputs as JSON.

moto cannot run Lambda, API Gateway, Scheduler or CloudWatch resources, so only the
resources the functions talk to are kept (with the outputs that name them); everything
kept is exactly as the translated template declares it.

Usage: AWS_ENDPOINT_URL=http://127.0.0.1:PORT stack_in_moto.py STACK_NAME
"""

import json
import os
import re
import sys
import time

import boto3
import yaml
from samtranslator.translator.transform import transform

KEEP = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::KMS::Key"}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    name = "Fn::" + suffix if suffix not in ("Ref", "Condition") else suffix
    if isinstance(node, yaml.ScalarNode):
        v = loader.construct_scalar(node)
        if suffix == "GetAtt":
            v = v.split(".", 1)
        return {name: v}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _tag)


class _NoManagedPolicies:
    """The data plane needs no managed-policy lookups; answer with well-formed ARNs."""

    def load(self):
        return {}

    def __getattr__(self, _):
        return lambda *a, **k: {}


def refs(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "Ref" and isinstance(x, str):
                yield x
            elif k == "Fn::GetAtt":
                yield x[0] if isinstance(x, list) else x.split(".")[0]
            elif k == "Fn::Sub":
                text = x[0] if isinstance(x, list) else x
                for name in re.findall(r"\$\{([^}!]+)\}", text):
                    name = name.split(".")[0]
                    if not name.startswith("AWS::"):
                        yield name
                if isinstance(x, list):
                    yield from refs(x[1:])
            else:
                yield from refs(x)
    elif isinstance(v, list):
        for x in v:
            yield from refs(x)
    elif isinstance(v, str):
        pass


def main():
    stack = sys.argv[1]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    sam = yaml.load(open(os.path.join(ROOT, "infra", "template.yaml")), Loader=_Loader)
    # What `sam package` does: the built code is uploaded and CodeUri points at it.
    sam["Globals"]["Function"]["CodeUri"] = "s3://onecount-artifacts/onecount.zip"
    for r in sam["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"].pop("CodeUri", None)
    params = {
        "ChannelsSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:onecount-channels-AbCdEf",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": stack,
    }
    try:
        cfn = transform(sam, params, _NoManagedPolicies())
    except TypeError:
        cfn = transform(sam, params, _NoManagedPolicies(), None)
    kept = {k: r for k, r in cfn["Resources"].items() if r["Type"] in KEEP}
    outputs = {
        k: o for k, o in cfn.get("Outputs", {}).items() if set(refs(o["Value"])) <= set(kept)
    }
    used_params = set(refs(kept)) | set(refs(outputs))
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {k: p for k, p in cfn.get("Parameters", {}).items() if k in used_params},
        "Resources": kept,
        "Outputs": outputs,
    }
    cf = boto3.client("cloudformation", region_name="us-east-1")
    cf.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    for _ in range(100):
        s = cf.describe_stacks(StackName=stack)["Stacks"][0]
        if s["StackStatus"].endswith("_COMPLETE") or s["StackStatus"].endswith("_FAILED"):
            break
        time.sleep(0.2)
    if s["StackStatus"] != "CREATE_COMPLETE":
        sys.exit(f"stack {stack}: {s['StackStatus']} {s.get('StackStatusReason', '')}")
    out = {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}
    out["_resources"] = sorted(f"{k} ({r['Type']})" for k, r in kept.items())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
