//! Roster's domain: typed ids, parsing newtypes, the entities of the tenant
//! graph, scopes, the built-in catalogue, and the rules every surface obeys.
//! No IO: the store persists what [`Draft`]s produce, the server renders it.

pub mod actor;
pub mod catalogue;
pub mod draft;
pub mod entity;
pub mod error;
pub mod event;
pub mod idp;
pub mod ids;
pub mod impact;
pub mod model;
pub mod ops;
pub mod rules;
pub mod scope;
pub mod values;
pub mod webhook;

pub use actor::Actor;
pub use draft::{AuditDraft, Context, Draft, Outcome};
pub use entity::*;
pub use error::DomainError;
pub use event::Event;
pub use idp::{Algorithms, Audience, Issuer, Jwks, JwksUri, JwsAlgorithm, KeySource, UserClaim};
pub use ids::*;
pub use model::{Change, DenyReason, Expiring, GrantKey, GroupMemberKey, Model, Moment};
pub use scope::{On, Scope, Target};
pub use values::*;
pub use webhook::{EventTypes, WebhookSecret, WebhookSecretKey, WebhookUrl};
