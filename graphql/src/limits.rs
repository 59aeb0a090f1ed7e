//! A limit async-graphql lacks: the number of field selections in a document.
//!
//! Complexity already bounds fields that touch the database (a connection costs its page size
//! times its selection), but fields it counts as free (`__typename`, aliases of cheap scalars)
//! still cost memory and response bytes: `{ a1: __typename a2: __typename ... }` repeated 100k
//! times fits in the body limit and would produce a multi-megabyte answer. Counting selections
//! as written bounds the work per byte of request; fragment spreads cannot multiply it, because
//! fields with the same response key merge, and distinct keys must each be written out.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Field selections one document may contain: a generous catalog page with nested stats and
/// every connection field is about 60; GraphiQL's introspection query is about 80.
pub const MAX_FIELDS: usize = 1_000;

pub struct FieldLimit;

impl ExtensionFactory for FieldLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FieldLimitExtension)
    }
}

struct FieldLimitExtension;

fn count(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|s| match &s.node {
            Selection::Field(f) => 1 + count(&f.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
            Selection::InlineFragment(f) => count(&f.node.selection_set.node),
        })
        .sum()
}

/// Field selections written in `doc` (operations and fragment definitions).
pub fn field_count(doc: &ExecutableDocument) -> usize {
    let ops: usize = doc.operations.iter().map(|(_, op)| count(&op.node.selection_set.node)).sum();
    let frags: usize = doc.fragments.values().map(|f| count(&f.node.selection_set.node)).sum();
    ops + frags
}

#[async_graphql::async_trait::async_trait]
impl Extension for FieldLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let n = field_count(&doc);
        if n > MAX_FIELDS {
            return Err(ServerError::new(
                format!("query selects {n} fields; at most {MAX_FIELDS} are allowed per request"),
                None,
            ));
        }
        Ok(doc)
    }
}
