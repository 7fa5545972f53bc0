//! From a SoftwareOne request to the domain write: the delta parsed into a
//! user patch (merged into the current user), a membership patch and the
//! user's groups, then one domain call, `ops::update_account_user`, which
//! decides.

use super::wire::{AccountUserIn, UserGroupRef};
use roster_domain::ops::{self, MembershipPatch, UserPatch};
use roster_domain::{
    AccountId, DomainError, Email, GroupId, MembershipStatus, PersonName, User, UserId,
};

/// The membership status names of the dialect.
fn parse_status(s: &str) -> Result<MembershipStatus, DomainError> {
    match s.to_ascii_lowercase().as_str() {
        "active" => Ok(MembershipStatus::Active),
        "invited" => Ok(MembershipStatus::Invited),
        "disabled" => Ok(MembershipStatus::Disabled),
        _ => Err(DomainError::invalid(
            "status",
            format!(
                "`{}` is not one of `Active`, `Invited`, `Disabled`",
                roster_domain::truncate(s)
            ),
        )),
    }
}

/// Most groups a request may list.
pub const MAX_GROUPS: usize = 1000;

/// The name of the `i`-th group of a request, in errors.
fn group_field(i: usize) -> String {
    format!("groups[{i}].id")
}

/// `groups`: each `UserGroupRef` names a Roster group of the account's
/// organization by its `id` (its other members are read-only). An id that
/// is not a Roster id names no group: the same `400` as an unknown one.
fn parse_groups(refs: Vec<UserGroupRef>) -> Result<Vec<GroupId>, DomainError> {
    if refs.len() > MAX_GROUPS {
        return Err(DomainError::invalid(
            "groups",
            format!("must have at most {MAX_GROUPS} entries"),
        ));
    }
    refs.into_iter()
        .enumerate()
        .map(|(i, g)| {
            let raw = g.id.ok_or_else(|| {
                DomainError::invalid(group_field(i), "a group is named by its `id`")
            })?;
            raw.parse::<GroupId>().map_err(|_| {
                DomainError::invalid(
                    group_field(i),
                    format!("unknown group `{}`", roster_domain::truncate(&raw)),
                )
            })
        })
        .collect()
}

/// A parsed, validated delta. Nested `phone`/`settings` deltas are merged
/// into the user's current values inside the write.
#[derive(Debug, Clone)]
pub struct Delta {
    revision: Option<u64>,
    email: Option<Email>,
    first_name: Option<PersonName>,
    last_name: Option<PersonName>,
    phone: Option<Option<super::wire::PhoneIn>>,
    settings: Option<Option<super::wire::SettingsIn>>,
    membership: MembershipPatch,
    /// The user's groups, exactly (Roster groups of the organization).
    groups: Option<Vec<GroupId>>,
}

impl Delta {
    pub fn parse(b: AccountUserIn) -> Result<Self, DomainError> {
        let revision = b
            .revision
            .map(|r| {
                u64::try_from(r).map_err(|_| {
                    DomainError::invalid("revision", "must be a revision this API returned")
                })
            })
            .transpose()?;
        let groups = b.groups.map(parse_groups).transpose()?;
        Ok(Self {
            revision,
            email: b
                .email
                .as_deref()
                .map(|e| Email::parse_field("email", e))
                .transpose()?,
            first_name: b
                .first_name
                .as_deref()
                .map(|n| PersonName::parse_field("firstName", n))
                .transpose()?,
            last_name: b
                .last_name
                .as_deref()
                .map(|n| PersonName::parse_field("lastName", n))
                .transpose()?,
            phone: b.phone,
            settings: b.settings,
            membership: MembershipPatch {
                status: b.status.as_deref().map(parse_status).transpose()?,
                groups: None,
            },
            groups,
        })
    }

    /// The user patch, with `phone` and `settings` merged into `current`.
    fn user_patch(&self, current: &User) -> UserPatch {
        let phone = self.phone.as_ref().map(|p| {
            p.as_ref().map(|p| {
                let mut out = current.phone.clone().unwrap_or_default();
                if let Some(v) = &p.prefix {
                    out.prefix = v.clone();
                }
                if let Some(v) = &p.number {
                    out.number = v.clone();
                }
                out
            })
        });
        let settings = self.settings.as_ref().map(|s| {
            s.as_ref().map(|s| {
                let mut out = current.settings.clone().unwrap_or_default();
                if let Some(v) = &s.culture_code {
                    out.culture_code = Some(v.clone());
                }
                if let Some(v) = &s.language_code {
                    out.language_code = Some(v.clone());
                }
                if let Some(v) = &s.date_format {
                    out.date_format = v.clone();
                }
                if let Some(v) = &s.time_format {
                    out.time_format = v.clone();
                }
                if let Some(v) = &s.time_zone {
                    out.time_zone = v.clone();
                }
                if let Some(nf) = &s.number_format {
                    out.number_format = nf.as_ref().map(|nf| {
                        let mut n = out.number_format.clone().unwrap_or_default();
                        if let Some(v) = &nf.decimal_separator {
                            n.decimal_separator = Some(v.clone());
                        }
                        if let Some(v) = &nf.group_separator {
                            n.group_separator = Some(v.clone());
                        }
                        n
                    });
                }
                out
            })
        });
        UserPatch {
            email: self.email.clone(),
            first_name: self.first_name.clone().map(Some),
            last_name: self.last_name.clone().map(Some),
            phone,
            settings,
            external_ids: None,
            status: None,
        }
    }
}

/// The write: one domain call, the account user's delta update.
pub fn write(
    d: &mut roster_domain::Draft<'_>,
    account: AccountId,
    user: UserId,
    delta: &Delta,
) -> Result<ops::AccountUser, DomainError> {
    ops::update_account_user(
        d,
        account,
        user,
        delta.revision,
        |current| delta.user_patch(current),
        delta.membership.clone(),
        delta.groups.as_deref().map(|ids| ops::GroupList {
            ids,
            field: &group_field,
        }),
    )
}
