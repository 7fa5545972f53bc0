//! Validates response bodies against the seeds' OpenAPI fragments
//! (`tests/fragments/<vendor>.json`, written by `scripts/extract_fragments.py`).
//! A response schema is validated as a JSON Schema 2020-12 document whose
//! `components` are the fragment's, so its `$ref`s resolve inside the fragment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use serde_json::{json, Value};

/// The fragment of `vendor`.
pub fn fragment(vendor: &str) -> Value {
    let path = format!(
        "{}/tests/fragments/{vendor}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The documented schema of `method path` answering `status` as `media`.
pub fn response_schema(vendor: &str, path: &str, method: &str, status: u16, media: &str) -> Value {
    let doc = fragment(vendor);
    let schema = doc["paths"][path][method]["responses"][status.to_string()]["content"][media]
        ["schema"]
        .clone();
    assert!(
        schema.is_object(),
        "{vendor}: no schema for {method} {path} {status} {media}"
    );
    let mut root = match schema {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("components".into(), doc["components"].clone());
    Value::Object(root)
}

/// Asserts that `body` validates against the documented schema.
pub fn assert_valid(vendor: &str, path: &str, method: &str, status: u16, body: &Value) {
    let schema = response_schema(vendor, path, method, status, "application/json");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{vendor}: the fragment's schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{vendor} {method} {path} {status}: body does not match the documented schema: {errors:?}\nbody: {body}");
}

/// Asserts that `body` does NOT validate (to prove the validator bites).
pub fn assert_invalid(vendor: &str, path: &str, method: &str, status: u16, body: &Value) {
    let schema = response_schema(vendor, path, method, status, "application/json");
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema");
    assert!(
        !validator.is_valid(body),
        "{vendor}: expected {body} to be rejected"
    );
}
