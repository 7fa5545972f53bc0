//! The built-in permission and role catalogue (SPEC §1). Built-in permission
//! ids are UUIDv5 of their code under [`PERMISSION_NAMESPACE`], so they are
//! equal on every install.

use crate::entity::{Permission, Role};
use crate::ids::PermissionId;
use crate::values::{DisplayName, PermissionCode, RoleId};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Namespace of built-in permission ids: UUIDv5(DNS, `permissions.roster.dev`).
pub const PERMISSION_NAMESPACE: Uuid = Uuid::from_bytes([
    0x5c, 0x6b, 0x2e, 0x0a, 0x51, 0x3d, 0x5b, 0x8e, 0x9a, 0x44, 0x1f, 0x2c, 0x7d, 0x90, 0x3e, 0x11,
]);

/// Codes of the built-in permissions, with descriptions.
pub const BUILTIN_PERMISSIONS: &[(&str, &str)] = &[
    ("organizations:read", "read organizations"),
    (
        "organizations:write",
        "create, change and delete organizations",
    ),
    ("accounts:read", "read accounts"),
    ("accounts:write", "create, change and delete accounts"),
    ("users:read", "read users and memberships"),
    (
        "users:write",
        "create, change and delete users and memberships",
    ),
    ("roles:read", "read roles and custom permissions"),
    (
        "roles:write",
        "create, change and delete custom roles and permissions",
    ),
    ("grants:read", "read grants"),
    ("grants:write", "create and remove grants"),
    (
        "api_keys:write",
        "create and revoke API keys for other users",
    ),
    ("audit:read", "read the audit trail"),
    (
        "authz:check",
        "ask authorization questions about other users",
    ),
    ("edit_org_users", "Crux: edit the users of an organization"),
    (
        "account:role:write",
        "Fynn: change the role of an account membership",
    ),
    (
        "platform:accounts:manage",
        "SoftwareOne: manage every account user of the organization",
    ),
    (
        "webhooks:write",
        "create, read, change and delete webhook subscriptions",
    ),
];

/// The id of a built-in permission code.
pub fn builtin_permission_id(code: &str) -> PermissionId {
    PermissionId(Uuid::new_v5(&PERMISSION_NAMESPACE, code.as_bytes()))
}

/// Well-known permission ids used by the rules.
pub mod perms {
    use super::builtin_permission_id;
    use crate::ids::PermissionId;
    macro_rules! p {
        ($name:ident, $code:expr) => {
            #[doc = concat!("`", $code, "`")]
            pub fn $name() -> PermissionId {
                // Computed once: the rules ask for these on every request
                // (a batch of checks, hundreds of times), and a UUIDv5 is
                // a SHA-1.
                static ID: std::sync::LazyLock<PermissionId> =
                    std::sync::LazyLock::new(|| builtin_permission_id($code));
                *ID
            }
        };
    }
    p!(organizations_read, "organizations:read");
    p!(organizations_write, "organizations:write");
    p!(accounts_read, "accounts:read");
    p!(accounts_write, "accounts:write");
    p!(users_read, "users:read");
    p!(users_write, "users:write");
    p!(roles_read, "roles:read");
    p!(roles_write, "roles:write");
    p!(grants_read, "grants:read");
    p!(grants_write, "grants:write");
    p!(api_keys_write, "api_keys:write");
    p!(audit_read, "audit:read");
    p!(authz_check, "authz:check");
    p!(edit_org_users, "edit_org_users");
    p!(account_role_write, "account:role:write");
    p!(platform_accounts_manage, "platform:accounts:manage");
    p!(webhooks_write, "webhooks:write");
}

/// The built-in permissions as entities.
pub fn builtin_permissions() -> Vec<Permission> {
    BUILTIN_PERMISSIONS
        .iter()
        .filter_map(|(code, desc)| {
            Some(Permission {
                id: builtin_permission_id(code),
                code: PermissionCode::parse(code).ok()?,
                description: (*desc).to_owned(),
                organization_id: None,
                revision: 0,
            })
        })
        .collect()
}

fn set(codes: &[&str]) -> BTreeSet<PermissionId> {
    codes.iter().map(|c| builtin_permission_id(c)).collect()
}

fn all_codes() -> Vec<&'static str> {
    BUILTIN_PERMISSIONS.iter().map(|(c, _)| *c).collect()
}

const READS: &[&str] = &[
    "organizations:read",
    "accounts:read",
    "users:read",
    "roles:read",
    "grants:read",
    "audit:read",
];

/// The built-in roles, global and read-only.
pub fn builtin_roles() -> Vec<Role> {
    let all = all_codes();
    let admin: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| *c != "organizations:write")
        .collect();
    let mut member: Vec<&str> = READS.to_vec();
    member.push("authz:check");
    let mut support: Vec<&str> = READS.to_vec();
    support.extend(["users:write", "authz:check"]);
    let mut system_support = support.clone();
    system_support.extend(["accounts:write", "edit_org_users"]);
    let defs: Vec<(&str, &str, &str, BTreeSet<PermissionId>)> = vec![
        (
            "owner",
            "Owner",
            "every permission, including organizations:write",
            set(&all),
        ),
        (
            "admin",
            "Admin",
            "every permission but organizations:write",
            set(&admin),
        ),
        (
            "member",
            "Member",
            "read everything and ask authorization questions",
            set(&member),
        ),
        ("viewer", "Viewer", "read everything", set(READS)),
        (
            "system_admin",
            "System admin (Lexful)",
            "Lexful: every permission",
            set(&all),
        ),
        (
            "system_support",
            "System support (Lexful)",
            "Lexful: read everything, edit users and accounts",
            set(&system_support),
        ),
        (
            "support",
            "Support (Lexful)",
            "Lexful: read everything and edit users",
            set(&support),
        ),
        (
            "organization_viewer",
            "Organization viewer (Lexful)",
            "Lexful: read the organization, its accounts and users",
            set(&["organizations:read", "accounts:read", "users:read"]),
        ),
        (
            "administrator",
            "Administrator (Fynn)",
            "Fynn: same as admin",
            set(&admin),
        ),
        (
            "account",
            "Account (Fynn)",
            "Fynn: same as member",
            set(&member),
        ),
        (
            "read-only",
            "Read-only (Fynn)",
            "Fynn: same as viewer",
            set(READS),
        ),
    ];
    defs.into_iter()
        .filter_map(|(id, name, desc, permissions)| {
            Some(Role {
                id: RoleId::parse(id).ok()?,
                organization_id: None,
                name: DisplayName::parse(name).ok()?,
                description: desc.to_owned(),
                permissions,
                revision: 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_ids_are_stable() {
        // INVARIANT: these ids are part of the public contract; never change them.
        assert_eq!(
            builtin_permission_id("grants:write"),
            builtin_permission_id("grants:write")
        );
        assert_eq!(builtin_permissions().len(), BUILTIN_PERMISSIONS.len());
        assert_eq!(builtin_roles().len(), 11);
    }

    #[test]
    fn role_hierarchy() {
        let roles = builtin_roles();
        let get = |id: &str| {
            roles
                .iter()
                .find(|r| r.id.as_str() == id)
                .unwrap()
                .permissions
                .clone()
        };
        assert!(get("owner").is_superset(&get("admin")));
        assert!(get("admin").is_superset(&get("member")));
        assert!(get("member").is_superset(&get("viewer")));
        assert!(!get("admin").contains(&perms::organizations_write()));
        assert_eq!(get("administrator"), get("admin"));
        assert_eq!(get("account"), get("member"));
        assert_eq!(get("read-only"), get("viewer"));
    }
}
