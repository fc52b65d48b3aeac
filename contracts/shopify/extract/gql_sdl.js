// Print the Admin GraphQL types onecount's three documents touch, from @shopify/dev-mcp's introspection.
const fs = require("fs"), zlib = require("zlib"), path = require("path");
const WORK = process.env.SHOPIFY_WORK || "/tmp/shopify-work";
const G = require(path.join(WORK, "node_modules/graphql"));
const MCP = path.join(WORK, "node_modules/@shopify/dev-mcp");
const VERSION = process.argv[2] || "2026-04";
const OUT = process.argv[3] || path.join(__dirname, "..", `admin-${VERSION}.graphql`);
const mcpVersion = require(path.join(MCP, "package.json")).version;
const intro = JSON.parse(zlib.gunzipSync(fs.readFileSync(path.join(MCP, "dist/data", `admin_${VERSION}.json.gz`))));
const schema = G.buildClientSchema(intro.data);

const q = schema.getQueryType().name, m = schema.getMutationType().name;
const only = { [q]: ["nodes", "node", "productVariants"], [m]: ["inventorySetQuantities"] };
const TYPES = [q, m, "Node", "ProductVariant", "InventoryItem", "InventoryLevel", "InventoryQuantity",
  "InventorySetQuantitiesInput", "InventoryQuantityInput", "InventorySetQuantitiesPayload", "InventoryAdjustmentGroup",
  "InventoryChange", "InventorySetQuantitiesUserError", "DisplayableError", "InventorySetQuantitiesUserErrorCode", "DateTime",
  "ProductVariantConnection", "PageInfo", "Product", "ProductStatus"];
const DIRECTIVES = ["idempotent"];

// Every type onecount's three documents touch (read from mod.rs and catalog.rs now, so a changed document
// is followed).
const ROOT = path.join(__dirname, "..", "..", "..");
const rs = fs.readFileSync(path.join(ROOT, "shared/src/channels/shopify/mod.rs"), "utf8");
const cat = fs.readFileSync(path.join(ROOT, "shared/src/channels/shopify/catalog.rs"), "utf8");
const docs = [rs.match(/const READ_QUERY: &str = r#"([\s\S]*?)"#;/)[1],
  rs.match(/fn set_mutation[\s\S]*?format!\(\s*r#"([\s\S]*?)"#/)[1].replace(/\{\{/g, "{").replace(/\}\}/g, "}").replace("{key}", "k"),
  cat.match(/const CATALOG_QUERY: &str = r#"([\s\S]*?)"#;/)[1]];
const touched = new Set();
const addInput = (t) => {
  const n = G.getNamedType(t);
  if (touched.has(n.name)) return;
  touched.add(n.name);
  if (G.isInputObjectType(n)) Object.values(n.getFields()).forEach((f) => addInput(f.type));
};
for (const d of docs) {
  const ti = new G.TypeInfo(schema);
  G.visit(G.parse(d), G.visitWithTypeInfo(ti, {
    Field() { touched.add(ti.getParentType().name); const t = ti.getType(); if (t) touched.add(G.getNamedType(t).name); },
    InlineFragment() { const t = ti.getType(); if (t) touched.add(G.getNamedType(t).name); },
    VariableDefinition() { const t = ti.getInputType(); if (t) addInput(t); },
    Directive() { const dir = ti.getDirective(); if (dir && !DIRECTIVES.includes(dir.name)) DIRECTIVES.push(dir.name); },
  }));
}
for (const b of ["ID", "String", "Int", "Float", "Boolean"]) touched.delete(b);
for (const t of touched) if (!TYPES.includes(t)) TYPES.push(t);

// The element type of InventorySetQuantitiesInput.quantities must be the input listed above.
const qt = G.getNamedType(schema.getType("InventorySetQuantitiesInput").getFields().quantities.type).name;
if (!TYPES.includes(qt)) throw new Error("quantities element type is " + qt);

function printSubset(name) {
  const t = schema.getType(name);
  if (!t) throw new Error("no type " + name);
  const sdl = G.printType(t);
  if (!only[name]) return sdl;
  const doc = G.parse(sdl);
  const def = doc.definitions[0];
  const fields = def.fields.filter((f) => only[name].includes(f.name.value));
  if (fields.length !== only[name].length) throw new Error("missing fields on " + name);
  return G.print({ ...doc, definitions: [{ ...def, fields }] });
}
const dirs = DIRECTIVES.map((d) => schema.getDirective(d)).filter(Boolean);
const dirSdl = G.printSchema(new G.GraphQLSchema({ directives: dirs })).trim();

// Named types that the printed definitions refer to but that are not defined here.
const defined = new Set([...TYPES, "ID", "String", "Int", "Float", "Boolean"]);
const body = [dirSdl, ...TYPES.map(printSubset)].join("\n\n");
const refs = new Set();
G.visit(G.parse(body), { NamedType(n) { if (!defined.has(n.name.value)) refs.add(n.name.value); } });

const date = new Date().toISOString().slice(0, 10);
const header = [
  `Shopify Admin GraphQL API ${VERSION}: the subset onecount's Shopify client relies on`,
  `(shared/src/channels/shopify/mod.rs: READ_QUERY "query OnecountLevels" and set_mutation "mutation OnecountSet";`,
  ` shared/src/channels/shopify/catalog.rs: CATALOG_QUERY "query OnecountCatalog").`,
  ``,
  `Source: npm package @shopify/dev-mcp@${mcpVersion} (license ISC, Copyright Shopify Inc.),`,
  `file dist/data/admin_${VERSION}.json.gz (an introspection result), loaded with graphql-js ${require(path.join(WORK, "node_modules/graphql/package.json")).version}`,
  `buildClientSchema and printed with printType / printSchema. Extracted ${date} by contracts/shopify/extract/gql_sdl.js.`,
  ``,
  `Included, complete as printed (every field, its arguments and types, descriptions, deprecations):`,
  `  directive ${DIRECTIVES.map((d) => "@" + d).join(", ")}`,
  ...wrap(TYPES.map((t) => (only[t] ? `${t} (only ${only[t].join(", ")}, with full arguments)` : t)).join(", ") + ".", 100).map((l) => "  " + l),
  `(every type the three documents select from, take as input or return, found with graphql-js TypeInfo, plus the`,
  `interfaces DisplayableError and Node and the scalar DateTime).`,
  `The query root type is named ${q} in this schema (not Query); the mutation root is ${m}.`,
  ``,
  `NOT a complete schema: these ${refs.size} types are referenced here but not defined (built-in scalars aside):`,
  ...wrap([...refs].sort().join(", "), 100).map((l) => "  " + l),
  `so parse this file as SDL (it parses), but don't expect buildSchema to accept it as is.`,
];
function wrap(s, w) { const out = []; let cur = ""; for (const p of s.split(" ")) { if ((cur + " " + p).length > w && cur) { out.push(cur); cur = p; } else cur = cur ? cur + " " + p : p; } if (cur) out.push(cur); return out; }
fs.writeFileSync(OUT, header.map((l) => ("# " + l).trimEnd()).join("\n") + "\n\n" + body + "\n");
console.log("wrote", OUT, "types", TYPES.length, "undefined refs", refs.size, "quantities element", qt);
