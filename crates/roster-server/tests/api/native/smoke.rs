//! A first end-to-end pass: bootstrap, create, grant, check — per backend.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common;
use axum::http::StatusCode;
use common::each_backend;
use serde_json::json;

#[tokio::test]
async fn create_grant_check_roundtrip() {
    each_backend(|app| async move {
        let a = app.actors().await;
        assert!(app.check(&a.org_admin.0, "users:write", &a.acc_a2).await);
        assert!(!app.check(&a.account_admin.0, "users:write", &a.acc_a2).await);
        assert!(app.check(&a.account_admin.0, "users:write", &a.acc_a1).await);
        let r = app.post("/v1/check", &a.other_tenant.1, json!({"user_id": a.org_admin.0, "permission": "users:read", "account_id": a.acc_a1})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    })
    .await;
}
