//! The executable schema: the three roots with the limits every request is checked against
//! before it runs. Above the roots, below the HTTP layer that executes it.

use async_graphql::Schema;

use crate::limits::FieldLimit;
use crate::mutation::MutationRoot;
use crate::query::QueryRoot;
use crate::subscriptions::SubscriptionRoot;

/// The executable schema.
pub type NexusSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest selection accepted. The data graph is shallow (execution → agent → stats → field is
/// 6 with the connection wrappers); GraphiQL's introspection query needs 13. Anything deeper is
/// an attack or a bug.
pub const MAX_DEPTH: usize = 16;
/// Most complex query accepted: a full page (100) of agents with ~30 fields each, or a dozen
/// smaller pages side by side. Connections count page size × selection (see
/// [`crate::pagination::page_complexity`]).
pub const MAX_COMPLEXITY: usize = 5_000;
/// Parser recursion limit (nested lists/objects in values and selections): keeps a crafted
/// document from exhausting the stack before depth is even measured.
pub const MAX_RECURSIVE_DEPTH: usize = 32;
/// Directives per field.
pub const MAX_DIRECTIVES: usize = 8;

/// The schema with its limits, before data is attached (also what the SDL is printed from).
pub fn schema_builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
        .limit_directives(MAX_DIRECTIVES)
        .extension(FieldLimit)
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}
