//! Loading the model from SQLite. Rows travel from SQLite in chunks of one
//! JSON text each (`json_array` per row, `group_concat` per chunk): sqlx
//! hands rows from its SQLite worker thread one by one, which costs far
//! more than SQLite's own JSON encoding and serde's decoding.

use crate::error::StoreError;
use crate::load::{self, entity_tables, Loaded};
use crate::table::{Bad, Cols};
use roster_domain::Model;
use sqlx::{Sqlite, SqlitePool};
use std::borrow::Cow;

/// Rows per chunk.
const LOAD_CHUNK: i64 = 5000;

/// The whole model at the latest committed revision. SQLite reads and
/// encodes the next chunk on its worker thread while this task decodes and
/// applies the previous one.
pub(super) async fn load_model(pool: SqlitePool) -> Result<Model, StoreError> {
    let (send, chunks) = tokio::sync::mpsc::channel(4);
    let reader = tokio::spawn(read_chunks(pool, send));
    load::assemble(chunks, reader, |m, (table, text): (usize, String)| {
        apply_chunk(m, table, &text)
    })
    .await
}

/// Reads every entity table in chunks of one JSON text each (sent with the
/// table's index into [`entity_tables`]), in one snapshot, and returns the
/// revision that snapshot reflects. Stops early (without error) when the
/// loader has gone.
async fn read_chunks(
    pool: SqlitePool,
    send: tokio::sync::mpsc::Sender<Loaded<(usize, String)>>,
) -> Result<i64, StoreError> {
    // A deferred transaction: its first read fixes the WAL snapshot that
    // every following read of it sees.
    let mut tx = pool.begin().await?;
    let (rev, sizes) = load::head::<Sqlite>(&mut tx).await?;
    if send.send(Loaded::Sizes(sizes)).await.is_err() {
        return Ok(rev);
    }
    for (table, entities) in entity_tables::<JsonRow<'static>>().into_iter().enumerate() {
        let sql = format!(
            "SELECT max(r), '[' || coalesce(group_concat(j, ','), '') || ']' FROM \
             (SELECT rowid AS r, json_array({}) AS j FROM {} WHERE rowid > ?1 \
             ORDER BY rowid LIMIT ?2)",
            entities.select_list(),
            entities.name
        );
        let mut after: i64 = i64::MIN;
        loop {
            let (last, chunk): (Option<i64>, String) = sqlx::query_as(&sql)
                .bind(after)
                .bind(LOAD_CHUNK)
                .fetch_one(&mut *tx)
                .await?;
            let Some(last) = last else { break };
            if send.send(Loaded::Rows((table, chunk))).await.is_err() {
                return Ok(rev);
            }
            after = last;
        }
    }
    tx.rollback().await?;
    Ok(rev)
}

/// Applies one chunk of rows of table number `table` of [`entity_tables`].
fn apply_chunk(model: &mut Model, table: usize, chunk: &str) -> Result<(), StoreError> {
    let tables = entity_tables::<JsonRow<'_>>();
    let Some(entities) = tables.get(table) else {
        return Err(StoreError::Corrupt(format!("no table {table}")));
    };
    let rows = JsonRow::rows(chunk).map_err(|e| StoreError::corrupt(entities.name, e))?;
    for row in rows {
        model.apply(&(entities.decode)(&row)?);
    }
    Ok(())
}

/// One column value of a loaded chunk, borrowed from the chunk's text
/// where no JSON escape forces a copy.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    Int(i64),
    Str(Cow<'a, str>),
    Other,
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a column value")
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
                Ok(i64::try_from(v).map_or(Cell::Other, Cell::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Other)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Str(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One row of a chunk: its column values.
pub(crate) struct JsonRow<'a>(Vec<Cell<'a>>);

impl<'a> JsonRow<'a> {
    /// The rows of a chunk (`[[col, ..], ..]`), borrowing its text.
    pub(crate) fn rows(chunk: &'a str) -> Result<Vec<Self>, serde_json::Error> {
        let rows: Vec<Vec<Cell<'a>>> = serde_json::from_str(chunk)?;
        Ok(rows.into_iter().map(JsonRow).collect())
    }
}

impl JsonRow<'_> {
    fn get(&self, i: usize) -> Result<&Cell<'_>, Bad> {
        self.0.get(i).ok_or(Bad::said("missing"))
    }
}

/// Ids and timestamps are text: the defaults of [`Cols`].
impl Cols for JsonRow<'_> {
    #[inline]
    fn opt_str(&self, i: usize) -> Result<Option<&str>, Bad> {
        match self.get(i)? {
            Cell::Null => Ok(None),
            Cell::Str(s) => Ok(Some(s)),
            _ => Err(Bad::said("not text")),
        }
    }
    #[inline]
    fn int(&self, i: usize) -> Result<i64, Bad> {
        match self.get(i)? {
            Cell::Int(n) => Ok(*n),
            _ => Err(Bad::said("not an integer")),
        }
    }
}
