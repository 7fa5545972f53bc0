//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what
//! a relying party needs to verify Roster-issued tokens itself (RFC 7517,
//! RFC 8414 / OpenID Connect Discovery).

use crate::state::AppState;
use crate::tokens;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use roster_domain::catalogue::builtin_permissions;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How long a client may cache these documents: short, so a rotation is
/// seen soon (a verifier should also refetch on an unknown `kid`).
const MAX_AGE: &str = "public, max-age=300";

/// A public key (RFC 7517): Ed25519 (`OKP`) or P-256 (`EC`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// `OKP` or `EC`.
    pub kty: String,
    /// `Ed25519` or `P-256`.
    pub crv: String,
    /// The public key (base64url).
    pub x: String,
    /// The Y coordinate (`EC` only, base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// The key id: the `kid` of the tokens it signed.
    pub kid: String,
    /// `EdDSA` or `ES256`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub usage: String,
}

/// A JWK Set.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSet {
    /// Every signing key that still verifies (the current one, and retired
    /// ones until their tokens have expired).
    pub keys: Vec<Jwk>,
}

/// Roster's public signing keys (JWK Set).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "tokens",
    security(),
    responses((status = 200, body = JwkSet, description = "The keys that verify Roster-issued tokens.",
               headers(("Cache-Control" = String, description = "`public, max-age=300`."))))
)]
pub async fn jwks(State(s): State<AppState>) -> Response {
    let model = s.engine.snapshot();
    let now = OffsetDateTime::now_utc();
    let keys = model
        .signing_keys()
        .filter(|k| k.verifies(now))
        .filter_map(|k| {
            serde_json::from_value(serde_json::Value::Object(k.public_jwk.clone())).ok()
        })
        .collect();
    cached(axum::Json(JwkSet { keys }).into_response())
}

/// Roster's authorization server metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// The `iss` of Roster's tokens (`--public-url`).
    pub issuer: String,
    /// Where the public keys are.
    pub jwks_uri: String,
    /// Where tokens are issued.
    pub token_endpoint: String,
    /// `client_credentials`.
    pub grant_types_supported: Vec<&'static str>,
    /// `client_secret_basic`, `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// The built-in permission codes a token request may name in `scope`
    /// (an organization's own permissions may be named too).
    pub scopes_supported: Vec<String>,
    /// The algorithms Roster's tokens are signed with.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `public`: `sub` is the user's id.
    pub subject_types_supported: Vec<&'static str>,
    /// The claims of Roster's tokens.
    pub claims_supported: Vec<&'static str>,
}

/// Roster's OAuth 2.0 authorization server metadata (OpenID Connect
/// Discovery shape): its issuer, token endpoint and keys.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openid_configuration",
    tag = "tokens",
    security(),
    responses((status = 200, body = OpenIdConfiguration, description = "The issuer's metadata.",
               headers(("Cache-Control" = String, description = "`public, max-age=300`."))))
)]
pub async fn openid_configuration(State(s): State<AppState>) -> Response {
    let model = s.engine.snapshot();
    let issuer = s.config.issuer.clone();
    let mut algs = tokens::algorithms(&model, OffsetDateTime::now_utc());
    if algs.is_empty() {
        algs.push("EdDSA");
    }
    let doc = OpenIdConfiguration {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        token_endpoint: format!("{issuer}/v1/oauth/token"),
        issuer,
        grant_types_supported: vec!["client_credentials"],
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        scopes_supported: builtin_permissions()
            .into_iter()
            .map(|p| p.code.as_str().to_owned())
            .collect(),
        id_token_signing_alg_values_supported: algs,
        subject_types_supported: vec!["public"],
        claims_supported: vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "scope",
            tokens::KEY_CLAIM,
        ],
    };
    cached(axum::Json(doc).into_response())
}

fn cached(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(MAX_AGE));
    resp
}
