//! Slow and stalled clients, through a real socket (SPEC §2.9): they are cut
//! off in bounded time — while sending headers, a body, or not reading the
//! answer — a stalled body is `408` in each surface's own error shape and
//! changes nothing, and none of them keeps `serve` from returning after
//! shutdown. The bounds are shortened through `ServeOptions` and `Config`;
//! every `timeout` here is a hang guard, never a timing assertion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use crate::support::common;

use common::{each_backend_with, TestApp};
use roster_server::{Config, ServeOptions};
use roster_store::testing::TestDatabase;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Longest any step may take before the test calls it a hang.
const GUARD: Duration = Duration::from_secs(30);

/// A bound short enough to keep the suite quick.
const SHORT: Duration = Duration::from_secs(1);

/// A bound the test never reaches.
const LONG: Duration = Duration::from_secs(120);

/// A server on `127.0.0.1:0`, stopped by [`Server::stop`] (or when dropped).
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(app: &TestApp, options: ServeOptions) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(roster_server::serve_with(
        listener,
        app.router.clone(),
        shutdown,
        options,
    ));
    Server { addr, stop, task }
}

impl Server {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Resolves the shutdown future; `serve` must then return.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(GUARD, self.task)
            .await
            .expect("serve returned after shutdown")
            .expect("serve did not panic")
            .expect("serve returned Ok");
    }
}

/// An app on SQLite, for tests that never touch the store.
async fn sqlite_app(config: Config) -> TestApp {
    TestApp::with_config(TestDatabase::sqlite().unwrap(), config).await
}

/// Options with every bound `SHORT`.
fn short() -> ServeOptions {
    ServeOptions {
        header_read_timeout: SHORT,
        send_timeout: SHORT,
        shutdown_grace: SHORT,
        connections: None,
    }
}

/// Reads until the server closes the connection (end of stream or reset);
/// returns what arrived. Panics if it is still open after [`GUARD`].
async fn closed(s: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the server closed the connection");
    got
}

/// One HTTP/1.1 response read off a socket.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (every answer here has a `Content-Length`).
async fn response(s: &mut TcpStream) -> RawResponse {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before a response: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed in the middle of a body");
            body.extend_from_slice(&chunk[..n]);
        }
        RawResponse {
            status: status.parse().unwrap(),
            headers,
            body: serde_json::from_slice(&body[..len]).unwrap_or(Value::Null),
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("a response arrived")
}

/// Sends a GET and reads its answer, keeping the connection open.
async fn get(s: &mut TcpStream, path: &str) -> RawResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: roster\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    response(s).await
}

/// Request head for a JSON body of `len` bytes.
fn head(method: &str, path: &str, headers: &[(&str, &str)], len: usize) -> String {
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: roster\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// (a) A client that sends part of its headers and then nothing is
/// disconnected.
#[tokio::test]
async fn partial_headers_then_silence_are_cut_off() {
    let app = sqlite_app(Config::default()).await;
    let server = start(&app, short()).await;
    let mut s = server.connect().await;
    s.write_all(b"POST /v1/organizations HTTP/1.1\r\nHost: roster\r\nContent-Ty")
        .await
        .unwrap();
    let got = closed(&mut s).await;
    assert!(
        !got.starts_with(b"HTTP/1.1 2"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    server.stop().await;
}

/// The header bound covers the whole header section: a client trickling
/// it a byte at a time (slowloris) is cut off too.
#[tokio::test]
async fn headers_trickled_a_byte_at_a_time_are_cut_off() {
    let app = sqlite_app(Config::default()).await;
    let server = start(&app, short()).await;
    let s = server.connect().await;
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        let mut bytes = b"GET /healthz HTTP/1.1\r\nHost: roster\r\nX-Slow: "
            .iter()
            .copied()
            .chain(std::iter::repeat(b'a'));
        loop {
            let b = bytes.next().unwrap();
            if wr.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(closed(&mut rd).await.is_empty());
    trickle.abort();
    server.stop().await;
}

/// An idle keep-alive connection is closed after the header bound too (the
/// wait for the next request's headers starts with the previous answer).
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = sqlite_app(Config::default()).await;
    let server = start(&app, short()).await;
    let mut s = server.connect().await;
    let r = get(&mut s, "/healthz").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(r.header("connection"), Some("close"), "{r:?}");
    // Still open for a second request on the same connection...
    let r = get(&mut s, "/healthz").await;
    assert_eq!(r.status, 200, "{r:?}");
    // ...and closed once it idles past the bound.
    assert!(closed(&mut s).await.is_empty());
    server.stop().await;
}

/// (b) A stalled connection does not keep `serve` from returning: after the
/// grace period the connections left are closed. The header bound is far
/// away, so only the grace period can end the stalled connection.
#[tokio::test]
async fn shutdown_is_not_held_by_a_stalled_client() {
    let app = sqlite_app(Config::default()).await;
    let server = start(
        &app,
        ServeOptions {
            header_read_timeout: LONG,
            send_timeout: LONG,
            shutdown_grace: SHORT,
            connections: None,
        },
    )
    .await;
    let mut stalled = server.connect().await;
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rost")
        .await
        .unwrap();
    let mut idle = server.connect().await;
    assert_eq!(get(&mut idle, "/healthz").await.status, 200);
    let mut silent = server.connect().await;
    // The server has accepted all three by the time it answers this one.
    assert_eq!(
        get(&mut server.connect().await, "/healthz").await.status,
        200
    );
    server.stop().await;
    for s in [&mut stalled, &mut idle, &mut silent] {
        assert!(closed(s).await.is_empty());
    }
}

/// A graceful shutdown finishes the request in flight — here one whose body
/// is still arriving — while idle connections close at once: with a grace
/// period and header bound beyond the hang guard, `serve` returns only
/// because nothing else holds it.
#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let config = Config {
        body_read_timeout: LONG,
        ..Config::default()
    };
    each_backend_with(config, |app| async move {
        let server = start(
            &app,
            ServeOptions {
                header_read_timeout: LONG,
                send_timeout: LONG,
                shutdown_grace: LONG,
                connections: None,
            },
        )
        .await;
        let mut idle = server.connect().await;
        assert_eq!(get(&mut idle, "/healthz").await.status, 200);
        let revision = app.state.engine.revision();
        let body = json!({ "name": "Finished During Shutdown" }).to_string();
        let bearer = format!("Bearer {}", app.owner);
        let mut inflight = server.connect().await;
        let h = head(
            "POST",
            "/v1/organizations",
            &[("Authorization", bearer.as_str())],
            body.len(),
        );
        inflight.write_all(h.as_bytes()).await.unwrap();
        inflight.write_all(&body.as_bytes()[..10]).await.unwrap();
        // Let the handler start waiting for the rest of the body.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stop = tokio::spawn(server.stop());
        tokio::time::sleep(Duration::from_millis(300)).await;
        inflight.write_all(&body.as_bytes()[10..]).await.unwrap();
        let r = response(&mut inflight).await;
        assert_eq!(r.status, 201, "{r:?}");
        assert_eq!(r.body["name"], "Finished During Shutdown", "{r:?}");
        assert_eq!(r.header("connection"), Some("close"), "{r:?}");
        stop.await.unwrap();
        assert!(app.state.engine.revision() > revision);
        for s in [&mut idle, &mut inflight] {
            assert!(closed(s).await.is_empty());
        }
    })
    .await;
}

/// A client that stops reading its answers is cut off once the server's
/// writes make no progress for the send bound. Pipelined requests for a
/// large document (50 KB) fill the socket buffers (a few MB); without the
/// bound the server would wait and, once read, deliver every answer.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    const REQUESTS: usize = 1000;
    let app = sqlite_app(Config::default()).await;
    let server = start(
        &app,
        ServeOptions {
            header_read_timeout: Duration::from_secs(5),
            ..short()
        },
    )
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(server.addr).await.unwrap();
    let one = get(&mut s, "/openapi.json").await;
    assert_eq!(one.status, 200);
    assert!(one.body.is_object(), "{one:?}");
    let req = "GET /openapi.json HTTP/1.1\r\nHost: roster\r\n\r\n".repeat(REQUESTS);
    let (mut rd, mut wr) = s.into_split();
    // Written from a task: a stalled server stops reading too, so the write
    // may not complete. The write half stays open (no end of stream) in the
    // task's output.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(req.as_bytes()).await;
        wr
    });
    // Not reading, for longer than the send bound.
    tokio::time::sleep(SHORT * 4).await;
    let got = closed(&mut rd).await;
    writer.abort();
    let answers = got.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
    assert!(
        answers < REQUESTS,
        "all {REQUESTS} answers were delivered: the stalled connection was kept"
    );
    server.stop().await;
}

/// How each surface is asked to read a body that stalls.
struct Stalled {
    surface: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
}

/// (c, d) A body that stops arriving is answered `408` in the surface's own
/// error shape — the native API and each dialect — the connection is then
/// closed, and nothing is written.
#[tokio::test]
async fn a_stalled_body_is_408_in_each_surfaces_shape_and_changes_nothing() {
    let config = Config {
        body_read_timeout: SHORT,
        ..Config::default()
    };
    each_backend_with(config, |app| async move {
        let server = start(&app, ServeOptions::default()).await;
        let key = app
            .post(
                "/v1/api-keys",
                &app.owner,
                json!({ "user_id": app.owner_id, "name": "yuno" }),
            )
            .await;
        assert_eq!(key.status, 201, "{}", key.body);
        let (key_id, secret) = (key.str("key_id"), key.str("key"));
        let before = app.audit_count().await;
        let revision = app.state.engine.revision();
        let id = uuid::Uuid::new_v4().to_string();
        let bearer = format!("Bearer {}", app.owner);
        let cases = [
            Stalled {
                surface: "native",
                method: "POST",
                path: "/v1/organizations".into(),
                headers: vec![("Authorization", bearer.clone())],
            },
            Stalled {
                surface: "yuno",
                method: "PATCH",
                path: format!("/compat/yuno/v1/organizations/users/{id}/account-permissions"),
                headers: vec![
                    ("PUBLIC-API-KEY", key_id.clone()),
                    ("PRIVATE-SECRET-KEY", secret.clone()),
                ],
            },
            Stalled {
                surface: "crux",
                method: "PATCH",
                path: format!("/compat/crux/organizations/users/permissions/{id}/"),
                headers: vec![("Authorization", format!("Token {}", app.owner))],
            },
            Stalled {
                surface: "fynn",
                method: "PUT",
                path: format!("/compat/fynn/accounts/{id}/role"),
                headers: vec![("Authorization", bearer.clone())],
            },
            Stalled {
                surface: "softwareone",
                method: "PUT",
                path: format!(
                    "/compat/softwareone/public/v1/accounts/accounts/{}/users/{}",
                    app.ops_account, app.owner_id
                ),
                headers: vec![("Authorization", bearer.clone())],
            },
            Stalled {
                surface: "lexful",
                method: "PATCH",
                path: format!("/compat/lexful/v1/users/{}", app.owner_id),
                headers: vec![
                    ("Authorization", bearer.clone()),
                    ("X-Account-ID", app.ops_account.clone()),
                ],
            },
        ];
        let answers = futures::future::join_all(cases.iter().map(|c| async {
            let mut s = server.connect().await;
            let headers: Vec<(&str, &str)> =
                c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            // 100 bytes announced, 13 sent, then nothing.
            s.write_all(head(c.method, &c.path, &headers, 100).as_bytes())
                .await
                .unwrap();
            s.write_all(br#"{"name":"Sta"#).await.unwrap();
            let r = response(&mut s).await;
            // The rest of the body may still come: the connection is done.
            assert_eq!(
                r.header("connection"),
                Some("close"),
                "{}: {r:?}",
                c.surface
            );
            let rest = closed(&mut s).await;
            assert!(rest.is_empty(), "{}", c.surface);
            r
        }))
        .await;
        for (c, r) in cases.iter().zip(&answers) {
            let (surface, b) = (c.surface, &r.body);
            assert_eq!(r.status, 408, "{surface}: {r:?}");
            let ct = r.header("content-type").unwrap_or_default();
            let mut members: Vec<&str> = b
                .as_object()
                .unwrap_or_else(|| panic!("{surface}: {r:?}"))
                .keys()
                .map(String::as_str)
                .collect();
            members.sort_unstable();
            match surface {
                "native" => {
                    assert_eq!(ct, "application/problem+json", "{r:?}");
                    assert_eq!(b["status"], 408, "{r:?}");
                    assert_eq!(b["error_code"], "request_timeout", "{r:?}");
                    assert_eq!(b["errors"][0]["field"], "body", "{r:?}");
                }
                "yuno" => {
                    assert_eq!(members, ["code", "messages"], "{r:?}");
                    assert_eq!(b["code"], "REQUEST_TIMEOUT", "{r:?}");
                    assert!(b["messages"][0].is_string(), "{r:?}");
                }
                "crux" => {
                    assert_eq!(members, ["detail"], "{r:?}");
                    assert!(b["detail"].is_string(), "{r:?}");
                }
                "fynn" => {
                    assert_eq!(ct, "application/problem+json", "{r:?}");
                    assert_eq!(b["status"], 408, "{r:?}");
                    assert_eq!(b["type"], "/errors/408", "{r:?}");
                    assert_eq!(b["title"], "An error occurred", "{r:?}");
                }
                "softwareone" => {
                    assert_eq!(ct, "application/json", "{r:?}");
                    assert_eq!(b["status"], 408, "{r:?}");
                    assert_eq!(
                        b["type"], "https://tools.ietf.org/html/rfc9110#section-15.5.9",
                        "{r:?}"
                    );
                    assert!(b["errors"].is_object(), "{r:?}");
                    assert!(b["traceId"].is_string(), "{r:?}");
                }
                "lexful" => {
                    assert_eq!(
                        members,
                        [
                            "developer_message",
                            "error_code",
                            "error_id",
                            "message",
                            "status"
                        ],
                        "{r:?}"
                    );
                    assert_eq!(b["status"], 408, "{r:?}");
                    assert_eq!(b["error_code"], "request_timeout", "{r:?}");
                }
                other => panic!("no shape for {other}"),
            }
        }
        assert_eq!(app.state.engine.revision(), revision);
        assert_eq!(app.audit_count().await, before);
        server.stop().await;
    })
    .await;
}

/// The body bound is for the whole body, not between bytes: a body
/// trickled slowly enough is `408` too, and its write does not happen.
#[tokio::test]
async fn a_trickled_body_is_408() {
    let config = Config {
        body_read_timeout: SHORT,
        ..Config::default()
    };
    let app = sqlite_app(config).await;
    let server = start(&app, ServeOptions::default()).await;
    let revision = app.state.engine.revision();
    let body = json!({ "name": "Trickled" }).to_string();
    let bearer = format!("Bearer {}", app.owner);
    let s = server.connect().await;
    let (mut rd, mut wr) = s.into_split();
    let h = head(
        "POST",
        "/v1/organizations",
        &[("Authorization", bearer.as_str())],
        body.len(),
    );
    wr.write_all(h.as_bytes()).await.unwrap();
    // Stops once the answer starts, so as not to write into a closed
    // connection (whose reset could discard the answer unread).
    let (answered, mut stop) = oneshot::channel::<()>();
    let trickle = tokio::spawn(async move {
        for b in body.bytes() {
            if stop.try_recv() != Err(oneshot::error::TryRecvError::Empty)
                || wr.write_all(&[b]).await.is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(GUARD, rd.read(&mut answer))
        .await
        .expect("the server answered")
        .unwrap();
    let _ = answered.send(());
    trickle.await.unwrap();
    answer.truncate(n);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.state.engine.revision(), revision);
    server.stop().await;
}
