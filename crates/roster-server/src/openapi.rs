//! The OpenAPI 3.1 document of the native API, generated from the handlers'
//! `#[utoipa::path]` annotations as [`crate::routes::router`] registers
//! them, and served at `/openapi.json`. Its validity
//! (path parameters, `$ref`s, operation ids, schemas) is checked by the
//! server's tests and against the OpenAPI 3.1 schema by
//! `scripts/openapi_validate.sh`; `scripts/schemathesis.sh native` checks
//! the running server against it.

use crate::error::Problem;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi, ToSchema};

/// The media type of every error of the native API (see `error.rs`).
pub const PROBLEM_JSON: &str = "application/problem+json";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key or JWT")
                    .description(Some(
                        "An API key's secret, a token from `POST /v1/oauth/token`, or a JWT of one of the organization's identity providers.",
                    ))
                    .build(),
            ),
        );
        // The token endpoint's client authentication (RFC 6749 §2.3.1).
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("The API key's key id and secret."))
                    .build(),
            ),
        );
    }
}

/// The responses an operation gives whatever its handler does, declared here
/// once rather than on each handler (which declares its own outcomes):
///
/// - every error body is a [`Problem`], served as `application/problem+json`
///   ([`crate::ApiError`]'s rendering), so a `Problem` body is declared with
///   that media type;
/// - `401` (with `WWW-Authenticate`) and `429` (with `Retry-After`) on
///   each operation that requires credentials: the `Caller` extractor;
/// - `400` on each operation with a path or query parameter or a body,
///   since each is parsed and a malformed one is refused naming it
///   (the kit's `PathId`, `Query` and `Json`);
/// - `413` and `415` on each operation with a JSON body (`Json`);
/// - `503` (with `Retry-After`) everywhere: a request over the 30 s timeout,
///   or a write while the server stops.
///
/// Responses left without a description get the standard one of their status.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                add_common_responses(op);
            }
        }
    }
}

/// `?dry_run=true` on every native write but what-if and the token
/// endpoint ([`crate::routes::what_if::dry_run`]): the parameter, the
/// `Roster-Dry-Run` header of the answers and the `403` of a caller
/// without `authz:check`.
struct DryRun;

impl Modify for DryRun {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if crate::routes::what_if::NOT_PREVIEWED.contains(&path.as_str()) {
                continue;
            }
            let writes = [
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in writes.into_iter().flatten() {
                add_dry_run(op);
            }
        }
    }
}

fn add_dry_run(op: &mut Operation) {
    let parameter = ParameterBuilder::new()
        .name("dry_run")
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(
            "`true`: answer as this request would be answered (status, headers, body), with `Roster-Dry-Run: true`, and commit nothing. Requires `authz:check` over the caller's organization.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::Boolean)))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(parameter);
    let responses = &mut op.responses.responses;
    responses.entry("403".to_owned()).or_insert_with(|| {
        let mut r = problem_response();
        r.description = default_description("403").to_owned();
        RefOr::T(r)
    });
    for response in responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let mut h = Header::new(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true"])),
        );
        h.description = Some(
            "`true` on the answer to a dry run (`dry_run=true`): nothing was committed.".to_owned(),
        );
        response.headers.insert("Roster-Dry-Run".to_owned(), h);
    }
}

/// The operations of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn add_common_responses(op: &mut Operation) {
    let authenticated = op.security.is_none(); // inherits the document's `bearer`
    let has_body = op.request_body.is_some();
    // The kit's JSON extractor answers 413 and 415; a form body (the token
    // endpoint) is answered in its own terms.
    let has_json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut common = vec![StatusCode::SERVICE_UNAVAILABLE];
    if authenticated {
        common.extend([StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]);
    }
    if has_body || has_params {
        common.push(StatusCode::BAD_REQUEST);
    }
    if has_json_body {
        common.extend([
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ]);
    }
    let responses = &mut op.responses.responses;
    for status in common {
        responses
            .entry(status.as_u16().to_string())
            .or_insert_with(|| RefOr::T(problem_response()));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response.content = std::mem::take(&mut response.content)
            .into_iter()
            .map(|(media, content)| {
                if media == "application/json" && is_problem(&content) {
                    (PROBLEM_JSON.to_owned(), content)
                } else {
                    (media, content)
                }
            })
            .collect();
        if response.description.is_empty() {
            response.description = default_description(status).to_owned();
        }
        let header = match status.as_str() {
            "401" => Some(("WWW-Authenticate", "`Bearer`.", Type::String)),
            "429" | "503" => Some((
                "Retry-After",
                "Seconds after which a retry may succeed.",
                Type::Integer,
            )),
            _ => None,
        };
        if let Some((name, description, ty)) = header {
            response.headers.entry(name.to_owned()).or_insert_with(|| {
                let mut h = Header::new(ObjectBuilder::new().schema_type(ty));
                h.description = Some(description.to_owned());
                h
            });
        }
    }
}

fn problem_schema() -> Ref {
    Ref::from_schema_name(Problem::name())
}

fn is_problem(content: &Content) -> bool {
    matches!(&content.schema, Some(RefOr::Ref(r)) if *r == problem_schema())
}

fn problem_response() -> Response {
    ResponseBuilder::new()
        .content(PROBLEM_JSON, Content::new(Some(problem_schema())))
        .build()
}

/// The description of a response declared without one.
fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "Invalid input (a path or query parameter, or the body); `errors` names the field.",
        "401" => "No credentials, or unknown, expired or revoked ones.",
        "403" => "The caller may not do this: a missing permission, or the escalation or self guard.",
        "404" => "No such object, or it is out of the caller's reach.",
        "409" => "The request conflicts with the current state.",
        "412" => "`If-Match` does not match the object's current revision (its `ETag`).",
        "413" => "The body is larger than 1 MiB.",
        "415" => "The body is not declared as JSON (`Content-Type`).",
        "429" => "Too many failed authentications for this key id or from this address in the last minute; retry after `Retry-After`.",
        "503" => "The request did not finish in 30 s, or the server is stopping; retry after `Retry-After`.",
        other => other
            .parse::<u16>()
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .and_then(|s| s.canonical_reason())
            .unwrap_or("The response."),
    }
}

/// What the document says besides its operations.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Roster", description = "Who may do what, where: organizations, accounts, users, roles, grants and authorization checks."),
    security(("bearer" = [])),
)]
struct Base;

/// The document before the routes add their operations.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// The native API's contract: the operations of [`crate::routes::router`],
/// the bearer scheme and the responses every operation shares.
#[derive(Debug)]
pub struct ApiDoc;

impl OpenApi for ApiDoc {
    fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = crate::routes::router().into_openapi();
        BearerAuth.modify(&mut doc);
        CommonResponses.modify(&mut doc);
        DryRun.modify(&mut doc);
        doc
    }
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}
