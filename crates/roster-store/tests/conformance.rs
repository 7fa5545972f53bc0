//! The store contract, run identically on every backend of
//! `roster_store::testing::test_databases()` (SQLite always, PostgreSQL when
//! `ROSTER_TEST_DATABASE_URL` is set).

// A test file: its fixtures and helpers may fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_domain::catalogue::perms;
use roster_domain::*;
use roster_store::testing::{test_databases, TestDatabase};
use roster_store::{AuditFilter, Commit, EventFilter, Singleton, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::macros::datetime;
use time::OffsetDateTime;

// ----- fixtures ---------------------------------------------------------------

/// Now, at the microsecond precision both backends keep.
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.microsecond() * 1000).unwrap()
}

fn org(slug: &str, rev: Revision) -> Organization {
    Organization {
        id: OrganizationId::new(),
        name: DisplayName::parse(&format!("Org {slug}")).unwrap(),
        slug: Slug::parse(slug).unwrap(),
        revision: rev,
        created_at: now(),
        updated_at: now(),
    }
}

fn account(org: OrganizationId, rev: Revision) -> Account {
    Account {
        id: AccountId::new(),
        organization_id: org,
        name: DisplayName::parse("Main account").unwrap(),
        kind: AccountType::Client,
        status: AccountStatus::Active,
        revision: rev,
        created_at: now(),
        updated_at: now(),
    }
}

fn user(org: OrganizationId, email: &str, rev: Revision) -> User {
    User {
        id: UserId::new(),
        organization_id: org,
        email: Email::parse(email).unwrap(),
        first_name: None,
        last_name: None,
        phone: None,
        settings: None,
        external_ids: BTreeMap::new(),
        status: UserStatus::Active,
        created_at: now(),
        created_by: None,
        updated_at: now(),
        updated_by: None,
        deleted_at: None,
        revision: rev,
    }
}

/// A user with every optional field set.
fn full_user(org: OrganizationId, email: &str, rev: Revision, by: Option<UserId>) -> User {
    User {
        first_name: Some(PersonName::parse("Zoë").unwrap()),
        last_name: Some(PersonName::parse("O'Brien-Łukasz").unwrap()),
        phone: Some(Phone {
            prefix: Some("+34".into()),
            number: Some("600 000 000".into()),
        }),
        settings: Some(Settings {
            culture_code: Some("es-ES".into()),
            language_code: Some("es".into()),
            time_zone: Some("Europe/Madrid".into()),
            date_format: Some("dd/MM/yyyy".into()),
            time_format: None,
            number_format: Some(NumberFormat {
                decimal_separator: Some(",".into()),
                group_separator: Some(".".into()),
            }),
        }),
        external_ids: BTreeMap::from([
            ("crm".to_owned(), "C-1".to_owned()),
            ("erp \"quoted\"".to_owned(), "ü\\n".to_owned()),
        ]),
        status: UserStatus::Invited,
        created_by: by,
        updated_by: by,
        // Microseconds and a non-UTC offset survive (compared as instants).
        created_at: datetime!(2023-05-06 07:08:09.123456 +02:00),
        ..user(org, email, rev)
    }
}

fn membership(user: UserId, account: AccountId, rev: Revision) -> Membership {
    Membership {
        id: MembershipId::new(),
        user_id: user,
        account_id: account,
        status: MembershipStatus::Active,
        groups: vec!["admins".into(), "ops team".into()],
        invited_at: Some(datetime!(2024-01-01 00:00:00.000001 UTC)),
        joined_at: Some(now()),
        last_access_at: None,
        created_at: now(),
        created_by: None,
        revision: rev,
    }
}

fn permission(org: OrganizationId, code: &str, rev: Revision) -> Permission {
    Permission {
        id: PermissionId::new(),
        code: PermissionCode::parse(code).unwrap(),
        description: "a custom permission".into(),
        organization_id: Some(org),
        revision: rev,
    }
}

fn role(org: OrganizationId, id: &str, perms: &[PermissionId], rev: Revision) -> Role {
    Role {
        id: RoleId::parse(id).unwrap(),
        organization_id: Some(org),
        name: DisplayName::parse("Billing admin").unwrap(),
        description: String::new(),
        permissions: perms.iter().copied().collect(),
        revision: rev,
    }
}

fn grant(user: UserId, target: GrantTarget, scope: Scope, rev: Revision) -> Grant {
    Grant {
        id: GrantId::new(),
        holder: user.into(),
        target,
        scope,
        expires_at: None,
        created_at: now(),
        created_by: None,
        revision: rev,
    }
}

fn builtin(id: &str) -> GrantTarget {
    GrantTarget::Role(RoleKey {
        organization_id: None,
        id: RoleId::parse(id).unwrap(),
    })
}

fn api_key(user: UserId, rev: Revision) -> ApiKey {
    let id = ApiKeyId::new();
    ApiKey {
        id,
        key_id: format!("rk_{}", id.0.simple()),
        user_id: user,
        name: DisplayName::parse("ci").unwrap(),
        secret_hash: format!("{:064x}", id.0.as_u128()),
        created_at: now(),
        created_by: Some(user),
        expires_at: Some(datetime!(2999-12-31 23:59:59.999999 UTC)),
        revoked_at: None,
        scopes: Some(vec![perms::grants_read(), perms::users_read()]),
        revision: rev,
    }
}

fn signing_key(algorithm: SigningAlgorithm, rev: Revision) -> SigningKey {
    let mut jwk = serde_json::Map::new();
    jwk.insert("kty".into(), "OKP".into());
    jwk.insert(
        "x".into(),
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
    );
    SigningKey {
        id: SigningKeyId::new(),
        algorithm,
        private_key: PrivateKey::from_pkcs8_der(vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0xff]),
        public_jwk: jwk,
        created_at: now(),
        retired_at: None,
        verify_until: None,
        revoked_at: None,
        revision: rev,
    }
}

fn identity_provider(
    org: OrganizationId,
    name: &str,
    keys: KeySource,
    rev: Revision,
) -> IdentityProvider {
    IdentityProvider {
        id: IdentityProviderId::new(),
        organization_id: org,
        name: ProviderName::parse(name).unwrap(),
        issuer: Issuer::parse("https://idp.example/realms/acme").unwrap(),
        audience: Audience::parse("roster").unwrap(),
        keys,
        algorithms: Algorithms::parse_field("algorithms", &["ES256".into(), "EdDSA".into()])
            .unwrap(),
        user_claim: UserClaim::Email,
        created_at: now(),
        created_by: None,
        updated_at: now(),
        revision: rev,
    }
}

fn inline_jwks() -> KeySource {
    KeySource::Jwks(
        Jwks::parse_field(
            "jwks",
            &serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "é-1"}]}),
        )
        .unwrap(),
    )
}

fn event(rev: Revision, action: &str, target: &str, org: Option<OrganizationId>) -> AuditEvent {
    AuditEvent {
        seq: 0,
        at: now(),
        actor_id: None,
        action: action.into(),
        target_type: action.split('.').next().unwrap().into(),
        target_id: target.into(),
        organization_id: org,
        account_id: None,
        before: None,
        after: Some(serde_json::json!({"target": target, "n": [1, 2.5, null], "ok": true})),
        request_id: Some(format!("req-{rev}")),
        revision: rev,
        reason: None,
        subject_id: None,
    }
}

/// A commit whose changes each get one audit event.
fn commit(rev: Revision, changes: Vec<Change>) -> Commit {
    let audit = changes
        .iter()
        .map(|c| event(rev, "test.change", &format!("{c:?}")[..20], None))
        .collect();
    Commit {
        revision: rev,
        changes,
        audit,
        events: Vec::new(),
    }
}

async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    db.open()
        .await
        .unwrap_or_else(|e| panic!("{}: open: {e}", db.backend))
}

/// The model the changes produce in memory.
fn expected(commits: &[&Commit]) -> Model {
    let mut m = Model::new();
    for c in commits {
        for ch in &c.changes {
            m.apply(ch);
        }
        m.set_revision(c.revision);
    }
    m
}

/// Compares two models entity by entity.
fn assert_same(backend: &str, got: &Model, want: &Model) {
    assert_eq!(got.revision(), want.revision(), "{backend}: revision");
    let orgs = |m: &Model| {
        m.organizations_after(None)
            .map(|x| (**x).clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(orgs(got), orgs(want), "{backend}: organizations");
    let accounts = |m: &Model| {
        m.accounts_after(None)
            .map(|x| (**x).clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(accounts(got), accounts(want), "{backend}: accounts");
    let users = |m: &Model| {
        m.users_after(None)
            .map(|x| (**x).clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(users(got), users(want), "{backend}: users");
    let memberships = |m: &Model| {
        m.users_after(None)
            .flat_map(|u| {
                m.accounts_of_user(u.id)
                    .filter_map(|a| m.membership_of(u.id, a).map(|x| (**x).clone()))
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        memberships(got),
        memberships(want),
        "{backend}: memberships"
    );
    let permissions = |m: &Model| m.permissions().map(|x| (**x).clone()).collect::<Vec<_>>();
    assert_eq!(
        permissions(got),
        permissions(want),
        "{backend}: permissions"
    );
    let roles = |m: &Model| {
        m.organizations_after(None)
            .flat_map(|o| m.roles_visible_in(o.id).map(|x| (**x).clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(roles(got), roles(want), "{backend}: roles");
    let grants = |m: &Model| {
        let mut all = m.grants().collect::<Vec<_>>();
        all.sort_by_key(|g| g.id);
        all
    };
    assert_eq!(grants(got), grants(want), "{backend}: grants");
    let keys = |m: &Model| m.api_keys().map(|x| (**x).clone()).collect::<Vec<_>>();
    assert_eq!(keys(got), keys(want), "{backend}: api keys");
    let signing = |m: &Model| m.signing_keys().map(|x| (**x).clone()).collect::<Vec<_>>();
    assert_eq!(signing(got), signing(want), "{backend}: signing keys");
    let providers = |m: &Model| {
        m.identity_providers()
            .map(|x| (**x).clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        providers(got),
        providers(want),
        "{backend}: identity providers"
    );
    let groups = |m: &Model| {
        m.groups_after(None)
            .map(|g| ((**g).clone(), m.group_members(g.id).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(got), groups(want), "{backend}: groups and members");
    for u in want.users_after(None) {
        assert_eq!(
            got.user_by_email(u.organization_id, &u.email.key()),
            want.user_by_email(u.organization_id, &u.email.key()),
            "{backend}: email index"
        );
    }
}

async fn all_audit(store: &dyn Store) -> Vec<AuditEvent> {
    store
        .audit_events(&AuditFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

// ----- tests ------------------------------------------------------------------

#[tokio::test]
async fn every_change_round_trips() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        assert_eq!(store.backend(), b);
        store.ping().await.unwrap();
        store.migrate().await.unwrap(); // idempotent
        assert_eq!(store.current_revision().await.unwrap(), 0);
        assert_same(b, &store.load_model().await.unwrap(), &Model::new());

        // Revision 1: one of every put.
        let o = org("acme", 1);
        let o2 = org("empty-org", 1);
        let a = account(o.id, 1);
        let a2 = Account {
            kind: AccountType::Operations,
            status: AccountStatus::Disabled,
            ..account(o.id, 1)
        };
        let admin = user(o.id, "admin@acme.test", 1);
        let u = full_user(o.id, "Zoe@Acme.test", 1, Some(admin.id));
        let m = membership(u.id, a.id, 1);
        let m2 = Membership {
            status: MembershipStatus::Invited,
            groups: vec![],
            ..membership(admin.id, a2.id, 1)
        };
        let p = permission(o.id, "invoices:approve", 1);
        let r = role(o.id, "billing-admin", &[p.id, perms::users_read()], 1);
        let g_role = grant(u.id, GrantTarget::Role(r.key()), Scope::Account(a.id), 1);
        let g_builtin = grant(admin.id, builtin("owner"), Scope::Organization(o.id), 1);
        let g_perm = grant(
            u.id,
            GrantTarget::Permission(p.id),
            Scope::Accounts(o.id),
            1,
        );
        let g_global = Grant {
            created_by: Some(admin.id),
            ..grant(admin.id, builtin("viewer"), Scope::Global, 1)
        };
        let k = api_key(admin.id, 1);
        let sk = signing_key(SigningAlgorithm::EdDSA, 1);
        let sk_gone = signing_key(SigningAlgorithm::ES256, 1);
        let idp = identity_provider(
            o.id,
            "Okta",
            KeySource::JwksUri(JwksUri::parse("https://idp.example/jwks").unwrap()),
            1,
        );
        let idp2 = identity_provider(o2.id, "Okta", inline_jwks(), 1);
        let c1 = commit(
            1,
            vec![
                Change::PutOrganization(o.clone()),
                Change::PutOrganization(o2.clone()),
                Change::PutAccount(a.clone()),
                Change::PutAccount(a2.clone()),
                Change::PutUser(admin.clone()),
                Change::PutUser(u.clone()),
                Change::PutMembership(m.clone()),
                Change::PutMembership(m2.clone()),
                Change::PutPermission(p.clone()),
                Change::PutPermission(permission(o2.id, "o2:thing", 1)),
                Change::PutRole(r.clone()),
                Change::PutRole(role(o2.id, "o2-role", &[], 1)),
                Change::PutGrant(g_role.clone()),
                Change::PutGrant(g_builtin.clone()),
                Change::PutGrant(g_perm.clone()),
                Change::PutGrant(g_global.clone()),
                Change::PutApiKey(k.clone()),
                Change::PutSigningKey(sk.clone()),
                Change::PutSigningKey(sk_gone.clone()),
                Change::PutIdentityProvider(idp.clone()),
                Change::PutIdentityProvider(idp2.clone()),
            ],
        );
        let events = store.commit(0, std::slice::from_ref(&c1)).await.unwrap();
        assert_eq!(events.len(), c1.audit.len());
        assert_eq!(store.current_revision().await.unwrap(), 1);
        let loaded = store.load_model().await.unwrap();
        assert_same(b, &loaded, &expected(&[&c1]));
        assert_eq!(
            loaded.user(u.id).map(|x| (**x).clone()),
            Some(u.clone()),
            "{b}"
        );
        assert_eq!(
            loaded.user_by_email(o.id, "zoe@acme.test"),
            Some(u.id),
            "{b}"
        );

        // Revision 2: updates, deletes and a soft delete.
        let u2 = User {
            first_name: None,
            phone: None,
            settings: None,
            external_ids: BTreeMap::new(),
            status: UserStatus::Disabled,
            deleted_at: Some(now()),
            revision: 2,
            ..u.clone()
        };
        let o_renamed = Organization {
            slug: Slug::parse("acme-2").unwrap(),
            revision: 2,
            ..o.clone()
        };
        let k_revoked = ApiKey {
            revoked_at: Some(now()),
            revision: 2,
            ..k.clone()
        };
        let sk_retired = SigningKey {
            retired_at: Some(now()),
            verify_until: Some(now() + time::Duration::hours(1)),
            revoked_at: Some(now()),
            revision: 2,
            ..sk.clone()
        };
        let r2 = Role {
            permissions: BTreeSet::from([perms::grants_read()]),
            revision: 2,
            ..r.clone()
        };
        let c2 = commit(
            2,
            vec![
                Change::PutOrganization(o_renamed.clone()),
                Change::DeleteGrant(g_role.key()),
                Change::DeleteGrant(g_perm.key()),
                Change::DeleteMembership(m.id),
                Change::PutRole(r2.clone()),
                Change::PutUser(u2.clone()),
                Change::PutApiKey(k_revoked.clone()),
                Change::PutSigningKey(sk_retired.clone()),
                Change::DeleteSigningKey(sk_gone.id),
                Change::PutIdentityProvider(IdentityProvider {
                    keys: inline_jwks(),
                    user_claim: UserClaim::Sub,
                    revision: 2,
                    ..idp.clone()
                }),
                Change::DeleteIdentityProvider(idp2.id),
                Change::DeleteMembership(m2.id),
                Change::DeleteAccount(a2.id),
                Change::DeleteRole(RoleKey {
                    organization_id: Some(o2.id),
                    id: RoleId::parse("o2-role").unwrap(),
                }),
                Change::DeletePermission(
                    c1.changes
                        .iter()
                        .find_map(|c| match c {
                            Change::PutPermission(p) if p.organization_id == Some(o2.id) => {
                                Some(p.id)
                            }
                            _ => None,
                        })
                        .unwrap(),
                ),
                Change::DeleteOrganization(o2.id),
            ],
        );
        store.commit(1, std::slice::from_ref(&c2)).await.unwrap();
        let loaded = store.load_model().await.unwrap();
        assert_same(b, &loaded, &expected(&[&c1, &c2]));
        assert!(loaded.organization(o2.id).is_none(), "{b}");
        assert!(loaded.account(a2.id).is_none(), "{b}");
        assert_eq!(
            loaded.user_by_email(o.id, "zoe@acme.test"),
            None,
            "{b}: soft-deleted"
        );
        assert_eq!(
            loaded.api_key_by_key_id(&k.key_id).map(|x| (**x).clone()),
            Some(k_revoked),
            "{b}"
        );
        assert_eq!(
            loaded.signing_key(sk.id).map(|x| (**x).clone()),
            Some(sk_retired),
            "{b}"
        );
        assert!(loaded.signing_key(sk_gone.id).is_none(), "{b}");

        // A soft-deleted user's email is free again.
        let again = user(o.id, "ZOE@acme.test", 3);
        let c3 = commit(3, vec![Change::PutUser(again.clone())]);
        store.commit(2, std::slice::from_ref(&c3)).await.unwrap();
        let loaded = store.load_model().await.unwrap();
        assert_same(b, &loaded, &expected(&[&c1, &c2, &c3]));
        assert_eq!(
            loaded.user_by_email(o.id, "zoe@acme.test"),
            Some(again.id),
            "{b}"
        );

        // The change log reproduces the same model.
        let log = store.changes_since(0, 100).await.unwrap();
        let mut replay = Model::new();
        for (rev, changes) in &log {
            for c in changes {
                replay.apply(c);
            }
            replay.set_revision(*rev);
        }
        assert_same(b, &replay, &loaded);
    }
}

/// Groups, memberships (with and without expiry), grants held by groups,
/// expiring grants and the audit `reason` survive a commit and a reload,
/// and replay from the change log; removing members, grants and the group
/// in one commit (the order ops record them) is accepted by the foreign keys.
#[tokio::test]
async fn groups_and_expiry_round_trip() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("grp", 1);
        let u1 = user(o.id, "ann@grp.test", 1);
        let u2 = user(o.id, "bob@grp.test", 1);
        let later = now() + time::Duration::days(3);
        let g = Group {
            id: GroupId::new(),
            organization_id: o.id,
            name: DisplayName::parse("Support").unwrap(),
            description: "first line".into(),
            created_at: now(),
            created_by: Some(u1.id),
            updated_at: now(),
            revision: 1,
        };
        let member = |user: UserId, expires_at| GroupMember {
            group_id: g.id,
            user_id: user,
            expires_at,
            created_at: now(),
            created_by: None,
            revision: 1,
        };
        let group_grant = Grant {
            holder: g.id.into(),
            expires_at: Some(later),
            ..grant(u1.id, builtin("viewer"), Scope::Organization(o.id), 1)
        };
        let user_grant = Grant {
            expires_at: Some(later),
            ..grant(u2.id, builtin("admin"), Scope::Organization(o.id), 1)
        };
        let mut ev = event(1, "grant.expire", "x", Some(o.id));
        ev.reason = Some("expired".into());
        let c1 = Commit {
            revision: 1,
            changes: vec![
                Change::PutOrganization(o.clone()),
                Change::PutUser(u1.clone()),
                Change::PutUser(u2.clone()),
                Change::PutGroup(g.clone()),
                Change::PutGroupMember(member(u1.id, None)),
                Change::PutGroupMember(member(u2.id, Some(later))),
                Change::PutGrant(group_grant.clone()),
                Change::PutGrant(user_grant.clone()),
            ],
            audit: vec![ev],
            events: vec![],
        };
        store.commit(0, std::slice::from_ref(&c1)).await.unwrap();
        let loaded = store.load_model().await.unwrap();
        assert_same(b, &loaded, &expected(&[&c1]));
        assert_eq!(
            loaded.grant(g.id, group_grant.id),
            Some(group_grant.clone()),
            "{b}"
        );
        assert_eq!(
            loaded.group_member(g.id, u2.id).unwrap().expires_at,
            Some(later),
            "{b}"
        );
        let audit = all_audit(&*store).await;
        assert_eq!(
            audit.last().unwrap().reason.as_deref(),
            Some("expired"),
            "{b}"
        );

        // A renamed group, a changed expiry; then everything removed at once.
        let renamed = Group {
            name: DisplayName::parse("Support EU").unwrap(),
            revision: 2,
            ..g.clone()
        };
        let c2 = commit(
            2,
            vec![
                Change::PutGroup(renamed),
                Change::PutGroupMember(GroupMember {
                    expires_at: None,
                    revision: 2,
                    ..member(u2.id, Some(later))
                }),
            ],
        );
        store.commit(1, std::slice::from_ref(&c2)).await.unwrap();
        let c3 = commit(
            3,
            vec![
                Change::DeleteGrant(group_grant.key()),
                Change::DeleteGroupMember(member(u1.id, None).key()),
                Change::DeleteGroupMember(member(u2.id, None).key()),
                Change::DeleteGroup(g.id),
            ],
        );
        store.commit(2, std::slice::from_ref(&c3)).await.unwrap();
        let loaded = store.load_model().await.unwrap();
        assert_same(b, &loaded, &expected(&[&c1, &c2, &c3]));
        assert_eq!(loaded.group_count(), 0, "{b}");
        assert_eq!(loaded.grant_count(), 1, "{b}");

        let log = store.changes_since(0, 100).await.unwrap();
        let mut replay = Model::new();
        for (rev, changes) in &log {
            for c in changes {
                replay.apply(c);
            }
            replay.set_revision(*rev);
        }
        assert_same(b, &replay, &loaded);
    }
}

#[tokio::test]
async fn batches_get_increasing_revisions_and_follow_in_order() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("batch", 1);
        let commits: Vec<Commit> = vec![
            commit(1, vec![Change::PutOrganization(o.clone())]),
            commit(2, vec![Change::PutAccount(account(o.id, 2))]),
            commit(3, vec![Change::PutUser(user(o.id, "x@batch.test", 3))]),
        ];
        let events = store.commit(0, &commits).await.unwrap();
        assert_eq!(events.len(), 3, "{b}");
        assert!(
            events.windows(2).all(|w| w[0].seq < w[1].seq),
            "{b}: seqs ascend: {events:?}"
        );
        for (e, c) in events.iter().zip(&commits) {
            assert_eq!(e.revision, c.revision, "{b}");
            assert_eq!(
                AuditEvent {
                    seq: 0,
                    ..e.clone()
                },
                c.audit[0],
                "{b}"
            );
        }
        assert_eq!(store.current_revision().await.unwrap(), 3, "{b}");

        let log = store.changes_since(0, 10).await.unwrap();
        let want: Vec<(Revision, Vec<Change>)> = commits
            .iter()
            .map(|c| (c.revision, c.changes.clone()))
            .collect();
        assert_eq!(log, want, "{b}");
        assert_eq!(
            store.changes_since(1, 1).await.unwrap(),
            want[1..2].to_vec(),
            "{b}"
        );
        assert!(store.changes_since(3, 10).await.unwrap().is_empty(), "{b}");
        assert!(store.changes_since(0, 0).await.unwrap().is_empty(), "{b}");

        // The next batch continues from there.
        let next = [
            commit(4, vec![Change::PutOrganization(org("batch-2", 4))]),
            commit(5, vec![Change::PutOrganization(org("batch-3", 5))]),
        ];
        store.commit(3, &next).await.unwrap();
        assert_eq!(store.current_revision().await.unwrap(), 5, "{b}");
        let revs: Vec<Revision> = store
            .changes_since(2, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(revs, vec![3, 4, 5], "{b}");
        assert_eq!(store.load_model().await.unwrap().revision(), 5, "{b}");

        // A batch whose revisions are not base + n is refused.
        let bad = [commit(7, vec![Change::PutOrganization(org("batch-4", 7))])];
        assert!(
            matches!(store.commit(5, &bad).await, Err(StoreError::Invalid(_))),
            "{b}"
        );
        // An empty batch is a no-op.
        assert!(store.commit(5, &[]).await.unwrap().is_empty(), "{b}");
        assert_eq!(store.current_revision().await.unwrap(), 5, "{b}");
    }
}

#[tokio::test]
async fn stale_base_is_refused_and_changes_nothing() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let first = commit(1, vec![Change::PutOrganization(org("first", 1))]);
        store.commit(0, std::slice::from_ref(&first)).await.unwrap();
        let before = all_audit(&*store).await;

        let late = commit(1, vec![Change::PutOrganization(org("late", 1))]);
        match store.commit(0, &[late]).await {
            Err(StoreError::Stale { current }) => assert_eq!(current, 1, "{b}"),
            other => panic!("{b}: expected Stale, got {other:?}"),
        }
        // A base ahead of the database is stale too.
        let ahead = commit(6, vec![Change::PutOrganization(org("ahead", 6))]);
        assert!(
            matches!(
                store.commit(5, &[ahead]).await,
                Err(StoreError::Stale { current: 1 })
            ),
            "{b}"
        );

        assert_eq!(store.current_revision().await.unwrap(), 1, "{b}");
        assert_same(b, &store.load_model().await.unwrap(), &expected(&[&first]));
        assert_eq!(all_audit(&*store).await, before, "{b}");
        assert_eq!(store.changes_since(0, 10).await.unwrap().len(), 1, "{b}");
    }
}

#[tokio::test]
async fn a_failing_commit_rolls_back_everything() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("rollback", 1);
        let dup = commit(
            1,
            vec![
                Change::PutOrganization(o.clone()),
                Change::PutUser(user(o.id, "same@rollback.test", 1)),
                Change::PutUser(user(o.id, "SAME@Rollback.test", 1)),
            ],
        );
        let err = store.commit(0, &[dup]).await.unwrap_err();
        assert!(err.is_unique_violation(), "{b}: {err:?}");

        // A second commit in the same batch failing undoes the first one too.
        let ok = commit(1, vec![Change::PutOrganization(org("fine", 1))]);
        let dangling = commit(
            2,
            vec![Change::PutAccount(account(OrganizationId::new(), 2))],
        );
        let err = store.commit(0, &[ok, dangling]).await.unwrap_err();
        assert!(err.is_foreign_key_violation(), "{b}: {err:?}");

        // A duplicate slug across two commits of one batch.
        let s1 = commit(1, vec![Change::PutOrganization(org("taken", 1))]);
        let s2 = commit(2, vec![Change::PutOrganization(org("taken", 2))]);
        assert!(
            store
                .commit(0, &[s1, s2])
                .await
                .unwrap_err()
                .is_unique_violation(),
            "{b}"
        );

        assert_eq!(store.current_revision().await.unwrap(), 0, "{b}");
        assert_same(b, &store.load_model().await.unwrap(), &Model::new());
        assert!(all_audit(&*store).await.is_empty(), "{b}");
        assert!(store.changes_since(0, 10).await.unwrap().is_empty(), "{b}");

        // The store is still usable, at the same base.
        let good = commit(1, vec![Change::PutOrganization(o.clone())]);
        store.commit(0, std::slice::from_ref(&good)).await.unwrap();
        assert_same(b, &store.load_model().await.unwrap(), &expected(&[&good]));
        assert_eq!(all_audit(&*store).await.len(), 1, "{b}");
    }
}

#[tokio::test]
async fn audit_filters() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let (o1, o2) = (org("audit-1", 1), org("audit-2", 1));
        let actor = UserId::new();
        let mk = |action: &str, target: &str, org: Option<OrganizationId>, by: Option<UserId>| {
            AuditEvent {
                actor_id: by,
                account_id: Some(AccountId::new()),
                before: Some(serde_json::Value::Null),
                ..event(1, action, target, org)
            }
        };
        let audit = vec![
            mk("user.create", "t1", Some(o1.id), Some(actor)),
            mk("user.update", "t1", Some(o1.id), None),
            mk("user.update", "t2", Some(o2.id), Some(actor)),
            mk("grant.create", "t3", None, Some(actor)),
            AuditEvent {
                before: None,
                after: None,
                request_id: None,
                ..mk("org.delete", "t2", Some(o2.id), None)
            },
        ];
        let c = Commit {
            revision: 1,
            changes: vec![
                Change::PutOrganization(o1.clone()),
                Change::PutOrganization(o2.clone()),
            ],
            audit: audit.clone(),
            events: Vec::new(),
        };
        let stored = store.commit(0, &[c]).await.unwrap();
        assert_eq!(stored.len(), 5);
        for (s, a) in stored.iter().zip(&audit) {
            assert_eq!(
                AuditEvent {
                    seq: 0,
                    ..s.clone()
                },
                *a,
                "{b}"
            );
        }
        assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq), "{b}");
        let seq = |i: usize| stored[i].seq;
        let seqs = |v: Vec<AuditEvent>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();

        assert_eq!(
            all_audit(&*store).await,
            stored,
            "{b}: everything, as committed"
        );
        let f = |f: AuditFilter| AuditFilter { limit: 100, ..f };
        let by_actor = store
            .audit_events(&f(AuditFilter {
                actor_id: Some(actor),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(by_actor), vec![seq(0), seq(2), seq(3)], "{b}");
        let by_target = store
            .audit_events(&f(AuditFilter {
                target_id: Some("t2".into()),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(by_target), vec![seq(2), seq(4)], "{b}");
        assert_eq!(
            seqs(store.audit_for_target("t1").await.unwrap()),
            vec![seq(0), seq(1)],
            "{b}"
        );
        let by_org = store
            .audit_events(&f(AuditFilter {
                organization_ids: Some(vec![o2.id]),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(by_org), vec![seq(2), seq(4)], "{b}");
        let by_orgs = store
            .audit_events(&f(AuditFilter {
                organization_ids: Some(vec![o1.id, o2.id]),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(by_orgs), vec![seq(0), seq(1), seq(2), seq(4)], "{b}");
        let none = store
            .audit_events(&f(AuditFilter {
                organization_ids: Some(vec![]),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert!(none.is_empty(), "{b}");
        let after = store
            .audit_events(&f(AuditFilter {
                after: Some(seq(1)),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(after), vec![seq(2), seq(3), seq(4)], "{b}");
        let page = store
            .audit_events(&AuditFilter {
                after: Some(seq(0)),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(seqs(page), vec![seq(1), seq(2)], "{b}");
        let combined = store
            .audit_events(&f(AuditFilter {
                actor_id: Some(actor),
                organization_ids: Some(vec![o1.id, o2.id]),
                after: Some(seq(0)),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(combined), vec![seq(2)], "{b}");
        assert!(
            store
                .audit_events(&AuditFilter::default())
                .await
                .unwrap()
                .is_empty(),
            "{b}: limit 0"
        );
        // `before: Some(null)` and `before: None` stay distinct.
        assert_eq!(stored[0].before, Some(serde_json::Value::Null), "{b}");
        assert_eq!(stored[4].before, None, "{b}");

        // Many organizations in one filter.
        let many: Vec<OrganizationId> = (0..3000)
            .map(|_| OrganizationId::new())
            .chain([o1.id])
            .collect();
        let wide = store
            .audit_events(&f(AuditFilter {
                organization_ids: Some(many),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(seqs(wide), vec![seq(0), seq(1)], "{b}");
    }
}

fn feed_event(kind: &str, org: Option<OrganizationId>) -> Event {
    Event {
        id: uuid::Uuid::now_v7(),
        seq: 0,
        kind: kind.into(),
        occurred_at: now(),
        revision: 0,
        organization_id: org,
        account_id: None,
        actor_id: Some(UserId::new()),
        request_id: Some("req".into()),
        data: serde_json::json!({"object": {"n": [1, 2.5, null]}, "subject_id": "x"}),
    }
}

#[tokio::test]
async fn events_are_numbered_in_commit_order_without_gaps() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        assert_eq!(store.last_event_seq().await.unwrap(), 0, "{b}");
        let (o1, o2) = (org("feed-1", 1), org("feed-2", 1));
        let with = |rev: Revision, changes: Vec<Change>, events: Vec<Event>| Commit {
            events: events
                .into_iter()
                .map(|e| Event { revision: rev, ..e })
                .collect(),
            ..commit(rev, changes)
        };
        // One batch of two commits, then a stale one, then another.
        let c1 = with(
            1,
            vec![Change::PutOrganization(o1.clone())],
            vec![
                feed_event("organization.created", Some(o1.id)),
                feed_event("access.changed", Some(o1.id)),
            ],
        );
        let c2 = with(
            2,
            vec![Change::PutOrganization(o2.clone())],
            vec![feed_event("organization.created", Some(o2.id))],
        );
        store.commit(0, &[c1.clone(), c2.clone()]).await.unwrap();
        let stale = with(
            2,
            vec![Change::PutOrganization(org("feed-3", 2))],
            vec![feed_event("organization.created", None)],
        );
        assert!(store.commit(0, &[stale]).await.is_err(), "{b}");
        let c3 = with(
            3,
            vec![Change::PutOrganization(Organization {
                revision: 3,
                ..o1.clone()
            })],
            vec![
                feed_event("organization.updated", Some(o1.id)),
                feed_event("permission.created", None),
            ],
        );
        store.commit(2, std::slice::from_ref(&c3)).await.unwrap();
        assert_eq!(store.last_event_seq().await.unwrap(), 5, "{b}");

        let all = |f: EventFilter| EventFilter { limit: 100, ..f };
        let got = store.events(&all(EventFilter::default())).await.unwrap();
        let sent: Vec<&Event> = [&c1, &c2, &c3].iter().flat_map(|c| &c.events).collect();
        assert_eq!(got.len(), 5, "{b}");
        for (i, (g, e)) in got.iter().zip(&sent).enumerate() {
            assert_eq!(g.seq, i as i64 + 1, "{b}: numbered from 1 without gaps");
            assert_eq!(
                Event {
                    seq: 0,
                    ..g.clone()
                },
                **e,
                "{b}: stored as sent"
            );
        }
        let seqs = |v: Vec<Event>| v.into_iter().map(|e| e.seq).collect::<Vec<_>>();
        let q = |f: EventFilter| {
            let store = store.clone();
            async move { seqs(store.events(&all(f)).await.unwrap()) }
        };
        assert_eq!(
            q(EventFilter {
                after: 2,
                ..Default::default()
            })
            .await,
            vec![3, 4, 5],
            "{b}"
        );
        assert_eq!(
            seqs(
                store
                    .events(&EventFilter {
                        after: 0,
                        limit: 2,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            ),
            vec![1, 2],
            "{b}"
        );
        assert_eq!(
            q(EventFilter {
                organization_ids: Some(vec![o1.id]),
                ..Default::default()
            })
            .await,
            vec![1, 2, 4],
            "{b}: an organization's, never the Roster-wide ones"
        );
        assert_eq!(
            q(EventFilter {
                organization_ids: Some(vec![]),
                ..Default::default()
            })
            .await,
            Vec::<i64>::new(),
            "{b}"
        );
        assert_eq!(
            q(EventFilter {
                types: Some(vec![
                    "organization.created".into(),
                    "permission.created".into()
                ]),
                ..Default::default()
            })
            .await,
            vec![1, 3, 5],
            "{b}"
        );
        assert_eq!(
            q(EventFilter {
                types: Some(vec![]),
                ..Default::default()
            })
            .await,
            Vec::<i64>::new(),
            "{b}"
        );

        // Trimming removes old events and never reuses their numbers.
        store
            .trim_events(now() + time::Duration::seconds(1))
            .await
            .unwrap();
        assert!(q(EventFilter::default()).await.is_empty(), "{b}");
        let c4 = with(
            4,
            vec![Change::PutOrganization(Organization {
                revision: 4,
                ..o2.clone()
            })],
            vec![feed_event("organization.updated", Some(o2.id))],
        );
        store.commit(3, std::slice::from_ref(&c4)).await.unwrap();
        assert_eq!(q(EventFilter::default()).await, vec![6], "{b}");
        // The next process sees the same numbers.
        drop(store);
        let store = open(&db).await;
        assert_eq!(store.last_event_seq().await.unwrap(), 6, "{b}");
    }
}

#[tokio::test]
async fn audit_filters_by_subject_action_and_time() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("audit-subject", 1);
        let (ann, group) = (UserId::new().to_string(), GroupId::new().to_string());
        let t0 = now();
        let at = |secs: i64| t0 + time::Duration::seconds(secs);
        let mk = |action: &str, subject: Option<&str>, secs: i64| AuditEvent {
            subject_id: subject.map(str::to_owned),
            at: at(secs),
            ..event(1, action, "t", Some(o.id))
        };
        let audit = vec![
            mk("user.create", Some(&ann), 0),
            mk("grant.create", Some(&ann), 10),
            mk("grant.create", Some(&group), 20),
            mk("group_member.add", Some(&ann), 30),
            mk("organization.update", None, 40),
        ];
        let c = Commit {
            audit,
            ..commit(1, vec![Change::PutOrganization(o.clone())])
        };
        let stored = store.commit(0, &[c]).await.unwrap();
        let seq = |i: usize| stored[i].seq;
        let q = |f: AuditFilter| {
            let store = store.clone();
            async move {
                store
                    .audit_events(&AuditFilter { limit: 100, ..f })
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| e.seq)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            q(AuditFilter {
                subject_id: Some(ann.clone()),
                ..Default::default()
            })
            .await,
            vec![seq(0), seq(1), seq(3)],
            "{b}"
        );
        assert_eq!(
            q(AuditFilter {
                action: Some("grant.create".into()),
                ..Default::default()
            })
            .await,
            vec![seq(1), seq(2)],
            "{b}"
        );
        assert_eq!(
            q(AuditFilter {
                from: Some(at(10)),
                to: Some(at(30)),
                ..Default::default()
            })
            .await,
            vec![seq(1), seq(2)],
            "{b}: from inclusive, to exclusive"
        );
        assert_eq!(
            q(AuditFilter {
                subject_id: Some(ann.clone()),
                action: Some("grant.create".into()),
                from: Some(at(5)),
                ..Default::default()
            })
            .await,
            vec![seq(1)],
            "{b}"
        );
        assert_eq!(stored[1].subject_id.as_deref(), Some(ann.as_str()), "{b}");
    }
}

#[tokio::test]
async fn reopening_keeps_the_data() {
    for db in test_databases().await {
        let b = db.backend;
        let o = org("durable", 1);
        let u = full_user(o.id, "d@durable.test", 1, None);
        let k = api_key(u.id, 1);
        let c = commit(
            1,
            vec![
                Change::PutOrganization(o),
                Change::PutUser(u),
                Change::PutApiKey(k.clone()),
            ],
        );
        {
            let store = open(&db).await;
            store.commit(0, std::slice::from_ref(&c)).await.unwrap();
            store.touch_api_key(k.id, now()).await.unwrap();
        }
        let store = open(&db).await;
        assert_eq!(store.current_revision().await.unwrap(), 1, "{b}");
        assert_same(b, &store.load_model().await.unwrap(), &expected(&[&c]));
        assert_eq!(all_audit(&*store).await.len(), 3, "{b}");
        assert_eq!(store.changes_since(0, 10).await.unwrap().len(), 1, "{b}");
    }
}

#[tokio::test]
async fn api_key_use_is_recorded_outside_the_model() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("keys", 1);
        let u = user(o.id, "k@keys.test", 1);
        let k = api_key(u.id, 1);
        let c1 = commit(
            1,
            vec![
                Change::PutOrganization(o),
                Change::PutUser(u),
                Change::PutApiKey(k.clone()),
            ],
        );
        store.commit(0, std::slice::from_ref(&c1)).await.unwrap();
        let used = datetime!(2030-01-02 03:04:05.678901 UTC);
        store.touch_api_key(k.id, used).await.unwrap();
        store.touch_api_key(ApiKeyId::new(), used).await.unwrap(); // unknown: no-op
                                                                   // Putting the key again (e.g. revoking it) keeps its last use.
        let k2 = ApiKey {
            revoked_at: Some(now()),
            revision: 2,
            ..k.clone()
        };
        let c2 = commit(2, vec![Change::PutApiKey(k2)]);
        store.commit(1, std::slice::from_ref(&c2)).await.unwrap();
        assert_same(
            b,
            &store.load_model().await.unwrap(),
            &expected(&[&c1, &c2]),
        );
        assert_eq!(last_used(&db, k.id).await, Some(used), "{b}");
        assert_eq!(
            store
                .api_keys_last_used(&[k.id, ApiKeyId::new()])
                .await
                .unwrap(),
            vec![(k.id, used)],
            "{b}"
        );
    }
}

/// Reads `api_keys.last_used_at` directly.
async fn last_used(db: &TestDatabase, id: ApiKeyId) -> Option<OffsetDateTime> {
    match db.backend {
        "sqlite" => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let s: Option<String> =
                sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = ?")
                    .bind(id.0.hyphenated().to_string())
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            s.map(|s| {
                OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).unwrap()
            })
        }
        _ => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let t: Option<OffsetDateTime> =
                sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
                    .bind(id.0)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            t
        }
    }
}

#[tokio::test]
async fn large_batches_and_repeated_entities() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("large", 1);
        let acc = account(o.id, 1);
        let mut changes = vec![
            Change::PutOrganization(o.clone()),
            Change::PutAccount(acc.clone()),
        ];
        let users: Vec<User> = (0..2500)
            .map(|i| user(o.id, &format!("u{i}@large.test"), 1))
            .collect();
        changes.extend(users.iter().cloned().map(Change::PutUser));
        for (i, u) in users.iter().enumerate() {
            let scope = if i % 2 == 0 {
                Scope::Account(acc.id)
            } else {
                Scope::Organization(o.id)
            };
            changes.push(Change::PutGrant(grant(u.id, builtin("viewer"), scope, 1)));
            changes.push(Change::PutGrant(grant(
                u.id,
                GrantTarget::Permission(perms::users_read()),
                Scope::Global,
                1,
            )));
        }
        // The same user twice in a row: the last put wins.
        let renamed = User {
            first_name: Some(PersonName::parse("Again").unwrap()),
            ..users[0].clone()
        };
        changes.push(Change::PutUser(users[1].clone()));
        changes.push(Change::PutUser(renamed.clone()));
        changes.push(Change::PutUser(users[2].clone()));
        let c = commit(1, changes);
        assert!(c.audit.len() > 1000);
        let started = Instant::now();
        let events = store.commit(0, std::slice::from_ref(&c)).await.unwrap();
        eprintln!(
            "{b}: committed {} changes in {:?}",
            c.changes.len(),
            started.elapsed()
        );
        assert_eq!(events.len(), c.audit.len(), "{b}");
        let seqs: BTreeSet<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs.len(), events.len(), "{b}: distinct seqs");
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq), "{b}");
        let started = Instant::now();
        let loaded = store.load_model().await.unwrap();
        eprintln!("{b}: loaded in {:?}", started.elapsed());
        assert_same(b, &loaded, &expected(&[&c]));
        assert_eq!(
            loaded.user(users[0].id).map(|u| (**u).clone()),
            Some(renamed),
            "{b}"
        );
        assert_eq!(loaded.grants().count(), 5000, "{b}");
    }
}

#[tokio::test]
async fn built_in_roles_are_not_stored() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let mut r = role(OrganizationId::new(), "sneaky", &[], 1);
        r.organization_id = None;
        let c = commit(1, vec![Change::PutRole(r)]);
        assert!(
            matches!(store.commit(0, &[c]).await, Err(StoreError::Invalid(_))),
            "{b}"
        );
        assert_eq!(store.current_revision().await.unwrap(), 0, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_committers_lose_nothing() {
    const WRITERS: usize = 16;
    const EACH: usize = 5;
    for db in test_databases().await {
        let b = db.backend;
        // Two store instances on one database, like two processes/replicas.
        let stores = [open(&db).await, roster_store::open(&db.url).await.unwrap()];
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = stores[w % 2].clone();
            tasks.push(tokio::spawn(async move {
                let mut retries = 0;
                for i in 0..EACH {
                    let o = org(&format!("w{w}-{i}"), 0);
                    loop {
                        let base = store.current_revision().await.unwrap();
                        let c = commit(
                            base + 1,
                            vec![Change::PutOrganization(Organization {
                                revision: base + 1,
                                ..o.clone()
                            })],
                        );
                        match store.commit(base, &[c]).await {
                            Ok(_) => break,
                            Err(StoreError::Stale { current }) => {
                                assert!(current > base);
                                retries += 1;
                            }
                            Err(e) => panic!("writer {w}: {e}"),
                        }
                    }
                }
                retries
            }));
        }
        let mut retries = 0;
        for t in tasks {
            retries += t.await.unwrap();
        }
        let total = (WRITERS * EACH) as u64;
        eprintln!("{b}: {total} commits, {retries} stale retries");
        let store = &stores[0];
        assert_eq!(store.current_revision().await.unwrap(), total, "{b}");
        let model = store.load_model().await.unwrap();
        assert_eq!(model.organization_count() as u64, total, "{b}");
        let revs: Vec<Revision> = store
            .changes_since(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(revs, (1..=total).collect::<Vec<_>>(), "{b}");
        let audit = all_audit(&**store).await;
        assert_eq!(audit.len() as u64, total, "{b}");
        let mut org_revs: Vec<Revision> = model
            .organizations_after(None)
            .map(|o| o.revision)
            .collect();
        org_revs.sort_unstable();
        assert_eq!(org_revs, (1..=total).collect::<Vec<_>>(), "{b}");
    }
}

#[tokio::test]
async fn waiting_for_changes() {
    for db in test_databases().await {
        let b = db.backend;
        let waiter = open(&db).await;
        let writer = roster_store::open(&db.url).await.unwrap();
        if b == "postgres" {
            // The first wait starts listening.
            waiter
                .wait_for_change(Duration::from_millis(10))
                .await
                .unwrap();
            let started = Instant::now();
            let wait = tokio::spawn({
                let waiter = waiter.clone();
                async move { waiter.wait_for_change(Duration::from_secs(20)).await }
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
            let c = commit(1, vec![Change::PutOrganization(org("notify", 1))]);
            writer.commit(0, &[c]).await.unwrap();
            wait.await.unwrap().unwrap();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{b}: woke on the notification"
            );
            // Nothing new: a short wait times out quietly.
            waiter
                .wait_for_change(Duration::from_millis(50))
                .await
                .unwrap();
        } else {
            let started = Instant::now();
            waiter
                .wait_for_change(Duration::from_millis(50))
                .await
                .unwrap();
            assert!(started.elapsed() >= Duration::from_millis(50), "{b}");
        }
    }
}

/// One process leads a singleton at a time on PostgreSQL, the next one
/// takes over once the leader gives it up; SQLite always leads.
#[tokio::test]
async fn one_process_leads_a_singleton() {
    for db in test_databases().await {
        let b = db.backend;
        let first = open(&db).await;
        let second = roster_store::open(&db.url).await.unwrap();
        let mut lead = first
            .try_lead(Singleton::ExpirySweep)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{b}: nobody leads yet"));
        assert!(lead.held().await, "{b}");
        let other = second.try_lead(Singleton::ExpirySweep).await.unwrap();
        if b == "postgres" {
            assert!(other.is_none(), "{b}: two leaders");
            // The same process asking again does not lead twice either.
            assert!(first
                .try_lead(Singleton::ExpirySweep)
                .await
                .unwrap()
                .is_none());
            assert!(lead.held().await, "{b}: still held");
            drop(lead);
            // The server ends the session when the connection closes; the
            // other process then leads (a bounded wait, not a measurement).
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut next = loop {
                if let Some(l) = second.try_lead(Singleton::ExpirySweep).await.unwrap() {
                    break l;
                }
                assert!(Instant::now() < deadline, "{b}: nobody took over");
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            assert!(next.held().await, "{b}");
        } else {
            let mut other = other.unwrap_or_else(|| panic!("{b}: always leads"));
            assert!(other.held().await && lead.held().await, "{b}");
        }
    }
}

#[tokio::test]
async fn urls() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        format!("sqlite://{}", dir.path().join("a.db").display()),
        format!("sqlite:{}", dir.path().join("b.db").display()),
        dir.path().join("c.db").display().to_string(),
    ] {
        let store = roster_store::open(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
    }
    assert!(dir.path().join("a.db").exists());
    assert!(dir.path().join("b.db").exists());
    assert!(dir.path().join("c.db").exists());
    for url in ["sqlite::memory:", ":memory:", "sqlite://:memory:"] {
        assert!(
            matches!(
                roster_store::open(url).await,
                Err(StoreError::InvalidUrl(_))
            ),
            "{url}"
        );
    }
}

/// Load-time smoke test at scale: `ROSTER_SCALE_USERS` users (default
/// 20 000) with ten grants each. Run with
/// `cargo test --release -p roster-store --test conformance scale -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "slow; run on demand"]
async fn scale_load() {
    let n: usize = std::env::var("ROSTER_SCALE_USERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("scale", 1);
        let acc = account(o.id, 1);
        let c = commit(
            1,
            vec![
                Change::PutOrganization(o.clone()),
                Change::PutAccount(acc.clone()),
            ],
        );
        store.commit(0, &[c]).await.unwrap();
        let started = Instant::now();
        let users: Vec<usize> = (0..n).collect();
        for (rev, chunk) in (1..).zip(users.chunks(10_000)) {
            let mut changes = Vec::with_capacity(chunk.len() * 11);
            for i in chunk {
                let u = user(o.id, &format!("u{i}@scale.test"), rev + 1);
                for g in 0..10 {
                    let scope = if g % 2 == 0 {
                        Scope::Account(acc.id)
                    } else {
                        Scope::Organization(o.id)
                    };
                    changes.push(Change::PutGrant(grant(
                        u.id,
                        builtin("viewer"),
                        scope,
                        rev + 1,
                    )));
                }
                changes.insert(changes.len() - 10, Change::PutUser(u));
            }
            let c = Commit {
                revision: rev + 1,
                changes,
                audit: vec![],
                events: vec![],
            };
            store.commit(rev, &[c]).await.unwrap();
        }
        eprintln!(
            "{b}: wrote {n} users + {} grants in {:?}",
            n * 10,
            started.elapsed()
        );
        let loads: usize = std::env::var("ROSTER_SCALE_LOADS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let mut model = Model::new();
        for _ in 0..loads {
            let started = Instant::now();
            model = store.load_model().await.unwrap();
            eprintln!("{b}: loaded in {:?}", started.elapsed());
        }
        assert_eq!(model.user_count(), n);
        assert_eq!(model.grants().count(), n * 10);
    }
}

#[test]
#[ignore = "measurement"]
fn model_apply_cost() {
    let n = 50_000;
    let o = org("scale", 1);
    let acc = account(o.id, 1);
    let mut changes = Vec::new();
    for i in 0..n {
        let u = user(o.id, &format!("u{i}@scale.test"), 2);
        for g in 0..10 {
            let scope = if g % 2 == 0 {
                Scope::Account(acc.id)
            } else {
                Scope::Organization(o.id)
            };
            changes.push(Change::PutGrant(grant(u.id, builtin("viewer"), scope, 2)));
        }
        changes.push(Change::PutUser(u));
    }
    let started = Instant::now();
    let mut m = Model::new();
    for c in &changes {
        m.apply(c);
    }
    eprintln!(
        "applied {} changes in {:?}",
        changes.len(),
        started.elapsed()
    );
}

fn webhook(org: OrganizationId, rev: Revision) -> Webhook {
    Webhook {
        id: WebhookId::new(),
        organization_id: org,
        url: WebhookUrl::parse("https://hooks.example/roster?x=1").unwrap(),
        event_types: EventTypes::parse_field("t", &["user.created".into(), "grant.created".into()])
            .unwrap(),
        description: "crm".into(),
        enabled: true,
        secrets: vec![
            WebhookSecret {
                secret: WebhookSecretKey::from_random(&[9; 32]),
                created_at: now(),
                expires_at: None,
            },
            WebhookSecret {
                secret: WebhookSecretKey::from_random(&[8; 32]),
                created_at: now(),
                expires_at: Some(now() + time::Duration::hours(24)),
            },
        ],
        disabled_reason: Some("failing".into()),
        created_at: now(),
        created_by: Some(UserId::new()),
        created_revision: rev,
        updated_at: now(),
        revision: rev,
    }
}

#[tokio::test]
async fn webhooks_and_their_delivery_state() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let o = org("hooks", 1);
        let mut w = webhook(o.id, 2);
        let other = webhook(o.id, 2);
        let c1 = Commit {
            events: vec![Event {
                revision: 1,
                ..feed_event("organization.created", Some(o.id))
            }],
            ..commit(1, vec![Change::PutOrganization(o.clone())])
        };
        let c2 = Commit {
            events: vec![Event {
                revision: 2,
                ..feed_event("webhook.created", Some(o.id))
            }],
            ..commit(
                2,
                vec![
                    Change::PutWebhook(w.clone()),
                    Change::PutWebhook(other.clone()),
                ],
            )
        };
        store.commit(0, &[c1.clone(), c2.clone()]).await.unwrap();
        let loaded = store.load_model().await.unwrap();
        assert_eq!(
            loaded.webhook(w.id).map(|x| (**x).clone()),
            Some(w.clone()),
            "{b}"
        );
        assert_eq!(loaded.webhooks_of(o.id).count(), 2, "{b}");

        // A new subscription starts after the events of its own revision.
        let c = store
            .start_webhook_cursor(w.id, 2, w.created_at)
            .await
            .unwrap();
        assert_eq!(c.last_seq, 2, "{b}: after the creation's events");
        assert_eq!((c.attempts, c.replay), (0, None), "{b}");
        // A later commit's events come after it; starting again changes nothing.
        w.description = "changed".into();
        w.revision = 3;
        let c3 = Commit {
            events: vec![Event {
                revision: 3,
                ..feed_event("webhook.updated", Some(o.id))
            }],
            ..commit(3, vec![Change::PutWebhook(w.clone())])
        };
        store.commit(2, &[c3]).await.unwrap();
        let c = store
            .start_webhook_cursor(w.id, 2, w.created_at)
            .await
            .unwrap();
        assert_eq!(c.last_seq, 2, "{b}");
        // Created by revision 2, started after revision 3 committed: its
        // first event is revision 3's.
        let c = store
            .start_webhook_cursor(other.id, 2, other.created_at)
            .await
            .unwrap();
        assert_eq!(c.last_seq, 2, "{b}");

        // Progress and attempts in one transaction.
        let delivery = |seq: i64, status: Option<u16>| roster_store::WebhookDelivery {
            id: 0,
            webhook_id: w.id,
            attempted_at: now(),
            event_seq: seq,
            event_id: uuid::Uuid::now_v7(),
            event_type: "webhook.updated".into(),
            attempt: 1,
            status,
            error: status.is_none().then(|| "could not connect".to_owned()),
            duration_ms: 12,
            next_retry_at: status.is_none().then(now),
        };
        let progress = roster_store::WebhookProgress {
            webhook_id: w.id,
            last_seq: 2,
            attempts: 1,
            next_attempt_at: Some(now()),
            first_failure_at: Some(now()),
            took_replay: None,
        };
        store
            .record_webhook_progress(
                std::slice::from_ref(&progress),
                &[delivery(3, None), delivery(3, Some(200))],
            )
            .await
            .unwrap();
        let c = store
            .start_webhook_cursor(w.id, 2, w.created_at)
            .await
            .unwrap();
        assert_eq!(
            (
                c.last_seq,
                c.attempts,
                c.next_attempt_at,
                c.first_failure_at
            ),
            (2, 1, progress.next_attempt_at, progress.first_failure_at),
            "{b}"
        );
        let log = store.webhook_deliveries(w.id, None, 10).await.unwrap();
        assert_eq!(log.len(), 2, "{b}");
        assert!(log[0].id > log[1].id, "{b}: newest first");
        assert_eq!(log[0].status, Some(200), "{b}");
        assert_eq!(log[1].status, None, "{b}");
        assert_eq!(log[1].error.as_deref(), Some("could not connect"), "{b}");
        let older = store
            .webhook_deliveries(w.id, Some(log[0].id), 10)
            .await
            .unwrap();
        assert_eq!(older, log[1..].to_vec(), "{b}");

        // A replay waits until taken up; a newer one survives an older take-up.
        store.request_webhook_replay(w.id, 1).await.unwrap();
        let replays = store.webhook_replays().await.unwrap();
        assert_eq!(replays.len(), 1, "{b}");
        let r1 = replays[0].replay.unwrap();
        assert_eq!(r1.after, 1, "{b}");
        store.request_webhook_replay(w.id, 0).await.unwrap();
        let took_old = roster_store::WebhookProgress {
            last_seq: 1,
            attempts: 0,
            next_attempt_at: None,
            first_failure_at: None,
            took_replay: Some(r1.id),
            ..progress.clone()
        };
        store
            .record_webhook_progress(&[took_old], &[])
            .await
            .unwrap();
        let r2 = store.webhook_replays().await.unwrap()[0].replay.unwrap();
        assert_eq!(r2.after, 0, "{b}");
        let took_new = roster_store::WebhookProgress {
            last_seq: 0,
            took_replay: Some(r2.id),
            ..progress.clone()
        };
        store
            .record_webhook_progress(&[took_new], &[])
            .await
            .unwrap();
        assert!(store.webhook_replays().await.unwrap().is_empty(), "{b}");

        // Trimming by time; deleting the subscription takes its state.
        store
            .trim_webhook_deliveries(now() - time::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(
            store
                .webhook_deliveries(w.id, None, 10)
                .await
                .unwrap()
                .len(),
            2,
            "{b}"
        );
        store
            .trim_webhook_deliveries(now() + time::Duration::hours(1))
            .await
            .unwrap();
        assert!(
            store
                .webhook_deliveries(w.id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );
        store
            .record_webhook_progress(&[], &[delivery(3, Some(204))])
            .await
            .unwrap();
        store
            .commit(3, &[commit(4, vec![Change::DeleteWebhook(w.id)])])
            .await
            .unwrap();
        assert!(
            store
                .webhook_deliveries(w.id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );
        let m = store.load_model().await.unwrap();
        assert!(m.webhook(w.id).is_none(), "{b}");
        assert!(m.webhook(other.id).is_some(), "{b}");
    }
}

#[tokio::test]
async fn webhook_delivery_has_its_own_leadership() {
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let held = store.try_lead(Singleton::Webhooks).await.unwrap();
        assert!(held.is_some(), "{b}");
        if b == "postgres" {
            let again = open(&db).await;
            assert!(
                again.try_lead(Singleton::Webhooks).await.unwrap().is_none(),
                "{b}"
            );
            // The expiry sweeper's lock is another one.
            assert!(
                again
                    .try_lead(Singleton::ExpirySweep)
                    .await
                    .unwrap()
                    .is_some(),
                "{b}"
            );
            drop(held);
            let deadline = Instant::now() + Duration::from_secs(30);
            while again.try_lead(Singleton::Webhooks).await.unwrap().is_none() {
                assert!(Instant::now() < deadline, "{b}: the lock was not released");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An export reads big tables in pages on some backends (SQLite: 5,000 rows
/// per JSON page, keyed by `seq` here): across page boundaries every audit
/// event comes once, in `seq` order.
#[tokio::test]
async fn an_export_crosses_page_boundaries_without_loss_or_repeat() {
    const N: usize = 12_001;
    for db in test_databases().await {
        let store = open(&db).await;
        let b = db.backend;
        let events: Vec<AuditEvent> = (0..N)
            .map(|i| event(0, "auth.failed", &format!("key-{i}"), None))
            .collect();
        for chunk in events.chunks(1000) {
            store.append_audit(chunk).await.unwrap();
        }
        let mut out = Vec::new();
        let summary = store.export(&mut out, true).await.unwrap();
        assert_eq!(summary.counts.get("audit_event"), Some(&(N as u64)), "{b}");
        let text = String::from_utf8(out).unwrap();
        let mut seqs = Vec::new();
        let mut targets = std::collections::HashSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["kind"] == "audit_event" {
                seqs.push(v["data"]["seq"].as_i64().unwrap());
                assert!(
                    targets.insert(v["data"]["target_id"].as_str().unwrap().to_owned()),
                    "{b}"
                );
            }
        }
        assert_eq!(seqs.len(), N, "{b}");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{b}: out of order");
    }
}
