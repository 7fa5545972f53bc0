-- An API key may be scoped: it acts as its user only for the permissions
-- listed here (a JSON array of permission ids; NULL: all its user holds).
ALTER TABLE api_keys ADD COLUMN scopes JSON;
