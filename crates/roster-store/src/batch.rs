//! Turning commits into a few multi-row statements, shared by both backends.
//!
//! Consecutive changes of one kind become one `INSERT .. ON CONFLICT DO
//! UPDATE` (or `DELETE .. WHERE id IN (..)`) of at most
//! [`Backend::MAX_ROWS`] rows. A run is cut where an id repeats, so the
//! statements apply the changes in exactly their order (PostgreSQL refuses
//! to upsert one row twice in one statement). Rows are first collected as
//! [`Val`]s; [`Backend::push_rows`] renders them as the backend likes best
//! (SQLite: `VALUES (..), (..)`; PostgreSQL: `SELECT * FROM UNNEST(..)` of
//! one typed array per column, so the statement text does not grow with the
//! rows and stays prepared).

use crate::codec::{format_ts, rev_to_i64, scope_cols, truncate_micros};
use crate::error::StoreError;
use roster_domain::*;
use serde::Serialize;
use sqlx::{Database, Postgres, QueryBuilder, Sqlite};
use std::collections::HashSet;
use std::mem::Discriminant;
use time::OffsetDateTime;
use uuid::Uuid;

/// One column value of a row to write.
#[derive(Debug)]
pub(crate) enum Val<'a> {
    Uuid(Option<Uuid>),
    Ts(Option<OffsetDateTime>),
    Str(Option<&'a str>),
    String(Option<String>),
    Json(Option<String>),
    Int(i64),
}

/// A SQL backend: how it renders rows and binds values. (Named so that
/// "dialect" keeps one meaning in this project: a vendor's API.)
pub(crate) trait Backend: Database + Sized {
    /// Rows per statement.
    const MAX_ROWS: usize;
    /// Pushes the rows (`width` values each, row after row) as the source
    /// of an `INSERT INTO t (cols) ..`.
    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError>;
    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>);
    fn bind_str<'a>(qb: &mut QueryBuilder<'a, Self>, v: Option<&'a str>);
    fn bind_string(qb: &mut QueryBuilder<'_, Self>, v: String);
    fn bind_int(qb: &mut QueryBuilder<'_, Self>, v: i64);
    /// `IN (..)` / `= ANY(..)`: membership of the preceding expression in `vs`.
    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]);
}

/// Literal `IN (?, ?, ..)` list.
fn push_in_list<DB: Backend>(qb: &mut QueryBuilder<'_, DB>, vs: &[Uuid]) {
    qb.push(" IN (");
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        DB::bind_uuid(qb, Some(*v));
    }
    qb.push(")");
}

impl Backend for Sqlite {
    /// 1000 rows of at most 16 columns stay below SQLite's 32766 parameters.
    const MAX_ROWS: usize = 1000;

    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError> {
        qb.push("VALUES ");
        for (i, v) in vals.into_iter().enumerate() {
            if i % width == 0 {
                qb.push(if i == 0 { "(" } else { "), (" });
            } else {
                qb.push(", ");
            }
            match v {
                Val::Uuid(u) => qb.push_bind(u.map(|u| u.hyphenated().to_string())),
                Val::Ts(t) => qb.push_bind(t.map(format_ts).transpose()?),
                Val::Str(s) => qb.push_bind(s),
                Val::String(s) | Val::Json(s) => qb.push_bind(s),
                Val::Int(n) => qb.push_bind(n),
            };
        }
        qb.push(")");
        Ok(())
    }
    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>) {
        qb.push_bind(v.map(|u| u.hyphenated().to_string()));
    }
    fn bind_str<'a>(qb: &mut QueryBuilder<'a, Self>, v: Option<&'a str>) {
        qb.push_bind(v);
    }
    fn bind_string(qb: &mut QueryBuilder<'_, Self>, v: String) {
        qb.push_bind(v);
    }
    fn bind_int(qb: &mut QueryBuilder<'_, Self>, v: i64) {
        qb.push_bind(v);
    }
    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]) {
        if vs.len() <= Self::MAX_ROWS {
            push_in_list(qb, vs);
        } else {
            // One parameter whatever the length.
            let list: Vec<String> = vs.iter().map(|u| u.hyphenated().to_string()).collect();
            qb.push(" IN (SELECT value FROM json_each(");
            qb.push_bind(serde_json::Value::from(list).to_string());
            qb.push("))");
        }
    }
}

/// One column of rows for PostgreSQL's `UNNEST`.
enum Column<'a> {
    Uuid(Vec<Option<Uuid>>),
    Ts(Vec<Option<OffsetDateTime>>),
    Str(Vec<Option<&'a str>>),
    String(Vec<Option<String>>),
    Json(Vec<Option<String>>),
    Int(Vec<i64>),
}

impl<'a> Column<'a> {
    fn new(first: &Val<'_>, rows: usize) -> Self {
        match first {
            Val::Uuid(_) => Self::Uuid(Vec::with_capacity(rows)),
            Val::Ts(_) => Self::Ts(Vec::with_capacity(rows)),
            Val::Str(_) => Self::Str(Vec::with_capacity(rows)),
            Val::String(_) => Self::String(Vec::with_capacity(rows)),
            Val::Json(_) => Self::Json(Vec::with_capacity(rows)),
            Val::Int(_) => Self::Int(Vec::with_capacity(rows)),
        }
    }
    fn push(&mut self, v: Val<'a>) -> Result<(), StoreError> {
        match (self, v) {
            (Self::Uuid(c), Val::Uuid(v)) => c.push(v),
            (Self::Ts(c), Val::Ts(v)) => c.push(v.map(truncate_micros)),
            (Self::Str(c), Val::Str(v)) => c.push(v),
            (Self::String(c), Val::String(v)) | (Self::Json(c), Val::Json(v)) => c.push(v),
            (Self::Int(c), Val::Int(v)) => c.push(v),
            (_, v) => return Err(StoreError::Invalid(format!("mixed column types at {v:?}"))),
        }
        Ok(())
    }
    fn bind(self, qb: &mut QueryBuilder<'a, Postgres>) {
        match self {
            Self::Uuid(c) => qb.push_bind(c).push("::uuid[]"),
            Self::Ts(c) => qb.push_bind(c).push("::timestamptz[]"),
            Self::Str(c) => qb.push_bind(c).push("::text[]"),
            Self::String(c) => qb.push_bind(c).push("::text[]"),
            Self::Json(c) => qb.push_bind(c).push("::text[]::json[]"),
            Self::Int(c) => qb.push_bind(c).push("::int8[]"),
        };
    }
}

impl Backend for Postgres {
    /// One parameter per column whatever the rows: the limit only bounds
    /// the size of one statement.
    const MAX_ROWS: usize = 5000;

    fn push_rows<'a>(
        qb: &mut QueryBuilder<'a, Self>,
        width: usize,
        vals: Vec<Val<'a>>,
    ) -> Result<(), StoreError> {
        let rows = vals.len() / width.max(1);
        let mut columns: Vec<Column<'a>> = vals
            .iter()
            .take(width)
            .map(|v| Column::new(v, rows))
            .collect();
        for (i, v) in vals.into_iter().enumerate() {
            if let Some(c) = columns.get_mut(i % width) {
                c.push(v)?;
            }
        }
        qb.push("SELECT * FROM UNNEST(");
        for (i, c) in columns.into_iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            c.bind(qb);
        }
        qb.push(")");
        Ok(())
    }
    fn bind_uuid(qb: &mut QueryBuilder<'_, Self>, v: Option<Uuid>) {
        qb.push_bind(v);
    }
    fn bind_str<'a>(qb: &mut QueryBuilder<'a, Self>, v: Option<&'a str>) {
        qb.push_bind(v);
    }
    fn bind_string(qb: &mut QueryBuilder<'_, Self>, v: String) {
        qb.push_bind(v);
    }
    fn bind_int(qb: &mut QueryBuilder<'_, Self>, v: i64) {
        qb.push_bind(v);
    }
    fn push_in_uuids(qb: &mut QueryBuilder<'_, Self>, vs: &[Uuid]) {
        qb.push(" = ANY(");
        qb.push_bind(vs.to_vec());
        qb.push(")");
    }
}

/// Collects the values of rows, row after row.
pub(crate) struct Tuple<'a> {
    vals: Vec<Val<'a>>,
}

impl<'a> Tuple<'a> {
    fn uuid(&mut self, v: Uuid) -> &mut Self {
        self.opt_uuid(Some(v))
    }
    fn opt_uuid(&mut self, v: Option<Uuid>) -> &mut Self {
        self.vals.push(Val::Uuid(v));
        self
    }
    fn ts(&mut self, v: OffsetDateTime) -> Result<&mut Self, StoreError> {
        self.opt_ts(Some(v))
    }
    fn opt_ts(&mut self, v: Option<OffsetDateTime>) -> Result<&mut Self, StoreError> {
        self.vals.push(Val::Ts(v));
        Ok(self)
    }
    fn str(&mut self, v: &'a str) -> &mut Self {
        self.opt_str(Some(v))
    }
    fn opt_str(&mut self, v: Option<&'a str>) -> &mut Self {
        self.vals.push(Val::Str(v));
        self
    }
    fn string(&mut self, v: String) -> &mut Self {
        self.vals.push(Val::String(Some(v)));
        self
    }
    fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<&mut Self, StoreError> {
        self.vals.push(Val::Json(Some(to_json(v)?)));
        Ok(self)
    }
    fn opt_json<T: Serialize>(&mut self, v: Option<&T>) -> Result<&mut Self, StoreError> {
        self.vals.push(Val::Json(v.map(to_json).transpose()?));
        Ok(self)
    }
    fn int(&mut self, v: i64) -> &mut Self {
        self.vals.push(Val::Int(v));
        self
    }
    fn rev(&mut self, v: Revision) -> Result<&mut Self, StoreError> {
        Ok(self.int(rev_to_i64(v)?))
    }
}

pub(crate) fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("cannot serialize: {e}")))
}

/// A table's write shape: its columns (in tuple order) and conflict target.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    key: &'static [&'static str],
}

const ORGANIZATIONS: Table = Table {
    name: "organizations",
    columns: &["id", "name", "slug", "revision", "created_at", "updated_at"],
    key: &["id"],
};
const ACCOUNTS: Table = Table {
    name: "accounts",
    columns: &[
        "id",
        "organization_id",
        "name",
        "type",
        "status",
        "revision",
        "created_at",
        "updated_at",
    ],
    key: &["id"],
};
const USERS: Table = Table {
    name: "users",
    columns: &[
        "id",
        "organization_id",
        "email",
        "email_key",
        "first_name",
        "last_name",
        "phone",
        "settings",
        "external_ids",
        "status",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "deleted_at",
        "revision",
    ],
    key: &["id"],
};
const MEMBERSHIPS: Table = Table {
    name: "memberships",
    columns: &[
        "id",
        "user_id",
        "account_id",
        "status",
        "group_names",
        "invited_at",
        "joined_at",
        "last_access_at",
        "created_at",
        "created_by",
        "revision",
    ],
    key: &["id"],
};
const PERMISSIONS: Table = Table {
    name: "permissions",
    columns: &["id", "code", "description", "organization_id", "revision"],
    key: &["id"],
};
const ROLES: Table = Table {
    name: "roles",
    columns: &[
        "organization_id",
        "id",
        "name",
        "description",
        "permission_ids",
        "revision",
    ],
    key: &["organization_id", "id"],
};
const GRANTS: Table = Table {
    name: "grants",
    columns: &[
        "id",
        "user_id",
        "role_organization_id",
        "role_id",
        "permission_id",
        "scope_kind",
        "scope_id",
        "created_at",
        "created_by",
        "revision",
    ],
    key: &["id"],
};
/// `last_used_at` is deliberately absent: a put leaves it alone.
const API_KEYS: Table = Table {
    name: "api_keys",
    columns: &[
        "id",
        "key_id",
        "user_id",
        "name",
        "secret_hash",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "revision",
    ],
    key: &["id"],
};
const AUDIT_EVENTS: Table = Table {
    name: "audit_events",
    columns: &[
        "occurred_at",
        "actor_id",
        "action",
        "target_type",
        "target_id",
        "organization_id",
        "account_id",
        "state_before",
        "state_after",
        "request_id",
        "revision",
    ],
    key: &[],
};
const CHANGES: Table = Table {
    name: "changes",
    columns: &["revision", "body"],
    key: &["revision"],
};

fn insert_head<'a, DB: Backend>(t: &Table) -> QueryBuilder<'a, DB> {
    let mut qb = QueryBuilder::default();
    qb.push("INSERT INTO ");
    qb.push(t.name);
    qb.push(" (");
    qb.push(t.columns.join(", "));
    qb.push(") ");
    qb
}

/// `INSERT INTO t (..) <rows>`, each row's values collected by `row`.
fn insert<'a, DB, T, F>(
    t: &Table,
    rows: &[&'a T],
    mut row: F,
) -> Result<QueryBuilder<'a, DB>, StoreError>
where
    DB: Backend,
    T: ?Sized,
    F: FnMut(&mut Tuple<'a>, &'a T) -> Result<(), StoreError>,
{
    let width = t.columns.len();
    let mut tuple = Tuple {
        vals: Vec::with_capacity(width * rows.len()),
    };
    for r in rows {
        row(&mut tuple, r)?;
    }
    if tuple.vals.len() != width * rows.len() {
        return Err(StoreError::Invalid(format!(
            "{}: wrong number of values",
            t.name
        )));
    }
    let mut qb = insert_head::<DB>(t);
    DB::push_rows(&mut qb, width, tuple.vals)?;
    Ok(qb)
}

/// [`insert`] that replaces existing rows (by the table's key) in place.
fn upsert<'a, DB, T, F>(
    t: &Table,
    rows: &[&'a T],
    row: F,
) -> Result<QueryBuilder<'a, DB>, StoreError>
where
    DB: Backend,
    F: FnMut(&mut Tuple<'a>, &'a T) -> Result<(), StoreError>,
{
    let mut qb = insert(t, rows, row)?;
    qb.push(" ON CONFLICT (");
    qb.push(t.key.join(", "));
    qb.push(") DO UPDATE SET ");
    let set: Vec<String> = t
        .columns
        .iter()
        .filter(|c| !t.key.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    qb.push(set.join(", "));
    Ok(qb)
}

fn delete_by_id<'a, DB: Backend>(table: &str, ids: &[Uuid]) -> QueryBuilder<'a, DB> {
    let mut qb = QueryBuilder::default();
    qb.push("DELETE FROM ");
    qb.push(table);
    qb.push(" WHERE id");
    DB::push_in_uuids(&mut qb, ids);
    qb
}

fn builtin_role(k: &RoleKey) -> StoreError {
    StoreError::Invalid(format!("built-in role `{}` is not stored", k.id))
}

/// Identity of the entity a change touches, to cut runs where it repeats.
#[derive(PartialEq, Eq, Hash)]
enum Key<'a> {
    Id(Uuid),
    Role(Option<OrganizationId>, &'a str),
}

fn key(c: &Change) -> Key<'_> {
    match c {
        Change::PutOrganization(o) => Key::Id(o.id.0),
        Change::DeleteOrganization(id) => Key::Id(id.0),
        Change::PutAccount(a) => Key::Id(a.id.0),
        Change::DeleteAccount(id) => Key::Id(id.0),
        Change::PutUser(u) => Key::Id(u.id.0),
        Change::PutMembership(m) => Key::Id(m.id.0),
        Change::DeleteMembership(id) => Key::Id(id.0),
        Change::PutPermission(p) => Key::Id(p.id.0),
        Change::DeletePermission(id) => Key::Id(id.0),
        Change::PutRole(r) => Key::Role(r.organization_id, r.id.as_str()),
        Change::DeleteRole(k) => Key::Role(k.organization_id, k.id.as_str()),
        Change::PutGrant(g) => Key::Id(g.id.0),
        Change::DeleteGrant(k) => Key::Id(k.id.0),
        Change::PutApiKey(k) => Key::Id(k.id.0),
    }
}

/// Splits changes into runs of one kind, no entity twice, at most `max` changes.
pub(crate) fn runs<'a>(
    changes: impl IntoIterator<Item = &'a Change>,
    max: usize,
) -> Vec<Vec<&'a Change>> {
    let mut out: Vec<Vec<&'a Change>> = Vec::new();
    let mut kind: Option<Discriminant<Change>> = None;
    let mut seen: HashSet<Key<'a>> = HashSet::new();
    for c in changes {
        let d = std::mem::discriminant(c);
        let k = key(c);
        let fits =
            kind == Some(d) && !seen.contains(&k) && out.last().is_some_and(|r| r.len() < max);
        match out.last_mut() {
            Some(run) if fits => run.push(c),
            _ => {
                out.push(vec![c]);
                kind = Some(d);
                seen.clear();
            }
        }
        seen.insert(k);
    }
    out
}

macro_rules! collect {
    ($run:expr, $variant:path) => {
        $run.iter()
            .filter_map(|c| match c {
                $variant(v) => Some(v),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// The statement of one run (from [`runs`]).
pub(crate) fn statement<'a, DB: Backend>(
    run: &[&'a Change],
) -> Result<QueryBuilder<'a, DB>, StoreError> {
    let Some(first) = run.first() else {
        return Err(StoreError::Invalid("empty run".into()));
    };
    match first {
        Change::PutOrganization(_) => upsert(
            &ORGANIZATIONS,
            &collect!(run, Change::PutOrganization),
            |t, o: &'a Organization| {
                t.uuid(o.id.0)
                    .str(o.name.as_str())
                    .str(o.slug.as_str())
                    .rev(o.revision)?;
                t.ts(o.created_at)?.ts(o.updated_at)?;
                Ok(())
            },
        ),
        Change::DeleteOrganization(_) => {
            let ids: Vec<Uuid> = collect!(run, Change::DeleteOrganization)
                .iter()
                .map(|i| i.0)
                .collect();
            Ok(delete_by_id("organizations", &ids))
        }
        Change::PutAccount(_) => upsert(
            &ACCOUNTS,
            &collect!(run, Change::PutAccount),
            |t, a: &'a Account| {
                t.uuid(a.id.0)
                    .uuid(a.organization_id.0)
                    .str(a.name.as_str());
                t.str(a.kind.as_str())
                    .str(a.status.as_str())
                    .rev(a.revision)?;
                t.ts(a.created_at)?.ts(a.updated_at)?;
                Ok(())
            },
        ),
        Change::DeleteAccount(_) => {
            let ids: Vec<Uuid> = collect!(run, Change::DeleteAccount)
                .iter()
                .map(|i| i.0)
                .collect();
            Ok(delete_by_id("accounts", &ids))
        }
        Change::PutUser(_) => upsert(&USERS, &collect!(run, Change::PutUser), |t, u: &'a User| {
            t.uuid(u.id.0)
                .uuid(u.organization_id.0)
                .str(u.email.as_str())
                .string(u.email.key());
            t.opt_str(u.first_name.as_ref().map(|n| n.as_str()));
            t.opt_str(u.last_name.as_ref().map(|n| n.as_str()));
            t.opt_json(u.phone.as_ref())?
                .opt_json(u.settings.as_ref())?
                .json(&u.external_ids)?;
            t.str(u.status.as_str())
                .ts(u.created_at)?
                .opt_uuid(u.created_by.map(|i| i.0));
            t.ts(u.updated_at)?
                .opt_uuid(u.updated_by.map(|i| i.0))
                .opt_ts(u.deleted_at)?;
            t.rev(u.revision)?;
            Ok(())
        }),
        Change::PutMembership(_) => upsert(
            &MEMBERSHIPS,
            &collect!(run, Change::PutMembership),
            |t, m: &'a Membership| {
                t.uuid(m.id.0)
                    .uuid(m.user_id.0)
                    .uuid(m.account_id.0)
                    .str(m.status.as_str());
                t.json(&m.groups)?
                    .opt_ts(m.invited_at)?
                    .opt_ts(m.joined_at)?;
                t.opt_ts(m.last_access_at)?
                    .ts(m.created_at)?
                    .opt_uuid(m.created_by.map(|i| i.0));
                t.rev(m.revision)?;
                Ok(())
            },
        ),
        Change::DeleteMembership(_) => {
            let ids: Vec<Uuid> = collect!(run, Change::DeleteMembership)
                .iter()
                .map(|i| i.0)
                .collect();
            Ok(delete_by_id("memberships", &ids))
        }
        Change::PutPermission(_) => upsert(
            &PERMISSIONS,
            &collect!(run, Change::PutPermission),
            |t, p: &'a Permission| {
                t.uuid(p.id.0).str(p.code.as_str()).str(&p.description);
                t.opt_uuid(p.organization_id.map(|o| o.0)).rev(p.revision)?;
                Ok(())
            },
        ),
        Change::DeletePermission(_) => {
            let ids: Vec<Uuid> = collect!(run, Change::DeletePermission)
                .iter()
                .map(|i| i.0)
                .collect();
            Ok(delete_by_id("permissions", &ids))
        }
        Change::PutRole(_) => upsert(&ROLES, &collect!(run, Change::PutRole), |t, r: &'a Role| {
            let org = r.organization_id.ok_or_else(|| builtin_role(&r.key()))?;
            t.uuid(org.0)
                .str(r.id.as_str())
                .str(r.name.as_str())
                .str(&r.description);
            t.json(&r.permissions)?.rev(r.revision)?;
            Ok(())
        }),
        Change::DeleteRole(_) => {
            let keys = collect!(run, Change::DeleteRole);
            let mut qb = QueryBuilder::default();
            qb.push("DELETE FROM roles WHERE ");
            for (i, k) in keys.iter().enumerate() {
                let org = k.organization_id.ok_or_else(|| builtin_role(k))?;
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push("(organization_id = ");
                DB::bind_uuid(&mut qb, Some(org.0));
                qb.push(" AND id = ");
                DB::bind_str(&mut qb, Some(k.id.as_str()));
                qb.push(")");
            }
            Ok(qb)
        }
        Change::PutGrant(_) => upsert(
            &GRANTS,
            &collect!(run, Change::PutGrant),
            |t, g: &'a Grant| {
                t.uuid(g.id.0).uuid(g.user_id.0);
                match &g.target {
                    GrantTarget::Role(k) => t
                        .opt_uuid(k.organization_id.map(|o| o.0))
                        .str(k.id.as_str())
                        .opt_uuid(None),
                    GrantTarget::Permission(p) => t.opt_uuid(None).opt_str(None).uuid(p.0),
                };
                let (kind, id) = scope_cols(&g.scope);
                t.str(kind)
                    .opt_uuid(id)
                    .ts(g.created_at)?
                    .opt_uuid(g.created_by.map(|i| i.0));
                t.rev(g.revision)?;
                Ok(())
            },
        ),
        Change::DeleteGrant(_) => {
            let ids: Vec<Uuid> = collect!(run, Change::DeleteGrant)
                .iter()
                .map(|k| k.id.0)
                .collect();
            Ok(delete_by_id("grants", &ids))
        }
        Change::PutApiKey(_) => upsert(
            &API_KEYS,
            &collect!(run, Change::PutApiKey),
            |t, k: &'a ApiKey| {
                t.uuid(k.id.0)
                    .str(&k.key_id)
                    .uuid(k.user_id.0)
                    .str(k.name.as_str())
                    .str(&k.secret_hash);
                t.ts(k.created_at)?.opt_uuid(k.created_by.map(|i| i.0));
                t.opt_ts(k.expires_at)?
                    .opt_ts(k.revoked_at)?
                    .rev(k.revision)?;
                Ok(())
            },
        ),
    }
}

/// `INSERT INTO audit_events .. RETURNING seq` for at most [`Backend::MAX_ROWS`] events.
pub(crate) fn insert_audit<'a, DB: Backend>(
    events: &[&'a AuditEvent],
) -> Result<QueryBuilder<'a, DB>, StoreError> {
    let mut qb = insert(&AUDIT_EVENTS, events, |t, e: &'a AuditEvent| {
        t.ts(e.at)?
            .opt_uuid(e.actor_id.map(|i| i.0))
            .str(&e.action)
            .str(&e.target_type);
        t.str(&e.target_id).opt_uuid(e.organization_id.map(|o| o.0));
        t.opt_uuid(e.account_id.map(|a| a.0))
            .opt_json(e.before.as_ref())?;
        t.opt_json(e.after.as_ref())?
            .opt_str(e.request_id.as_deref())
            .rev(e.revision)?;
        Ok(())
    })?;
    qb.push(" RETURNING seq");
    Ok(qb)
}

/// `INSERT INTO changes ..`: one row per commit.
pub(crate) fn insert_changes<'a, DB: Backend>(
    commits: &[&'a crate::Commit],
) -> Result<QueryBuilder<'a, DB>, StoreError> {
    insert(&CHANGES, commits, |t, c: &'a crate::Commit| {
        t.rev(c.revision)?.json(&c.changes)?;
        Ok(())
    })
}

/// `SELECT .. FROM audit_events WHERE ..` for a filter (`None` when the
/// filter cannot match anything).
pub(crate) fn select_audit<DB: Backend>(
    f: &crate::AuditFilter,
) -> Option<QueryBuilder<'static, DB>> {
    if f.limit == 0 || f.organization_ids.as_ref().is_some_and(|o| o.is_empty()) {
        return None;
    }
    let mut qb = QueryBuilder::default();
    qb.push("SELECT ");
    qb.push(crate::codec::AUDIT_COLUMNS);
    qb.push(" FROM audit_events WHERE 1 = 1");
    if let Some(a) = f.actor_id {
        qb.push(" AND actor_id = ");
        DB::bind_uuid(&mut qb, Some(a.0));
    }
    if let Some(t) = &f.target_id {
        qb.push(" AND target_id = ");
        DB::bind_string(&mut qb, t.clone());
    }
    if let Some(orgs) = &f.organization_ids {
        let ids: Vec<Uuid> = orgs.iter().map(|o| o.0).collect();
        qb.push(" AND organization_id");
        DB::push_in_uuids(&mut qb, &ids);
    }
    if let Some(after) = f.after {
        qb.push(" AND seq > ");
        DB::bind_int(&mut qb, after);
    }
    qb.push(" ORDER BY seq LIMIT ");
    DB::bind_int(&mut qb, i64::from(f.limit));
    Some(qb)
}

/// Checks that commit `n` (from 0) of a batch on `base` has revision `base + n + 1`.
pub(crate) fn check_revisions(base: Revision, commits: &[crate::Commit]) -> Result<(), StoreError> {
    for (n, c) in commits.iter().enumerate() {
        let want = base.checked_add(n as u64 + 1);
        if want != Some(c.revision) {
            return Err(StoreError::Invalid(format!(
                "commit {n} of a batch on revision {base} has revision {}, expected {}",
                c.revision,
                base.saturating_add(n as u64 + 1)
            )));
        }
    }
    Ok(())
}

/// The sequence numbers an audit insert of `n` rows returned, in insertion
/// order (writers are serialized, so one statement's numbers ascend with its
/// rows).
pub(crate) fn sorted_seqs(n: usize, mut got: Vec<i64>) -> Result<Vec<i64>, StoreError> {
    if got.len() != n {
        return Err(StoreError::Corrupt(format!(
            "inserted {n} audit events but got {} sequence numbers",
            got.len()
        )));
    }
    got.sort_unstable();
    Ok(got)
}

/// The events with their assigned sequence numbers.
pub(crate) fn numbered(events: &[&AuditEvent], seqs: Vec<i64>) -> Vec<AuditEvent> {
    events
        .iter()
        .zip(seqs)
        .map(|(e, seq)| AuditEvent {
            seq,
            ..(*e).clone()
        })
        .collect()
}
