//! The `roster` binary end to end: `init --json`, `migrate`, `serve` (the
//! key printed once, graceful SIGTERM), and durability: a write the server
//! acknowledged survives `kill -9` and a restart, on SQLite and, when
//! `ROSTER_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database; an
//! expired grant is ignored across `kill -9` and restarts with
//! `--no-expiry-sweep`, then removed by the sweeper of a server without it.
//!
//! Export, import and backup are in `cli/transfer.rs`.
//!
//! The server is driven through a real socket with a tiny HTTP/1.1 client
//! over `std::net::TcpStream` (no HTTP client dependency).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "cli/transfer.rs"]
mod transfer;

use roster_store::testing::{test_databases, TestDatabase};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn roster() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roster"));
    c.env_remove("ROSTER_DATABASE_URL")
        .env_remove("ROSTER_LISTEN")
        .env_remove("ROSTER_LOG_FORMAT")
        .env_remove("ROSTER_EVENT_RETENTION")
        .env("RUST_LOG", "info");
    c
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("addr").port()
}

// ----- a minimal HTTP/1.1 client ---------------------------------------------

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

fn decode_chunked(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(pos) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_line = String::from_utf8_lossy(&data[..pos]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        data = &data[pos + 2..];
        if size == 0 || data.len() < size {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", payload.len());
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut data = raw[split + 4..].to_vec();
    if head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    }) {
        data = decode_chunked(&data);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let body = if data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&data).into_owned()))
    };
    Ok(Reply { status, body })
}

// ----- a served process -------------------------------------------------------

/// A running `roster serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `roster serve` on `database` and waits until `/healthz` answers.
    fn start(database: &str) -> Self {
        Self::start_with(database, &[])
    }

    /// [`Server::start`] with more arguments.
    fn start_with(database: &str, more: &[&str]) -> Self {
        let port = free_port();
        let mut child = roster()
            .args([
                "serve",
                "--database",
                database,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(more)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn roster serve");
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let keep = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                keep.lock().expect("lock").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("stderr");
        let keep = stderr.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let mut r = BufReader::new(err);
            while r.read_line(&mut s).is_ok_and(|n| n > 0) {
                keep.lock().expect("lock").push_str(&s);
                s.clear();
            }
        });
        let mut server = Self {
            child,
            port,
            lines,
            stdout,
            stderr,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "roster serve exited early with {status}; stderr:\n{}",
                    self.stderr()
                );
            }
            if http(self.port, "GET", "/healthz", None, None).is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "roster serve did not become ready; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The owner key printed on the first start.
    fn printed_key(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(line) = self.stdout().iter().find(|l| l.contains("API key")) {
                return line.rsplit(' ').next().expect("key").trim().to_owned();
            }
            let _ = self.lines.recv_timeout(Duration::from_millis(100));
        }
        panic!("no API key printed; stdout: {:?}", self.stdout());
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        http(self.port, method, path, Some(token), body.as_ref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; stderr:\n{}", self.stderr()))
    }

    /// `kill -9`: no chance to flush or shut down.
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// `kill -TERM` and wait for the exit.
    fn terminate(mut self) -> (ExitStatus, Vec<String>, String) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "roster serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader threads drain the pipes.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.stdout(), self.stderr())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ----- init and migrate ---------------------------------------------------------

#[test]
fn init_json_prints_exactly_the_five_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "r.db");
    let out = roster()
        .args([
            "init",
            "--database",
            &db,
            "--org",
            "X",
            "--admin-email",
            "a@b.co",
            "--json",
        ])
        .output()
        .expect("run roster init");
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "one line of JSON: {stdout:?}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("stdout is JSON");
    let obj = v.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "account_id",
            "api_key",
            "api_key_id",
            "organization_id",
            "user_id"
        ]
    );
    for k in ["organization_id", "account_id", "user_id"] {
        assert!(
            uuid::Uuid::parse_str(obj[k].as_str().expect("string")).is_ok(),
            "{k} is not a UUID: {v}"
        );
    }
    let key = obj["api_key"].as_str().expect("api_key");
    assert!(
        key.len() >= 32 && key.contains(obj["api_key_id"].as_str().expect("api_key_id")),
        "{v}"
    );
    // The secret is printed, never logged.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(key),
        "the key reached the log"
    );

    // The database is bootstrapped as documented: `serve` prints nothing,
    // the key works, the account is `operations`, the user is `owner` at `global`.
    let server = Server::start(&db);
    let user = server.call(
        "GET",
        &format!("/v1/users/{}", obj["user_id"].as_str().expect("id")),
        key,
        None,
    );
    assert_eq!(user.status, 200, "{:?}", user.body);
    assert_eq!(user.body["email"], json!("a@b.co"));
    let acc = server.call(
        "GET",
        &format!("/v1/accounts/{}", obj["account_id"].as_str().expect("id")),
        key,
        None,
    );
    assert_eq!(acc.body["type"], json!("operations"), "{:?}", acc.body);
    let org = server.call(
        "GET",
        &format!(
            "/v1/organizations/{}",
            obj["organization_id"].as_str().expect("id")
        ),
        key,
        None,
    );
    assert_eq!(org.body["name"], json!("X"));
    let grants = server.call(
        "GET",
        &format!("/v1/users/{}/grants", obj["user_id"].as_str().expect("id")),
        key,
        None,
    );
    let items = grants.body["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|g| g["role_id"] == json!("owner") && g["scope"]["type"] == json!("global")),
        "{:?}",
        grants.body
    );
    let (status, stdout, _) = server.terminate();
    assert!(status.success());
    assert!(
        stdout.is_empty(),
        "serve on an initialized database printed {stdout:?}"
    );

    // init on an initialized database refuses, whoever the owner would be,
    // and prints no key.
    let other = roster()
        .args([
            "init",
            "--database",
            &db,
            "--org",
            "Z",
            "--admin-email",
            "someone.else@b.co",
            "--json",
        ])
        .output()
        .expect("run roster init");
    assert!(
        !other.status.success(),
        "init on an initialized database succeeded"
    );
    assert!(String::from_utf8_lossy(&other.stdout).trim().is_empty());
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("already initialized"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );

    // A second init on the same database refuses the same owner again and prints no key.
    let again = roster()
        .args([
            "init",
            "--database",
            &db,
            "--org",
            "Y",
            "--admin-email",
            "A@B.co",
            "--json",
        ])
        .output()
        .expect("run roster init");
    assert!(
        !again.status.success(),
        "a second init with the same email succeeded"
    );
    assert!(String::from_utf8_lossy(&again.stdout).trim().is_empty());
}

#[test]
fn init_rejects_bad_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "bad.db");
    let out = roster()
        .args([
            "init",
            "--database",
            &db,
            "--org",
            "X",
            "--admin-email",
            "not-an-email",
            "--json",
        ])
        .output()
        .expect("run roster init");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("admin_email"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = roster()
        .args(["init", "--database", &db, "--json"])
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "missing --org and --admin-email must fail"
    );
}

/// `--event-retention` takes a number and a unit; zero or garbage is a
/// usage error naming the flag, before anything is opened.
#[test]
fn serve_rejects_a_bad_event_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "never.db");
    for bad in ["0d", "30", "soon", "-1h", "12y"] {
        let out = roster()
            .args([
                "serve",
                "--database",
                &db,
                &format!("--event-retention={bad}"),
            ])
            .output()
            .expect("run roster serve");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("--event-retention"), "{bad}: {stderr}");
    }
    let out = roster()
        .args(["serve", "--database", &db])
        .env("ROSTER_EVENT_RETENTION", "nonsense")
        .output()
        .expect("run roster serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("never.db").exists(), "nothing was opened");
}

#[test]
fn migrate_creates_and_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "m.db");
    for _ in 0..2 {
        let out = roster()
            .args(["migrate", "--database", &db])
            .output()
            .expect("run roster migrate");
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "migrate prints nothing on stdout");
    }
    assert!(dir.path().join("m.db").exists());
    // A migrated (empty) database still bootstraps on first serve.
    let server = Server::start(&db);
    let key = server.printed_key();
    assert_eq!(
        server.call("GET", "/v1/organizations", &key, None).status,
        200
    );
}

// ----- serve: the key once, graceful shutdown --------------------------------------

#[test]
fn serve_prints_the_key_once_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "s.db");
    let first = Server::start(&db);
    let key = first.printed_key();
    assert!(key.starts_with("roster_"), "{key}");
    let r = first.call("GET", "/v1/organizations", &key, None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let (status, stdout, stderr) = first.terminate();
    assert!(
        status.success(),
        "SIGTERM must exit 0, got {status}; stderr:\n{stderr}"
    );
    assert_eq!(
        stdout.iter().filter(|l| l.contains(&key)).count(),
        1,
        "the key is printed exactly once: {stdout:?}"
    );
    assert!(!stderr.contains(&key), "the key reached the log");

    let second = Server::start(&db);
    assert_eq!(
        second.call("GET", "/v1/organizations", &key, None).status,
        200,
        "the key still works"
    );
    let (status, stdout, stderr) = second.terminate();
    assert!(status.success(), "SIGTERM must exit 0, got {status}");
    assert!(
        stdout
            .iter()
            .all(|l| !l.contains("roster_") && !l.to_lowercase().contains("key")),
        "a restart printed {stdout:?}"
    );
    assert!(!stderr.contains(&key));
}

#[test]
fn sigterm_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "t.db");
    let server = Server::start(&db);
    let key = server.printed_key();
    let port = server.port;
    // A client keeps writing while SIGTERM arrives: every request the server
    // accepted is answered, and every acknowledged write is durable.
    let writer = {
        let key = key.clone();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            for i in 0..200 {
                let name = format!("T{i}");
                match http(
                    port,
                    "POST",
                    "/v1/organizations",
                    Some(&key),
                    Some(&json!({ "name": name })),
                ) {
                    Ok(r) if r.status == 201 => acknowledged.push(name),
                    Ok(r) => panic!("a request during shutdown got {}: {:?}", r.status, r.body),
                    Err(_) => break,
                }
            }
            acknowledged
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let (status, _, stderr) = server.terminate();
    assert!(
        status.success(),
        "SIGTERM must exit 0, got {status}; stderr:\n{stderr}"
    );
    let acknowledged = writer.join().expect("writer");
    assert!(
        !acknowledged.is_empty(),
        "no write was acknowledged before SIGTERM"
    );
    eprintln!("{} writes acknowledged before shutdown", acknowledged.len());
    let server = Server::start(&db);
    let r = server.call("GET", "/v1/organizations?limit=1000", &key, None);
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    for n in &acknowledged {
        assert!(
            names.contains(&n.as_str()),
            "acknowledged `{n}` lost: {names:?}"
        );
    }
}

// ----- durability ---------------------------------------------------------------------

/// Writes through the API, `kill -9`s the server right after the last
/// acknowledgement, restarts it and reads everything back.
fn acknowledged_writes_survive_kill_9(db: &str, key: &str) {
    let server = Server::start(db);
    let orgs = server.call("GET", "/v1/organizations", key, None);
    let org = orgs.body["items"][0]["id"]
        .as_str()
        .expect("organization")
        .to_owned();
    let mut users = Vec::new();
    for i in 0..10 {
        let r = server.call("POST", "/v1/users", key, Some(json!({"organization_id": org, "email": format!("durable{i}@x.example"), "first_name": "Before"})));
        assert_eq!(r.status, 201, "{:?}", r.body);
        users.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let target = users[0].clone();
    let r = server.call(
        "PATCH",
        &format!("/v1/users/{target}"),
        key,
        Some(json!({"first_name": "After", "external_ids": {"crm": "7"}})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let acked_revision = r.body["revision"].as_u64().expect("revision");
    let g = server.call(
        "POST",
        &format!("/v1/users/{target}/grants"),
        key,
        Some(json!({"role_id": "viewer", "scope": {"type": "organization", "id": org}})),
    );
    assert_eq!(g.status, 201, "{:?}", g.body);
    let grant = g.body["id"].as_str().expect("grant").to_owned();
    server.kill_9();

    let server = Server::start(db);
    for u in &users {
        assert_eq!(
            server
                .call("GET", &format!("/v1/users/{u}"), key, None)
                .status,
            200,
            "user {u} lost after kill -9"
        );
    }
    let r = server.call("GET", &format!("/v1/users/{target}"), key, None);
    assert_eq!(r.body["first_name"], json!("After"), "{:?}", r.body);
    assert_eq!(r.body["external_ids"]["crm"], json!("7"));
    assert!(r.body["revision"].as_u64().expect("revision") >= acked_revision);
    let grants = server.call("GET", &format!("/v1/users/{target}/grants"), key, None);
    assert!(
        grants.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|x| x["id"] == json!(grant)),
        "grant lost: {:?}",
        grants.body
    );
    let check = server.call(
        "POST",
        "/v1/check",
        key,
        Some(json!({"user_id": target, "permission": "users:read", "organization_id": org})),
    );
    assert_eq!(check.body["allowed"], json!(true), "{:?}", check.body);
    // The audit trail survived with its writes.
    let audit = server.call(
        "GET",
        &format!("/v1/audit-events?target_id={target}"),
        key,
        None,
    );
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"user.create") && actions.contains(&"user.update"),
        "{actions:?}"
    );
    server.kill_9();
}

#[test]
fn durability_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "d.db");
    let first = Server::start(&db);
    let key = first.printed_key();
    first.kill_9(); // even the bootstrap survives a kill
    acknowledged_writes_survive_kill_9(&db, &key);
}

// ----- expiry -----------------------------------------------------------------------------

/// Polls `f` until it holds; fails after a generous deadline (a liveness
/// bound, not a measurement).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_expired_grant_is_ignored_across_restarts_and_swept_by_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "e.db");
    let unswept = ["--no-expiry-sweep"];
    let server = Server::start_with(&db, &unswept);
    let key = server.printed_key();
    let orgs = server.call("GET", "/v1/organizations", &key, None);
    let org = orgs.body["items"][0]["id"]
        .as_str()
        .expect("organization")
        .to_owned();
    let r = server.call(
        "POST",
        "/v1/users",
        &key,
        Some(json!({"organization_id": org, "email": "temp@x.example"})),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let user = r.body["id"].as_str().expect("id").to_owned();
    let expires = (time::OffsetDateTime::now_utc() + Duration::from_millis(1500))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format");
    let g = server.call(
        "POST",
        &format!("/v1/users/{user}/grants"),
        &key,
        Some(json!({"role_id": "viewer", "scope": {"type": "organization", "id": org}, "expires_at": expires})),
    );
    assert_eq!(g.status, 201, "{:?}", g.body);
    let grant = g.body["id"].as_str().expect("grant").to_owned();
    let check = json!({"user_id": user, "permission": "users:read", "organization_id": org, "explain": true});
    let denied_as_expired = |s: &Server| {
        let r = s.call("POST", "/v1/check", &key, Some(check.clone()));
        r.body["explanation"]["reason"] == json!("expired")
    };
    let listed = |s: &Server| {
        let r = s.call("GET", &format!("/v1/users/{user}/grants"), &key, None);
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|x| x["id"] == json!(grant))
    };
    eventually("the grant to expire", || denied_as_expired(&server));
    assert!(listed(&server), "nobody swept it");
    server.kill_9();

    // Loaded again, still stored and still ignored.
    let server = Server::start_with(&db, &unswept);
    assert!(listed(&server));
    assert!(denied_as_expired(&server));
    server.kill_9();

    // A server that sweeps removes it, as the system.
    let server = Server::start(&db);
    eventually("the sweeper to remove the grant", || !listed(&server));
    let audit = server.call(
        "GET",
        &format!("/v1/audit-events?target_id={grant}"),
        &key,
        None,
    );
    let expired: Vec<&Value> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == json!("grant.expire"))
        .collect();
    assert_eq!(expired.len(), 1, "{:?}", audit.body);
    assert_eq!(expired[0]["actor_id"], Value::Null);
    assert_eq!(expired[0]["reason"], json!("expired"));
    let (status, _, _) = server.terminate();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn durability_on_postgres() {
    let dbs: Vec<TestDatabase> = test_databases()
        .await
        .into_iter()
        .filter(|d| d.backend == "postgres")
        .collect();
    let Some(db) = dbs.first() else {
        eprintln!("note: ROSTER_TEST_DATABASE_URL not set; PostgreSQL CLI durability test skipped");
        return;
    };
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let out = roster()
            .args([
                "init",
                "--database",
                &url,
                "--org",
                "Durable",
                "--admin-email",
                "owner@durable.example",
                "--json",
            ])
            .output()
            .expect("run roster init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        let key = v["api_key"].as_str().expect("api_key").to_owned();
        let migrate = roster()
            .args(["migrate", "--database", &url])
            .output()
            .expect("run roster migrate");
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );
        acknowledged_writes_survive_kill_9(&url, &key);
        // Graceful shutdown on PostgreSQL too.
        let server = Server::start(&url);
        let (status, stdout, _) = server.terminate();
        assert!(status.success(), "{status}");
        assert!(stdout.is_empty(), "{stdout:?}");
    })
    .await
    .expect("test thread");
}

/// `roster keys …` as an operator runs it, next to a running server: the
/// server made a signing key on start, and learns of a rotation and of a
/// revocation through the database (SQLite: by polling its change log).
#[test]
fn keys_rotate_list_and_revoke_reach_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "k.db");
    let server = Server::start(&db);
    let published = || -> Vec<String> {
        let r = http(server.port, "GET", "/.well-known/jwks.json", None, None).expect("jwks");
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_owned())
            .collect()
    };
    let wait_for = |want: &dyn Fn(&[String]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let kids = published();
            if want(&kids) {
                return kids;
            }
            assert!(
                Instant::now() < deadline,
                "the server still publishes {kids:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let first = published();
    assert_eq!(
        first.len(),
        1,
        "serve makes a signing key on start: {first:?}"
    );
    let keys = |args: &[&str]| -> String {
        let out = roster()
            .arg("keys")
            .args(args)
            .args(["--database", &db])
            .output()
            .expect("run roster keys");
        assert!(
            out.status.success(),
            "roster keys {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };

    let rotated: Value = serde_json::from_str(&keys(&["rotate", "--json"])).expect("JSON");
    let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
    assert_eq!(rotated["algorithm"], "EdDSA");
    assert!(!rotated.to_string().contains("private"), "{rotated}");
    let both = wait_for(&|kids| kids.len() == 2);
    assert_eq!(both, [first[0].clone(), new_kid.clone()]);

    let listed: Value = serde_json::from_str(&keys(&["list", "--json"])).expect("JSON");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 2);
    assert!(listed[0]["verify_until"].is_string() && listed[1]["verify_until"].is_null());
    assert!(!keys(&["list"]).contains("private"));

    let out = keys(&["revoke", &first[0]]);
    assert!(out.contains(&first[0]), "{out}");
    assert_eq!(wait_for(&|kids| kids.len() == 1), [new_kid]);
    let (status, _, _) = server.terminate();
    assert!(status.success());
}

// ----- webhooks ---------------------------------------------------------------------------

/// What a webhook receiver thread got: (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`, body) per delivery answered `200`.
type Deliveries = Arc<Mutex<Vec<(String, i64, String, Vec<u8>)>>>;

/// A webhook receiver on `127.0.0.1:0`: one thread, one request per
/// connection, each answered `200` after `delay` (so that a `kill -9`
/// lands while deliveries are under way).
fn receiver(delay: Duration) -> (String, Deliveries) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let got: Deliveries = Arc::default();
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut raw = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let Ok(n) = s.read(&mut buf) else {
                    break (String::new(), Vec::new());
                };
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                raw.extend_from_slice(&buf[..n]);
                if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while raw.len() < end + 4 + len {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = raw[end + 4..].to_vec();
                    break (String::from_utf8_lossy(&raw[..end]).into_owned(), body);
                }
            };
            if head.is_empty() {
                continue;
            }
            std::thread::sleep(delay);
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let id = header("webhook-id");
            let ts = header("webhook-timestamp").parse().unwrap_or(0);
            let sig = header("webhook-signature");
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .is_ok()
            {
                keep.lock().expect("lock").push((id, ts, sig, body));
            }
        }
    });
    (url, got)
}

#[test]
fn webhook_deliveries_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "w.db");
    let flags = [
        "--allow-private-targets",
        "--webhook-backoff-initial-ms",
        "50",
        "--webhook-backoff-max-ms",
        "500",
    ];
    let server = Server::start_with(&db, &flags);
    let key = server.printed_key();
    let orgs = server.call("GET", "/v1/organizations", &key, None);
    let org = orgs.body["items"][0]["id"]
        .as_str()
        .expect("org")
        .to_owned();
    let (url, got) = receiver(Duration::from_millis(30));
    let r = server.call(
        "POST",
        &format!("/v1/organizations/{org}/webhooks"),
        &key,
        Some(json!({"url": url, "event_types": ["user.created"]})),
    );
    assert_eq!(r.status, 201, "{:?}", r.body);
    let secret = r.body["secret"].as_str().expect("secret").to_owned();
    let mut users = Vec::new();
    for i in 0..40 {
        let r = server.call(
            "POST",
            "/v1/users",
            &key,
            Some(json!({"organization_id": org, "email": format!("hook{i}@x.example")})),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        users.push(r.body["id"].as_str().expect("id").to_owned());
    }
    eventually("some deliveries", || got.lock().expect("lock").len() >= 5);
    server.kill_9();
    let delivered_before = got.lock().expect("lock").len();
    assert!(
        delivered_before < users.len(),
        "every delivery done before the kill"
    );

    let server = Server::start_with(&db, &flags);
    let first_ids = |got: &Deliveries| {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (id, _, _, body) in got.lock().expect("lock").iter() {
            if seen.insert(id.clone()) {
                let v: Value = serde_json::from_slice(body).expect("json");
                out.push((
                    v["seq"].as_i64().expect("seq"),
                    v["data"]["object"]["id"].as_str().expect("id").to_owned(),
                ));
            }
        }
        out
    };
    eventually("every user delivered after the restart", || {
        first_ids(&got).len() >= users.len()
    });
    let firsts = first_ids(&got);
    let delivered: Vec<String> = firsts.iter().map(|(_, u)| u.clone()).collect();
    assert_eq!(delivered, users, "lost or out of order");
    assert!(firsts.windows(2).all(|w| w[0].0 < w[1].0));
    // Every delivery, repeats included, verifies with the standardwebhooks crate.
    let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
    for (id, ts, sig, body) in got.lock().expect("lock").iter() {
        let expected = wh.sign(id, *ts, body).expect("sign");
        assert!(
            sig.split(' ').any(|s| s == expected),
            "bad signature on {id}"
        );
    }
    let (status, _, _) = server.terminate();
    assert!(status.success());
}
