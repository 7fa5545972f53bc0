//! What-if: `POST /v1/what-if` answers a sequence of write requests (on any
//! surface, native or dialect) and then checks, as if the requests had been
//! committed one after the other, with the permission impact, and commits
//! nothing. `?dry_run=true` on a native write ([`dry_run`]) is the
//! one-request shorthand.
//!
//! Both run the requests through the real app on a sandboxed state
//! ([`crate::sandbox`]): every surface, rule and rendering is the real one,
//! the writes land in the sandbox's model only. Each request acts as the
//! caller of the what-if. The caller must hold `authz:check` over its home
//! organization ([`Asker::what_if`]) besides what each request needs.

use super::check::{explain, model_at, question, BatchResult, CheckRequest, MAX_BATCH};
use super::views::ScopeView;
use super::Native;
use crate::auth::{self, Presented};
use crate::error::{ApiError, Problem};
use crate::request::{RequestInfo, REQUEST_ID};
use crate::sandbox;
use crate::state::AppState;
use crate::surface::write::with_revision;
use crate::surface::{Caller, Json, Surface, SurfaceError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_authz::{self as authz, Moment};
use roster_domain::impact::{impact_of, touched_users, Access};
use roster_domain::ops::Asker;
use roster_domain::{Model, UserId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;
use utoipa::ToSchema;

/// Most requests in one what-if.
pub const MAX_REQUESTS: usize = 100;
/// Most checks in one what-if (as in a batch).
pub const MAX_CHECKS: usize = MAX_BATCH;
/// Most entries in each list of the impact.
pub const IMPACT_CAP: usize = 1000;

/// The response header marking a dry run's answer.
pub const DRY_RUN_HEADER: HeaderName = HeaderName::from_static("roster-dry-run");

/// The query parameter asking for a dry run.
const DRY_RUN: &str = "dry_run";

/// Paths that cannot be previewed: what-if itself (no nesting), and the
/// token endpoint (it hands out a real credential).
pub const NOT_PREVIEWED: [&str; 2] = ["/v1/what-if", "/v1/oauth/token"];

/// Request headers the server sets on a previewed request itself.
const SET_BY_SERVER: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    REQUEST_ID,
];

/// A write method.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum WriteMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl From<WriteMethod> for Method {
    fn from(m: WriteMethod) -> Self {
        match m {
            WriteMethod::Post => Method::POST,
            WriteMethod::Put => Method::PUT,
            WriteMethod::Patch => Method::PATCH,
            WriteMethod::Delete => Method::DELETE,
        }
    }
}

/// One request to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A write method (reads have nothing to preview; ask `checks`).
    pub method: WriteMethod,
    /// The path on this server, with its query if any: a native path
    /// (`/v1/…`) or a dialect's (`/compat/…`). Not `/v1/what-if` or
    /// `/v1/oauth/token`, and no `dry_run`.
    pub path: String,
    /// The JSON body, sent as `application/json` unless `headers` says
    /// otherwise.
    #[schema(value_type = Option<serde_json::Value>)]
    pub body: Option<Box<RawValue>>,
    /// Further request headers (`If-Match`, Lexful's `X-Account-ID`, …).
    /// Not credentials: every request acts as the caller of the what-if;
    /// nor `Host`, `Content-Length`, `Transfer-Encoding`, `Connection` or
    /// `X-Request-Id`, which the server sets.
    pub headers: Option<BTreeMap<String, String>>,
}

/// Body of `POST /v1/what-if`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// At most 100 requests, answered in order, each as if the ones before
    /// it had been committed. The first that fails (not `2xx`) ends the
    /// sequence.
    pub requests: Vec<PreviewRequest>,
    /// At most 1000 checks, answered on the state the requests reached.
    /// The highest `min_revision` of any is the committed revision the
    /// what-if starts from (at least).
    #[serde(default)]
    pub checks: Vec<CheckRequest>,
}

/// The answer to one previewed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResult {
    /// Its status.
    pub status: u16,
    /// Its response headers (lowercase names; repeated ones joined by `, `),
    /// e.g. `etag` and `roster-revision`.
    pub headers: BTreeMap<String, String>,
    /// Its body: the JSON it answered, `null` when empty.
    #[schema(value_type = Option<serde_json::Value>)]
    pub body: serde_json::Value,
}

/// A permission a user holds at a scope.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    #[schema(value_type = uuid::Uuid)]
    pub user_id: String,
    /// Its code.
    pub permission: String,
    #[schema(value_type = uuid::Uuid)]
    pub permission_id: String,
    pub scope: ScopeView,
}

/// What the requests change in the effective permissions of every user
/// they touch (a role's change touches every holder).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImpactView {
    /// Held after, not before; sorted by user, permission and scope; at
    /// most 1000.
    pub gained: Vec<AccessView>,
    /// Held before, not after; at most 1000.
    pub lost: Vec<AccessView>,
    /// Whether either list was cut at 1000.
    pub truncated: bool,
}

/// Answer of `POST /v1/what-if`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatIfResponse {
    /// The committed revision the what-if started from.
    pub base_revision: u64,
    /// The revision the requests would have reached (one more per request
    /// that changed something).
    pub revision: u64,
    /// One per request run, in order; the last one failed when the
    /// sequence ended early.
    pub results: Vec<PreviewResult>,
    /// The checks, in order, on the state the requests reached.
    pub checks: Vec<BatchResult>,
    pub impact: ImpactView,
}

/// A request checked and ready to send.
#[derive(Debug)]
struct Prepared {
    method: Method,
    path: PathAndQuery,
    headers: HeaderMap,
    body: Option<Box<RawValue>>,
}

/// Answer a sequence of write requests and checks as if committed; commit nothing.
#[utoipa::path(
    post,
    path = "/v1/what-if",
    operation_id = "what_if",
    tag = "authz",
    request_body = WhatIfRequest,
    responses(
        (status = 200, body = WhatIfResponse, description = "The answers, the checks and the impact; nothing was committed."),
        (status = 403, body = Problem, description = "The caller does not hold `authz:check` over its organization, or may not ask a check."),
        (status = 404, body = Problem, description = "A check's target is unknown or out of reach."),
        (status = 503, body = Problem, description = "The revision asked for is committed but not yet reached; retry after `Retry-After`."),
    )
)]
pub async fn what_if(
    State(s): State<AppState>,
    caller: Caller<Native>,
    headers: HeaderMap,
    Json(b, _): Json<WhatIfRequest, Native>,
) -> Result<Response, ApiError> {
    if s.sandbox().is_some() {
        return Err(ApiError::bad_request(
            "path",
            "a what-if cannot be previewed inside a what-if",
        ));
    }
    if b.requests.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(
            "requests",
            format!("at most {MAX_REQUESTS} requests per what-if"),
        ));
    }
    if b.checks.len() > MAX_CHECKS {
        return Err(ApiError::bad_request(
            "checks",
            format!("at most {MAX_CHECKS} checks per what-if"),
        ));
    }
    let prepared = b
        .requests
        .into_iter()
        .enumerate()
        .map(|(i, r)| prepare(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let presented = auth::presented(&headers, Native::CREDENTIALS)?;
    let min = b.checks.iter().filter_map(|c| c.min_revision).max();
    let base = model_at(&s, min).await?;
    Asker::new(&base, &caller.actor).what_if()?;

    let (state, sandbox) = s.sandboxed(base.clone());
    let app = crate::router(state);
    let request_id = RequestInfo::current().request_id;
    let mut results = Vec::with_capacity(prepared.len());
    for p in prepared {
        let req = p.into_request(&presented, &request_id);
        let answer = sandbox::send(&app, req).await?;
        let failed = !answer.status.is_success();
        results.push(result(answer));
        if failed {
            break;
        }
    }

    let after = sandbox.model();
    let asker = Asker::new(&after, &caller.actor);
    let now = Moment::now();
    let mut checks = Vec::with_capacity(b.checks.len());
    for (i, c) in b.checks.iter().enumerate() {
        let q = question(&asker, c, Some(i))?;
        let d = authz::answer(&after, &q, now);
        checks.push(BatchResult {
            allowed: d.allowed(),
            explanation: c.explain.then(|| explain(&d)),
        });
    }

    // Only users the caller may know of, before or after (SPEC §2.10).
    let before_asker = Asker::new(&base, &caller.actor);
    let users: Vec<UserId> = touched_users(&base, &after, &sandbox.changes())
        .into_iter()
        .filter(|u| asker.sees_user(*u) || before_asker.sees_user(*u))
        .collect();
    let impact = impact_of(&base, &after, &users, IMPACT_CAP, now);
    let view = |a: &Access| access_view(&base, &after, a);
    let body = WhatIfResponse {
        base_revision: base.revision(),
        revision: after.revision(),
        results,
        checks,
        impact: ImpactView {
            gained: impact.gained.iter().map(view).collect(),
            lost: impact.lost.iter().map(view).collect(),
            truncated: impact.truncated,
        },
    };
    Ok(with_revision(
        axum::Json(body).into_response(),
        base.revision(),
    ))
}

/// Checks request `i` of a what-if: its path (relative, not one that
/// cannot be previewed, no `dry_run`) and headers.
fn prepare(i: usize, r: PreviewRequest) -> Result<Prepared, ApiError> {
    let field = |name: &str| format!("requests[{i}].{name}");
    let bad_path = |m: &str| ApiError::bad_request(field("path"), m);
    if !r.path.starts_with('/') || r.path.starts_with("//") {
        return Err(bad_path(
            "must be a path on this server, starting with a single `/`",
        ));
    }
    let path: PathAndQuery = r
        .path
        .parse()
        .map_err(|_| bad_path("not a valid path and query"))?;
    if NOT_PREVIEWED.contains(&path.path()) {
        return Err(bad_path("this endpoint cannot be previewed"));
    }
    if path.query().is_some_and(|q| dry_run_value(q).is_some()) {
        return Err(bad_path("`dry_run` has no place inside a what-if"));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in r.headers.unwrap_or_default() {
        let name: HeaderName = name.parse().map_err(|_| {
            ApiError::bad_request(
                field("headers"),
                format!("`{}` is not a header name", roster_domain::truncate(&name)),
            )
        })?;
        let named = || field(&format!("headers.{name}"));
        if SET_BY_SERVER.contains(&name.as_str()) {
            return Err(ApiError::bad_request(named(), "set by the server"));
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| ApiError::bad_request(named(), "not a valid header value"))?;
        headers.append(name, value);
    }
    Ok(Prepared {
        method: r.method.into(),
        path,
        headers,
        body: r.body,
    })
}

impl Prepared {
    /// The request to send into the sandbox, acting with `presented` under
    /// the what-if's request id.
    fn into_request(self, presented: &Presented, request_id: &str) -> Request {
        let mut req = Request::new(match &self.body {
            Some(b) => Body::from(b.get().to_owned()),
            None => Body::empty(),
        });
        *req.method_mut() = self.method;
        *req.uri_mut() = Uri::from(self.path);
        *req.headers_mut() = self.headers;
        if self.body.is_some() && !req.headers().contains_key(header::CONTENT_TYPE) {
            req.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Ok(id) = HeaderValue::from_str(request_id) {
            req.headers_mut().insert(REQUEST_ID, id);
        }
        req.extensions_mut().insert(presented.clone());
        req
    }
}

/// A sandbox's answer as a what-if result.
fn result(a: sandbox::Answer) -> PreviewResult {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &a.headers {
        if name == header::CONTENT_LENGTH || name.as_str() == REQUEST_ID {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = if a.body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&a.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&a.body).into_owned())
        })
    };
    PreviewResult {
        status: a.status.as_u16(),
        headers,
        body,
    }
}

/// An impact entry as the API shows it: the permission by code (as after
/// the requests, else as before: it may have been removed).
fn access_view(before: &Model, after: &Model, a: &Access) -> AccessView {
    let code = after
        .permission(a.permission)
        .or_else(|| before.permission(a.permission))
        .map(|p| p.code.to_string())
        .unwrap_or_default();
    AccessView {
        user_id: a.user.to_string(),
        permission: code,
        permission_id: a.permission.to_string(),
        scope: ScopeView::from(&a.scope),
    }
}

// ----- ?dry_run=true ---------------------------------------------------------

/// The raw values of `dry_run` in query string `q`, if it names it.
fn dry_run_value(q: &str) -> Option<Vec<String>> {
    let values: Vec<String> = form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| k == DRY_RUN)
        .map(|(_, v)| v.into_owned())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Whether `uri` asks for a dry run (`None`: it does not say), and the URI
/// without `dry_run`, as the handler must see it.
fn dry_run_of(uri: &Uri) -> Result<(Option<bool>, Uri), ApiError> {
    let Some(q) = uri.query() else {
        return Ok((None, uri.clone()));
    };
    let Some(values) = dry_run_value(q) else {
        return Ok((None, uri.clone()));
    };
    let wanted = match values.as_slice() {
        [v] if v == "true" => true,
        [v] if v == "false" => false,
        [_] => return Err(ApiError::bad_request(DRY_RUN, "must be `true` or `false`")),
        _ => return Err(ApiError::bad_request(DRY_RUN, "given more than once")),
    };
    let rest: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(q.as_bytes()).filter(|(k, _)| k != DRY_RUN))
        .finish();
    let path_and_query = if rest.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{rest}", uri.path())
    };
    let uri = path_and_query
        .parse()
        .map_err(|_| ApiError::bad_request("query", "malformed query string"))?;
    Ok((Some(wanted), uri))
}

/// Middleware of the native routes: `?dry_run=true` on a write answers it
/// as a one-request what-if (the same status, headers and body as for
/// real, plus `Roster-Dry-Run: true`, nothing committed); `?dry_run=false`
/// is the real request. Any other value is a `400`.
pub async fn dry_run(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    match dry_run_of(req.uri()) {
        Ok((None, _)) => next.run(req).await,
        Ok((Some(false), uri)) => {
            *req.uri_mut() = uri;
            next.run(req).await
        }
        Ok((Some(true), uri)) => match preview(&s, req, uri).await {
            Ok(resp) => resp,
            Err(e) => SurfaceError::<Native>::from(e).into_response(),
        },
        Err(e) => SurfaceError::<Native>::from(e).into_response(),
    }
}

/// Runs one native write in a sandbox, as its caller.
async fn preview(s: &AppState, req: Request, uri: Uri) -> Result<Response, ApiError> {
    if s.sandbox().is_some() {
        return Err(ApiError::bad_request(
            DRY_RUN,
            "`dry_run` has no place inside a what-if",
        ));
    }
    let writes = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    if !writes.contains(req.method()) {
        return Err(ApiError::bad_request(
            DRY_RUN,
            "only writes (POST, PUT, PATCH, DELETE) have a dry run",
        ));
    }
    if NOT_PREVIEWED.contains(&uri.path()) {
        return Err(ApiError::bad_request(
            DRY_RUN,
            "this endpoint has no dry run",
        ));
    }
    let (mut parts, body) = req.into_parts();
    let caller = auth::resolve(s, &parts, Native::CREDENTIALS).await?;
    let presented = auth::presented(&parts.headers, Native::CREDENTIALS)?;
    let base: Arc<Model> = s.engine.snapshot();
    Asker::new(&base, &caller.actor).what_if()?;
    let (state, _sandbox) = s.sandboxed(base);
    parts.uri = uri;
    parts.headers.remove(header::AUTHORIZATION);
    parts.extensions.insert(presented);
    let mut resp = crate::router(state)
        .oneshot(Request::from_parts(parts, body))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    resp.headers_mut()
        .insert(DRY_RUN_HEADER, HeaderValue::from_static("true"));
    Ok(resp)
}
