//! Relay-style pagination over offset windows.
//!
//! Cursors are opaque (base64 of `o:<offset>`) positions in a listing's total order; every
//! listing's ORDER BY ends in its primary key, so the order is total and stable between
//! requests as long as the underlying rows do not change. Offsets rather than keyset cursors
//! because the catalog sorts by derived values (success rate, executions) and a keyset cursor
//! over those would need every sort key encoded and compared; pages are capped at
//! [`MAX_PAGE`] and listings are per-user or per-catalog, so deep offsets stay cheap.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ObjectType, OutputType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::bad_input;

/// Largest page a client may ask for: bounds the rows (and nested loads) one field can cost.
pub const MAX_PAGE: i32 = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: i32 = 20;

/// Position of an edge: its offset in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCursor(pub u64);

#[derive(Debug, thiserror::Error)]
#[error("invalid cursor")]
pub struct InvalidCursor;

impl CursorType for OffsetCursor {
    type Error = InvalidCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| InvalidCursor)?;
        let n = text.strip_prefix("o:").ok_or(InvalidCursor)?.parse::<u64>().map_err(|_| InvalidCursor)?;
        // Offsets go to PostgreSQL as BIGINT and `after` adds one: no real listing comes near.
        if n >= i64::MAX as u64 {
            return Err(InvalidCursor);
        }
        Ok(OffsetCursor(n))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("o:{}", self.0))
    }
}

/// The client's pagination arguments.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub after: Option<String>,
    pub before: Option<String>,
    pub first: Option<i32>,
    pub last: Option<i32>,
}

/// Complexity of a connection field: each requested node costs its selection.
pub fn page_complexity(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let n = first.or(last).unwrap_or(DEFAULT_PAGE).clamp(0, MAX_PAGE) as usize;
    n.max(1) * child + 1
}

/// Which rows to fetch: `limit` rows from `offset`. With `last`, the window is computed from the
/// end, which needs the total when no `before` cursor bounds it.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
    /// With `last`: whether a `before` cursor bounded the window (so rows follow it).
    from_end_before: Option<bool>,
}

impl PageArgs {
    pub fn validate(&self) -> async_graphql::Result<()> {
        for (name, v) in [("first", self.first), ("last", self.last)] {
            if let Some(n) = v {
                if n < 0 {
                    return Err(bad_input(format!("`{name}` must not be negative (got {n})")));
                }
                if n > MAX_PAGE {
                    return Err(bad_input(format!(
                        "`{name}` must be at most {MAX_PAGE} (got {n}); page through larger results with cursors"
                    )));
                }
            }
        }
        if self.first.is_some() && self.last.is_some() {
            return Err(bad_input("pass either `first` or `last`, not both"));
        }
        Ok(())
    }

    fn decode(c: &Option<String>, name: &str) -> async_graphql::Result<Option<u64>> {
        c.as_deref()
            .map(|s| {
                OffsetCursor::decode_cursor(s)
                    .map(|c| c.0)
                    .map_err(|_| bad_input(format!("`{name}` is not a valid cursor")))
            })
            .transpose()
    }

    /// The window, given a way to count the listing (only called for `last` without `before`).
    pub async fn window<F, Fut>(&self, count: F) -> async_graphql::Result<Window>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = async_graphql::Result<u64>>,
    {
        self.validate()?;
        let after = Self::decode(&self.after, "after")?;
        let before = Self::decode(&self.before, "before")?;
        let start = after.map_or(0, |a| a + 1);
        if let Some(last) = self.last {
            let end = match before {
                Some(b) => b,
                None => count().await?,
            };
            let from = end.saturating_sub(last as u64).max(start);
            return Ok(Window {
                offset: from,
                limit: end.saturating_sub(from),
                from_end_before: Some(before.is_some()),
            });
        }
        let first = self.first.unwrap_or(DEFAULT_PAGE) as u64;
        let limit = match before {
            Some(b) => first.min(b.saturating_sub(start)),
            None => first,
        };
        Ok(Window { offset: start, limit, from_end_before: None })
    }
}

impl Window {
    /// Rows to ask the database for: one extra reveals whether a next page exists.
    pub fn fetch(&self) -> i64 {
        (self.limit + 1) as i64
    }

    /// Builds the connection from the fetched rows (up to `limit + 1`).
    pub fn connection<N, F>(&self, mut rows: Vec<N>, fields: F) -> Connection<OffsetCursor, N, F>
    where
        N: OutputType,
        F: ObjectType,
    {
        let more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        let has_next = match self.from_end_before {
            Some(bounded) => bounded || more,
            None => more,
        };
        let mut conn = Connection::with_additional_fields(self.offset > 0, has_next, fields);
        conn.edges = rows
            .into_iter()
            .enumerate()
            .map(|(i, node)| Edge::new(OffsetCursor(self.offset + i as u64), node))
            .collect();
        conn
    }
}
