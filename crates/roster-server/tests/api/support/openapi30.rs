//! Validation of bodies against an OpenAPI **3.0** fragment
//! (`tests/fragments/<vendor>.json`: SoftwareOne's and Lexful's). 3.0 schemas
//! are not JSON Schema: `nullable: true` means "or null", and a response may
//! be a `$ref` to `#/components/responses/…`. This module turns a named
//! schema into a JSON Schema 2020-12 document whose `components` are the
//! fragment's (converted), so `$ref`s resolve inside the fragment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use serde_json::{json, Map, Value};

/// The fragment of `vendor`.
pub fn fragment(vendor: &str) -> Value {
    let path = format!(
        "{}/tests/fragments/{vendor}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Rewrites OpenAPI 3.0's `nullable: true` as `anyOf: [{type: null}, …]`,
/// everywhere in `v`.
pub fn convert_nullable(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(convert_nullable),
        Value::Object(map) => {
            for (_, child) in map.iter_mut() {
                convert_nullable(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let rest = Value::Object(std::mem::take(map));
                map.insert("anyOf".into(), json!([{ "type": "null" }, rest]));
            }
        }
        _ => {}
    }
}

/// Follows a local `$ref` (`#/a/b`) in `doc`.
fn follow<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or(r);
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {r}"))
        }
        None => v,
    }
}

/// The JSON Schema of the documented response `status` of `method path`.
pub fn response_schema(vendor: &str, path: &str, method: &str, status: u16) -> Value {
    let doc = fragment(vendor);
    let resp = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(
        resp.is_object(),
        "{vendor}: {method} {path} documents no {status}"
    );
    let resp = follow(&doc, resp);
    let schema = resp["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{vendor}: no JSON schema for {method} {path} {status}"
    );
    root(&doc, schema)
}

/// The JSON Schema of `#/components/schemas/<name>`.
pub fn named_schema(vendor: &str, name: &str) -> Value {
    let doc = fragment(vendor);
    assert!(
        doc["components"]["schemas"][name].is_object(),
        "{vendor}: no schema {name}"
    );
    root(
        &doc,
        json!({ "$ref": format!("#/components/schemas/{name}") }),
    )
}

fn root(doc: &Value, schema: Value) -> Value {
    let mut root = match schema {
        Value::Object(m) => m,
        other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
    };
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("components".into(), doc["components"].clone());
    let mut root = Value::Object(root);
    convert_nullable(&mut root);
    root
}

/// The validation errors of `body` against `schema` (formats checked).
pub fn errors(schema: &Value, body: &Value) -> Vec<String> {
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("the fragment's schema does not compile: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// Asserts that `body` validates against `schema`.
pub fn assert_valid(what: &str, schema: &Value, body: &Value) {
    let errs = errors(schema, body);
    assert!(
        errs.is_empty(),
        "{what}: body does not match the documented schema: {errs:?}\nbody: {body}"
    );
}

/// Asserts that `body` does NOT validate (proves the validator bites).
pub fn assert_invalid(what: &str, schema: &Value, body: &Value) {
    assert!(
        !errors(schema, body).is_empty(),
        "{what}: expected {body} to be rejected"
    );
}
