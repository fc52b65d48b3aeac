import json, sys
from jsonschema import Draft202012Validator
import os
base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
doc = json.load(open(f"{base}/webhooks.schema.json"))
Draft202012Validator.check_schema({k: v for k, v in doc.items() if k != "$comment"})  # $comment is an array of lines, like contracts/etsy
ok = True
for name in ["orders_create", "orders_cancelled", "orders_edited", "orders_updated", "refunds_create"]:
    ex = json.load(open(f"{base}/webhooks/{name}.json"))
    for root in ({"$ref": f"#/$defs/{name}", "$defs": doc["$defs"]}, {"$schema": doc["$schema"], "$ref": f"#/$defs/{name}", "$defs": doc["$defs"]}):
        Draft202012Validator.check_schema(root)
        errs = list(Draft202012Validator(root).iter_errors(ex))
        print(name, "errors:", len(errs))
        for e in errs[:5]: print("  ", list(e.absolute_path), e.message[:200])
        ok &= not errs
    # negative check: a wrong type must fail
    bad = json.loads(json.dumps(ex))
    if "order_edit" in bad: bad["order_edit"]["order_id"] = "x"
    else: bad["id"] = "x"
    assert list(Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": doc["$defs"]}).iter_errors(bad)), name
sys.exit(0 if ok else 1)
