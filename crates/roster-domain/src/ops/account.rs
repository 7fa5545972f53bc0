//! Accounts: created with `accounts:write` over `accounts(O)`, changed and
//! deleted with `accounts:write` over the account.

use crate::catalogue::perms;
use crate::draft::{snapshot, AuditDraft, Draft};
use crate::entity::{Account, AccountStatus, AccountType};
use crate::error::DomainError;
use crate::ids::{AccountId, OrganizationId};
use crate::model::Change;
use crate::ops::Precondition;
use crate::scope::Scope;
use crate::values::DisplayName;
use std::sync::Arc;

/// Input of [`create_account`].
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// Id to use (demo data and imports), else a fresh one.
    pub id: Option<AccountId>,
    /// Organization.
    pub organization_id: OrganizationId,
    /// Name.
    pub name: DisplayName,
    /// Kind.
    pub kind: AccountType,
    /// Status (default active).
    pub status: Option<AccountStatus>,
}

/// Creates an account.
pub fn create_account(d: &mut Draft<'_>, new: NewAccount) -> Result<Arc<Account>, DomainError> {
    let org = new.organization_id;
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.require(
        perms::accounts_write(),
        &Scope::Accounts(org),
        ("organization", org.to_string()),
    )?;
    let id = new.id.unwrap_or_default();
    if d.model().account(id).is_some() {
        return Err(DomainError::conflict(
            "id",
            format!("account `{id}` exists"),
        ));
    }
    let account = Account {
        id,
        organization_id: org,
        name: new.name,
        kind: new.kind,
        status: new.status.unwrap_or(AccountStatus::Active),
        revision: d.revision(),
        created_at: d.now(),
        updated_at: d.now(),
    };
    d.record(
        Change::PutAccount(account.clone()),
        Some(org),
        AuditDraft {
            action: "account.create",
            target_type: "account",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: Some(id),
            before: None,
            after: snapshot(&account),
        },
    );
    Ok(Arc::new(account))
}

/// Reads an account (`accounts:read` over it).
pub fn get_account(d: &Draft<'_>, id: AccountId) -> Result<Arc<Account>, DomainError> {
    let a = d
        .model()
        .account(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", id))?;
    d.require(
        perms::accounts_read(),
        &Scope::Account(id),
        ("account", id.to_string()),
    )?;
    Ok(a)
}

/// Accounts of `org` the actor may read, in id order, after `after`.
pub fn list_accounts(
    d: &Draft<'_>,
    org: OrganizationId,
    after: Option<AccountId>,
    limit: usize,
) -> Result<Vec<Arc<Account>>, DomainError> {
    if d.model().organization(org).is_none() {
        return Err(DomainError::not_found("organization", org));
    }
    d.reach(org, ("organization", org.to_string()))?;
    let m = d.model();
    Ok(m.accounts_of(org)
        .filter(|a| after.is_none_or(|x| *a > x))
        .filter(|a| crate::rules::may(m, d.actor(), perms::accounts_read(), &Scope::Account(*a)))
        .filter_map(|a| m.account(a).cloned())
        .take(limit)
        .collect())
}

/// Changes to an account; absent fields are left alone.
#[derive(Clone, Debug, Default)]
pub struct AccountPatch {
    /// New name.
    pub name: Option<DisplayName>,
    /// New kind.
    pub kind: Option<AccountType>,
    /// New status.
    pub status: Option<AccountStatus>,
}

/// Updates an account.
pub fn update_account(
    d: &mut Draft<'_>,
    id: AccountId,
    patch: AccountPatch,
    pre: Precondition,
) -> Result<Arc<Account>, DomainError> {
    let before = d
        .model()
        .account(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", id))?;
    d.require(
        perms::accounts_write(),
        &Scope::Account(id),
        ("account", id.to_string()),
    )?;
    pre.check(before.revision)?;
    let mut after = (*before).clone();
    if let Some(v) = patch.name {
        after.name = v;
    }
    if let Some(v) = patch.kind {
        after.kind = v;
    }
    if let Some(v) = patch.status {
        after.status = v;
    }
    if after == *before {
        return Ok(before);
    }
    after.revision = d.revision();
    after.updated_at = d.now();
    d.record(
        Change::PutAccount(after.clone()),
        Some(after.organization_id),
        AuditDraft {
            action: "account.update",
            target_type: "account",
            target_id: id.to_string(),
            organization_id: Some(after.organization_id),
            account_id: Some(id),
            before: snapshot(&*before),
            after: snapshot(&after),
        },
    );
    Ok(Arc::new(after))
}

/// Deletes an account with its memberships and the grants scoped to it.
pub fn delete_account(
    d: &mut Draft<'_>,
    id: AccountId,
    pre: Precondition,
) -> Result<(), DomainError> {
    let before = d
        .model()
        .account(id)
        .cloned()
        .ok_or_else(|| DomainError::not_found("account", id))?;
    let org = before.organization_id;
    d.require(
        perms::accounts_write(),
        &Scope::Account(id),
        ("account", id.to_string()),
    )?;
    pre.check(before.revision)?;
    let members: Vec<_> = d
        .model()
        .members_of(id)
        .filter_map(|u| d.model().membership_of(u, id).cloned())
        .collect();
    for m in members {
        d.record(
            Change::DeleteMembership(m.id),
            Some(org),
            AuditDraft {
                action: "membership.delete",
                target_type: "membership",
                target_id: m.id.to_string(),
                organization_id: Some(org),
                account_id: Some(id),
                before: snapshot(&*m),
                after: None,
            },
        );
    }
    let grants = d.model().grants_at(org, Scope::Account(id));
    for g in grants {
        d.record(
            Change::DeleteGrant(g.key()),
            Some(org),
            AuditDraft {
                action: "grant.delete",
                target_type: "grant",
                target_id: g.id.to_string(),
                organization_id: Some(org),
                account_id: Some(id),
                before: snapshot(&g),
                after: None,
            },
        );
    }
    d.record(
        Change::DeleteAccount(id),
        Some(org),
        AuditDraft {
            action: "account.delete",
            target_type: "account",
            target_id: id.to_string(),
            organization_id: Some(org),
            account_id: Some(id),
            before: snapshot(&*before),
            after: None,
        },
    );
    Ok(())
}
