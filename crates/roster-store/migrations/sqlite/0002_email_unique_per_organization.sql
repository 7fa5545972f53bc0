-- Emails are unique within an organization (case-insensitively, by the
-- domain's `Email::key`), as Keycloak's are per realm: the same address may
-- be a user of several organizations, and a tenant can no longer learn from
-- a 409 that another tenant has a user with some address (SPEC §1, §2.10).
DROP INDEX users_email_live;
CREATE UNIQUE INDEX users_email_live ON users (organization_id, email_key) WHERE deleted_at IS NULL;
