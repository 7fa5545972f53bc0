//! The demo data set (`roster serve --demo`): one organization with the ids,
//! keys and tokens that the seed documents' example requests use, so that
//! each example, sent as written to localhost, gets its documented answer.
//!
//! INVARIANT: these credentials are public (they are in the docs). They are
//! created only with `--demo`, never by a plain start.

use crate::error::ApiError;
use crate::state::AppState;
use roster_domain::ops::{
    self, GrantSubject, NewAccount, NewApiKey, NewMembership, NewOrganization, NewPermission,
    NewUser,
};
use roster_domain::*;
use time::OffsetDateTime;
use uuid::{uuid, Uuid};

/// The demo organization.
pub const ORG: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f11");
/// Its operations account.
pub const OPERATIONS_ACCOUNT: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f21");
/// A client account.
pub const CLIENT_ACCOUNT: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f22");
/// A second client account.
pub const VENDOR_ACCOUNT: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f23");
/// The demo administrator (acts for every dialect's example).
pub const ADMIN: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f31");
/// The user Crux's example adds permissions to.
pub const CRUX_USER: Uuid = uuid!("5de38a8e-800e-4cba-84c5-ee6c27f304d8");
/// A plain member.
pub const MEMBER: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f32");
/// The member's membership in the client account (Fynn's `{id}`).
pub const MEMBER_MEMBERSHIP: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f41");
/// The admin's membership in the client account.
pub const ADMIN_MEMBERSHIP: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f42");
/// The Crux user's membership in the client account.
pub const CRUX_MEMBERSHIP: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f43");
/// A group of the demo organization (SoftwareOne's `groups` and the native
/// groups API's examples); it holds `viewer` on the vendor account.
pub const BILLING_GROUP: Uuid = uuid!("0d3f6a2e-5b1c-4e8a-9f7d-2c4b6a8e0f51");
/// First permission of Crux's example.
pub const CRUX_PERMISSION_1: Uuid = uuid!("2a0295b6-dd74-4239-9988-24fcdb1adcea");
/// Second permission of Crux's example.
pub const CRUX_PERMISSION_2: Uuid = uuid!("05a46c58-9d13-4912-9167-7effc2cc7482");
/// The token of Crux's example (`Authorization: Token …`); it acts as [`ADMIN`].
pub const CRUX_TOKEN: &str = "47d4yfbwymedhiudj384702984nakju4hajh395d";
/// The admin's bearer token for the other dialects and the native API.
pub const ADMIN_TOKEN: &str = "roster_d3m0000000000001_demo-admin-token-not-secret";
/// Yuno's `PUBLIC-API-KEY` for the admin.
pub const YUNO_PUBLIC_KEY: &str = "d3m0000000000002";
/// Yuno's `PRIVATE-SECRET-KEY` for the admin.
pub const YUNO_PRIVATE_KEY: &str = "roster_d3m0000000000002_demo-yuno-secret-not-secret";
/// The member's bearer token (for self-guard demonstrations).
pub const MEMBER_TOKEN: &str = "roster_d3m0000000000003_demo-member-token-not-secret";

fn name(s: &str) -> Result<DisplayName, DomainError> {
    DisplayName::parse(s)
}

/// Loads the demo data set unless it is there already.
pub async fn load(state: &AppState) -> Result<(), ApiError> {
    if state
        .engine
        .snapshot()
        .organization(OrganizationId(ORG))
        .is_some()
    {
        return Ok(());
    }
    let ctx = Context::system(OffsetDateTime::now_utc());
    state.writer.write(ctx, build).await?;
    tracing::info!("demo data set loaded");
    Ok(())
}

fn build(d: &mut Draft<'_>) -> Result<(), DomainError> {
    let org = OrganizationId(ORG);
    ops::create_organization(
        d,
        NewOrganization {
            id: Some(org),
            name: name("Demo Company")?,
            slug: Some(Slug::parse("demo")?),
        },
    )?;
    for (id, n, kind) in [
        (
            OPERATIONS_ACCOUNT,
            "Demo Operations",
            AccountType::Operations,
        ),
        (CLIENT_ACCOUNT, "Demo Client", AccountType::Client),
        (VENDOR_ACCOUNT, "Demo Vendor", AccountType::Vendor),
    ] {
        ops::create_account(
            d,
            NewAccount {
                id: Some(AccountId(id)),
                organization_id: org,
                name: name(n)?,
                kind,
                status: None,
            },
        )?;
    }
    let person = |id: Uuid, email: &str, first: &str, last: &str| -> Result<NewUser, DomainError> {
        Ok(NewUser {
            id: Some(UserId(id)),
            organization_id: org,
            email: Email::parse(email)?,
            first_name: Some(PersonName::parse(first)?),
            last_name: Some(PersonName::parse(last)?),
            phone: None,
            settings: None,
            external_ids: Default::default(),
            status: None,
        })
    };
    let admin = ops::create_user(d, person(ADMIN, "admin@demo.example", "Ada", "Admin")?)?;
    let crux = ops::create_user(
        d,
        person(CRUX_USER, "crux.user@demo.example", "Carl", "Crux")?,
    )?;
    let member = ops::create_user(d, person(MEMBER, "member@demo.example", "Mia", "Member")?)?;
    for (id, n, code) in [
        (CRUX_PERMISSION_1, "view reports", "reports:view"),
        (CRUX_PERMISSION_2, "export reports", "reports:export"),
    ] {
        ops::create_permission(
            d,
            NewPermission {
                id: Some(PermissionId(id)),
                organization_id: org,
                code: PermissionCode::parse(code)?,
                description: Description::parse(n)?,
            },
        )?;
    }
    for (id, user) in [
        (ADMIN_MEMBERSHIP, &admin),
        (MEMBER_MEMBERSHIP, &member),
        (CRUX_MEMBERSHIP, &crux),
    ] {
        ops::add_member(
            d,
            NewMembership {
                id: Some(MembershipId(id)),
                account_id: AccountId(CLIENT_ACCOUNT),
                user_id: user.id,
                status: None,
                groups: vec![],
            },
        )?;
    }
    let org_scope = Scope::Organization(org);
    ops::create_grant(
        d,
        admin.id,
        ops::NewGrant {
            subject: GrantSubject::Role(RoleId::parse("admin")?),
            scope: org_scope,
            expires_at: None,
        },
    )?;
    for p in [CRUX_PERMISSION_1, CRUX_PERMISSION_2] {
        ops::create_grant(
            d,
            admin.id,
            ops::NewGrant {
                subject: GrantSubject::Permission(PermissionId(p)),
                scope: org_scope,
                expires_at: None,
            },
        )?;
    }
    ops::create_grant(
        d,
        member.id,
        ops::NewGrant {
            subject: GrantSubject::Role(RoleId::parse("account")?),
            scope: Scope::Account(AccountId(CLIENT_ACCOUNT)),
            expires_at: None,
        },
    )?;
    ops::create_grant(
        d,
        crux.id,
        ops::NewGrant {
            subject: GrantSubject::Role(RoleId::parse("viewer")?),
            scope: Scope::Account(AccountId(CLIENT_ACCOUNT)),
            expires_at: None,
        },
    )?;
    let billing = ops::create_group(
        d,
        ops::NewGroup {
            id: Some(GroupId(BILLING_GROUP)),
            organization_id: org,
            name: name("Billing")?,
            description: Some(Description::parse("Reads the vendor account")?),
        },
    )?;
    ops::create_grant(
        d,
        billing.id,
        ops::NewGrant {
            subject: GrantSubject::Role(RoleId::parse("viewer")?),
            scope: Scope::Account(AccountId(VENDOR_ACCOUNT)),
            expires_at: None,
        },
    )?;
    for (key_id, secret, user, n) in [
        ("d3m0000000000001", ADMIN_TOKEN, admin.id, "demo admin"),
        ("d3m0000000000002", YUNO_PRIVATE_KEY, admin.id, "demo yuno"),
        ("d3m0000000000003", MEMBER_TOKEN, member.id, "demo member"),
        ("d3m0000000000004", CRUX_TOKEN, admin.id, "demo crux"),
    ] {
        ops::create_api_key(
            d,
            NewApiKey {
                scopes: None,
                user_id: user,
                name: name(n)?,
                expires_at: None,
                key_id: key_id.to_owned(),
                secret: secret.to_owned(),
            },
        )?;
    }
    Ok(())
}
