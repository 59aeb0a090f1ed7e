//! Rows in PostgreSQL's `COPY ... FROM STDIN` text format.
//!
//! Why COPY: a backfill batch inserts tens of thousands of append-only rows (raw events,
//! purchases, executions). One `INSERT` per row costs a network round trip and a statement
//! execution each (the indexer managed about 1,500 events/s that way); a single COPY stream per
//! table is parsed by the server in bulk and is the fastest way into PostgreSQL. The text format
//! is simple enough to produce by hand for the few types the projections use, so no binary
//! encoder is needed. Rows still go through every constraint, domain check and trigger (the
//! reorg journal included).

use alloy::primitives::U256;
use sqlx::PgConnection;

/// A buffer of rows for one `COPY table (columns) FROM STDIN` statement.
pub(crate) struct CopyRows {
    statement: &'static str,
    buf: Vec<u8>,
    rows: u64,
    row_open: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl CopyRows {
    /// `statement` is the full `COPY ... FROM STDIN` command; fields must be written in its
    /// column order.
    pub(crate) fn new(statement: &'static str) -> Self {
        Self { statement, buf: Vec::new(), rows: 0, row_open: false }
    }

    #[cfg(test)]
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    fn sep(&mut self) {
        if self.row_open {
            self.buf.push(b'\t');
        }
        self.row_open = true;
    }

    pub(crate) fn int(&mut self, v: i64) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self
    }

    pub(crate) fn num(&mut self, v: U256) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self
    }

    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.sep();
        self.buf.push(if v { b't' } else { b'f' });
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
        self
    }

    /// A `bytea` in hex form: `\x...`, its backslash doubled for the COPY text format.
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\\\x");
        self.hex(v);
        self
    }

    pub(crate) fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(v) => self.bytes(v),
            None => self.null(),
        }
    }

    /// A `bytea[]`: `{"\\x..","\\x.."}` as an array literal (backslash escaped once for the
    /// array syntax), then every backslash doubled again for COPY.
    pub(crate) fn bytes_array<T: AsRef<[u8]>>(&mut self, items: &[T]) -> &mut Self {
        self.sep();
        self.buf.push(b'{');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(b"\"\\\\\\\\x");
            self.hex(item.as_ref());
            self.buf.push(b'"');
        }
        self.buf.push(b'}');
        self
    }

    /// A `timestamptz` from Unix seconds, written as UTC.
    pub(crate) fn time(&mut self, unix_secs: i64) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(utc_timestamp(unix_secs).as_bytes());
        self
    }

    /// Text with the COPY escapes (backslash, tab, newline, carriage return). NUL cannot be
    /// stored in PostgreSQL text and is dropped, as the per-row writers do.
    pub(crate) fn text(&mut self, v: &str) -> &mut Self {
        self.sep();
        for &b in v.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                0 => {}
                _ => self.buf.push(b),
            }
        }
        self
    }

    pub(crate) fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.rows += 1;
        self.row_open = false;
    }

    fn hex(&mut self, v: &[u8]) {
        self.buf.reserve(v.len() * 2);
        for &b in v {
            self.buf.push(HEX[usize::from(b >> 4)]);
            self.buf.push(HEX[usize::from(b & 0xf)]);
        }
    }

    /// Streams the rows (if any) and checks the server took all of them.
    pub(crate) async fn send(self, conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
        if self.rows == 0 {
            return Ok(0);
        }
        debug_assert!(!self.row_open, "unterminated COPY row");
        let mut copy = conn.copy_in_raw(self.statement).await?;
        if let Err(e) = copy.send(self.buf).await {
            // Leave the connection usable; the caller's transaction is rolled back anyway.
            let _ = copy.abort(e.to_string()).await;
            return Err(e);
        }
        let copied = copy.finish().await?;
        if copied != self.rows {
            return Err(sqlx::Error::Protocol(format!("COPY took {copied} of {} rows", self.rows)));
        }
        Ok(copied)
    }
}

/// `YYYY-MM-DD HH:MM:SS+00` for Unix seconds (proleptic Gregorian, as PostgreSQL reads it).
fn utc_timestamp(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}+00", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00+00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00:00+00");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14 22:13:20+00");
        assert_eq!(utc_timestamp(4_102_444_799), "2099-12-31 23:59:59+00");
        assert_eq!(utc_timestamp(-1), "1969-12-31 23:59:59+00");
    }

    #[test]
    fn fields_are_escaped_for_copy_text() {
        let mut rows = CopyRows::new("COPY t FROM STDIN");
        rows.int(-7).bytes(&[0xab, 0x01]).text("a\tb\\c\nd\0").null().bool(true);
        rows.bytes_array(&[[1u8], [2u8]]);
        rows.end_row();
        let text = String::from_utf8(rows.buf.clone()).unwrap();
        assert_eq!(text, "-7\t\\\\xab01\ta\\tb\\\\c\\nd\t\\N\tt\t{\"\\\\\\\\x01\",\"\\\\\\\\x02\"}\n");
        assert_eq!(rows.rows(), 1);
    }
}
