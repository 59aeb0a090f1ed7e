//! Errors. [`GraphqlError`] is what the library's fallible setup returns; inside resolvers every
//! failure becomes an `async_graphql::Error` with a stable `extensions.code`, so clients can
//! branch on the code and humans can read the message. Database details never reach clients:
//! they are logged with the request's span and reported as `INTERNAL`. Plain HTTP handlers
//! answer failures with the same `{"errors": [{"message": ...}]}` body (`json_error`), so a
//! client reads every error of this server one way.

use async_graphql::ErrorExtensions;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the server could not start or a service-level operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphqlError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Codes in `extensions.code` of GraphQL errors.
pub mod code {
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const INTERNAL: &str = "INTERNAL";
    /// Too many requests of this kind from the client's address; retry later.
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    /// A stored output that breaks the output contract (e.g. its `proposals`' shape).
    pub const INVALID_OUTPUT: &str = "INVALID_OUTPUT";
}

pub(crate) fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

pub(crate) fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    coded(message, code::BAD_USER_INPUT)
}

pub(crate) fn forbidden(message: impl Into<String>) -> async_graphql::Error {
    coded(message, code::FORBIDDEN)
}

pub(crate) fn rate_limited(message: impl Into<String>) -> async_graphql::Error {
    coded(message, code::RATE_LIMITED)
}

pub(crate) fn unauthenticated(message: impl Into<String>) -> async_graphql::Error {
    coded(message, code::UNAUTHENTICATED)
}

/// A database failure: logged in full, reported without details.
pub(crate) fn internal(error: sqlx::Error) -> async_graphql::Error {
    tracing::error!(%error, "database error");
    coded("internal error (database)", code::INTERNAL)
}

pub(crate) trait DbResult<T> {
    fn db(self) -> async_graphql::Result<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> async_graphql::Result<T> {
        self.map_err(internal)
    }
}

/// An HTTP error response in the GraphQL errors shape.
pub(crate) fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "errors": [{ "message": message }] }))).into_response()
}
