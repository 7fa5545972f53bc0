//! `/v1/organizations/{id}/identity-providers` and
//! `/v1/identity-providers/{id}`: the issuers whose tokens act as an
//! organization's users (SPEC §3.3). A `jwks_uri` is checked by the
//! outbound guard ([`crate::outbound`]) before it is registered; an inline
//! `jwks` must decode as public keys.

use super::organizations::PageQuery;
use super::views::{new_user_claim, IdentityProviderView};
use super::Native;
use crate::error::{ApiError, Problem};
use crate::idp::jwks::first_unusable;
use crate::state::AppState;
use crate::surface::fields::{non_null, ReadOnly};
use crate::surface::paging::{cursor, limit, page, Page};
use crate::surface::write::{ctx, if_match, no_content, object};
use crate::surface::{Caller, Json, PathId, Query};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use roster_domain::ops::{self, IdentityProviderPatch, NewIdentityProvider, Precondition};
use roster_domain::{
    Algorithms, Audience, Draft, IdentityProviderId, Issuer, Jwks, JwksUri, KeySource,
    OrganizationId, ProviderName, UserClaim,
};
use serde::Deserialize;
use utoipa::ToSchema;

/// Body of `POST /v1/organizations/{id}/identity-providers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentityProvider {
    /// 1..100 characters, unique in the organization: the key of the
    /// users' `external_ids` entry that a token's `sub` is matched against.
    pub name: String,
    /// The exact `iss` of the provider's tokens.
    pub issuer: String,
    /// The `aud` the provider's tokens must contain.
    pub audience: String,
    /// An `https` URL of the provider's JWK Set (give this or `jwks`).
    pub jwks_uri: Option<String>,
    /// The provider's public keys as a JWK Set (give this or `jwks_uri`).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Default `["RS256", "ES256", "EdDSA"]`; HMAC and `none` are refused.
    #[schema(schema_with = super::views::algorithms)]
    pub algorithms: Option<Vec<String>>,
    #[schema(schema_with = new_user_claim)]
    pub user_claim: Option<String>,
}

/// Body of `PATCH /v1/identity-providers/{id}`: absent fields are left
/// alone; `jwks_uri` or `jwks` replaces the key source; the read-only
/// fields are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentityProvider {
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub issuer: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    pub audience: Option<String>,
    /// Switches to fetching keys from this URL. `null` is taken as absent
    /// (a view's `null` sent back).
    pub jwks_uri: Option<String>,
    /// Switches to these inline keys. `null` is taken as absent.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = super::views::algorithms)]
    pub algorithms: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    #[schema(schema_with = super::views::user_claim)]
    pub user_claim: Option<String>,
    // Read-only fields of `IdentityProviderView`, ignored.
    #[serde(default, rename = "id")]
    #[schema(ignore)]
    pub ro_id: ReadOnly,
    #[serde(default, rename = "organization_id")]
    #[schema(ignore)]
    pub ro_organization_id: ReadOnly,
    #[serde(default, rename = "created_at")]
    #[schema(ignore)]
    pub ro_created_at: ReadOnly,
    #[serde(default, rename = "updated_at")]
    #[schema(ignore)]
    pub ro_updated_at: ReadOnly,
    #[serde(default, rename = "revision")]
    #[schema(ignore)]
    pub ro_revision: ReadOnly,
}

/// The key source a body names: exactly one of `jwks_uri` and `jwks`
/// (`None` when neither and `required` is false), checked as Roster will
/// use it: a URL must pass the outbound guard now (it is checked again at
/// every fetch), inline keys must decode.
async fn key_source(
    s: &AppState,
    jwks_uri: Option<&str>,
    jwks: Option<&serde_json::Value>,
    required: bool,
) -> Result<Option<KeySource>, ApiError> {
    match (jwks_uri, jwks) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "jwks",
            "give exactly one of `jwks_uri` and `jwks`",
        )),
        (None, None) if required => Err(ApiError::bad_request(
            "jwks_uri",
            "one of `jwks_uri` and `jwks` is required",
        )),
        (None, None) => Ok(None),
        (Some(u), None) => {
            let uri = JwksUri::parse_field("jwks_uri", u)?;
            let url = url::Url::parse(uri.as_str())
                .map_err(|_| ApiError::bad_request("jwks_uri", "not a URL"))?;
            s.outbound
                .check(&url)
                .await
                .map_err(|e| ApiError::bad_request("jwks_uri", e.to_string()))?;
            Ok(Some(KeySource::JwksUri(uri)))
        }
        (None, Some(v)) => {
            let set = Jwks::parse_field("jwks", v)?;
            if let Some(i) = first_unusable(&set) {
                return Err(ApiError::bad_request(
                    format!("jwks.keys[{i}]"),
                    "is not a public key Roster can verify signatures with",
                ));
            }
            Ok(Some(KeySource::Jwks(set)))
        }
    }
}

fn algorithms(raw: Option<&[String]>) -> Result<Option<Algorithms>, ApiError> {
    Ok(raw
        .map(|a| Algorithms::parse_field("algorithms", a))
        .transpose()?)
}

fn user_claim(raw: Option<&str>) -> Result<Option<UserClaim>, ApiError> {
    Ok(raw.map(|c| UserClaim::parse("user_claim", c)).transpose()?)
}

/// Register an identity provider (`organizations:write` over the organization).
#[utoipa::path(
    post,
    path = "/v1/organizations/{id}/identity-providers",
    operation_id = "create_identity_provider",
    tag = "identity-providers",
    params(("id" = uuid::Uuid, Path, description = "The organization's id.")),
    request_body = CreateIdentityProvider,
    responses(
        (status = 201, body = IdentityProviderView, description = "The provider."),
        (status = 400, body = Problem, description = "A bad field, e.g. an HMAC algorithm, a private key, or a `jwks_uri` Roster may not fetch."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The name is taken in the organization."),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Json(b, _): Json<CreateIdentityProvider, Native>,
) -> Result<Response, ApiError> {
    let name = ProviderName::parse_field("name", &b.name)?;
    let issuer = Issuer::parse_field("issuer", &b.issuer)?;
    let audience = Audience::parse_field("audience", &b.audience)?;
    let algorithms = algorithms(b.algorithms.as_deref())?;
    let user_claim = user_claim(b.user_claim.as_deref())?;
    if b.jwks_uri.is_some() {
        // Resolving a tenant's URL is work done on the caller's behalf:
        // only for a caller who may register it.
        let m = s.engine.snapshot();
        ops::may_manage_identity_providers(&Draft::new(&m, &ctx(&caller)), org)?;
    }
    let keys = key_source(&s, b.jwks_uri.as_deref(), b.jwks.as_ref(), true)
        .await?
        .ok_or_else(|| ApiError::bad_request("jwks_uri", "is required"))?;
    let new = NewIdentityProvider {
        organization_id: org,
        name,
        issuer,
        audience,
        keys,
        algorithms,
        user_claim,
    };
    let (p, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::create_identity_provider(d, new.clone())
        })
        .await?;
    Ok(object(
        StatusCode::CREATED,
        &IdentityProviderView::from(&*p),
        p.revision,
        Some(rev),
    ))
}

/// List an organization's identity providers (`organizations:read` over it).
#[utoipa::path(
    get,
    path = "/v1/organizations/{id}/identity-providers",
    operation_id = "list_identity_providers",
    tag = "identity-providers",
    params(("id" = uuid::Uuid, Path, description = "The organization's id."), PageQuery),
    responses(
        (status = 200, body = Page<IdentityProviderView>, description = "A page of providers."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(org, _): PathId<OrganizationId, Native>,
    Query(q, _): Query<PageQuery, Native>,
) -> Result<axum::Json<Page<IdentityProviderView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = cursor::<IdentityProviderId>(q.cursor.as_deref())?;
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let items = ops::list_identity_providers(&Draft::new(&m, &c), org, after, limit + 1)?;
    Ok(axum::Json(page(
        items,
        limit,
        |p| p.id.to_string(),
        |p| IdentityProviderView::from(&**p),
    )))
}

/// Read an identity provider.
#[utoipa::path(
    get,
    path = "/v1/identity-providers/{id}",
    operation_id = "get_identity_provider",
    tag = "identity-providers",
    params(("id" = uuid::Uuid, Path, description = "The provider's id.")),
    responses(
        (status = 200, body = IdentityProviderView, description = "The provider."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<IdentityProviderId, Native>,
) -> Result<Response, ApiError> {
    let m = s.engine.snapshot();
    let c = ctx(&caller);
    let p = ops::get_identity_provider(&Draft::new(&m, &c), id)?;
    Ok(object(
        StatusCode::OK,
        &IdentityProviderView::from(&*p),
        p.revision,
        None,
    ))
}

/// Update an identity provider (partial; `If-Match` honoured).
#[utoipa::path(
    patch,
    path = "/v1/identity-providers/{id}",
    operation_id = "update_identity_provider",
    tag = "identity-providers",
    params(("id" = uuid::Uuid, Path, description = "The provider's id.")),
    request_body = UpdateIdentityProvider,
    responses(
        (status = 200, body = IdentityProviderView, description = "The provider."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The name is taken in the organization."),
        (status = 412, body = Problem),
    )
)]
pub async fn update(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<IdentityProviderId, Native>,
    headers: HeaderMap,
    Json(b, _): Json<UpdateIdentityProvider, Native>,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    if b.jwks_uri.is_some() {
        // As on creation: outbound work only for a caller who may change it.
        let m = s.engine.snapshot();
        ops::managed_identity_provider(&Draft::new(&m, &ctx(&caller)), id)?;
    }
    let patch = IdentityProviderPatch {
        name: b
            .name
            .as_deref()
            .map(|x| ProviderName::parse_field("name", x))
            .transpose()?,
        issuer: b
            .issuer
            .as_deref()
            .map(|x| Issuer::parse_field("issuer", x))
            .transpose()?,
        audience: b
            .audience
            .as_deref()
            .map(|x| Audience::parse_field("audience", x))
            .transpose()?,
        algorithms: algorithms(b.algorithms.as_deref())?,
        user_claim: user_claim(b.user_claim.as_deref())?,
        keys: key_source(&s, b.jwks_uri.as_deref(), b.jwks.as_ref(), false).await?,
    };
    let (p, rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::update_identity_provider(d, id, patch.clone(), pre)
        })
        .await?;
    Ok(object(
        StatusCode::OK,
        &IdentityProviderView::from(&*p),
        p.revision,
        Some(rev),
    ))
}

/// Remove an identity provider; its tokens are refused from then on.
#[utoipa::path(
    delete,
    path = "/v1/identity-providers/{id}",
    operation_id = "delete_identity_provider",
    tag = "identity-providers",
    params(("id" = uuid::Uuid, Path, description = "The provider's id.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 412, body = Problem),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller<Native>,
    PathId(id, _): PathId<IdentityProviderId, Native>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pre = Precondition::if_match(if_match(&headers)?);
    let ((), rev) = s
        .writer
        .write(ctx(&caller), move |d| {
            ops::delete_identity_provider(d, id, pre)
        })
        .await?;
    Ok(no_content(rev))
}
