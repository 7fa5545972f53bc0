//! Reading rows into domain values, shared by both backends.
//!
//! Each backend exposes its rows through [`Cols`] (positional, typed access),
//! and the decoders here turn a row of a `SELECT` below into a [`Change`]
//! that [`roster_domain::Model::apply`] consumes. Timestamps keep microsecond
//! precision on both backends.

use crate::error::StoreError;
use roster_domain::*;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use uuid::Uuid;

/// Positional typed access to a row. `what` names the column in errors.
pub(crate) trait Cols {
    fn str(&self, i: usize, what: &str) -> Result<&str, StoreError>;
    fn opt_str(&self, i: usize, what: &str) -> Result<Option<&str>, StoreError>;
    fn uuid(&self, i: usize, what: &str) -> Result<Uuid, StoreError>;
    fn opt_uuid(&self, i: usize, what: &str) -> Result<Option<Uuid>, StoreError>;
    fn ts(&self, i: usize, what: &str) -> Result<OffsetDateTime, StoreError>;
    fn opt_ts(&self, i: usize, what: &str) -> Result<Option<OffsetDateTime>, StoreError>;
    fn int(&self, i: usize, what: &str) -> Result<i64, StoreError>;
}

/// Maps a column decoding error to [`StoreError::Corrupt`].
pub(crate) fn col_err(what: &str, e: sqlx::Error) -> StoreError {
    StoreError::corrupt(what, e)
}

// ----- timestamps ---------------------------------------------------------

/// Drops sub-microsecond precision (both backends keep microseconds).
pub(crate) fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Formats a timestamp as fixed-width UTC RFC 3339 with six fractional
/// digits, `2024-01-02T03:04:05.123456Z` (text order is time order).
pub(crate) fn format_ts(t: OffsetDateTime) -> Result<String, StoreError> {
    let u = t
        .checked_to_offset(UtcOffset::UTC)
        .filter(|u| (0..=9999).contains(&u.year()))
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {t} is out of range")))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        u.year(),
        u8::from(u.month()),
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        u.microsecond()
    ))
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_fixed(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 27
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.get(19) != Some(&b'.')
        || b.get(26) != Some(&b'Z')
    {
        return None;
    }
    let year = i32::try_from(digits(b.get(0..4)?)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(b.get(5..7)?)?).ok()?).ok()?;
    let day = u8::try_from(digits(b.get(8..10)?)?).ok()?;
    let hour = u8::try_from(digits(b.get(11..13)?)?).ok()?;
    let minute = u8::try_from(digits(b.get(14..16)?)?).ok()?;
    let second = u8::try_from(digits(b.get(17..19)?)?).ok()?;
    let micro = digits(b.get(20..26)?)?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms_micro(hour, minute, second, micro).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Parses a timestamp written by [`format_ts`] (fast path) or any RFC 3339 text.
pub(crate) fn parse_ts(s: &str, what: &str) -> Result<OffsetDateTime, StoreError> {
    match parse_fixed(s) {
        Some(t) => Ok(t),
        None => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| StoreError::corrupt(what, e)),
    }
}

// ----- small helpers --------------------------------------------------------

pub(crate) fn revision(v: i64, what: &str) -> Result<Revision, StoreError> {
    u64::try_from(v).map_err(|e| StoreError::corrupt(what, e))
}

pub(crate) fn rev_to_i64(r: Revision) -> Result<i64, StoreError> {
    i64::try_from(r).map_err(|_| StoreError::Invalid(format!("revision {r} is out of range")))
}

fn json<T: DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::corrupt(what, e))
}

fn opt_json<T: DeserializeOwned>(s: Option<&str>, what: &str) -> Result<Option<T>, StoreError> {
    s.map(|s| json(s, what)).transpose()
}

fn domain<T>(r: Result<T, DomainError>, what: &str) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::corrupt(what, e))
}

fn parse_scope(kind: &str, id: Option<Uuid>) -> Result<Scope, StoreError> {
    let need = |id: Option<Uuid>| {
        id.ok_or_else(|| StoreError::Corrupt(format!("grants.scope_id: missing for `{kind}`")))
    };
    Ok(match kind {
        "global" => Scope::Global,
        "organization" => Scope::Organization(OrganizationId(need(id)?)),
        "accounts" => Scope::Accounts(OrganizationId(need(id)?)),
        "account" => Scope::Account(AccountId(need(id)?)),
        other => return Err(StoreError::Corrupt(format!("grants.scope_kind: `{other}`"))),
    })
}

/// The scope as `(kind, id)` columns.
pub(crate) fn scope_cols(s: &Scope) -> (&'static str, Option<Uuid>) {
    match *s {
        Scope::Global => ("global", None),
        Scope::Organization(o) => ("organization", Some(o.0)),
        Scope::Accounts(o) => ("accounts", Some(o.0)),
        Scope::Account(a) => ("account", Some(a.0)),
    }
}

// ----- entity selects and decoders ----------------------------------------
//
// JSON columns are read through `CAST(.. AS TEXT)`, which both backends
// accept, so the decoders see text everywhere.

const ORGANIZATIONS: Read = Read {
    table: "organizations",
    columns: "id, name, slug, revision, created_at, updated_at",
};

pub(crate) fn organization<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutOrganization(Organization {
        id: OrganizationId(r.uuid(0, "organizations.id")?),
        name: domain(
            DisplayName::parse(r.str(1, "organizations.name")?),
            "organizations.name",
        )?,
        slug: domain(
            Slug::parse(r.str(2, "organizations.slug")?),
            "organizations.slug",
        )?,
        revision: revision(
            r.int(3, "organizations.revision")?,
            "organizations.revision",
        )?,
        created_at: r.ts(4, "organizations.created_at")?,
        updated_at: r.ts(5, "organizations.updated_at")?,
    }))
}

const ACCOUNTS: Read = Read {
    table: "accounts",
    columns: "id, organization_id, name, type, status, revision, created_at, updated_at",
};

pub(crate) fn account<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutAccount(Account {
        id: AccountId(r.uuid(0, "accounts.id")?),
        organization_id: OrganizationId(r.uuid(1, "accounts.organization_id")?),
        name: domain(
            DisplayName::parse(r.str(2, "accounts.name")?),
            "accounts.name",
        )?,
        kind: domain(
            AccountType::parse("type", r.str(3, "accounts.type")?),
            "accounts.type",
        )?,
        status: domain(
            AccountStatus::parse("status", r.str(4, "accounts.status")?),
            "accounts.status",
        )?,
        revision: revision(r.int(5, "accounts.revision")?, "accounts.revision")?,
        created_at: r.ts(6, "accounts.created_at")?,
        updated_at: r.ts(7, "accounts.updated_at")?,
    }))
}

const USERS: Read = Read {
    table: "users",
    columns: "id, organization_id, email, first_name, last_name, \
     CAST(phone AS TEXT), CAST(settings AS TEXT), CAST(external_ids AS TEXT), status, \
     created_at, created_by, updated_at, updated_by, deleted_at, revision",
};

pub(crate) fn user<R: Cols>(r: &R) -> Result<Change, StoreError> {
    let name = |i: usize, what: &str| -> Result<Option<PersonName>, StoreError> {
        r.opt_str(i, what)?
            .map(|s| domain(PersonName::parse(s), what))
            .transpose()
    };
    Ok(Change::PutUser(User {
        id: UserId(r.uuid(0, "users.id")?),
        organization_id: OrganizationId(r.uuid(1, "users.organization_id")?),
        email: domain(Email::parse(r.str(2, "users.email")?), "users.email")?,
        first_name: name(3, "users.first_name")?,
        last_name: name(4, "users.last_name")?,
        phone: opt_json(r.opt_str(5, "users.phone")?, "users.phone")?,
        settings: opt_json(r.opt_str(6, "users.settings")?, "users.settings")?,
        external_ids: json(r.str(7, "users.external_ids")?, "users.external_ids")?,
        status: domain(
            UserStatus::parse("status", r.str(8, "users.status")?),
            "users.status",
        )?,
        created_at: r.ts(9, "users.created_at")?,
        created_by: r.opt_uuid(10, "users.created_by")?.map(UserId),
        updated_at: r.ts(11, "users.updated_at")?,
        updated_by: r.opt_uuid(12, "users.updated_by")?.map(UserId),
        deleted_at: r.opt_ts(13, "users.deleted_at")?,
        revision: revision(r.int(14, "users.revision")?, "users.revision")?,
    }))
}

const MEMBERSHIPS: Read = Read {
    table: "memberships",
    columns: "id, user_id, account_id, status, \
     CAST(group_names AS TEXT), invited_at, joined_at, last_access_at, created_at, created_by, \
     revision",
};

pub(crate) fn membership<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutMembership(Membership {
        id: MembershipId(r.uuid(0, "memberships.id")?),
        user_id: UserId(r.uuid(1, "memberships.user_id")?),
        account_id: AccountId(r.uuid(2, "memberships.account_id")?),
        status: domain(
            MembershipStatus::parse("status", r.str(3, "memberships.status")?),
            "memberships.status",
        )?,
        groups: json(
            r.str(4, "memberships.group_names")?,
            "memberships.group_names",
        )?,
        invited_at: r.opt_ts(5, "memberships.invited_at")?,
        joined_at: r.opt_ts(6, "memberships.joined_at")?,
        last_access_at: r.opt_ts(7, "memberships.last_access_at")?,
        created_at: r.ts(8, "memberships.created_at")?,
        created_by: r.opt_uuid(9, "memberships.created_by")?.map(UserId),
        revision: revision(r.int(10, "memberships.revision")?, "memberships.revision")?,
    }))
}

const PERMISSIONS: Read = Read {
    table: "permissions",
    columns: "id, code, description, organization_id, revision",
};

pub(crate) fn permission<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutPermission(Permission {
        id: PermissionId(r.uuid(0, "permissions.id")?),
        code: domain(
            PermissionCode::parse(r.str(1, "permissions.code")?),
            "permissions.code",
        )?,
        description: r.str(2, "permissions.description")?.to_owned(),
        organization_id: r
            .opt_uuid(3, "permissions.organization_id")?
            .map(OrganizationId),
        revision: revision(r.int(4, "permissions.revision")?, "permissions.revision")?,
    }))
}

const ROLES: Read = Read {
    table: "roles",
    columns: "organization_id, id, name, description, \
     CAST(permission_ids AS TEXT), revision",
};

pub(crate) fn role<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutRole(Role {
        organization_id: Some(OrganizationId(r.uuid(0, "roles.organization_id")?)),
        id: domain(RoleId::parse(r.str(1, "roles.id")?), "roles.id")?,
        name: domain(DisplayName::parse(r.str(2, "roles.name")?), "roles.name")?,
        description: r.str(3, "roles.description")?.to_owned(),
        permissions: json(r.str(4, "roles.permission_ids")?, "roles.permission_ids")?,
        revision: revision(r.int(5, "roles.revision")?, "roles.revision")?,
    }))
}

const GRANTS: Read = Read {
    table: "grants",
    columns: "id, user_id, role_organization_id, role_id, \
     permission_id, scope_kind, scope_id, created_at, created_by, revision",
};

pub(crate) fn grant<R: Cols>(r: &R) -> Result<Change, StoreError> {
    let role_org = r.opt_uuid(2, "grants.role_organization_id")?;
    let role_id = r.opt_str(3, "grants.role_id")?;
    let permission_id = r.opt_uuid(4, "grants.permission_id")?;
    let target = match (role_id, permission_id) {
        (Some(id), None) => GrantTarget::Role(RoleKey {
            organization_id: role_org.map(OrganizationId),
            id: domain(RoleId::parse(id), "grants.role_id")?,
        }),
        (None, Some(p)) => GrantTarget::Permission(PermissionId(p)),
        _ => {
            return Err(StoreError::Corrupt(
                "grants: exactly one of role_id and permission_id must be set".into(),
            ))
        }
    };
    Ok(Change::PutGrant(Grant {
        id: GrantId(r.uuid(0, "grants.id")?),
        user_id: UserId(r.uuid(1, "grants.user_id")?),
        target,
        scope: parse_scope(
            r.str(5, "grants.scope_kind")?,
            r.opt_uuid(6, "grants.scope_id")?,
        )?,
        created_at: r.ts(7, "grants.created_at")?,
        created_by: r.opt_uuid(8, "grants.created_by")?.map(UserId),
        revision: revision(r.int(9, "grants.revision")?, "grants.revision")?,
    }))
}

const API_KEYS: Read = Read {
    table: "api_keys",
    columns: "id, key_id, user_id, name, secret_hash, \
     created_at, created_by, expires_at, revoked_at, revision",
};

pub(crate) fn api_key<R: Cols>(r: &R) -> Result<Change, StoreError> {
    Ok(Change::PutApiKey(ApiKey {
        id: ApiKeyId(r.uuid(0, "api_keys.id")?),
        key_id: r.str(1, "api_keys.key_id")?.to_owned(),
        user_id: UserId(r.uuid(2, "api_keys.user_id")?),
        name: domain(
            DisplayName::parse(r.str(3, "api_keys.name")?),
            "api_keys.name",
        )?,
        secret_hash: r.str(4, "api_keys.secret_hash")?.to_owned(),
        created_at: r.ts(5, "api_keys.created_at")?,
        created_by: r.opt_uuid(6, "api_keys.created_by")?.map(UserId),
        expires_at: r.opt_ts(7, "api_keys.expires_at")?,
        revoked_at: r.opt_ts(8, "api_keys.revoked_at")?,
        revision: revision(r.int(9, "api_keys.revision")?, "api_keys.revision")?,
    }))
}

/// An entity table and the columns its decoder reads, in order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Read {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static str,
}

impl Read {
    /// `SELECT <columns> FROM <table>`.
    pub(crate) fn select(&self) -> String {
        format!("SELECT {} FROM {}", self.columns, self.table)
    }
}

/// A decoder of one entity table.
pub(crate) type Decoder<R> = fn(&R) -> Result<Change, StoreError>;

/// Every entity table with its decoder, in an order that keeps references
/// resolvable (the model does not require it, but it reads naturally).
pub(crate) fn tables<R: Cols>() -> [(Read, Decoder<R>); 8] {
    [
        (ORGANIZATIONS, organization::<R>),
        (ACCOUNTS, account::<R>),
        (USERS, user::<R>),
        (MEMBERSHIPS, membership::<R>),
        (PERMISSIONS, permission::<R>),
        (ROLES, role::<R>),
        (GRANTS, grant::<R>),
        (API_KEYS, api_key::<R>),
    ]
}

/// Columns of an audit event, in the order [`audit_event`] reads them.
pub(crate) const AUDIT_COLUMNS: &str = "seq, occurred_at, actor_id, action, target_type, \
     target_id, organization_id, account_id, CAST(state_before AS TEXT), \
     CAST(state_after AS TEXT), request_id, revision";

pub(crate) fn audit_event<R: Cols>(r: &R) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: r.int(0, "audit_events.seq")?,
        at: r.ts(1, "audit_events.occurred_at")?,
        actor_id: r.opt_uuid(2, "audit_events.actor_id")?.map(UserId),
        action: r.str(3, "audit_events.action")?.to_owned(),
        target_type: r.str(4, "audit_events.target_type")?.to_owned(),
        target_id: r.str(5, "audit_events.target_id")?.to_owned(),
        organization_id: r
            .opt_uuid(6, "audit_events.organization_id")?
            .map(OrganizationId),
        account_id: r.opt_uuid(7, "audit_events.account_id")?.map(AccountId),
        before: opt_json(
            r.opt_str(8, "audit_events.state_before")?,
            "audit_events.state_before",
        )?,
        after: opt_json(
            r.opt_str(9, "audit_events.state_after")?,
            "audit_events.state_after",
        )?,
        request_id: r.opt_str(10, "audit_events.request_id")?.map(str::to_owned),
        revision: revision(r.int(11, "audit_events.revision")?, "audit_events.revision")?,
    })
}

/// One row of the change log.
pub(crate) fn change_row<R: Cols>(r: &R) -> Result<(Revision, Vec<Change>), StoreError> {
    let rev = revision(r.int(0, "changes.revision")?, "changes.revision")?;
    let body = json(r.str(1, "changes.body")?, "changes.body")?;
    Ok((rev, body))
}

/// What the SQLite loader asks first, to size the model (`Model::reserve`):
/// about how many users and accounts there are. The largest rowid
/// is read from the end of each table's B-tree (a `count(*)` would read the
/// whole table, tens of seconds at ten million grants).
pub(crate) const SQLITE_SIZES: &str = "SELECT coalesce((SELECT max(rowid) FROM users), 0), \
     coalesce((SELECT max(rowid) FROM accounts), 0)";

/// The same for PostgreSQL, from the planner's row estimates (0 before the
/// first `ANALYZE`).
pub(crate) const PG_SIZES: &str = "SELECT \
     (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'users'::regclass), \
     (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'accounts'::regclass)";

/// What a backend's model reader hands [`assemble`]: first the sizes, then
/// rows in whatever unit the backend reads them.
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
    model.set_revision(revision(rev, "meta.revision")?);
    Ok(model)
}

/// The model sized for `sizes` (from [`SQLITE_SIZES`] or [`PG_SIZES`]).
pub(crate) fn sized_model((users, accounts): (i64, i64)) -> Model {
    let n = |v: i64| usize::try_from(v).unwrap_or(0);
    let mut model = Model::new();
    model.reserve(n(users), n(accounts));
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        for t in [
            datetime!(2024-02-29 23:59:59.123456 UTC),
            datetime!(1970-01-01 00:00:00 UTC),
            datetime!(0001-01-01 00:00:00.000001 UTC),
            datetime!(9999-12-31 23:59:59.999999 UTC),
            datetime!(2024-06-01 02:30:00.5 +02:00),
        ] {
            let s = format_ts(t).unwrap();
            assert_eq!(s.len(), 27, "{s}");
            assert_eq!(parse_ts(&s, "t").unwrap(), t);
        }
        let t = datetime!(2024-01-01 00:00:00.123456789 UTC);
        assert_eq!(
            parse_ts(&format_ts(t).unwrap(), "t").unwrap(),
            datetime!(2024-01-01 00:00:00.123456 UTC)
        );
        assert_eq!(
            truncate_micros(t),
            datetime!(2024-01-01 00:00:00.123456 UTC)
        );
        assert_eq!(
            parse_ts("2024-01-01T01:00:00+01:00", "t").unwrap(),
            datetime!(2024-01-01 00:00:00 UTC)
        );
        assert!(parse_ts("2024-13-01T00:00:00.000000Z", "t").is_err());
        assert!(parse_ts("yesterday", "t").is_err());
        let order = [
            format_ts(datetime!(2024-01-01 00:00:00.9 UTC)).unwrap(),
            format_ts(datetime!(2024-01-01 00:00:01 UTC)).unwrap(),
        ];
        assert!(order[0] < order[1]);
    }
}
