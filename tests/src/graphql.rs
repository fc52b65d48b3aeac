//! Check a GraphQL document, and the variables sent with it, against a schema in SDL (a
//! subset printed from the channel's own introspection, `contracts/shopify/*.graphql`):
//! every field selected exists on its type with the arguments given, fragments name known
//! types, leaves are not selected into and objects are, directives are declared, and the
//! variables fit their input types (no unknown field, every required one present, scalars
//! and enum values of the right kind).

use std::collections::HashMap;

use graphql_parser::query::{self, Definition, OperationDefinition, Selection, SelectionSet};
use graphql_parser::schema::{self, TypeDefinition};
use serde_json::Value;

type Type = query::Type<'static, String>;

enum Kind {
    /// Object or interface: field → (arguments, result type).
    Fields(HashMap<String, (Args, Type)>),
    /// Input object: its fields.
    Input(Args),
    Enum(Vec<String>),
    Scalar,
    Union,
}

pub struct Schema {
    types: HashMap<String, Kind>,
    directives: Vec<String>,
    query_root: String,
    mutation_root: String,
}

/// Argument or input field → (type, whether it has a default: then it may be left out).
type Args = HashMap<String, (Type, bool)>;

fn args(values: &[schema::InputValue<'static, String>]) -> Args {
    values
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                (a.value_type.clone(), a.default_value.is_some()),
            )
        })
        .collect()
}

fn fields(fs: &[schema::Field<'static, String>]) -> Kind {
    Kind::Fields(
        fs.iter()
            .map(|f| (f.name.clone(), (args(&f.arguments), f.field_type.clone())))
            .collect(),
    )
}

fn named(t: &Type) -> &str {
    match t {
        query::Type::NamedType(n) => n,
        query::Type::ListType(t) | query::Type::NonNullType(t) => named(t),
    }
}

const BUILT_IN: &[&str] = &["ID", "String", "Int", "Float", "Boolean"];

impl Schema {
    pub fn parse(sdl: &str) -> Result<Schema, String> {
        let doc = schema::parse_schema::<String>(sdl)
            .map_err(|e| e.to_string())?
            .into_static();
        let mut s = Schema {
            types: HashMap::new(),
            directives: Vec::new(),
            query_root: "QueryRoot".into(),
            mutation_root: "Mutation".into(),
        };
        for d in doc.definitions {
            match d {
                schema::Definition::SchemaDefinition(sd) => {
                    if let Some(q) = sd.query {
                        s.query_root = q;
                    }
                    if let Some(m) = sd.mutation {
                        s.mutation_root = m;
                    }
                }
                schema::Definition::TypeDefinition(t) => {
                    let (name, kind) = match t {
                        TypeDefinition::Object(o) => (o.name, fields(&o.fields)),
                        TypeDefinition::Interface(i) => (i.name, fields(&i.fields)),
                        TypeDefinition::InputObject(i) => (i.name, Kind::Input(args(&i.fields))),
                        TypeDefinition::Enum(e) => (
                            e.name,
                            Kind::Enum(e.values.into_iter().map(|v| v.name).collect()),
                        ),
                        TypeDefinition::Scalar(sc) => (sc.name, Kind::Scalar),
                        TypeDefinition::Union(u) => (u.name, Kind::Union),
                    };
                    s.types.insert(name, kind);
                }
                schema::Definition::DirectiveDefinition(d) => s.directives.push(d.name),
                schema::Definition::TypeExtension(_) => {}
            }
        }
        Ok(s)
    }

    fn is_leaf(&self, name: &str) -> Option<bool> {
        if BUILT_IN.contains(&name) {
            return Some(true);
        }
        match self.types.get(name)? {
            Kind::Scalar | Kind::Enum(_) => Some(true),
            _ => Some(false),
        }
    }

    /// Every way `doc` (one or more operations) and `variables` break the schema.
    pub fn problems(&self, doc: &str, variables: &Value) -> Vec<String> {
        let parsed = match query::parse_query::<String>(doc) {
            Ok(d) => d.into_static(),
            Err(e) => return vec![format!("does not parse: {e}")],
        };
        let mut out = Vec::new();
        for d in &parsed.definitions {
            let (root, vars, set) = match d {
                Definition::Operation(OperationDefinition::Query(q)) => {
                    (&self.query_root, &q.variable_definitions, &q.selection_set)
                }
                Definition::Operation(OperationDefinition::Mutation(m)) => (
                    &self.mutation_root,
                    &m.variable_definitions,
                    &m.selection_set,
                ),
                Definition::Operation(OperationDefinition::SelectionSet(s)) => {
                    (&self.query_root, &Vec::new(), s)
                }
                _ => {
                    out.push("only queries and mutations are checked".into());
                    continue;
                }
            };
            for v in vars {
                let value = variables.get(&v.name).unwrap_or(&Value::Null);
                self.check_value(&format!("${}", v.name), &v.var_type, value, &mut out);
            }
            self.check_set(root, set, &mut out);
        }
        out
    }

    fn check_set(&self, on: &str, set: &SelectionSet<'static, String>, out: &mut Vec<String>) {
        let Some(kind) = self.types.get(on) else {
            out.push(format!("type {on} is not in the schema file"));
            return;
        };
        let Kind::Fields(fs) = kind else {
            out.push(format!("{on} has no fields to select"));
            return;
        };
        for item in &set.items {
            match item {
                Selection::Field(f) => {
                    for d in &f.directives {
                        if !self.directives.contains(&d.name) {
                            out.push(format!("@{} is not a directive of this version", d.name));
                        }
                    }
                    if f.name == "__typename" {
                        continue;
                    }
                    let Some((fargs, ty)) = fs.get(&f.name) else {
                        out.push(format!("{on}.{} does not exist", f.name));
                        continue;
                    };
                    for (a, _) in &f.arguments {
                        if !fargs.contains_key(a) {
                            out.push(format!("{on}.{} takes no argument {a}", f.name));
                        }
                    }
                    for (a, (t, defaulted)) in fargs {
                        let given = f.arguments.iter().any(|(n, _)| n == a);
                        if matches!(t, query::Type::NonNullType(_)) && !given && !defaulted {
                            out.push(format!("{on}.{} needs argument {a}", f.name));
                        }
                    }
                    let inner = named(ty);
                    match (self.is_leaf(inner), f.selection_set.items.is_empty()) {
                        (Some(true), false) => out.push(format!(
                            "{on}.{} is a leaf ({inner}): nothing to select",
                            f.name
                        )),
                        (Some(false), true) => {
                            out.push(format!("{on}.{} ({inner}) needs a selection", f.name))
                        }
                        (_, false) => self.check_set(inner, &f.selection_set, out),
                        _ => {}
                    }
                }
                Selection::InlineFragment(i) => {
                    let target = match &i.type_condition {
                        Some(query::TypeCondition::On(t)) => t.as_str(),
                        None => on,
                    };
                    self.check_set(target, &i.selection_set, out);
                }
                Selection::FragmentSpread(s) => out.push(format!(
                    "fragment spread ...{} is not checked",
                    s.fragment_name
                )),
            }
        }
    }

    fn check_value(&self, at: &str, ty: &Type, v: &Value, out: &mut Vec<String>) {
        match ty {
            query::Type::NonNullType(t) => {
                if v.is_null() {
                    out.push(format!("{at} is required"));
                } else {
                    self.check_value(at, t, v, out);
                }
            }
            query::Type::ListType(t) => match v {
                Value::Null => {}
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        self.check_value(&format!("{at}[{i}]"), t, x, out);
                    }
                }
                // A single value where a list is expected is coerced to a list of one.
                x => self.check_value(at, t, x, out),
            },
            query::Type::NamedType(n) => {
                if v.is_null() {
                    return;
                }
                let ok = match n.as_str() {
                    "ID" => v.is_string() || v.is_i64() || v.is_u64(),
                    "String" => v.is_string(),
                    "Int" => v.is_i64() || v.is_u64(),
                    "Float" => v.is_number(),
                    "Boolean" => v.is_boolean(),
                    _ => match self.types.get(n.as_str()) {
                        None => {
                            out.push(format!("{at}: type {n} is not in the schema file"));
                            true
                        }
                        Some(Kind::Enum(values)) => {
                            v.as_str().is_some_and(|s| values.iter().any(|x| x == s))
                        }
                        Some(Kind::Input(fields)) => {
                            let Some(obj) = v.as_object() else {
                                out.push(format!("{at}: {n} must be an object"));
                                return;
                            };
                            for k in obj.keys() {
                                if !fields.contains_key(k) {
                                    out.push(format!("{at}.{k} is not a field of {n}"));
                                }
                            }
                            for (k, (t, defaulted)) in fields {
                                match obj.get(k) {
                                    None if *defaulted => {}
                                    given => self.check_value(
                                        &format!("{at}.{k}"),
                                        t,
                                        given.unwrap_or(&Value::Null),
                                        out,
                                    ),
                                }
                            }
                            true
                        }
                        // Custom scalars (DateTime, URL…): any JSON scalar.
                        Some(Kind::Scalar) => !v.is_object() && !v.is_array(),
                        Some(_) => {
                            out.push(format!("{at}: {n} is not an input type"));
                            true
                        }
                    },
                };
                if !ok {
                    out.push(format!("{at}: {v} is not a {n}"));
                }
            }
        }
    }
}
