//! `roster generate`: loads a synthetic data set for benchmarks.
//!
//! Organizations, their accounts, users spread evenly over them, and about
//! ten built-in role grants per user: the first user of each organization is
//! its `admin` at organization scope (every organization has an
//! administrator, as the lockout guard wants); every other grant is `admin`
//! (10%), `member` (30%) or `viewer` (60%) at the organization (10%), at
//! `accounts(O)` (5%) or on a distinct account of the user's organization.
//!
//! With `groups_per_user`, every organization also gets
//! [`GROUPS_PER_ORG`] groups of [`GRANTS_PER_GROUP`] grants (a built-in
//! role, at the organization 10 % of the time, else at one of its
//! accounts), and every user is a member of that many distinct groups of
//! its organization: the benchmark's `roster+groups` shape.
//!
//! The rows go through the ordinary commit path in large commits (tens of
//! thousands of changes each, written with multi-row statements), so the
//! change log stays complete and running replicas follow along; no audit
//! events are written for them. The same seed gives the same data set.

use anyhow::Context as _;
use roster_domain::*;
use roster_store::{Commit, Store};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use time::OffsetDateTime;

/// Changes per commit.
const CHUNK: usize = 20_000;
/// Groups per organization, when users are in groups.
pub const GROUPS_PER_ORG: usize = 10;
/// Grants per group.
pub const GRANTS_PER_GROUP: usize = 3;

/// Organizations generated together (so each statement writes many rows of one table).
const ORGS_PER_BLOCK: usize = 64;

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Users.
    pub users: usize,
    /// Organizations (default: one per 100 users).
    pub orgs: Option<usize>,
    /// Accounts per organization.
    pub accounts_per_org: usize,
    /// Grants per user.
    pub grants_per_user: usize,
    /// Groups each user is a member of (at most [`GROUPS_PER_ORG`]; 0: none).
    pub groups_per_user: usize,
    /// Random seed (also part of emails and slugs, so two seeds can share a database).
    pub seed: u64,
    /// Where to write sample queries for load tests (`checks.tsv`, `orgs.tsv`).
    pub sample: Option<PathBuf>,
}

/// SplitMix64, and a clock for ids.
struct Rng(u64, u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A built-in role's index: `admin` 10 %, `member` 30 %, `viewer` 60 %.
    fn role(&mut self) -> usize {
        match self.below(10) {
            0 => 0,
            1..=3 => 1,
            _ => 2,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % (n.max(1) as u64)) as usize
    }
    /// A UUIDv7 whose timestamp rises by a millisecond per id: the ids of
    /// one run ascend, so every index of a table grows at its end instead of
    /// splitting pages all over a B-tree (several times faster at 10M rows).
    fn uuid(&mut self) -> uuid::Uuid {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes()[..2]);
        self.1 += 1;
        uuid::Builder::from_unix_timestamp_millis(self.1, &b).into_uuid()
    }
}

/// Buffers changes and commits them in large commits.
struct Loader<'s> {
    store: &'s dyn Store,
    revision: Revision,
    buf: Vec<Change>,
    rows: usize,
}

impl Loader<'_> {
    /// Adds a grant without expiry.
    async fn grant(
        &mut self,
        id: GrantId,
        holder: GrantHolder,
        target: GrantTarget,
        scope: Scope,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let revision = self.revision + 1;
        self.push(Change::PutGrant(Grant {
            id,
            holder,
            target,
            scope,
            expires_at: None,
            created_at: now,
            created_by: None,
            revision,
        }))
        .await
    }

    async fn push(&mut self, c: Change) -> anyhow::Result<()> {
        self.buf.push(c);
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut self.buf);
        self.rows += changes.len();
        let commit = Commit {
            revision: self.revision + 1,
            changes,
            audit: Vec::new(),
            events: Vec::new(),
        };
        self.store
            .commit(self.revision, std::slice::from_ref(&commit))
            .await
            .context(
                "committing generated rows (is a server writing to this database? stop it first)",
            )?;
        self.revision += 1;
        Ok(())
    }
}

fn role(id: &str) -> anyhow::Result<GrantTarget> {
    Ok(GrantTarget::Role(RoleKey {
        organization_id: None,
        id: RoleId::parse(id)?,
    }))
}

/// Generates and loads the data set; returns a JSON summary.
pub async fn run(store: &dyn Store, spec: &Spec) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let n_orgs = spec.orgs.unwrap_or_else(|| spec.users.div_ceil(100)).max(1);
    let k = spec.accounts_per_org.max(1);
    let seed = spec.seed;
    let now = OffsetDateTime::now_utc();
    // Ids start from the seed's own point in time, so two seeds sharing a
    // database do not collide.
    let mut rng = Rng(
        seed ^ 0x726f_7374_6572,
        1_600_000_000_000 + (seed % 1_000_000) * 100_000_000,
    );
    let mut loader = Loader {
        store,
        revision: store.current_revision().await?,
        buf: Vec::with_capacity(CHUNK),
        rows: 0,
    };
    let first_revision = loader.revision;
    let targets = [role("admin")?, role("member")?, role("viewer")?];
    let mut sample = match &spec.sample {
        Some(dir) => Some(Sample::create(dir)?),
        None => None,
    };
    let mut grants = 0usize;
    let mut accounts = 0usize;
    let mut groups = 0usize;
    let mut memberships = 0usize;
    let groups_per_user = spec.groups_per_user.min(GROUPS_PER_ORG);
    for block in (0..n_orgs).step_by(ORGS_PER_BLOCK) {
        let block_orgs: Vec<usize> = (block..(block + ORGS_PER_BLOCK).min(n_orgs)).collect();
        let org_ids: Vec<OrganizationId> = block_orgs
            .iter()
            .map(|_| OrganizationId(rng.uuid()))
            .collect();
        let acc_ids: Vec<Vec<AccountId>> = block_orgs
            .iter()
            .map(|_| (0..k).map(|_| AccountId(rng.uuid())).collect())
            .collect();
        for (i, o) in block_orgs.iter().enumerate() {
            loader
                .push(Change::PutOrganization(Organization {
                    id: org_ids[i],
                    name: DisplayName::parse(&format!("Generated {seed}-{o}"))?,
                    slug: Slug::parse(&format!("gen-{seed}-{o}"))?,
                    revision: loader.revision + 1,
                    created_at: now,
                    updated_at: now,
                }))
                .await?;
        }
        for (i, accs) in acc_ids.iter().enumerate() {
            for (j, a) in accs.iter().enumerate() {
                accounts += 1;
                loader
                    .push(Change::PutAccount(Account {
                        id: *a,
                        organization_id: org_ids[i],
                        name: DisplayName::parse(&format!("Account {j}"))?,
                        kind: if j == 0 {
                            AccountType::Operations
                        } else {
                            AccountType::Client
                        },
                        status: AccountStatus::Active,
                        revision: loader.revision + 1,
                        created_at: now,
                        updated_at: now,
                    }))
                    .await?;
            }
        }
        // Users of this block: user u belongs to organization u % n_orgs.
        let mut users: Vec<(UserId, usize, usize)> = Vec::new(); // (id, index, block-local org)
        for (i, o) in block_orgs.iter().enumerate() {
            let mut u = *o;
            while u < spec.users {
                users.push((UserId(rng.uuid()), u, i));
                u += n_orgs;
            }
        }
        for &(id, u, i) in &users {
            loader
                .push(Change::PutUser(User {
                    id,
                    organization_id: org_ids[i],
                    email: Email::parse(&format!("g{seed}u{u}@gen.roster.test"))?,
                    first_name: None,
                    last_name: None,
                    phone: None,
                    settings: None,
                    external_ids: Default::default(),
                    status: UserStatus::Active,
                    created_at: now,
                    created_by: None,
                    updated_at: now,
                    updated_by: None,
                    deleted_at: None,
                    revision: loader.revision + 1,
                }))
                .await?;
        }
        for &(id, u, i) in &users {
            let mut free: Vec<usize> = (0..k).collect();
            for g in 0..spec.grants_per_user {
                let (target, scope) = if u < n_orgs && g == 0 {
                    // The organization's first user administers it.
                    (targets[0].clone(), Scope::Organization(org_ids[i]))
                } else {
                    let t = rng.role();
                    let s = match rng.below(20) {
                        0 | 1 => Scope::Organization(org_ids[i]),
                        2 => Scope::Accounts(org_ids[i]),
                        _ if free.is_empty() => Scope::Account(acc_ids[i][rng.below(k)]),
                        _ => Scope::Account(acc_ids[i][free.swap_remove(rng.below(free.len()))]),
                    };
                    (targets[t].clone(), s)
                };
                grants += 1;
                loader
                    .grant(GrantId(rng.uuid()), id.into(), target, scope, now)
                    .await?;
            }
        }
        if groups_per_user > 0 {
            let group_ids: Vec<Vec<GroupId>> = org_ids
                .iter()
                .map(|_| (0..GROUPS_PER_ORG).map(|_| GroupId(rng.uuid())).collect())
                .collect();
            for (i, ids) in group_ids.iter().enumerate() {
                for (j, g) in ids.iter().enumerate() {
                    groups += 1;
                    loader
                        .push(Change::PutGroup(Group {
                            id: *g,
                            organization_id: org_ids[i],
                            name: DisplayName::parse(&format!("Group {j}"))?,
                            description: String::new(),
                            created_at: now,
                            created_by: None,
                            updated_at: now,
                            revision: loader.revision + 1,
                        }))
                        .await?;
                    for _ in 0..GRANTS_PER_GROUP {
                        let t = rng.role();
                        let scope = match rng.below(10) {
                            0 => Scope::Organization(org_ids[i]),
                            _ => Scope::Account(acc_ids[i][rng.below(k)]),
                        };
                        grants += 1;
                        loader
                            .grant(
                                GrantId(rng.uuid()),
                                (*g).into(),
                                targets[t].clone(),
                                scope,
                                now,
                            )
                            .await?;
                    }
                }
            }
            for &(id, _, i) in &users {
                let mut order: Vec<usize> = (0..GROUPS_PER_ORG).collect();
                for _ in 0..groups_per_user {
                    let g = order.swap_remove(rng.below(order.len()));
                    memberships += 1;
                    loader
                        .push(Change::PutGroupMember(GroupMember {
                            group_id: group_ids[i][g],
                            user_id: id,
                            expires_at: None,
                            created_at: now,
                            created_by: None,
                            revision: loader.revision + 1,
                        }))
                        .await?;
                }
            }
        }
        if let Some(s) = sample.as_mut() {
            s.block(&mut rng, &org_ids, &acc_ids, &users)?;
        }
    }
    loader.flush().await?;
    if let Some(s) = sample {
        s.finish()?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "users": spec.users,
        "organizations": n_orgs,
        "accounts": accounts,
        "grants": grants,
        "groups": groups,
        "group_memberships": memberships,
        "rows": loader.rows,
        "from_revision": first_revision,
        "revision": loader.revision,
        "seconds": (secs * 1000.0).round() / 1000.0,
        "rows_per_second": (loader.rows as f64 / secs.max(1e-9)).round(),
    }))
}

/// Sample queries for load tests: `checks.tsv` (`user_id account_id
/// permission`, a random user and mostly an account of its organization)
/// and `orgs.tsv` (`organization_id admin_user_id user_ids account_ids`,
/// lists comma-separated).
struct Sample {
    checks: std::io::BufWriter<std::fs::File>,
    orgs: std::io::BufWriter<std::fs::File>,
}

const SAMPLE_CODES: &[&str] = &[
    "users:read",
    "authz:check",
    "grants:write",
    "accounts:write",
    "organizations:write",
];
const SAMPLE_CHECKS_PER_BLOCK: usize = 2_000;
const SAMPLE_ORGS_PER_BLOCK: usize = 4;

impl Sample {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let open = |name: &str| -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
            let p = dir.join(name);
            Ok(std::io::BufWriter::new(
                std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
            ))
        };
        Ok(Self {
            checks: open("checks.tsv")?,
            orgs: open("orgs.tsv")?,
        })
    }

    fn block(
        &mut self,
        rng: &mut Rng,
        org_ids: &[OrganizationId],
        acc_ids: &[Vec<AccountId>],
        users: &[(UserId, usize, usize)],
    ) -> anyhow::Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        for _ in 0..SAMPLE_CHECKS_PER_BLOCK {
            let (u, _, i) = users[rng.below(users.len())];
            let i = if rng.below(10) == 0 {
                rng.below(org_ids.len())
            } else {
                i
            };
            let a = acc_ids[i][rng.below(acc_ids[i].len())];
            writeln!(
                self.checks,
                "{u}\t{a}\t{}",
                SAMPLE_CODES[rng.below(SAMPLE_CODES.len())]
            )?;
        }
        for (i, org) in org_ids.iter().enumerate().take(SAMPLE_ORGS_PER_BLOCK) {
            let mut members = users.iter().filter(|x| x.2 == i);
            let Some(admin) = members.next() else {
                continue;
            };
            let others: Vec<String> = members.take(20).map(|x| x.0.to_string()).collect();
            let accs: Vec<String> = acc_ids[i].iter().map(ToString::to_string).collect();
            writeln!(
                self.orgs,
                "{org}\t{}\t{}\t{}",
                admin.0,
                others.join(","),
                accs.join(",")
            )?;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.checks.flush()?;
        self.orgs.flush()?;
        Ok(())
    }
}
