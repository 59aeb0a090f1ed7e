//! nexus-store: the PostgreSQL vocabulary every AgentNexus service shares.
//!
//! The indexer writes the chain's projections, the relayer claims and settles executions, and
//! graphql serves them; none imports another. What holds them together is the database, and
//! this crate makes that contract code the compiler checks instead of strings repeated in each
//! service:
//!
//! - [`migrate`] applies `store/migrations/`, the one schema (embedded at compile time);
//! - [`status`]: the CHECK-constrained TEXT columns as enums ([`ExecutionStatus`],
//!   [`Outcome`], [`AgentStatus`], [`Category`], [`MetadataStatus`], [`LogStream`]); an unknown
//!   value is an error, never a default;
//! - [`codec`]: uint256 ↔ NUMERIC text and address/hash ↔ BYTEA, strict both ways;
//! - [`rows`]: rows more than one service reads ([`ExecutionRow`]);
//! - [`notify`]: the `LISTEN`/`NOTIFY` channels and their serde payloads.
//!
//! Queries stay in the services (each owns its SQL); they use these types to bind and decode.

pub mod codec;
pub mod notify;
pub mod rows;
pub mod status;

pub use codec::CodecError;
pub use notify::{Channel, Notification};
pub use rows::{EXECUTION_COLUMNS, ExecutionRow};
pub use sqlx::migrate::MigrateError;
pub use status::{AgentStatus, Category, ExecutionStatus, LogStream, MetadataStatus, Outcome, UnknownValue};

/// Brings the database's schema up to date: applies every migration in `store/migrations/` not
/// yet applied, in order. Every service calls it at start; concurrent callers are serialised
/// by sqlx's advisory lock, and applied migrations are checksummed, so their files must never
/// change (a schema change is a new migration).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
