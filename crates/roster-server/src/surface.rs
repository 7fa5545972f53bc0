//! The surface kit: what every HTTP surface (the native API, each vendor
//! dialect) shares, parameterised by the surface so that every answer —
//! a handler's error, a rejected body, a missing credential, an unknown
//! path — comes in that surface's own shape.
//!
//! A surface is a zero-sized marker implementing [`Surface`]: where its
//! callers present their credential (resolved in one place,
//! [`crate::auth::resolve`]), which content types it reads as JSON, how it
//! answers a malformed path id, and how it renders an [`ApiError`]. The
//! kit's extractors ([`Caller`], [`Json`], [`PathId`], [`Query`]) and its
//! router ([`SurfaceRouter`]) take the marker as a type parameter; the rest
//! of the kit is the request context and revision headers ([`write`]), one
//! paging implementation ([`paging`]) and the serde helpers of wire types
//! ([`fields`]). Surfaces are siblings above the kit and never import each
//! other.

pub mod body;
pub mod extract;
pub mod fields;
pub mod paging;
pub mod write;

pub use extract::{parse_id, Caller, Json, PathId, PathParam, Query};

use crate::auth::Credentials;
use crate::error::ApiError;
use crate::request::RequestInfo;
use crate::state::AppState;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use std::marker::PhantomData;

/// One HTTP surface: how it reads a request and how it answers an error.
pub trait Surface: Send + Sync + 'static {
    /// Where its callers present their credential.
    const CREDENTIALS: Credentials;

    /// Media types, besides JSON (`application/json`, `application/*+json`),
    /// whose bodies it reads as JSON: lowercase, without parameters.
    const ALSO_ACCEPTS: &'static [&'static str] = &[];

    /// The message of a `400` for a body that is JSON but not an object.
    const NOT_AN_OBJECT: &'static str = "expected a JSON object";

    /// The answer to path parameter `param` when `raw` is not a well-formed
    /// id: by default a `400` naming it.
    fn malformed_id(param: &str, raw: &str) -> ApiError {
        extract::not_a_uuid(param, raw)
    }

    /// Renders `e` in the surface's shape: status, body and content type.
    /// (The kit logs the error and adds the headers every surface sends,
    /// see [`ApiError::add_headers`].)
    fn render(e: &ApiError, info: &RequestInfo) -> Response;
}

/// An [`ApiError`] answered in surface `S`'s shape: what the kit's
/// extractors reject with and what a surface's handlers return.
pub struct SurfaceError<S>(pub ApiError, PhantomData<S>);

impl<S> std::fmt::Debug for SurfaceError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SurfaceError").field(&self.0).finish()
    }
}

impl<S, E: Into<ApiError>> From<E> for SurfaceError<S> {
    fn from(e: E) -> Self {
        Self(e.into(), PhantomData)
    }
}

impl<S: Surface> IntoResponse for SurfaceError<S> {
    fn into_response(self) -> Response {
        let info = RequestInfo::current();
        self.0.log(&info);
        let mut resp = S::render(&self.0, &info);
        self.0.add_headers(&mut resp, S::CREDENTIALS.scheme());
        resp
    }
}

/// The routes of one surface below its base URL: an unknown path or method
/// there is answered in the surface's shape.
pub struct SurfaceRouter<S> {
    router: Router<AppState>,
    surface: PhantomData<S>,
}

impl<S> std::fmt::Debug for SurfaceRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfaceRouter").finish_non_exhaustive()
    }
}

impl<S: Surface> Default for SurfaceRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Surface> SurfaceRouter<S> {
    /// No routes yet.
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            surface: PhantomData,
        }
    }

    /// Serves `path` with `methods`; another method is a `405` in the
    /// surface's shape, naming `allow` in `Allow` when given.
    pub fn route(
        self,
        path: &str,
        methods: MethodRouter<AppState>,
        allow: Option<&'static str>,
    ) -> Self {
        let methods = methods.fallback(move || async move { method_not_allowed::<S>(allow) });
        Self {
            router: self.router.route(path, methods),
            surface: PhantomData,
        }
    }

    /// The router, with unknown paths answered `404` in the surface's shape.
    pub fn finish(self) -> Router<AppState> {
        self.router.fallback(no_route::<S>)
    }
}

/// `404` for a path no route serves.
pub async fn no_route<S: Surface>(uri: Uri) -> SurfaceError<S> {
    ApiError::NoRoute(roster_domain::truncate(uri.path())).into()
}

/// `405` for a method the route does not serve, with `Allow` when given.
pub fn method_not_allowed<S: Surface>(allow: Option<&'static str>) -> Response {
    let mut resp = SurfaceError::<S>::from(ApiError::MethodNotAllowed).into_response();
    if let Some(allow) = allow {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}
