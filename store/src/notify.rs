//! Typed `LISTEN`/`NOTIFY` channels and their JSON payloads.
//!
//! Producers (the indexer, in the transaction that commits a block; SQL triggers in the
//! migrations) and consumers (the relayer, the graphql listener) used to agree on bare channel
//! names and hand-formatted JSON. Here each channel is a [`Channel`] variant with its one name,
//! and each payload a serde struct; [`Notification::parse`] turns a received (channel, payload)
//! into the typed value, and [`Notification::channel`]/[`Notification::payload`] are what a
//! producer sends. Notifications are delivered at commit, so a listener never hears of a row the
//! database does not have.
//!
//! Two payloads are built in SQL, by triggers: [`AgentNotification`] on
//! [`Channel::AgentMetadata`] (`graphql_agent_metadata_notify`, migration 20261122000003) and
//! [`ExecutionLogsNotification`] (`graphql_execution_logs_notify`, migration 20261206000000).
//! Their structs document the JSON those triggers build; the migrations cannot change (they
//! are checksummed), so a change of payload is a new migration plus a change here.

use alloy::primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

/// The channels, one variant each. Names are fixed SQL identifiers (lowercase, `nexus_`
/// prefix), safe to use in `LISTEN` without quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A block was applied: [`BlockNotification`] (indexer).
    Blocks,
    /// An execution row was inserted or changed: [`ExecutionNotification`] (indexer).
    Executions,
    /// An agent's on-chain fields changed: [`AgentNotification`] (indexer).
    Agents,
    /// An agent's resolved metadata changed: [`AgentNotification`] (trigger).
    AgentMetadata,
    /// A pull-payment balance changed: [`BalanceNotification`] (indexer).
    Balances,
    /// Blocks were rolled back: [`ReorgNotification`] (indexer). No per-row notifications
    /// accompany it; listeners re-read what they show.
    Reorg,
    /// Log lines were appended: [`ExecutionLogsNotification`] (trigger).
    ExecutionLogs,
}

impl Channel {
    pub const ALL: &'static [Channel] = &[
        Channel::Blocks,
        Channel::Executions,
        Channel::Agents,
        Channel::AgentMetadata,
        Channel::Balances,
        Channel::Reorg,
        Channel::ExecutionLogs,
    ];

    /// The name `LISTEN`/`pg_notify` use.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Blocks => "nexus_blocks",
            Channel::Executions => "nexus_executions",
            Channel::Agents => "nexus_agents",
            Channel::AgentMetadata => "nexus_agent_metadata",
            Channel::Balances => "nexus_balances",
            Channel::Reorg => "nexus_reorg",
            Channel::ExecutionLogs => "nexus_execution_logs",
        }
    }

    /// The channel a received notification came on; `None` for a name that is not ours.
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.iter().copied().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// [`Channel::Blocks`]: `{"block": n, "hash": "0x…", "events": n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockNotification {
    pub block: u64,
    pub hash: B256,
    /// Logs of the AgentNexus contracts applied from this block.
    pub events: u64,
}

/// [`Channel::Executions`]: `{"requestId": "<decimal>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionNotification {
    #[serde(with = "crate::codec::decimal")]
    pub request_id: U256,
}

/// [`Channel::Agents`] and [`Channel::AgentMetadata`]: `{"agentId": "<decimal>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentNotification {
    #[serde(with = "crate::codec::decimal")]
    pub agent_id: U256,
}

/// [`Channel::Balances`]: `{"token": "0x…", "account": "0x…"}` (EIP-55 checksummed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceNotification {
    #[serde(serialize_with = "checksummed")]
    pub token: Address,
    #[serde(serialize_with = "checksummed")]
    pub account: Address,
}

fn checksummed<S: serde::Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&a.to_checksum(None))
}

/// [`Channel::Reorg`]: `{"ancestor": n, "depth": n}`; `ancestor` is -1 when everything indexed
/// was rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReorgNotification {
    pub ancestor: i64,
    pub depth: i64,
}

/// [`Channel::ExecutionLogs`]: the lines one INSERT added to one attempt's log,
/// `{"requestId": "<decimal>", "attempt": n, "seq": first, "lastSeq": last}`. Built by the
/// `graphql_execution_logs_notify` trigger; `lastSeq` is absent in the per-row payload of the
/// trigger it replaced (one line: `seq` alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionLogsNotification {
    #[serde(with = "crate::codec::decimal")]
    pub request_id: U256,
    pub attempt: i32,
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<i64>,
}

impl ExecutionLogsNotification {
    /// The last sequence number announced (`seq` when the payload names one line).
    pub fn last(&self) -> i64 {
        self.last_seq.unwrap_or(self.seq)
    }
}

/// A notification on one of our channels, payload decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    Block(BlockNotification),
    Execution(ExecutionNotification),
    Agent(AgentNotification),
    AgentMetadata(AgentNotification),
    Balance(BalanceNotification),
    Reorg(ReorgNotification),
    ExecutionLogs(ExecutionLogsNotification),
}

/// A notification that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("unreadable {channel} payload: {source}")]
    Payload {
        channel: Channel,
        #[source]
        source: serde_json::Error,
    },
}

impl Notification {
    /// Decodes a received notification.
    pub fn parse(channel: &str, payload: &str) -> Result<Notification, NotifyError> {
        let c = Channel::from_name(channel).ok_or_else(|| NotifyError::UnknownChannel(channel.to_string()))?;
        let json = |source| NotifyError::Payload { channel: c, source };
        Ok(match c {
            Channel::Blocks => Notification::Block(serde_json::from_str(payload).map_err(json)?),
            Channel::Executions => Notification::Execution(serde_json::from_str(payload).map_err(json)?),
            Channel::Agents => Notification::Agent(serde_json::from_str(payload).map_err(json)?),
            Channel::AgentMetadata => Notification::AgentMetadata(serde_json::from_str(payload).map_err(json)?),
            Channel::Balances => Notification::Balance(serde_json::from_str(payload).map_err(json)?),
            Channel::Reorg => Notification::Reorg(serde_json::from_str(payload).map_err(json)?),
            Channel::ExecutionLogs => Notification::ExecutionLogs(serde_json::from_str(payload).map_err(json)?),
        })
    }

    /// The channel this notification goes on.
    pub fn channel(&self) -> Channel {
        match self {
            Notification::Block(_) => Channel::Blocks,
            Notification::Execution(_) => Channel::Executions,
            Notification::Agent(_) => Channel::Agents,
            Notification::AgentMetadata(_) => Channel::AgentMetadata,
            Notification::Balance(_) => Channel::Balances,
            Notification::Reorg(_) => Channel::Reorg,
            Notification::ExecutionLogs(_) => Channel::ExecutionLogs,
        }
    }

    /// The JSON payload, for `pg_notify(channel, payload)`.
    pub fn payload(&self) -> Result<String, serde_json::Error> {
        match self {
            Notification::Block(p) => serde_json::to_string(p),
            Notification::Execution(p) => serde_json::to_string(p),
            Notification::Agent(p) | Notification::AgentMetadata(p) => serde_json::to_string(p),
            Notification::Balance(p) => serde_json::to_string(p),
            Notification::Reorg(p) => serde_json::to_string(p),
            Notification::ExecutionLogs(p) => serde_json::to_string(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_resolve() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.name()), Some(*c));
            assert!(c.name().starts_with("nexus_") && c.name().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert_eq!(Channel::from_name("nexus_unknown"), None);
    }

    #[test]
    fn payloads_round_trip() {
        let all = [
            Notification::Block(BlockNotification { block: 7, hash: B256::repeat_byte(1), events: 3 }),
            Notification::Execution(ExecutionNotification { request_id: U256::MAX }),
            Notification::Agent(AgentNotification { agent_id: U256::from(5) }),
            Notification::AgentMetadata(AgentNotification { agent_id: U256::ZERO }),
            Notification::Balance(BalanceNotification { token: Address::ZERO, account: Address::repeat_byte(0xab) }),
            Notification::Reorg(ReorgNotification { ancestor: -1, depth: 4 }),
            Notification::ExecutionLogs(ExecutionLogsNotification {
                request_id: U256::from(9),
                attempt: 2,
                seq: 0,
                last_seq: Some(199),
            }),
        ];
        for n in all {
            assert_eq!(Notification::parse(n.channel().name(), &n.payload().unwrap()).unwrap(), n);
        }
    }

    /// The JSON the triggers in the migrations build (copied from them) decodes.
    #[test]
    fn trigger_payloads_decode() {
        let logs = Notification::parse(
            "nexus_execution_logs",
            r#"{"requestId" : "12", "attempt" : 1, "seq" : 0, "lastSeq" : 3}"#,
        )
        .unwrap();
        let Notification::ExecutionLogs(l) = logs else { panic!("{logs:?}") };
        assert_eq!((l.request_id, l.attempt, l.seq, l.last()), (U256::from(12), 1, 0, 3));
        let single = r#"{"requestId" : "12", "attempt" : 1, "seq" : 5}"#;
        let Notification::ExecutionLogs(l) = Notification::parse("nexus_execution_logs", single).unwrap() else {
            panic!()
        };
        assert_eq!(l.last(), 5);
        assert_eq!(
            Notification::parse("nexus_agent_metadata", r#"{"agentId" : "3"}"#).unwrap(),
            Notification::AgentMetadata(AgentNotification { agent_id: U256::from(3) })
        );
    }

    /// The indexer's payloads keep the fields and value forms (decimal ids, 0x hashes, checksummed
    /// addresses) they had when they were `format!`ed; only the whitespace differs.
    #[test]
    fn indexer_payloads_keep_their_shape() {
        let hash = B256::repeat_byte(0x0f);
        let block = Notification::Block(BlockNotification { block: 12, hash, events: 2 });
        assert_eq!(block.payload().unwrap(), format!(r#"{{"block":12,"hash":"{hash}","events":2}}"#));
        let token = Address::repeat_byte(0xab);
        let balance = Notification::Balance(BalanceNotification { token, account: token });
        assert_eq!(balance.payload().unwrap(), format!(r#"{{"token":"{token}","account":"{token}"}}"#));
        let exec = Notification::Execution(ExecutionNotification { request_id: U256::from(42) });
        assert_eq!(exec.payload().unwrap(), r#"{"requestId":"42"}"#);
    }

    #[test]
    fn bad_payloads_are_errors() {
        assert!(matches!(Notification::parse("nexus_nope", "{}"), Err(NotifyError::UnknownChannel(_))));
        assert!(Notification::parse("nexus_executions", r#"{"requestId": 42}"#).is_err());
        assert!(Notification::parse("nexus_executions", r#"{"requestId": "-1"}"#).is_err());
        assert!(Notification::parse("nexus_agents", "{}").is_err());
    }
}
