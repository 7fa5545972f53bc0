//! The server's one error: every failure a handler can meet, each with a
//! documented status. Each surface renders it in its own shape
//! ([`crate::surface::Surface::render`]); the default shape, the native
//! API's and that of any answer outside a surface (an unknown path, a
//! timeout, a panic), is `application/problem+json` (RFC 9457) with the
//! request id ([`ApiError::problem`]). Internal errors are logged with their
//! cause chain and answered as an opaque 500.

use crate::request::RequestInfo;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use roster_domain::DomainError;
use roster_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain rule or validation failed (status per [`DomainError::status`]).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No or bad credentials (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The body is not JSON of the right shape (400), naming the field.
    #[error("invalid `{field}`: {message}")]
    BadRequest {
        /// Field path, or `body`.
        field: String,
        /// Explanation.
        message: String,
    },
    /// The body is over the size limit (413).
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The client did not send the whole body within the time allowed (408):
    /// a stalled or too slow client. The connection is closed after the answer.
    #[error("the request body did not arrive within {} s", .0.as_secs_f64())]
    BodyTimeout(std::time::Duration),
    /// The content type is not JSON (415).
    #[error("expected `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// No such route (404).
    #[error("no route for `{0}`")]
    NoRoute(String),
    /// Wrong method for the route (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The index has not reached the requested revision in time (503).
    #[error("revision {wanted} not reached (at {current}); retry")]
    RevisionNotReached {
        /// Requested.
        wanted: u64,
        /// Current.
        current: u64,
    },
    /// Too many failed authentications for this key id or from this client
    /// address (429); `retry_after` seconds until the window has passed.
    #[error("too many failed authentications; retry in {retry_after} s")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The server is shutting down or overloaded (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged, answered as an opaque 500.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The status of a domain error: the one place a rule's outcome becomes
/// HTTP (dialects that document other statuses, such as Fynn's 422 for the
/// self guard, map from this).
pub fn domain_status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Invalid { .. } => StatusCode::BAD_REQUEST,
        DomainError::NotFound { .. } => StatusCode::NOT_FOUND,
        DomainError::Forbidden { .. } | DomainError::SelfChange { .. } => StatusCode::FORBIDDEN,
        DomainError::Conflict { .. }
        | DomainError::Lockout { .. }
        | DomainError::StaleRevision { .. } => StatusCode::CONFLICT,
        DomainError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl ApiError {
    /// Shorthand for a 400 naming a field.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(e) => domain_status(e),
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RevisionNotReached { .. } | Self::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Domain(e) => e.code(),
            Self::Unauthorized(_) => "unauthorized",
            Self::BadRequest { .. } => "invalid_input",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::BodyTimeout(_) => "request_timeout",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NoRoute(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::RevisionNotReached { .. } => "revision_not_reached",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Domain(e) => e.field(),
            Self::BadRequest { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The field a native problem document names: [`ApiError::field`], or
    /// the header or body a transport-level error is about.
    pub fn problem_field(&self) -> Option<&str> {
        self.field().or(match self {
            Self::Domain(DomainError::PreconditionFailed { .. }) => Some("If-Match"),
            Self::Unauthorized(_) | Self::TooManyRequests { .. } => Some("Authorization"),
            Self::PayloadTooLarge(_) | Self::BodyTimeout(_) => Some("body"),
            Self::UnsupportedMediaType => Some("Content-Type"),
            _ => None,
        })
    }

    /// The message shown to clients (never internal details).
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => {
                "internal error; the request id identifies it in the server log".to_owned()
            }
            Self::Domain(DomainError::Invalid { message, .. }) => message.clone(),
            Self::BadRequest { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// Logs internal errors with their cause chain (once, where rendered).
    pub fn log(&self, info: &RequestInfo) {
        if let Self::Internal(e) = self {
            let mut chain = e.to_string();
            let mut src = e.source();
            while let Some(s) = src {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                src = s.source();
            }
            tracing::error!(request_id = %info.request_id, path = %info.path, error = %chain, "internal error");
        }
    }

    /// Adds the headers an error carries on every surface: `Retry-After`
    /// when a retry may succeed, on a 401 `WWW-Authenticate` with the
    /// surface's scheme (`None` for a surface whose document names none),
    /// and on a 408 `Connection: close` (RFC 9110 §15.5.9: the rest of the
    /// body may still be on its way, so the connection cannot be reused).
    pub(crate) fn add_headers(&self, resp: &mut Response, auth_scheme: Option<&'static str>) {
        if matches!(self, Self::BodyTimeout(_)) {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(s) = self.retry_after() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(scheme) = auth_scheme.filter(|_| self.status() == StatusCode::UNAUTHORIZED) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
    }

    /// Seconds after which a retry may succeed (429s and 503s).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            Self::RevisionNotReached { .. } | Self::Unavailable(_) => Some(1),
            _ => None,
        }
    }
}

/// One field error in a problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: String,
    /// Explanation.
    pub message: String,
}

/// RFC 9457 problem document of the native API.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary (the status's reason phrase).
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for humans.
    pub detail: String,
    /// The request path.
    pub instance: String,
    /// Stable machine-readable code.
    pub error_code: String,
    /// The request id (also in the `x-request-id` header).
    pub request_id: String,
    /// Field errors.
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// The RFC 9457 problem document of the error (status, body, content
    /// type), without the headers [`ApiError::add_headers`] adds.
    pub fn problem(&self, info: &RequestInfo) -> Response {
        let status = self.status();
        let body = Problem {
            kind: format!(
                "https://roster.dev/problems/{}",
                self.code().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: if matches!(self, Self::Internal(_)) {
                self.public_message()
            } else {
                self.to_string()
            },
            instance: info.path.clone(),
            error_code: self.code().to_owned(),
            request_id: info.request_id.clone(),
            errors: self
                .problem_field()
                .map(|f| {
                    vec![FieldError {
                        field: f.to_owned(),
                        message: self.public_message(),
                    }]
                })
                .unwrap_or_default(),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

/// An error outside any surface's handlers is answered as a problem
/// document with `WWW-Authenticate: Bearer` on a 401.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let info = RequestInfo::current();
        self.log(&info);
        let mut resp = self.problem(&info);
        self.add_headers(&mut resp, Some("Bearer"));
        resp
    }
}
