//! The native API (`/v1`) and the server around it: rules, bad input,
//! concurrency, the actor matrix, decisions, expiring grants and their
//! sweeper, replicas, slow clients, the tokens Roster issues, what-if,
//! the event feed, and webhooks.

mod bad_input;
mod concurrency;
mod credentials;
mod decisions;
mod events;
mod expiry;
mod expiry_groups;
mod groups;
mod matrix;
mod metrics;
mod replicas;
mod rules;
mod slow_clients;
mod smoke;
mod tokens;
mod webhooks;
mod webhooks_delivery;
mod what_if;
