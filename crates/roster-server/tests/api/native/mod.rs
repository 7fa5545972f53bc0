//! The native API (`/v1`) and the server around it: rules, bad input,
//! concurrency, the actor matrix, decisions, expiring grants and their
//! sweeper, replicas, slow clients, and the tokens Roster issues.

mod bad_input;
mod concurrency;
mod credentials;
mod decisions;
mod expiry;
mod matrix;
mod replicas;
mod rules;
mod slow_clients;
mod smoke;
mod tokens;
