//! The kit's extractors, each parameterised by the surface whose shape its
//! rejection takes: the authenticated [`Caller`], a JSON object [`Json`],
//! the path's ids [`PathId`] and a [`Query`] string.

use super::body::{json_object, parse_query};
use super::{Surface, SurfaceError};
use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::request::Parts;
use roster_domain::{
    AccountId, ApiKeyId, GrantId, GroupId, IdentityProviderId, MembershipId, OrganizationId,
    UserId, WebhookId,
};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::ops::Deref;

/// The caller of a request to surface `S`: its credential, read where `S`
/// says ([`Surface::CREDENTIALS`]) and resolved by [`auth::resolve`].
pub struct Caller<S>(pub auth::Caller, PhantomData<S>);

impl<S> std::fmt::Debug for Caller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S> Deref for Caller<S> {
    type Target = auth::Caller;
    fn deref(&self) -> &auth::Caller {
        &self.0
    }
}

impl<S: Surface> FromRequestParts<AppState> for Caller<S> {
    type Rejection = SurfaceError<S>;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = auth::resolve(state, parts, S::CREDENTIALS).await?;
        Ok(Self(caller, PhantomData))
    }
}

/// A JSON object body of surface `S` (see [`json_object`]).
pub struct Json<T, S>(pub T, pub PhantomData<S>);

impl<T: std::fmt::Debug, S> std::fmt::Debug for Json<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: DeserializeOwned, S: Surface> FromRequest<AppState> for Json<T, S> {
    type Rejection = SurfaceError<S>;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let body = json_object::<T, S>(state, req).await?;
        Ok(Self(body, PhantomData))
    }
}

/// A query string of surface `S`; a bad parameter is a `400` naming it.
pub struct Query<T, S>(pub T, pub PhantomData<S>);

impl<T: std::fmt::Debug, S> std::fmt::Debug for Query<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: DeserializeOwned, S: Surface> FromRequestParts<AppState> for Query<T, S> {
    type Rejection = SurfaceError<S>;
    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query = parse_query(parts.uri.query().unwrap_or(""))?;
        Ok(Self(query, PhantomData))
    }
}

/// A field (a query parameter, an id in a body) parsed as a typed id; a
/// malformed one is a `400` naming it.
pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(|_| not_a_uuid(field, raw))
}

/// The `400` for a malformed id in `field`.
pub fn not_a_uuid(field: &str, raw: &str) -> ApiError {
    ApiError::bad_request(
        field,
        format!("`{}` is not a UUID", roster_domain::truncate(raw)),
    )
}

/// A path parameter that parses from its segment.
pub trait PathParam: Sized {
    /// The value `raw` names, if it is well-formed.
    fn parse(raw: &str) -> Option<Self>;
}

macro_rules! path_params {
    ($($t:ty),*) => {$(
        impl PathParam for $t {
            fn parse(raw: &str) -> Option<Self> {
                raw.parse().ok()
            }
        }
    )*};
}

path_params!(
    AccountId,
    ApiKeyId,
    GrantId,
    GroupId,
    IdentityProviderId,
    MembershipId,
    OrganizationId,
    UserId,
    WebhookId,
    String
);

/// The path parameters of a route, in order: one ([`PathParam`]) or a pair.
pub trait PathParams: Sized {
    /// Parses `params` (name, raw value); a malformed one is answered as
    /// surface `S` answers it ([`Surface::malformed_id`]).
    fn parse<S: Surface>(params: &[(String, String)]) -> Result<Self, ApiError>;
}

/// Parameter `at` of `params`, parsed.
fn param<T: PathParam, S: Surface>(params: &[(String, String)], at: usize) -> Result<T, ApiError> {
    let (name, raw) = params
        .get(at)
        .ok_or_else(|| ApiError::Internal("the route has fewer path parameters".into()))?;
    T::parse(raw).ok_or_else(|| S::malformed_id(name, raw))
}

impl<T: PathParam> PathParams for T {
    fn parse<S: Surface>(params: &[(String, String)]) -> Result<Self, ApiError> {
        param::<T, S>(params, 0)
    }
}

impl<A: PathParam, B: PathParam> PathParams for (A, B) {
    fn parse<S: Surface>(params: &[(String, String)]) -> Result<Self, ApiError> {
        Ok((param::<A, S>(params, 0)?, param::<B, S>(params, 1)?))
    }
}

/// The ids of a request's path, parsed; a malformed one (or a segment that
/// does not decode) is answered as surface `S` answers it.
pub struct PathId<T, S>(pub T, pub PhantomData<S>);

impl<T: std::fmt::Debug, S> std::fmt::Debug for PathId<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: PathParams, S: Surface> FromRequestParts<AppState> for PathId<T, S> {
    type Rejection = SurfaceError<S>;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params: Vec<(String, String)> =
            match RawPathParams::from_request_parts(parts, state).await {
                Ok(raw) => raw
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                // A segment that does not decode (not UTF-8) names nothing:
                // each parameter is taken as empty, hence malformed.
                Err(_) => names(parts)
                    .into_iter()
                    .map(|k| (k, String::new()))
                    .collect(),
            };
        Ok(Self(T::parse::<S>(&params)?, PhantomData))
    }
}

/// The parameter names of the route that matched, from its template.
fn names(parts: &Parts) -> Vec<String> {
    let Some(template) = parts.extensions.get::<MatchedPath>() else {
        return Vec::new();
    };
    template
        .as_str()
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}
