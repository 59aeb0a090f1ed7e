//! The statuses the schema stores as CHECK-constrained TEXT, as Rust enums.
//!
//! Each enum spells its values exactly as the migrations' CHECK constraints (and the graphql
//! statistics triggers) do, and is the only place Rust code spells them. Decoding a value
//! outside the enum is an error, never a default: a status the code does not know means the
//! schema and the code disagree, and guessing (say, "still Requested") would make a relayer
//! run a settled request again or show a client the wrong state.
//!
//! The registry's agent `Status` and `Category` are defined once, in `nexus_bindings::agent`
//! (their numbering is the contract's); the bindings implement the same TEXT mapping for them
//! under their `sqlx` feature, which this crate turns on, and they are re-exported here.

use std::fmt;
use std::str::FromStr;

pub use nexus_bindings::agent::{Category, Status as AgentStatus, UnknownName};
use sqlx::Postgres;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};

/// A value read from a status column that the enum does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {name}")]
pub struct UnknownValue {
    pub name: &'static str,
    pub value: String,
}

/// TEXT mapping through `as_str`/`FromStr`, shared by the enums below.
macro_rules! text_type {
    ($name:ty) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.as_str())
            }
        }

        impl sqlx::Type<Postgres> for $name {
            fn type_info() -> PgTypeInfo {
                <&str as sqlx::Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <&str as sqlx::Type<Postgres>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, Postgres> for $name {
            fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<&str as sqlx::Decode<Postgres>>::decode(value)?.parse()?)
            }
        }

        impl sqlx::Encode<'_, Postgres> for $name {
            fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <&str as sqlx::Encode<Postgres>>::encode_by_ref(&&*self.as_str(), buf)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A unit-only enum stored as one of a fixed set of TEXT values.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the column stores it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { name: stringify!($name), value: s.to_string() }),
                }
            }
        }

        text_type!($name);
    };
}

text_enum! {
    /// `executions.status`. Requested → Succeeded | Failed (the relayer settles) or Reclaimed
    /// (the requester, after the deadline); exactly one terminal transition ever happens.
    ExecutionStatus {
        Requested = "Requested",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Reclaimed = "Reclaimed",
    }
}

/// The column's DEFAULT: an agent starts with its metadata pending.
impl Default for MetadataStatus {
    fn default() -> Self {
        MetadataStatus::Pending
    }
}

impl ExecutionStatus {
    /// Whether the execution is closed (settled or reclaimed).
    pub fn is_terminal(self) -> bool {
        self != ExecutionStatus::Requested
    }
}

text_enum! {
    /// `agents.metadata_status`: whether the agent's metadata document has been resolved.
    MetadataStatus {
        /// Not fetched yet (or waiting for a retry after a transient failure).
        Pending = "pending",
        Ok = "ok",
        /// Fetched but unusable; `metadata_error` says why.
        Failed = "failed",
    }
}

text_enum! {
    /// `execution_logs.stream`: who wrote a log line of an execution. The relayer writes the
    /// lines and graphql serves them; the API shows the value as this text.
    LogStream {
        /// The agent's standard output. Allowed by the schema; the relayer reads stdout as the
        /// execution's output document, so it stores no line with it today.
        Stdout = "stdout",
        /// The agent's standard error: its log.
        Stderr = "stderr",
        /// The relayer's own notes about the run (a cap reached, why it failed), never the
        /// agent's words.
        System = "system",
    }
}

/// `relayer_claims.outcome`: how a relayer finished a request.
///
/// Not a unit enum: a failure carries its cause (`failed:<cause>`, e.g. `failed:deadline`),
/// which is also the label of the relayer's outcome metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Settled with success: the developer was paid, the output stored.
    Succeeded,
    /// Settled as a failure (the requester refunded); the cause is a short label.
    Failed(String),
    /// Someone else settled or reclaimed it first.
    AlreadySettled,
    /// The settlement window passed before the relayer could settle.
    Expired,
}

impl Outcome {
    const FAILED_PREFIX: &'static str = "failed:";

    /// The value as the column stores it.
    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Outcome::Succeeded => "succeeded".into(),
            Outcome::Failed(cause) => format!("{}{cause}", Self::FAILED_PREFIX).into(),
            Outcome::AlreadySettled => "already-settled".into(),
            Outcome::Expired => "expired".into(),
        }
    }
}

impl FromStr for Outcome {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "succeeded" => Ok(Outcome::Succeeded),
            "already-settled" => Ok(Outcome::AlreadySettled),
            "expired" => Ok(Outcome::Expired),
            _ => match s.strip_prefix(Self::FAILED_PREFIX) {
                Some(cause) if !cause.is_empty() => Ok(Outcome::Failed(cause.to_string())),
                _ => Err(UnknownValue { name: "Outcome", value: s.to_string() }),
            },
        }
    }
}

text_type!(Outcome);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(values: &[T], sql: &[&str])
    where
        T: FromStr + fmt::Display + PartialEq + fmt::Debug,
        T::Err: fmt::Debug,
    {
        assert_eq!(values.len(), sql.len());
        for (v, s) in values.iter().zip(sql) {
            assert_eq!(v.to_string(), *s);
            assert_eq!(&s.parse::<T>().unwrap(), v);
        }
    }

    #[test]
    fn serde_uses_the_sql_spelling() {
        for v in ExecutionStatus::ALL {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("{:?}", v.as_str()));
            assert_eq!(&serde_json::from_str::<ExecutionStatus>(&json).unwrap(), v);
        }
        let failed = Outcome::Failed("input_hash".into());
        assert_eq!(serde_json::to_string(&failed).unwrap(), r#""failed:input_hash""#);
        assert_eq!(serde_json::from_str::<Outcome>(r#""failed:input_hash""#).unwrap(), failed);
    }

    /// The SQL values are copied from the migrations' CHECK constraints.
    #[test]
    fn every_sql_value_round_trips() {
        round_trip(ExecutionStatus::ALL, &["Requested", "Succeeded", "Failed", "Reclaimed"]);
        round_trip(MetadataStatus::ALL, &["pending", "ok", "failed"]);
        round_trip(AgentStatus::ALL, &["Active", "Paused", "Retired"]);
        round_trip(Category::ALL, &["General", "Crypto"]);
        round_trip(LogStream::ALL, &["stdout", "stderr", "system"]);
        round_trip(
            &[Outcome::Succeeded, Outcome::Failed("deadline".into()), Outcome::AlreadySettled, Outcome::Expired],
            &["succeeded", "failed:deadline", "already-settled", "expired"],
        );
    }

    #[test]
    fn unknown_values_are_errors() {
        for bad in ["", "requested", "REQUESTED", "Settled", "Requested "] {
            assert!(bad.parse::<ExecutionStatus>().is_err(), "{bad:?}");
        }
        assert!("Ok".parse::<MetadataStatus>().is_err());
        assert!("active".parse::<AgentStatus>().is_err());
        assert!("Other".parse::<Category>().is_err());
        for bad in ["", "Stderr", "STDERR", "relayer", "stderr "] {
            assert!(bad.parse::<LogStream>().is_err(), "{bad:?}");
        }
        for bad in ["", "failed", "failed:", "Succeeded", "lease_lost"] {
            assert!(bad.parse::<Outcome>().is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<ExecutionStatus>("\"Pending\"").is_err());
    }
}
