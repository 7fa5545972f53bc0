//! The event feed, read from the database: `GET /v1/events` (a page, or a
//! long poll with `wait`) and `GET /v1/events/stream` (Server-Sent Events,
//! resumable with `Last-Event-ID`). Both show what the audit list shows the
//! caller (`ops::audit_organizations`: `audit:read` over the organization;
//! Roster-wide events only to a caller who may read every organization),
//! in `seq` order, never skipping one: `seq` is given under the write lock
//! in commit order without gaps, so "every event after the last one seen"
//! is exact, whichever replica committed it.

use super::views::{EventPage, EventView};
use super::Native;
use crate::auth;
use crate::conn::Draining;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use crate::surface::paging::limit;
use crate::surface::write::ctx;
use crate::surface::{parse_id, Caller, Query, Surface};
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Extension;
use futures::Stream;
use roster_domain::{event, ops, Context, Draft, Event, OrganizationId, Revision};
use roster_store::EventFilter;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// Longest `wait` of a long poll, in seconds.
pub const MAX_WAIT: u64 = 30;

/// How often an idle stream sends a comment (`:heartbeat`), so proxies and
/// clients see it alive.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Most events a stream reads from the database at once (and holds).
pub const STREAM_PAGE: u32 = 100;

/// How often a waiting long poll or stream looks at the database even when
/// the revision has not moved: another replica's commit reaches this
/// process's revision only when its follower catches up.
const REPOLL: Duration = Duration::from_secs(2);

/// How often a stream makes sure its credential still holds (a revoked key,
/// a disabled user, a lost `audit:read` end it).
const REAUTHENTICATE: Duration = Duration::from_secs(10);

/// Pause of a stream after a failed read of the database.
const RETRY: Duration = Duration::from_secs(1);

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only events with a greater `seq` (default 0: from the oldest kept).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Only events of these types, comma-separated (e.g.
    /// `access.changed,grant.created`).
    pub types: Option<String>,
    /// Only events of this organization.
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
    /// 1..1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Seconds to wait for an event when there is none yet (0..30, default
    /// 0): the answer comes as soon as one is committed.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    pub wait: Option<String>,
}

/// Query of `GET /v1/events/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this `seq` (the `Last-Event-ID` header, which a
    /// reconnecting `EventSource` sends, takes precedence).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Only events of these types, comma-separated.
    pub types: Option<String>,
    /// Only events of this organization.
    #[param(value_type = Option<uuid::Uuid>)]
    pub organization_id: Option<String>,
}

/// A `seq` given by the client (`after`, `Last-Event-ID`).
fn seq(field: &str, raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(0),
        Some(r) => match r.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(ApiError::bad_request(
                field,
                "must be an event's `seq`: a whole number, 0 or more",
            )),
        },
    }
}

/// `types`: known event types, comma-separated (`None`: every type).
fn types(raw: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let mut out: Vec<String> = Vec::new();
    for t in raw.split(',').map(str::trim) {
        if !event::TYPES.contains(&t) {
            return Err(ApiError::bad_request(
                "types",
                format!(
                    "`{}` is not an event type (see `docs/events.md`)",
                    roster_domain::truncate(t)
                ),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    Ok(Some(out))
}

/// `wait`: 0..=[`MAX_WAIT`] seconds.
fn wait(raw: Option<&str>) -> Result<Duration, ApiError> {
    match raw.map(|r| r.trim().parse::<u64>()) {
        None => Ok(Duration::ZERO),
        Some(Ok(s)) if s <= MAX_WAIT => Ok(Duration::from_secs(s)),
        Some(_) => Err(ApiError::bad_request(
            "wait",
            format!("must be a whole number of seconds from 0 to {MAX_WAIT}"),
        )),
    }
}

fn organization(raw: Option<&str>) -> Result<Option<OrganizationId>, ApiError> {
    raw.map(|o| parse_id::<OrganizationId>("organization_id", o))
        .transpose()
}

/// The organizations whose events `ctx`'s actor may read (`None`: all, and
/// Roster-wide events), as the audit list decides.
fn visible(
    s: &AppState,
    ctx: &Context,
    organization: Option<OrganizationId>,
) -> Result<Option<Vec<OrganizationId>>, ApiError> {
    let m = s.engine.snapshot();
    Ok(ops::audit_organizations(
        &Draft::new(&m, ctx),
        organization,
    )?)
}

/// Events of the feed the caller may read (`audit:read` over their
/// organization), by `seq`. With `wait`, a long poll: the answer comes at
/// once when there are events after `after`, else as soon as one is
/// committed, else empty after `wait` seconds.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "list_events",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, body = EventPage, description = "The events after `after` (possibly none)."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<EventsQuery, Native>,
    draining: Option<Extension<Draining>>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let limit = limit(q.limit)?;
    let after = seq("after", q.after.as_deref())?;
    let types = types(q.types.as_deref())?;
    let wait = wait(q.wait.as_deref())?;
    let organization = organization(q.organization_id.as_deref())?;
    let organization_ids = visible(&s, &ctx(&caller), organization)?;
    let filter = EventFilter {
        after,
        organization_ids,
        types,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
    };
    let deadline = Instant::now() + wait;
    let mut revisions = s.revisions.clone();
    let mut draining = draining.map(|Extension(d)| d);
    loop {
        // Seen before the read: a commit after it wakes the wait below.
        revisions.borrow_and_update();
        let items = s.store.events(&filter).await?;
        let now = Instant::now();
        if !items.is_empty() || now >= deadline {
            return Ok(axum::Json(page(items, after)));
        }
        let until = deadline.min(now + REPOLL);
        tokio::select! {
            changed = revisions.changed() => {
                if changed.is_err() {
                    // The writer has stopped: nothing more will come.
                    return Ok(axum::Json(page(Vec::new(), after)));
                }
            }
            () = tokio::time::sleep_until(until) => {}
            () = shutdown(&mut draining) => {
                return Ok(axum::Json(page(Vec::new(), after)));
            }
        }
    }
}

fn page(items: Vec<Event>, after: i64) -> EventPage {
    EventPage {
        next_after: items.last().map_or(after, |e| e.seq),
        items: items.iter().map(EventView::from).collect(),
    }
}

/// Resolves when the server begins shutting down (never without one).
async fn shutdown(draining: &mut Option<Draining>) {
    match draining {
        Some(d) => d.wait().await,
        None => std::future::pending().await,
    }
}

/// One Server-Sent Event of `GET /v1/events/stream`, as OpenAPI 3.1
/// documents an event stream: an object of the event's fields, `data`
/// holding an `EventView` as JSON (`contentMediaType` and
/// `contentSchema`). Heartbeats are comments, not events.
#[derive(Debug)]
pub struct StreamedEvent;

impl utoipa::PartialSchema for StreamedEvent {
    fn schema() -> RefOr<Schema> {
        let string = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let mut content = Extensions::default();
        content.insert(
            "contentSchema".to_owned(),
            serde_json::json!({ "$ref": "#/components/schemas/EventView" }),
        );
        ObjectBuilder::new()
            .property(
                "id",
                string("The event's `seq`: what `Last-Event-ID` takes to resume after it."),
            )
            .property("event", string("The event's type, e.g. `user.created`."))
            .property(
                "data",
                string("The event (`EventView`) as JSON.")
                    .content_media_type("application/json")
                    .extensions(Some(content)),
            )
            .required("id")
            .required("event")
            .required("data")
            .into()
    }
}

impl utoipa::ToSchema for StreamedEvent {}

/// The feed as Server-Sent Events: each event once, in `seq` order, as
/// `id: <seq>`, `event: <type>`, `data: <the event as JSON>`; a comment
/// every 15 s while idle. Resume after a disconnection with the last `id`
/// received as `Last-Event-ID` (or `after`). The stream ends when the
/// caller's credential stops holding or the server shuts down.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    operation_id = "stream_events",
    tag = "events",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this `seq` (what `EventSource` sends when it reconnects)."),
    ),
    responses(
        (status = 200, content_type = "text/event-stream", body = inline(StreamedEvent), description = "The stream of events, each described by this schema as OpenAPI 3.1 describes Server-Sent Events; its `data` is an `EventView` as JSON."),
        (status = 400, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
    )
)]
pub async fn stream(
    State(s): State<AppState>,
    caller: Caller<Native>,
    Query(q, _): Query<StreamQuery, Native>,
    headers: HeaderMap,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    draining: Option<Extension<Draining>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        Some(v) => seq("Last-Event-ID", Some(v.to_str().unwrap_or("-")))?,
        None => seq("after", q.after.as_deref())?,
    };
    let types = types(q.types.as_deref())?;
    let organization = organization(q.organization_id.as_deref())?;
    // Refused now, as the list would be, rather than as an empty stream.
    let organization_ids = visible(&s, &ctx(&caller), organization)?;
    let feed = Feed {
        revisions: s.revisions.clone(),
        credential: Credential {
            authorization: headers.get(header::AUTHORIZATION).cloned(),
            connect: connect.map(|Extension(c)| c),
        },
        caller: caller.0,
        organization,
        organization_ids,
        types,
        last: after,
        pending: VecDeque::new(),
        authenticated_at: Instant::now(),
        draining: draining.map(|Extension(d)| d),
        state: s,
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let e = feed.next().await?;
        Some((Ok(e), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// What the stream presents again to make sure the caller still may read.
#[derive(Debug)]
struct Credential {
    authorization: Option<header::HeaderValue>,
    connect: Option<ConnectInfo<SocketAddr>>,
}

impl Credential {
    /// A request's parts carrying the credential, for [`auth::resolve`].
    fn parts(&self) -> Parts {
        let (mut parts, ()) = axum::http::Request::new(()).into_parts();
        if let Some(a) = &self.authorization {
            parts.headers.insert(header::AUTHORIZATION, a.clone());
        }
        if let Some(c) = self.connect {
            parts.extensions.insert(c);
        }
        parts
    }
}

/// One stream's position and what it holds: at most one page of events.
struct Feed {
    state: AppState,
    revisions: watch::Receiver<Revision>,
    credential: Credential,
    caller: auth::Caller,
    organization: Option<OrganizationId>,
    organization_ids: Option<Vec<OrganizationId>>,
    types: Option<Vec<String>>,
    /// The `seq` of the last event sent (or the one to start after).
    // INVARIANT: every event the caller may see with a seq <= `last` has
    // been sent, or was before the start; `pending` holds the next ones,
    // in order, all > `last`.
    last: i64,
    pending: VecDeque<Event>,
    authenticated_at: Instant,
    draining: Option<Draining>,
}

impl Feed {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if self.draining.as_ref().is_some_and(Draining::started) {
                return None;
            }
            if let Some(e) = self.pending.pop_front() {
                self.last = e.seq;
                match sse(&e) {
                    Some(out) => return Some(out),
                    None => continue,
                }
            }
            if !self.still_allowed().await {
                return None;
            }
            // Seen before the read: a commit after it wakes the wait below.
            self.revisions.borrow_and_update();
            let filter = EventFilter {
                after: self.last,
                organization_ids: self.organization_ids.clone(),
                types: self.types.clone(),
                limit: STREAM_PAGE,
            };
            let wait = match self.state.store.events(&filter).await {
                Ok(events) if !events.is_empty() => {
                    self.pending.extend(events);
                    continue;
                }
                Ok(_) => REPOLL,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the event feed failed; retrying");
                    RETRY
                }
            };
            tokio::select! {
                changed = self.revisions.changed() => {
                    if changed.is_err() {
                        return None; // the writer has stopped
                    }
                }
                () = tokio::time::sleep(wait) => {}
                () = shutdown(&mut self.draining) => return None,
            }
        }
    }

    /// Whether the caller may still read the feed: every
    /// [`REAUTHENTICATE`], its credential is resolved again (a revoked or
    /// expired key, an inactive user end the stream) and what it may read
    /// computed again (it may have lost, or gained, organizations).
    async fn still_allowed(&mut self) -> bool {
        if self.authenticated_at.elapsed() < REAUTHENTICATE {
            return true;
        }
        let caller =
            match auth::resolve(&self.state, &self.credential.parts(), Native::CREDENTIALS).await {
                Ok(c) if c.user_id() == self.caller.user_id() => c,
                _ => return false,
            };
        let ctx = Context::user(caller.actor.clone(), None, OffsetDateTime::now_utc());
        match visible(&self.state, &ctx, self.organization) {
            Ok(orgs) => {
                self.organization_ids = orgs;
                self.caller = caller;
                self.authenticated_at = Instant::now();
                true
            }
            Err(_) => false,
        }
    }
}

/// An event as Server-Sent Event: `id` its `seq`, `event` its type, `data`
/// its JSON.
fn sse(e: &Event) -> Option<SseEvent> {
    let data = match serde_json::to_string(&EventView::from(e)) {
        Ok(d) => d,
        Err(err) => {
            tracing::warn!(error = %err, seq = e.seq, "an event could not be rendered; skipped");
            return None;
        }
    };
    let out = SseEvent::default().id(e.seq.to_string()).data(data);
    // Types are ours (`event::TYPES`); a line break would break the framing.
    Some(if e.kind.contains(['\n', '\r']) {
        out
    } else {
        out.event(&e.kind)
    })
}
