//! Throw-away databases **for tests** (of this crate and of the crates that
//! use it), behind the `testing` feature that only their dev-dependencies
//! enable, so none of it is compiled into the product.
//!
//! [`test_databases`] always gives a fresh SQLite file in a fresh temporary
//! directory and, when `ROSTER_TEST_DATABASE_URL` names a PostgreSQL server
//! (e.g. `postgres://postgres@127.0.0.1:5432/test`), a fresh database
//! `roster_t_<32 hex>` created there. Dropping a [`TestDatabase`] removes it.
//! Tests run the same body against each:
//!
//! ```no_run
//! # async fn example() -> Result<(), roster_store::StoreError> {
//! for db in roster_store::testing::test_databases().await {
//!     let store = db.open().await?;
//!     // ... the same assertions on every backend
//! }
//! # Ok(())
//! # }
//! ```

use crate::{Store, StoreError};
use sqlx::{Connection, PgConnection};
use std::sync::{Arc, Once};
use std::time::Duration;

/// The environment variable naming the PostgreSQL server tests may use.
pub const TEST_DATABASE_URL_VAR: &str = "ROSTER_TEST_DATABASE_URL";

/// One throw-away database; dropping it removes it.
#[derive(Debug)]
pub struct TestDatabase {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The URL to open it with ([`crate::open`]).
    pub url: String,
    guard: Guard,
}

#[derive(Debug)]
enum Guard {
    /// The directory holding the SQLite file (and its WAL), removed on drop.
    Sqlite(
        #[expect(dead_code, reason = "held only to remove the directory on drop")]
        tempfile::TempDir,
    ),
    /// The admin URL and the name of the database to drop.
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Opens the store and applies the migrations.
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        let store = crate::open(&self.url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// A fresh SQLite file in a fresh temporary directory.
    pub fn sqlite() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("roster-test-").tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("roster.db").display());
        Ok(Self {
            backend: "sqlite",
            url,
            guard: Guard::Sqlite(dir),
        })
    }

    /// A fresh database on the PostgreSQL server of `admin_url` (created
    /// through a connection to `admin_url` itself).
    pub async fn postgres(admin_url: &str) -> Result<Self, StoreError> {
        let name = format!("roster_t_{}", uuid::Uuid::new_v4().simple());
        let mut attempt = 0;
        loop {
            attempt += 1;
            match create_database(admin_url, &name).await {
                Ok(()) => break,
                // Concurrent CREATE DATABASE on a busy server can fail
                // transiently (template database in use).
                Err(_) if attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            backend: "postgres",
            url: with_database(admin_url, &name),
            guard: Guard::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        })
    }
}

async fn create_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    created?;
    Ok(())
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = &self.guard {
            let admin_url = admin_url.clone();
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            // A thread of its own: drop may run inside or outside a runtime.
            let dropper = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&sql).execute(&mut conn).await;
                        let _ = conn.close().await;
                    }
                });
            });
            let _ = dropper.join();
        }
    }
}

/// `url` with its database name replaced by `name` (query kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

static PG_SKIPPED: Once = Once::new();

/// The databases every conformance test runs on: a fresh SQLite file, and a
/// fresh PostgreSQL database when `ROSTER_TEST_DATABASE_URL` is set (a note
/// is printed once per process when it is not).
///
/// # Panics
///
/// When a database cannot be created: a test must not pass silently on
/// fewer backends than configured.
#[expect(clippy::panic, reason = "a test helper: failing loudly is its job")]
pub async fn test_databases() -> Vec<TestDatabase> {
    let mut out = Vec::new();
    match TestDatabase::sqlite() {
        Ok(db) => out.push(db),
        Err(e) => panic!("cannot create a temporary SQLite database: {e}"),
    }
    match std::env::var(TEST_DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => match TestDatabase::postgres(url.trim()).await {
            Ok(db) => out.push(db),
            Err(e) => {
                panic!("cannot create a PostgreSQL test database on {TEST_DATABASE_URL_VAR}: {e}")
            }
        },
        _ => PG_SKIPPED.call_once(|| {
            eprintln!("note: {TEST_DATABASE_URL_VAR} not set; PostgreSQL tests skipped");
        }),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
    }
}
