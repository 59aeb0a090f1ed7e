//! Execution log lines, as `Execution.logs` and the `executionLogs` subscription serve them.

use async_graphql::SimpleObject;
use nexus_store::LogStream;
use nexus_store::codec::Uint256;

use crate::scalars::{BigInt, DateTime};

pub const LOG_COLUMNS: &str = "l.request_id::text AS request_id, l.attempt, l.seq, l.stream, l.line, \
    (extract(epoch FROM l.logged_at) * 1000)::bigint AS logged_at";

#[derive(sqlx::FromRow, Debug, Clone)]
pub struct LogRow {
    pub request_id: Uint256,
    pub attempt: i32,
    pub seq: i64,
    /// Decoded through the store's enum: a value the schema does not allow fails the query.
    pub stream: LogStream,
    pub line: String,
    pub logged_at: i64,
}

/// One line an execution's container wrote.
#[derive(SimpleObject, Clone, Debug)]
pub struct ExecutionLog {
    pub request_id: BigInt,
    /// The relayer's attempt number (a retried run starts a new attempt).
    pub attempt: i32,
    pub seq: i64,
    /// `stdout`, `stderr` or `system` (the relayer's own notes).
    // Text, as the schema has always served it (a GraphQL enum would change the schema for
    // clients); always a `LogStream` value, since it is built from a decoded `LogRow`.
    pub stream: String,
    pub line: String,
    pub logged_at: DateTime,
}

impl From<LogRow> for ExecutionLog {
    fn from(r: LogRow) -> Self {
        ExecutionLog {
            request_id: BigInt::from(r.request_id),
            attempt: r.attempt,
            seq: r.seq,
            stream: r.stream.as_str().to_owned(),
            line: r.line,
            logged_at: DateTime(r.logged_at),
        }
    }
}
