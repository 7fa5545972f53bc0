//! Loading the model at start-up, the part both backends share: the entity
//! tables to read, and the loop that applies what a backend's reader task
//! sends while it reads the next batch (so reading and applying overlap).

use crate::backend::Backend;
use crate::error::StoreError;
use crate::table::accounts::Accounts;
use crate::table::api_keys::ApiKeys;
use crate::table::grants::Grants;
use crate::table::groups::{GroupMembers, Groups};
use crate::table::identity_providers::IdentityProviders;
use crate::table::memberships::Memberships;
use crate::table::organizations::Organizations;
use crate::table::permissions::Permissions;
use crate::table::roles::Roles;
use crate::table::signing_keys::SigningKeys;
use crate::table::users::Users;
use crate::table::webhooks::Webhooks;
use crate::table::{self, meta, Cols, Column, Table};
use crate::value;
use roster_domain::{Change, Model};
use sqlx::{Executor, IntoArguments};

/// An entity table as a loader reads it: each row is one `Put..` change.
#[derive(Debug)]
pub(crate) struct Entities<R> {
    /// The table's name.
    pub(crate) name: &'static str,
    columns: &'static [Column],
    /// Decodes one row.
    pub(crate) decode: fn(&R) -> Result<Change, StoreError>,
}

impl<R> Entities<R> {
    /// The columns to select, `id, name, CAST(phone AS TEXT), ..`.
    pub(crate) fn select_list(&self) -> String {
        table::select_list(self.columns)
    }
}

fn entities<T: Table<Read = Change>, R: Cols>() -> Entities<R> {
    Entities {
        name: T::NAME,
        columns: T::COLUMNS,
        decode: table::decode::<T, R>,
    }
}

/// Every entity table, in an order that keeps references resolvable (the
/// model does not require it, but it reads naturally).
pub(crate) fn entity_tables<R: Cols>() -> [Entities<R>; 13] {
    [
        entities::<Organizations, R>(),
        entities::<Accounts, R>(),
        entities::<Users, R>(),
        entities::<Memberships, R>(),
        entities::<Permissions, R>(),
        entities::<Roles, R>(),
        entities::<Groups, R>(),
        entities::<GroupMembers, R>(),
        entities::<Grants, R>(),
        entities::<ApiKeys, R>(),
        entities::<SigningKeys, R>(),
        entities::<IdentityProviders, R>(),
        entities::<Webhooks, R>(),
    ]
}

/// What a loader reads first in its snapshot: the revision the snapshot
/// reflects, and about how many users and accounts it holds
/// ([`Backend::SIZES`]).
pub(crate) async fn head<B>(conn: &mut B::Connection) -> Result<(i64, (i64, i64)), StoreError>
where
    B: Backend,
    for<'c> &'c mut B::Connection: Executor<'c, Database = B>,
    for<'q> B::Arguments<'q>: IntoArguments<'q, B>,
    (i64,): for<'r> sqlx::FromRow<'r, B::Row>,
    (i64, i64): for<'r> sqlx::FromRow<'r, B::Row>,
{
    let rev: i64 = sqlx::query_scalar(meta::SELECT_REVISION)
        .fetch_one(&mut *conn)
        .await?;
    let sizes = sqlx::query_as(B::SIZES).fetch_one(&mut *conn).await?;
    Ok((rev, sizes))
}

/// What a backend's model reader hands [`assemble`]: first the sizes, then
/// rows in whatever unit the backend reads them.
#[derive(Debug)]
pub(crate) enum Loaded<T> {
    /// About how many users and accounts follow.
    Sizes((i64, i64)),
    /// Rows.
    Rows(T),
}

/// Builds the model from what `reader` sends on `rows` while it reads the
/// next batch (so reading and applying overlap), then stamps it with the
/// revision the reader's snapshot reflects. An error on either side stops
/// both: a closed channel ends the reader early.
pub(crate) async fn assemble<T>(
    mut rows: tokio::sync::mpsc::Receiver<Loaded<T>>,
    reader: tokio::task::JoinHandle<Result<i64, StoreError>>,
    mut apply: impl FnMut(&mut Model, T) -> Result<(), StoreError>,
) -> Result<Model, StoreError> {
    let mut model = None;
    while let Some(loaded) = rows.recv().await {
        match loaded {
            Loaded::Sizes(sizes) => model = Some(sized_model(sizes)),
            Loaded::Rows(batch) => apply(model.get_or_insert_with(Model::new), batch)?,
        }
    }
    let rev = reader
        .await
        .map_err(|e| StoreError::Corrupt(format!("model loader: {e}")))??;
    let mut model = model.unwrap_or_else(Model::new);
    model.set_revision(value::revision(rev, meta::REVISION)?);
    Ok(model)
}

/// The model sized for about `users` users and `accounts` accounts.
fn sized_model((users, accounts): (i64, i64)) -> Model {
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    let mut model = Model::new();
    model.reserve(n(users), n(accounts));
    model
}
