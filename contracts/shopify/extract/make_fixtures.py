"""Write the hand-made GraphQL response fixtures in ../fixtures (checked by check_fixtures.js).

Shapes follow the 2026-04 Admin schema (../admin-2026-04.graphql) and Shopify's documented
extensions.cost; costs are plausible values under Shopify's cost rules (object 1, connection
2 + first x node cost, mutation 10), not measured ones.
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
LOC = "gid://shopify/Location/124656943"


def write(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def cost(requested, actual, available):
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": available,
                                        "restoreRate": 100.0}}}


def variant(vid, sku, item, available):
    quantities = [{"name": "available", "quantity": available}]
    return {"id": f"gid://shopify/ProductVariant/{vid}", "sku": sku,
            "inventoryQuantity": available,
            "inventoryItem": {"id": f"gid://shopify/InventoryItem/{item}", "tracked": True,
                              "inventoryLevel": {"quantities": quantities}}}


os.makedirs(OUT, exist_ok=True)
# READ_QUERY for two variants at onecount's location; each is stocked at that one location only
# (inventoryQuantity, every location's total, equals it). Requested cost per variant: variant 1
# + inventoryItem 1 + inventoryLevel 1 + quantities 1 = 4 (scalars cost nothing).
write("OnecountLevels.json", {
    "data": {"nodes": [variant(43729076, "MUG-BLUE", 45218911, 7),
                       variant(43729077, "MUG-RED", 45218912, 0)]},
    "extensions": cost(10, 8, 1992)})
write("OnecountSet.json", {
    "data": {"inventorySetQuantities": {
        "inventoryAdjustmentGroup": {
            "createdAt": "2026-03-14T15:21:07Z", "reason": "correction",
            "changes": [{"name": "available", "delta": -2, "quantityAfterChange": 5},
                        {"name": "on_hand", "delta": -2, "quantityAfterChange": 5}]},
        "userErrors": []}},
    "extensions": cost(10, 10, 1990)})
# The message is the enum value's description in the schema; Shopify's runtime wording may differ.
write("OnecountSet_stale.json", {
    "data": {"inventorySetQuantities": {
        "inventoryAdjustmentGroup": None,
        "userErrors": [{"code": "CHANGE_FROM_QUANTITY_STALE",
                        "field": ["input", "quantities", "0", "changeFromQuantity"],
                        "message": "The changeFromQuantity value does not match persisted value."}]}},
    "extensions": cost(10, 10, 1990)})

# CATALOG_QUERY (catalog.rs), one page of two variants asked with first: 2 (the client asks 100 a
# page; 2 keeps the page full, so hasNextPage is true). MUG-BLUE is tracked and stocked at the
# location; the gift card is untracked, has no SKU and is not stocked there (inventoryLevel null).
# Requested cost: connection 2 + first x (variant 1 + product 1 + inventoryItem 1 + inventoryLevel 1
# + quantities 1) = 2 + 2 x 5 = 12 (2 + 100 x 5 = 502 for the client's pages); actual: the second
# variant has no level, so 2 + 5 + 3 = 10.
write("OnecountCatalog.json", {
    "data": {"productVariants": {
        "nodes": [
            {"id": "gid://shopify/ProductVariant/43729076", "sku": "MUG-BLUE", "title": "Blue",
             "product": {"title": "Mug", "status": "ACTIVE"},
             "inventoryItem": {"id": "gid://shopify/InventoryItem/45218911", "tracked": True,
                               "inventoryLevel": {"quantities": [{"name": "available", "quantity": 7}]}}},
            {"id": "gid://shopify/ProductVariant/43729090", "sku": None, "title": "Default Title",
             "product": {"title": "Gift card", "status": "DRAFT"},
             "inventoryItem": {"id": "gid://shopify/InventoryItem/45218925", "tracked": False,
                               "inventoryLevel": None}}],
        "pageInfo": {"hasNextPage": True, "endCursor": "eyJsYXN0X2lkIjo0MzcyOTA5MCwibGFzdF92YWx1ZSI6IjQzNzI5MDkwIn0="}}},
    "extensions": cost(12, 10, 1990)})
