//! Checks an OpenAPI **3.1** document (the native API's `/openapi.json`) for
//! what makes it unusable to generators and fuzzers, and validates response
//! bodies against it. The document's conformance to the OpenAPI 3.1 schema
//! itself is checked by `scripts/openapi_validate.sh` (that schema is not
//! copied here); this module checks what that schema cannot: every `{param}`
//! of a path template is a required path parameter of each of its
//! operations and no other path parameter is, every `$ref` resolves,
//! operation ids are unique, and every schema is JSON Schema 2020-12 (the
//! dialect of 3.1) whose references compile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The HTTP methods a path item may hold.
pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The operations of `doc`: `(path template, method, operation)`.
pub fn operations(doc: &Value) -> Vec<(String, &'static str, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m, op));
            }
        }
    }
    out
}

/// The names between braces in a path template, in order.
pub fn template_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Follows a local `$ref` (`#/a/b`, with `~1` and `~0` escapes).
pub fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

/// `v`, or what its `$ref` points at.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, r).unwrap_or(&Value::Null),
        None => v,
    }
}

/// Every `$ref` in `v`, with where it is.
fn refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push((at.to_owned(), r.to_owned()));
                    }
                } else {
                    refs(
                        child,
                        &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every Schema Object of the document, with where it is: the components'
/// schemas, and those of parameters, bodies, responses and headers.
fn schemas(doc: &Value) -> Vec<(String, &Value)> {
    let mut out: Vec<(String, &Value)> = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| (format!("#/components/schemas/{name}"), s))
        .collect();
    for (path, method, op) in operations(doc) {
        let at = format!("{method} {path}");
        for (i, p) in op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(s) = deref(doc, p).get("schema") {
                out.push((format!("{at} parameters[{i}]"), s));
            }
        }
        for (media, c) in deref(doc, &op["requestBody"])["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if let Some(s) = c.get("schema") {
                out.push((format!("{at} requestBody {media}"), s));
            }
        }
        for (status, r) in op["responses"].as_object().into_iter().flatten() {
            let r = deref(doc, r);
            for (media, c) in r["content"].as_object().into_iter().flatten() {
                if let Some(s) = c.get("schema") {
                    out.push((format!("{at} {status} {media}"), s));
                }
            }
            for (name, h) in r["headers"].as_object().into_iter().flatten() {
                if let Some(s) = deref(doc, h).get("schema") {
                    out.push((format!("{at} {status} header {name}"), s));
                }
            }
        }
    }
    out
}

/// `schema` as a standalone JSON Schema 2020-12 document whose
/// `#/components/...` references resolve in `doc`.
pub fn standalone(doc: &Value, schema: &Value) -> Value {
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("allOf".into(), json!([schema]));
    root.insert("components".into(), doc["components"].clone());
    Value::Object(root)
}

/// What makes `doc` not a valid, usable OpenAPI 3.1 document; empty when
/// it is one.
pub fn problems(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut problem = |s: String| out.push(s);

    if !doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1."))
    {
        problem(format!("`openapi` is {}, not 3.1.x", doc["openapi"]));
    }
    for key in ["title", "version"] {
        if !doc["info"][key].is_string() {
            problem(format!("`info.{key}` is missing"));
        }
    }
    if !doc["paths"].is_object() {
        problem("`paths` is missing".into());
    }

    // Every $ref resolves, inside the document.
    let mut all_refs = Vec::new();
    refs(doc, "#", &mut all_refs);
    for (at, r) in &all_refs {
        if resolve(doc, r).is_none() {
            problem(format!("{at}: `$ref` {r} does not resolve"));
        }
    }

    // Security requirements name declared schemes.
    let schemes = &doc["components"]["securitySchemes"];
    let mut requirements: Vec<(String, &Value)> = doc["security"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| ("the document".to_owned(), r))
        .collect();

    let mut operation_ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, method, op) in operations(doc) {
        let at = format!("{} {path}", method.to_uppercase());
        if !path.starts_with('/') {
            problem(format!("{at}: a path must start with `/`"));
        }
        match op["operationId"].as_str() {
            Some(id) => operation_ids
                .entry(id.to_owned())
                .or_default()
                .push(at.clone()),
            None => problem(format!("{at}: no operationId")),
        }
        for r in op["security"].as_array().into_iter().flatten() {
            requirements.push((at.clone(), r));
        }

        // Parameters: unique by (name, in); path ones are exactly the
        // template's, each required.
        let template = template_params(&path);
        let unique: BTreeSet<&String> = template.iter().collect();
        if unique.len() != template.len() {
            problem(format!("{at}: a template parameter appears twice"));
        }
        let item_params = doc["paths"][&path]["parameters"].as_array();
        let params: Vec<&Value> = item_params
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| deref(doc, p))
            .collect();
        let mut seen = BTreeSet::new();
        for p in &params {
            let (Some(name), Some(place)) = (p["name"].as_str(), p["in"].as_str()) else {
                problem(format!("{at}: a parameter without `name` or `in`: {p}"));
                continue;
            };
            if !["path", "query", "header", "cookie"].contains(&place) {
                problem(format!("{at}: parameter `{name}` is in `{place}`"));
            }
            if !seen.insert((name, place)) {
                problem(format!(
                    "{at}: parameter `{name}` in {place} is declared twice"
                ));
            }
            if p.get("schema").is_none() == p.get("content").is_none() {
                problem(format!(
                    "{at}: parameter `{name}` needs exactly one of `schema` and `content`"
                ));
            }
            if place == "path" {
                if !template.iter().any(|t| t == name) {
                    problem(format!(
                        "{at}: path parameter `{name}` is not in the template"
                    ));
                }
                if p["required"] != json!(true) {
                    problem(format!(
                        "{at}: path parameter `{name}` is not `required: true`"
                    ));
                }
            }
        }
        for t in &template {
            if !params
                .iter()
                .any(|p| p["in"] == json!("path") && p["name"].as_str() == Some(t.as_str()))
            {
                problem(format!(
                    "{at}: template parameter `{{{t}}}` is not declared"
                ));
            }
        }

        // Request body and responses.
        if let Some(body) = op.get("requestBody") {
            if deref(doc, body)["content"]
                .as_object()
                .is_none_or(|c| c.is_empty())
            {
                problem(format!("{at}: a request body without content"));
            }
        }
        let responses = op["responses"].as_object();
        if responses.is_none_or(|r| r.is_empty()) {
            problem(format!("{at}: no responses"));
        }
        for (status, r) in responses.into_iter().flatten() {
            let valid_key = status == "default"
                || (status.len() == 3
                    && status.starts_with(['1', '2', '3', '4', '5'])
                    && (status[1..].chars().all(|c| c.is_ascii_digit()) || &status[1..] == "XX"));
            if !valid_key {
                problem(format!("{at}: response key `{status}`"));
            }
            if !deref(doc, r)["description"].is_string() {
                problem(format!("{at} {status}: no description"));
            }
        }
    }
    for (id, ats) in &operation_ids {
        if ats.len() > 1 {
            problem(format!("operationId `{id}` is used by {}", ats.join(", ")));
        }
    }
    for (at, r) in requirements {
        for name in r.as_object().into_iter().flatten().map(|(k, _)| k) {
            if schemes.get(name).is_none() {
                problem(format!("{at}: security scheme `{name}` is not declared"));
            }
        }
    }

    // Schemas: JSON Schema 2020-12, and compilable with their references.
    for (at, s) in schemas(doc) {
        if let Err(e) = jsonschema::draft202012::meta::validate(s) {
            problem(format!("{at}: not a JSON Schema 2020-12 schema: {e}"));
            continue;
        }
        if let Err(e) = jsonschema::draft202012::new(&standalone(doc, s)) {
            problem(format!("{at}: does not compile: {e}"));
        }
    }
    out
}

/// The operation of `doc` at `method template`.
pub fn operation<'a>(doc: &'a Value, method: &str, template: &str) -> &'a Value {
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not in the document");
    op
}

/// Checks a response against the document: its status is declared, its
/// `Content-Type` is the one declared for that status (none for a response
/// declared without content), and its body validates against the schema.
/// Returns what is wrong, if anything.
pub fn response_mismatch(
    doc: &Value,
    method: &str,
    template: &str,
    status: u16,
    content_type: Option<&str>,
    body: &Value,
) -> Option<String> {
    let op = operation(doc, method, template);
    let declared = op["responses"]
        .get(status.to_string())
        .or_else(|| op["responses"].get(format!("{}XX", status / 100)))
        .or_else(|| op["responses"].get("default"));
    let Some(declared) = declared else {
        return Some(format!(
            "{method} {template}: status {status} is not declared"
        ));
    };
    let declared = deref(doc, declared);
    let content = declared["content"].as_object();
    let media = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
    match (content.filter(|c| !c.is_empty()), media) {
        (None, None) => None,
        (None, Some(m)) => Some(format!(
            "{method} {template} {status}: declared without content, answered `{m}`"
        )),
        (Some(_), None) => Some(format!(
            "{method} {template} {status}: declared with content, answered none"
        )),
        (Some(c), Some(m)) => {
            let Some(schema) = c.get(&m).map(|c| &c["schema"]) else {
                return Some(format!(
                    "{method} {template} {status}: answered `{m}`, declared {:?}",
                    c.keys().collect::<Vec<_>>()
                ));
            };
            let validator = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&standalone(doc, schema))
                .unwrap_or_else(|e| panic!("{method} {template} {status}: schema: {e}"));
            let errors: Vec<String> = validator
                .iter_errors(body)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            (!errors.is_empty()).then(|| {
                format!("{method} {template} {status}: body does not match the schema: {errors:?}\nbody: {body}")
            })
        }
    }
}
