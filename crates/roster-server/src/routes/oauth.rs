//! `POST /v1/oauth/token`: Roster as an OAuth 2.0 authorization server for
//! the client credentials grant (RFC 6749 §4.4). The client is an API key:
//! `client_id` is its key id and `client_secret` its secret, sent in the
//! form body or with HTTP Basic (§2.3.1). The answer is a short-lived JWT
//! ([`crate::tokens`]) acting as the key's user, optionally narrowed to a
//! `scope`. Errors are RFC 6749 §5.2 JSON, not problem documents (except
//! what is no client's fault: a slow body, a server error).

use crate::error::{ApiError, Problem};
use crate::keys;
use crate::request::RequestInfo;
use crate::state::AppState;
use crate::tokens;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use roster_domain::ops;
use roster_domain::{DomainError, SigningAlgorithm};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashMap;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Largest token request body (a request is a few hundred bytes).
pub const FORM_LIMIT: usize = 8 * 1024;

/// The media type of a token request.
const FORM: &str = "application/x-www-form-urlencoded";

/// Body of `POST /v1/oauth/token`, form-encoded (RFC 6749 §4.4.2).
/// Unknown parameters are ignored; a parameter given twice is refused; an
/// empty one counts as absent.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "documents the form for OpenAPI; parsed by `Form`")]
pub struct TokenRequest {
    /// `client_credentials`.
    grant_type: String,
    /// The API key's key id (`client_secret_post`; or use HTTP Basic).
    client_id: Option<String>,
    /// The API key's secret (`client_secret_post`; or use HTTP Basic).
    client_secret: Option<String>,
    /// Space-separated permission codes to limit the token to: each among
    /// the key's scopes (an unscoped key: held by its user). Without it,
    /// the token carries the key's scopes.
    scope: Option<String>,
}

/// A token (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT; send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The permission codes it is limited to, space-separated (absent: an
    /// unscoped key's token, which may do what its user may).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type` or
    /// `invalid_scope`.
    pub error: &'static str,
    /// What went wrong, for humans (never a secret).
    pub error_description: String,
}

/// Why a token request failed.
#[derive(Debug)]
pub enum OAuthError {
    /// Malformed: not a form, a parameter missing or repeated (400).
    InvalidRequest(String),
    /// Client authentication failed (401); `challenge`: answer with
    /// `WWW-Authenticate: Basic` (the client used Basic, or sent nothing).
    InvalidClient {
        /// What failed.
        message: String,
        /// Whether to challenge.
        challenge: bool,
    },
    /// A grant type other than `client_credentials` (400).
    UnsupportedGrantType(String),
    /// The scope asks for more than the client may (400).
    InvalidScope(String),
    /// Not the client's request but its pace, or the server (problem document).
    Api(ApiError),
}

impl OAuthError {
    /// The RFC 6749 error code (`None` for [`OAuthError::Api`]).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidClient { .. } => Some("invalid_client"),
            Self::UnsupportedGrantType(_) => Some("unsupported_grant_type"),
            Self::InvalidScope(_) => Some("invalid_scope"),
            Self::Api(_) => None,
        }
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Headers every token response carries (RFC 6749 §5.1).
fn no_store(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, description, challenge) = match self {
            Self::Api(e) => {
                let info = RequestInfo::current();
                e.log(&info);
                let mut resp = e.problem(&info);
                e.add_headers(&mut resp, None);
                no_store(&mut resp);
                return resp;
            }
            Self::InvalidClient {
                ref message,
                challenge,
            } => (StatusCode::UNAUTHORIZED, message.clone(), challenge),
            Self::InvalidRequest(ref m)
            | Self::UnsupportedGrantType(ref m)
            | Self::InvalidScope(ref m) => (StatusCode::BAD_REQUEST, m.clone(), false),
        };
        let body = OAuthErrorBody {
            error: self.code().unwrap_or("invalid_request"),
            error_description: description,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if challenge {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"roster\""),
            );
        }
        no_store(&mut resp);
        resp
    }
}

/// Issue an access token (OAuth 2.0 client credentials, RFC 6749 §4.4).
///
/// The client is an API key: `client_id` = its key id, `client_secret` = its
/// secret, in the form or as HTTP Basic (not both). The token is a JWT
/// signed by Roster (verify it with `/.well-known/jwks.json`) acting as the
/// key's user for `expires_in` seconds, limited to `scope` when asked. It
/// is refused from the next request on once its API key is revoked or
/// expires, its user is disabled or deleted, or its signing key is revoked.
#[utoipa::path(
    post,
    path = "/v1/oauth/token",
    operation_id = "issue_token",
    tag = "tokens",
    security((), ("client_secret_basic" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse, description = "The token.",
         headers(("Cache-Control" = String, description = "`no-store`."))),
        (status = 400, body = OAuthErrorBody,
         description = "`invalid_request`, `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2)."),
        (status = 401, body = OAuthErrorBody,
         description = "`invalid_client`: unknown client, wrong secret, a revoked or expired key, or an inactive user.",
         headers(("WWW-Authenticate" = String, description = "`Basic realm=\"roster\"`, when HTTP Basic was used or no credentials were sent."))),
        (status = 408, body = Problem, description = "The body did not arrive in time."),
        (status = 429, body = Problem,
         description = "Too many failed authentications for this client id or address; retry after `Retry-After`.",
         headers(("Retry-After" = u64, description = "Seconds to wait."))),
    )
)]
pub async fn issue(State(s): State<AppState>, req: Request) -> Response {
    match token(&s, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn token(s: &AppState, req: Request) -> Result<Response, OAuthError> {
    if s.sandbox().is_some() {
        // A what-if must not hand out a real credential (nor test secrets
        // unthrottled and unaudited).
        return Err(OAuthError::InvalidRequest(
            "the token endpoint cannot be previewed".into(),
        ));
    }
    let (parts, body) = req.into_parts();
    let address = crate::auth::client_address(&parts);
    let basic = basic_credentials(&parts.headers)?;
    if !is_form(&parts.headers) {
        return Err(OAuthError::InvalidRequest(format!(
            "the body must be `{FORM}`"
        )));
    }
    let bytes = read_form(s, &parts.headers, body).await?;
    let form = Form::parse(&bytes)?;
    match form.get("grant_type") {
        None => {
            return Err(OAuthError::InvalidRequest(
                "`grant_type` is required".into(),
            ))
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::UnsupportedGrantType(format!(
                "`{}` is not supported; use `client_credentials`",
                roster_domain::truncate(other)
            )))
        }
    }
    let (client_id, secret, challenge) = match (
        basic,
        form.get("client_id"),
        form.get("client_secret"),
    ) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "the client authenticated twice: use HTTP Basic or `client_secret`, not both"
                    .into(),
            ))
        }
        (Some((id, secret)), form_id, None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::InvalidRequest(
                    "`client_id` differs from the HTTP Basic user".into(),
                ));
            }
            (Cow::Owned(id), Cow::Owned(secret), true)
        }
        (None, Some(id), Some(secret)) => (Cow::Borrowed(id), Cow::Borrowed(secret), false),
        (None, _, _) => return Err(OAuthError::InvalidClient {
            message:
                "client authentication is required: HTTP Basic, or `client_id` and `client_secret`"
                    .into(),
            challenge: true,
        }),
    };
    let key =
        crate::auth::authenticate_key(s, address, &client_id, &secret).map_err(|e| match e {
            ApiError::Unauthorized(message) => OAuthError::InvalidClient { message, challenge },
            other => OAuthError::Api(other),
        })?;
    let model = s.engine.snapshot();
    let now = OffsetDateTime::now_utc();
    let scope = ops::token_scope(&model, &key, form.get("scope"))
        .map_err(|e| OAuthError::InvalidScope(scope_message(e)))?
        .map(|codes| codes.join(" "));
    let signer = match model.current_signing_key() {
        Some(k) => k.clone(),
        None => keys::ensure(s, SigningAlgorithm::EdDSA).await?,
    };
    let minted = tokens::mint(
        &s.config.issuer,
        &signer,
        &key,
        scope.clone(),
        s.config.token_lifetime,
        now,
    )?;
    let mut resp = axum::Json(TokenResponse {
        access_token: minted.token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        scope,
    })
    .into_response();
    no_store(&mut resp);
    Ok(resp)
}

fn scope_message(e: DomainError) -> String {
    match e {
        DomainError::Invalid { message, .. } => message,
        other => other.to_string(),
    }
}

/// Whether the body is declared form-encoded.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(FORM))
}

/// Reads the body: at most [`FORM_LIMIT`] bytes (more is `invalid_request`),
/// within the body read timeout (`408`, as on every surface).
async fn read_form(
    s: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, OAuthError> {
    let too_large =
        || OAuthError::InvalidRequest(format!("the body is larger than {FORM_LIMIT} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > FORM_LIMIT as u64) {
        return Err(too_large());
    }
    let timeout = s.config.body_read_timeout;
    tokio::time::timeout(timeout, axum::body::to_bytes(body, FORM_LIMIT))
        .await
        .map_err(|_| OAuthError::Api(ApiError::BodyTimeout(timeout)))?
        .map_err(|_| too_large())
}

/// The parameters of a form body (RFC 6749 §3.1: each at most once; an
/// empty one is as if absent).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if params
                .insert(k.clone().into_owned(), v.into_owned())
                .is_some()
            {
                return Err(OAuthError::InvalidRequest(format!(
                    "`{}` is given more than once",
                    roster_domain::truncate(&k)
                )));
            }
        }
        Ok(Self(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The client id and secret of an `Authorization: Basic` header (RFC 6749
/// §2.3.1: each form-encoded, then `id:secret` in base64); `None` without
/// one (another scheme is not client authentication and is ignored).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::InvalidClient {
        message: "malformed HTTP Basic credentials".into(),
        challenge: true,
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("Basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// `s` form-decoded (`+` is a space, `%XX` a byte); a value holding a raw
/// `&` or `=` (a client that did not encode it) is taken as it is.
fn form_decode(s: &str) -> String {
    if s.contains(['&', '=']) {
        return s.to_owned();
    }
    form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_parts_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
        assert_eq!(form_decode("roster_0a_ff"), "roster_0a_ff");
        assert_eq!(form_decode("x=y"), "x=y");
        assert_eq!(form_decode(""), "");
    }

    #[test]
    fn a_repeated_parameter_is_refused_and_empty_ones_are_absent() {
        assert!(Form::parse(b"grant_type=a&grant_type=b").is_err());
        let f = Form::parse(b"grant_type=client_credentials&scope=").ok();
        assert!(f.as_ref().is_some_and(|f| f.get("scope").is_none()));
        assert_eq!(
            f.as_ref().and_then(|f| f.get("grant_type")),
            Some("client_credentials")
        );
    }
}
