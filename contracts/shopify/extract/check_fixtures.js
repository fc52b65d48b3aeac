// Check contracts/shopify/fixtures/*.json against the Admin schema: validate onecount's documents
// (taken from shared/src/channels/shopify/mod.rs and catalog.rs) and the variables the client sends, then
// execute each document with graphql-js, resolving every field from the fixture's data. The result must
// equal the fixture: a key that is not a selected field, a wrong scalar type, a null in a non-null field or
// an unknown enum value makes it differ or error.
// Each version is checked against the full introspected schema and, where ../admin-<version>.graphql
// exists, against that subset too: built with graphql-js buildASTSchema after stubbing the types its
// header lists as not defined (an interface a type implements becomes an empty interface, anything else
// a scalar; assumeValid, since such stubs would not pass schema validation) and naming the root types.
const fs = require("fs"), zlib = require("zlib"), path = require("path"), assert = require("assert");
const WORK = process.env.SHOPIFY_WORK || "/tmp/shopify-work";
const G = require(path.join(WORK, "node_modules/graphql"));
const ROOT = path.join(__dirname, "..", "..", "..");
const FIX = path.join(__dirname, "..", "fixtures");
const versions = process.argv.slice(2).length ? process.argv.slice(2) : ["2026-04"];
const src = fs.readFileSync(path.join(ROOT, "shared/src/channels/shopify/mod.rs"), "utf8");
const read = src.match(/const READ_QUERY: &str = r#"([\s\S]*?)"#;/)[1];
const key = "3f1c2a9e-7b4d-4e2a-9c61-0d5b8e7f4a12";
const mut = src.match(/fn set_mutation[\s\S]*?format!\(\s*r#"([\s\S]*?)"#/)[1]
  .replace(/\{\{/g, "{").replace(/\}\}/g, "}").replace("{key}", key);
const cat = fs.readFileSync(path.join(ROOT, "shared/src/channels/shopify/catalog.rs"), "utf8")
  .match(/const CATALOG_QUERY: &str = r#"([\s\S]*?)"#;/)[1];
const loc = "gid://shopify/Location/124656943";
const cases = [
  ["OnecountLevels.json", read, { ids: ["gid://shopify/ProductVariant/43729076", "gid://shopify/ProductVariant/43729077"], loc }],
  ...["OnecountSet.json", "OnecountSet_stale.json"].map((f) => [f, mut, { input: {
    name: "available", reason: "correction", referenceDocumentUri: `gid://onecount/Push/${key}`,
    quantities: [{ inventoryItemId: "gid://shopify/InventoryItem/45218911", locationId: loc, quantity: 5, changeFromQuantity: 7 }] } }]),
  ["OnecountCatalog.json", cat, { first: 2, after: null, loc }],
];
// The subset SDL made buildable: stub every named type it refers to but does not define.
function subsetSchema(sdlFile, full) {
  const sdl = fs.readFileSync(sdlFile, "utf8");
  const ast = G.parse(sdl);
  const defined = new Set([...ast.definitions.map((d) => d.name && d.name.value), "ID", "String", "Int", "Float", "Boolean"]);
  const implemented = new Set(), missing = new Set();
  G.visit(ast, {
    ObjectTypeDefinition(d) { (d.interfaces || []).forEach((i) => implemented.add(i.name.value)); },
    InterfaceTypeDefinition(d) { (d.interfaces || []).forEach((i) => implemented.add(i.name.value)); },
    NamedType(n) { if (!defined.has(n.name.value)) missing.add(n.name.value); },
  });
  for (const n of missing) if (!full.getType(n)) throw new Error(sdlFile + " refers to " + n + ", which the full schema lacks");
  const stubs = [...missing].map((n) => (implemented.has(n) ? `interface ${n}` : `scalar ${n}`)).join("\n");
  // The file has no schema definition (its header names the roots): take the full schema's root names.
  const roots = `schema { query: ${full.getQueryType().name} mutation: ${full.getMutationType().name} }`;
  const schema = G.buildASTSchema(G.parse(sdl + "\n" + stubs + "\n" + roots), { assumeValidSDL: true, assumeValid: true });
  if (!schema.getQueryType() || !schema.getMutationType()) throw new Error(sdlFile + ": root types not defined");
  return { schema, stubbed: missing.size };
}
let bad = 0;
for (const v of versions) {
  const file = path.join(WORK, "node_modules/@shopify/dev-mcp/dist/data", `admin_${v}.json.gz`);
  const full = G.buildClientSchema(JSON.parse(zlib.gunzipSync(fs.readFileSync(file))).data);
  const schemas = [["full", full]];
  const sdlFile = path.join(__dirname, "..", `admin-${v}.graphql`);
  if (fs.existsSync(sdlFile)) {
    const sub = subsetSchema(sdlFile, full);
    schemas.push([`subset (${sub.stubbed} stubs)`, sub.schema]);
  }
  for (const [which, schema] of schemas) for (const [name, doc, vars] of cases) {
    const ast = G.parse(doc);
    const errs = G.validate(schema, ast);
    const coerced = G.getVariableValues(schema, ast.definitions[0].variableDefinitions, vars);
    const fixture = JSON.parse(fs.readFileSync(path.join(FIX, name), "utf8"));
    const res = G.executeSync({
      schema, document: ast, rootValue: fixture.data, variableValues: vars,
      fieldResolver: (source, _args, _ctx, info) => source[info.path.key],
      typeResolver: (value) => value.__typename || "ProductVariant",
    });
    let same = !res.errors;
    try { assert.deepStrictEqual(JSON.parse(JSON.stringify(res.data)), fixture.data); } catch { same = false; }
    const cost = fixture.extensions && fixture.extensions.cost;
    const costOk = cost && ["requestedQueryCost", "actualQueryCost"].every((k) => typeof cost[k] === "number")
      && ["maximumAvailable", "currentlyAvailable", "restoreRate"].every((k) => typeof cost.throttleStatus[k] === "number");
    const line = [v, which, name, errs.length ? "document: " + errs.map((e) => e.message).join(" | ") : "document valid",
      coerced.errors ? "variables: " + coerced.errors.map((e) => e.message).join(" | ") : "variables valid",
      same ? "fixture matches execution" : "fixture DIFFERS: " + (res.errors || []).map((e) => e.message).join(" | "),
      costOk ? "cost shape ok" : "cost shape BAD"];
    console.log(line.join("; "));
    if (errs.length || coerced.errors || !same || !costOk) bad++;
  }
}
process.exit(bad ? 1 : 0);
