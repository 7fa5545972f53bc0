//! Connections: the accept loop that serves the router over HTTP/1, with
//! every way a client can hold a connection bounded in time (SPEC §2.9) —
//! sending its headers, reading its responses — and a graceful shutdown
//! that waits a bounded time for requests in flight, then closes the rest.
//! Long-lived answers (the event stream, a long poll) learn of the shutdown
//! through [`Draining`] and end at once rather than hold it for its grace.
//! (How long a request body may take is the body reader's bound, see
//! [`crate::surface::body::read_body`].)

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt;

/// Longest a client may take to send a request's headers, counted from the
/// moment the server waits for them: on a new connection from its start, on
/// a kept-alive one from the previous response. So an idle keep-alive
/// connection is closed after this long too, and a client trickling its
/// headers a byte at a time is cut off.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a response write may make no progress (the client has stopped
/// reading) before the connection is closed.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a graceful shutdown waits for requests in flight before it
/// closes the connections still open.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed accept that is not about one connection (out of
/// file descriptors, say), so the loop does not spin while it lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Whether the server has begun shutting down, in every request's
/// extensions when it is served by [`serve_with`] (absent when the router
/// is driven some other way, e.g. `oneshot` in tests). A response that
/// could last (an event stream, a long poll) ends when it fires, so that a
/// graceful shutdown finishes the requests in flight instead of waiting out
/// its grace for them.
#[derive(Clone, Debug)]
pub struct Draining(watch::Receiver<bool>);

impl Draining {
    /// Whether the shutdown has begun (or the server is gone).
    pub fn started(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once the shutdown has begun (or the server is gone).
    pub async fn wait(&mut self) {
        // An error means the sender is gone: the server has stopped.
        let _ = self.0.wait_for(|draining| *draining).await;
    }
}

/// The connection-level bounds [`serve_with`] applies; the defaults are the
/// `const`s of this module.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// See [`SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// Counts the open connections (the server's
    /// [`crate::metrics::Metrics::connections`]).
    pub connections: Option<prometheus_client::metrics::gauge::Gauge>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            send_timeout: SEND_TIMEOUT,
            shutdown_grace: SHUTDOWN_GRACE,
            connections: None,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, with the default
/// [`ServeOptions`]; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, app, shutdown, ServeOptions::default()).await
}

/// Serves `app` on `listener` until `shutdown` resolves. Then it stops
/// accepting, lets each connection finish the request it is serving (idle
/// ones close at once), waits at most `options.shutdown_grace` for them,
/// closes whatever is still open and returns.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> io::Result<()> {
    // HTTP/1 only, as before (axum is built without `http2`); keep-alive on.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let (drain, draining) = watch::channel(false);
    // Owns every connection task, so that those left after the grace period
    // are aborted (and their sockets closed) rather than left running.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let io = SendTimeout::new(TokioIo::new(stream), options.send_timeout);
                    // The client's address, for throttling failed
                    // authentications per address (axum's `ConnectInfo`),
                    // and the shutdown signal for long-lived answers.
                    let draining = Draining(draining.clone());
                    let app = app.clone().map_request(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req.extensions_mut().insert(draining.clone());
                        req
                    });
                    let conn = http.serve_connection(io, TowerToHyperService::new(app));
                    let conn = graceful.watch(conn);
                    let open = options
                        .connections
                        .as_ref()
                        .map(crate::metrics::ConnectionGuard::open);
                    connections.spawn(async move {
                        let _open = open;
                        // Timeouts and resets end connections with an error:
                        // routine, not worth more than a debug line.
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection closed");
                        }
                    });
                }
                // A connection that went away before it was accepted.
                Err(e) if is_connection_error(&e) => {}
                // Out of file descriptors and the like: keep serving the
                // connections there are, and try again shortly.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    // Event streams and long polls end now; other requests finish.
    drain.send_replace(true);
    let open = graceful.count();
    tracing::info!(
        connections = open,
        grace_s = options.shutdown_grace.as_secs_f64(),
        "stopped accepting; finishing requests in flight"
    );
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = connections.len(),
            "closing connections still open after the grace period"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Errors of `accept` that concern one connection only.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection's socket whose writes fail once they have made no progress
/// for `timeout`: a client that stops reading its responses is cut off
/// rather than holding the connection (hyper has no write timeout).
#[derive(Debug)]
struct SendTimeout<I> {
    io: I,
    timeout: Duration,
    /// Armed when a write is pending; disarmed by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> SendTimeout<I> {
    fn new(io: I, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            stalled: None,
        }
    }

    /// Passes a write's outcome on, failing it once the write has been
    /// pending for `timeout`.
    fn bound<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I: Read + Unpin> Read for SendTimeout<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for SendTimeout<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.bound(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.bound(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.bound(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.bound(cx, r)
    }
}
