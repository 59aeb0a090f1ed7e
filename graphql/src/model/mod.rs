//! The API's object types, read from the indexer's projections.
//!
//! Each type is a plain row plus resolvers. Rows decode once, through `nexus_store`'s column
//! types (NUMERIC as text and addresses/hashes as bytes, cast explicitly in SQL because the
//! schema's domains are not the base types' OIDs; statuses as the store's enums), so a value
//! that is not what its column promises fails the query instead of reading as zero or as a
//! default status. The execution row is the store's, shared with the relayer. References
//! between objects (an execution's agent, an agent's stats) go through per-request
//! [`DataLoader`](async_graphql::dataloader::DataLoader)s, so a page of 100 executions costs one
//! agent query, not 100.
//!
//! One module per entity; each imports only the ones listed before it (and the crate's lower
//! layers: `scalars`, `error`, `auth`), so the model has no import circle:
//!
//! - `loader`: what the batched loaders share;
//! - `agent_stats`: [`AgentStats`] and its loaders ([`StatsLoader`], [`MedianDurationLoader`]);
//! - `agent`: [`Agent`], [`AgentRow`], its enums and [`AgentLoader`] (every object naming an agent
//!   loads it through it);
//! - `purchase`, `entitlement`, `balance`: [`Purchase`], [`Entitlement`], [`WithdrawableBalance`];
//! - `execution_log`: [`ExecutionLog`] and its row;
//! - `proposal`: [`Proposal`] (the output's action proposals, typed);
//! - `execution`: [`Execution`], [`ExecutionStatus`] and [`require_requester`];
//! - `indexer_status`: [`IndexerStatus`].
//!
//! Everything public is re-exported here: paths are `crate::model::X` whatever file holds `X`.

// The API's enums are GraphQL types of their own (their names are the schema's), converted from
// the store's enums exhaustively: a new store value is a compile error here, not a fallback.
macro_rules! from_store {
    ($api:ident, $store:ty, { $($variant:ident => $store_variant:ident),+ $(,)? }) => {
        impl From<$store> for $api {
            fn from(v: $store) -> Self {
                match v { $(<$store>::$store_variant => $api::$variant),+ }
            }
        }

        impl From<$api> for $store {
            fn from(v: $api) -> Self {
                match v { $($api::$variant => <$store>::$store_variant),+ }
            }
        }

        impl $api {
            /// The value as the database stores it (for filters).
            pub fn as_str(self) -> &'static str {
                <$store>::from(self).as_str()
            }
        }
    };
}

mod agent;
mod agent_stats;
mod balance;
mod entitlement;
mod execution;
mod execution_log;
mod indexer_status;
mod loader;
mod proposal;
mod purchase;

pub use agent::{
    AGENT_COLUMNS, AGENT_STATS_COLUMNS, Agent, AgentLoader, AgentRow, AgentStatus, Category, MetadataStatus,
};
pub use agent_stats::{AgentStats, MedianDurationLoader, StatsLoader};
pub use balance::{BALANCE_COLUMNS, BalanceRow, WithdrawableBalance};
pub use entitlement::{ENTITLEMENT_COLUMNS, Entitlement, EntitlementRow};
pub use execution::{EXECUTION_COLUMNS, Execution, ExecutionStatus, require_requester};
pub use execution_log::{ExecutionLog, LOG_COLUMNS, LogRow};
pub use indexer_status::IndexerStatus;
pub use proposal::{CallProposal, MAX_PARSED_OUTPUT_BYTES, Proposal, TypedDataProposal};
pub use purchase::{PURCHASE_COLUMNS, Purchase, PurchaseRow};
