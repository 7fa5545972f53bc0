//! The permission impact of a set of changes: what each user they touch
//! may do before and after, as `(permission, scope)` pairs, and the
//! difference. What-if (`POST /v1/what-if`) reports it; the event feed's
//! `access.changed` deltas are the same computation.
//!
//! A user's *access* at an instant is every permission one of the grants it
//! holds then (its own and its groups', unexpired) hands out, at that
//! grant's scope (a role grant hands out each permission of the role), and
//! nothing when the user is not effective (inactive or deleted). An
//! account's status is not part of it: a disabled account denies checks on
//! it, but nobody's grants change.
//!
//! Only the public [`Model`] API is read, so the computation follows the
//! model wherever grants come from.

use crate::entity::{GrantHolder, RoleKey};
use crate::ids::{GroupId, PermissionId, UserId};
use crate::model::{Change, Model, Moment};
use crate::scope::Scope;
use std::collections::BTreeSet;

/// One permission a user holds at one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Access {
    /// The user.
    pub user: UserId,
    /// The permission.
    pub permission: PermissionId,
    /// Where.
    pub scope: Scope,
}

/// The difference in access between two models, over some users, sorted by
/// user, permission and scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Impact {
    /// Held after, not before.
    pub gained: Vec<Access>,
    /// Held before, not after.
    pub lost: Vec<Access>,
    /// Whether either list was cut at the cap.
    pub truncated: bool,
}

impl Impact {
    /// Whether nobody's access changed.
    pub fn is_empty(&self) -> bool {
        self.gained.is_empty() && self.lost.is_empty()
    }
}

/// What `user` may do in `model` at `now`: every `(permission, scope)` the
/// grants it holds then (its own and its groups') hand out; empty when the
/// user is unknown, inactive or deleted.
pub fn access_of(model: &Model, user: UserId, now: Moment) -> BTreeSet<(PermissionId, Scope)> {
    let mut out = BTreeSet::new();
    let Some(h) = model.holder(user).filter(|h| h.is_effective()) else {
        return out;
    };
    for g in h.grants(now) {
        for p in model.grant_permissions(&g.grant()) {
            out.insert((p, g.scope()));
        }
    }
    out
}

/// Why a set of changes may have changed anyone's access: the users it
/// touches directly, and the roles and groups it changes, which reach every
/// holder and member.
#[derive(Clone, Debug, Default)]
pub struct Causes {
    /// Users touched directly: the holder of a grant put or removed, a user
    /// put (status, deletion), the user of a membership (in an account or a
    /// group) put or removed.
    pub users: BTreeSet<UserId>,
    /// Roles put or removed (every holder, direct or through a group).
    pub roles: Vec<RoleKey>,
    /// Groups whose grants were put or removed, or that were removed
    /// (every member).
    pub groups: BTreeSet<GroupId>,
}

impl Causes {
    /// The causes of `changes`, which take `before` to `after`. Other
    /// changes touch nobody's access.
    pub fn of(before: &Model, after: &Model, changes: &[Change]) -> Self {
        let mut c = Self::default();
        for change in changes {
            match change {
                Change::PutGrant(g) => c.holder(g.holder),
                Change::DeleteGrant(k) => c.holder(k.holder),
                Change::PutUser(u) => {
                    c.users.insert(u.id);
                }
                Change::PutMembership(m) => {
                    c.users.insert(m.user_id);
                }
                Change::DeleteMembership(id) => {
                    c.users.extend(
                        before
                            .membership(*id)
                            .or_else(|| after.membership(*id))
                            .map(|m| m.user_id),
                    );
                }
                Change::PutGroupMember(m) => {
                    c.users.insert(m.user_id);
                }
                Change::DeleteGroupMember(k) => {
                    c.users.insert(k.user_id);
                }
                Change::DeleteGroup(g) => c.holder(GrantHolder::Group(*g)),
                Change::PutRole(r) => c.roles.push(r.key()),
                Change::DeleteRole(k) => c.roles.push(k.clone()),
                _ => {}
            }
        }
        c.roles.sort();
        c.roles.dedup();
        c
    }

    fn holder(&mut self, h: GrantHolder) {
        match h {
            GrantHolder::User(u) => {
                self.users.insert(u);
            }
            GrantHolder::Group(g) => {
                self.groups.insert(g);
            }
        }
    }

    /// Every user they reach, in either model: the users, every holder of
    /// the roles (members of groups holding them included), every member of
    /// the groups.
    pub fn reach(&self, before: &Model, after: &Model) -> BTreeSet<UserId> {
        let mut users = self.users.clone();
        for model in [before, after] {
            let mut groups = self.groups.clone();
            for key in &self.roles {
                let (holders, holding_groups) = model.role_grantees(key);
                users.extend(holders);
                groups.extend(holding_groups);
            }
            for g in &groups {
                users.extend(model.group_member_ids(*g));
            }
        }
        users
    }
}

/// The users whose access `changes` (taking `before` to `after`) may have
/// changed: [`Causes::reach`] of [`Causes::of`].
pub fn touched_users(before: &Model, after: &Model, changes: &[Change]) -> BTreeSet<UserId> {
    Causes::of(before, after, changes).reach(before, after)
}

/// The difference in access of `users` from `before` to `after`, each list
/// sorted and cut at `cap` entries (`truncated` says whether any was).
pub fn impact_of<'u>(
    before: &Model,
    after: &Model,
    users: impl IntoIterator<Item = &'u UserId>,
    cap: usize,
    now: Moment,
) -> Impact {
    let mut impact = Impact::default();
    let mut users: Vec<UserId> = users.into_iter().copied().collect();
    users.sort_unstable();
    users.dedup();
    for user in users {
        if impact.truncated && impact.gained.len() == cap && impact.lost.len() == cap {
            break; // both lists are full: nothing more can be said
        }
        let was = access_of(before, user, now);
        let is = access_of(after, user, now);
        let entry = |&(permission, scope): &(PermissionId, Scope)| Access {
            user,
            permission,
            scope,
        };
        for (list, diff) in [
            (&mut impact.gained, is.difference(&was)),
            (&mut impact.lost, was.difference(&is)),
        ] {
            for a in diff {
                if list.len() == cap {
                    impact.truncated = true;
                    break;
                }
                list.push(entry(a));
            }
        }
    }
    impact
}

/// The difference in access at `now` that `changes` made, taking `before`
/// to `after`: [`impact_of`] over [`touched_users`].
pub fn impact(
    before: &Model,
    after: &Model,
    changes: &[Change],
    cap: usize,
    now: Moment,
) -> Impact {
    impact_of(
        before,
        after,
        &touched_users(before, after, changes),
        cap,
        now,
    )
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "a test fails by panicking"
    )]
    use super::*;

    /// The instant the tests look at (their writes happen at the epoch).
    const NOW: Moment = Moment::EPOCH;
    use crate::catalogue::perms;
    use crate::draft::{Context, Draft};
    use crate::error::DomainError;
    use crate::ids::{AccountId, OrganizationId};
    use crate::ops::{self, GrantSubject};
    use crate::values::{Description, DisplayName, Email, RoleId};
    use crate::{AccountType, UserStatus};
    use std::collections::BTreeMap;
    use time::OffsetDateTime;

    /// Runs `f` as the system on `model`: the model after, the changes and
    /// `f`'s output.
    fn system<T>(
        model: &Model,
        f: impl FnOnce(&mut Draft<'_>) -> Result<T, DomainError>,
    ) -> (Model, Vec<Change>, T) {
        let ctx = Context::system(OffsetDateTime::UNIX_EPOCH);
        let mut d = Draft::new(model, &ctx);
        let out = f(&mut d).unwrap();
        let o = d.finish().unwrap();
        (o.model, o.changes, out)
    }

    fn user(d: &mut Draft<'_>, org: OrganizationId, i: usize) -> UserId {
        ops::create_user(
            d,
            ops::NewUser {
                id: None,
                organization_id: org,
                email: Email::parse(&format!("u{i}@a.example")).unwrap(),
                first_name: None,
                last_name: None,
                phone: None,
                settings: None,
                external_ids: BTreeMap::new(),
                status: None,
            },
        )
        .unwrap()
        .id
    }

    fn role(id: &str) -> RoleId {
        RoleId::parse(id).unwrap()
    }

    struct World {
        model: Model,
        org: OrganizationId,
        account: AccountId,
        users: Vec<UserId>,
    }

    /// An organization with one account, `n` users and a custom role
    /// `clerk` (users:read) that the first `holders` of them hold at the
    /// organization.
    fn world(n: usize, holders: usize) -> World {
        let (model, _, (org, account, users)) = system(&Model::new(), |d| {
            let org = ops::create_organization(
                d,
                ops::NewOrganization {
                    id: None,
                    name: DisplayName::parse("A")?,
                    slug: None,
                },
            )?
            .id;
            let account = ops::create_account(
                d,
                ops::NewAccount {
                    id: None,
                    organization_id: org,
                    name: DisplayName::parse("A1")?,
                    kind: AccountType::Client,
                    status: None,
                },
            )?
            .id;
            ops::create_role(
                d,
                ops::NewRole {
                    organization_id: org,
                    id: role("clerk"),
                    name: DisplayName::parse("Clerk")?,
                    description: Description::parse("")?,
                    permissions: [perms::users_read()].into_iter().collect(),
                },
            )?;
            let users: Vec<UserId> = (0..n).map(|i| user(d, org, i)).collect();
            for u in &users[..holders] {
                ops::create_grant(
                    d,
                    *u,
                    ops::NewGrant {
                        subject: GrantSubject::Role(role("clerk")),
                        scope: Scope::Organization(org),
                        expires_at: None,
                    },
                )?;
            }
            Ok((org, account, users))
        });
        World {
            model,
            org,
            account,
            users,
        }
    }

    fn access(user: UserId, permission: PermissionId, scope: Scope) -> Access {
        Access {
            user,
            permission,
            scope,
        }
    }

    #[test]
    fn a_grant_is_gained_and_lost_by_its_holder_only() {
        let w = world(3, 0);
        let u = w.users[1];
        let scope = Scope::Account(w.account);
        let (after, changes, grant) = system(&w.model, |d| {
            ops::create_grant(
                d,
                u,
                ops::NewGrant {
                    subject: GrantSubject::Role(role("viewer")),
                    scope,
                    expires_at: None,
                },
            )
        });
        assert_eq!(
            touched_users(&w.model, &after, &changes),
            [u].into_iter().collect()
        );
        let i = impact(&w.model, &after, &changes, 1000, NOW);
        let mut viewer: Vec<PermissionId> = after.grant_permissions(&grant.0);
        viewer.sort_unstable();
        assert!(!viewer.is_empty());
        assert_eq!(
            i.gained,
            viewer
                .iter()
                .map(|p| access(u, *p, scope))
                .collect::<Vec<_>>()
        );
        assert!(i.lost.is_empty() && !i.truncated);
        // And back: the same pairs, lost.
        let (back, changes, ()) = system(&after, |d| ops::delete_grant(d, u, grant.0.id));
        let i = impact(&after, &back, &changes, 1000, NOW);
        assert!(i.gained.is_empty());
        assert_eq!(i.lost.len(), viewer.len());
    }

    #[test]
    fn a_group_grant_touches_its_members_and_a_membership_its_user() {
        let w = world(3, 0);
        let (m, _, group) = system(&w.model, |d| {
            ops::create_group(
                d,
                ops::NewGroup {
                    id: None,
                    organization_id: w.org,
                    name: DisplayName::parse("Support").unwrap(),
                    description: None,
                },
            )
        });
        let (m, changes, _) = system(&m, |d| {
            ops::add_group_member(d, group.id, w.users[0], None)?;
            ops::add_group_member(d, group.id, w.users[1], None)
        });
        assert!(
            impact(&w.model, &m, &changes, 1000, NOW).is_empty(),
            "an empty group gives nothing"
        );
        let (after, changes, _) = system(&m, |d| {
            ops::create_grant(
                d,
                group.id,
                ops::NewGrant {
                    subject: GrantSubject::Permission(perms::users_read()),
                    scope: Scope::Organization(w.org),
                    expires_at: None,
                },
            )
        });
        assert_eq!(
            touched_users(&m, &after, &changes),
            [w.users[0], w.users[1]].into_iter().collect()
        );
        let i = impact(&m, &after, &changes, 1000, NOW);
        assert_eq!(
            i.gained,
            vec![
                access(w.users[0], perms::users_read(), Scope::Organization(w.org)),
                access(w.users[1], perms::users_read(), Scope::Organization(w.org)),
            ]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        let (gone, changes, ()) = system(&after, |d| {
            ops::remove_group_member(d, group.id, w.users[1])
        });
        let i = impact(&after, &gone, &changes, 1000, NOW);
        assert_eq!(
            i.lost,
            vec![access(
                w.users[1],
                perms::users_read(),
                Scope::Organization(w.org)
            )]
        );
    }

    #[test]
    fn a_permission_held_twice_is_not_lost_with_one_grant() {
        let w = world(1, 1);
        let u = w.users[0];
        // users:read at the organization, twice: through `clerk` and directly.
        let (m, _, direct) = system(&w.model, |d| {
            ops::create_grant(
                d,
                u,
                ops::NewGrant {
                    subject: GrantSubject::Permission(perms::users_read()),
                    scope: Scope::Organization(w.org),
                    expires_at: None,
                },
            )
        });
        let (after, changes, ()) = system(&m, |d| ops::delete_grant(d, u, direct.0.id));
        assert!(impact(&m, &after, &changes, 1000, NOW).is_empty());
    }

    #[test]
    fn a_role_edit_touches_every_holder_and_nobody_else() {
        let w = world(5, 3);
        let (after, changes, _) = system(&w.model, |d| {
            ops::update_role(
                d,
                w.org,
                &role("clerk"),
                ops::RolePatch {
                    name: None,
                    description: None,
                    permissions: Some([perms::accounts_read()].into_iter().collect()),
                },
                ops::Precondition::NONE,
            )
        });
        let holders: BTreeSet<UserId> = w.users[..3].iter().copied().collect();
        assert_eq!(touched_users(&w.model, &after, &changes), holders);
        let i = impact(&w.model, &after, &changes, 1000, NOW);
        let org = Scope::Organization(w.org);
        let mut gained: Vec<Access> = w.users[..3]
            .iter()
            .map(|u| access(*u, perms::accounts_read(), org))
            .collect();
        gained.sort();
        let mut lost: Vec<Access> = w.users[..3]
            .iter()
            .map(|u| access(*u, perms::users_read(), org))
            .collect();
        lost.sort();
        assert_eq!(i.gained, gained);
        assert_eq!(i.lost, lost);
    }

    #[test]
    fn disabling_a_user_loses_everything_it_held() {
        let w = world(2, 1);
        let u = w.users[0];
        let before = access_of(&w.model, u, NOW);
        assert_eq!(
            before,
            [(perms::users_read(), Scope::Organization(w.org))]
                .into_iter()
                .collect()
        );
        let (after, changes, _) = system(&w.model, |d| {
            ops::update_user(
                d,
                u,
                ops::UserPatch {
                    status: Some(UserStatus::Disabled),
                    ..Default::default()
                },
                ops::Precondition::NONE,
            )
        });
        assert!(access_of(&after, u, NOW).is_empty());
        let i = impact(&w.model, &after, &changes, 1000, NOW);
        assert!(i.gained.is_empty());
        assert_eq!(
            i.lost,
            vec![access(u, perms::users_read(), Scope::Organization(w.org))]
        );
    }

    #[test]
    fn each_list_is_cut_at_the_cap() {
        let w = world(7, 7);
        let (after, changes, _) = system(&w.model, |d| {
            ops::update_role(
                d,
                w.org,
                &role("clerk"),
                ops::RolePatch {
                    name: None,
                    description: None,
                    permissions: Some(
                        [perms::accounts_read(), perms::users_read()]
                            .into_iter()
                            .collect(),
                    ),
                },
                ops::Precondition::NONE,
            )
        });
        let all = impact(&w.model, &after, &changes, 1000, NOW);
        assert_eq!(all.gained.len(), 7);
        assert!(all.lost.is_empty() && !all.truncated);
        let cut = impact(&w.model, &after, &changes, 5, NOW);
        assert!(cut.truncated);
        assert_eq!(cut.gained, all.gained[..5]);
        // Exactly at the cap is not truncated.
        assert!(!impact(&w.model, &after, &changes, 7, NOW).truncated);
    }

    #[test]
    fn changes_outside_access_touch_nobody() {
        let w = world(2, 2);
        let (after, changes, _) = system(&w.model, |d| {
            ops::update_account(
                d,
                w.account,
                ops::AccountPatch {
                    name: Some(DisplayName::parse("Renamed")?),
                    ..Default::default()
                },
                ops::Precondition::NONE,
            )
        });
        assert!(!changes.is_empty());
        assert!(touched_users(&w.model, &after, &changes).is_empty());
        assert!(impact(&w.model, &after, &changes, 1000, NOW).is_empty());
    }
}
