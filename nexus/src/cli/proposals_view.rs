//! Action proposals as a person reviews them before their wallet acts: calls decoded against
//! the ABIs we know, typed data laid out field by field, the party a signature goes to up front.
//! Shared by `nexus proposals` (show) and `nexus apply` (the confirmation screen).
//!
//! Decoding: a call to one of the deployment's contracts (registry, marketplace, USDC, account
//! factory, paymaster, EntryPoint, and with `--account` the user's own smart account) is decoded with that contract's ABI, found by address, never
//! by selector alone (a selector match on an unknown contract proves nothing about what it
//! does). The ERC-20 `transfer` / `approve` / `transferFrom` are decoded for any `to`, labelled
//! as such: the data is unambiguous, whether `to` is an honest token is for the user to judge.
//! Anything else is shown as its selector.
//!
//! Views hold the raw values (agent-controlled text included); [`ProposalView::render`] passes
//! every agent-controlled string through `terminal::clean`, and `--json` output goes through
//! `terminal::json_for_terminal`.

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::JsonAbi;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::sol_types::SolInterface;
use nexus_bindings::Deployments;
use nexus_proposals::Proposal;
use serde::Serialize;
use serde_json::Value;

use super::terminal::clean;
use super::units::format_amount;

alloy::sol! {
    /// The ERC-20 functions that move or allow moving tokens: decoded for any target.
    interface IERC20 {
        function transfer(address to, uint256 amount) returns (bool);
        function approve(address spender, uint256 amount) returns (bool);
        function transferFrom(address from, address to, uint256 amount) returns (bool);
    }
}

/// The deployment's contracts and their ABIs (the bindings' copies of the compiled artifacts).
const ABIS: [(&str, &str); 6] = [
    ("AgentRegistry", include_str!("../../../bindings/abi/AgentRegistry.json")),
    ("AgentMarketplace", include_str!("../../../bindings/abi/AgentMarketplace.json")),
    ("USDC", include_str!("../../../bindings/abi/TestUSDC.json")),
    ("NexusAccountFactory", include_str!("../../../bindings/abi/NexusAccountFactory.json")),
    ("NexusPaymaster", include_str!("../../../bindings/abi/NexusPaymaster.json")),
    ("EntryPoint", include_str!("../../../bindings/abi/IEntryPoint.json")),
];

/// The smart account's ABI: a proposal may call the user's own account (`execute`, ...).
const ACCOUNT_ABI: &str = include_str!("../../../bindings/abi/NexusAccount.json");

/// USDC's decimals: the catalog's token has 6 on every chain (TestUSDC copies it).
const USDC_DECIMALS: u8 = 6;

/// Why proposals cannot be viewed (a bundled ABI that does not parse: a build defect).
#[derive(Debug, thiserror::Error)]
#[error("the bundled ABI of {contract} does not parse: {reason}")]
pub struct ViewError {
    contract: &'static str,
    reason: String,
}

/// What the CLI knows about the chain it is connected to: its id and its contracts' ABIs.
pub struct Decoder {
    chain_id: u64,
    usdc: Address,
    contracts: Vec<(Address, &'static str, JsonAbi)>,
}

impl Decoder {
    pub fn new(deployments: &Deployments) -> Result<Self, ViewError> {
        let c = &deployments.contracts;
        let addresses = [
            Some(c.agent_registry),
            Some(c.agent_marketplace),
            Some(c.usdc),
            c.nexus_account_factory,
            c.nexus_paymaster,
            c.entry_point,
        ];
        let mut contracts = Vec::new();
        for (address, (name, json)) in addresses.into_iter().zip(ABIS) {
            let abi: JsonAbi =
                serde_json::from_str(json).map_err(|e| ViewError { contract: name, reason: e.to_string() })?;
            if let Some(address) = address {
                contracts.push((address, name, abi));
            }
        }
        Ok(Self { chain_id: deployments.chain_id, usdc: c.usdc, contracts })
    }

    /// Also decodes calls to the user's smart account at `account` (`--account`).
    pub fn with_account(mut self, account: Address) -> Result<Self, ViewError> {
        let abi = serde_json::from_str(ACCOUNT_ABI)
            .map_err(|e| ViewError { contract: "NexusAccount", reason: e.to_string() })?;
        self.contracts.push((account, "your NexusAccount", abi));
        Ok(self)
    }

    /// The chain the CLI acts on; a call proposal for another chain is shown with a warning and
    /// refused by `nexus apply`.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The deployment's name for `address`, if it is one of its contracts.
    pub fn name_of(&self, address: Address) -> Option<&'static str> {
        self.contracts.iter().find(|(a, ..)| *a == address).map(|(_, name, _)| *name)
    }

    /// `data` sent to `to`, decoded as far as we know how.
    pub fn decode(&self, to: Address, data: &[u8]) -> CallData {
        let Some(selector) = data.get(..4) else {
            return if data.is_empty() { CallData::Empty } else { CallData::Unknown { selector: None } };
        };
        // The catalog's USDC is read as an ERC-20 first: amounts in USDC, not raw integers.
        if to == self.usdc
            && let Ok(call) = IERC20::IERC20Calls::abi_decode(data)
        {
            return self.erc20(to, call);
        }
        if let Some((_, name, abi)) = self.contracts.iter().find(|(a, ..)| *a == to)
            && let Some(function) = abi.functions().find(|f| f.selector().as_slice() == selector)
        {
            let function_name = function.name.clone();
            return match function.abi_decode_input(&data[4..]) {
                Ok(values) => CallData::Decoded {
                    contract: (*name).to_string(),
                    function: function_name,
                    signature: function.signature(),
                    args: function
                        .inputs
                        .iter()
                        .zip(&values)
                        .map(|(param, value)| Arg { name: param.name.clone(), value: format_value(value) })
                        .collect(),
                },
                Err(e) => CallData::Undecodable {
                    contract: (*name).to_string(),
                    function: function_name,
                    reason: e.to_string(),
                },
            };
        }
        if let Ok(call) = IERC20::IERC20Calls::abi_decode(data) {
            return self.erc20(to, call);
        }
        CallData::Unknown { selector: Some(alloy::hex::encode_prefixed(selector)) }
    }

    fn erc20(&self, token: Address, call: IERC20::IERC20Calls) -> CallData {
        let amount = |amount: U256| match token == self.usdc {
            true => format!("{} USDC ({amount} base units)", format_amount(amount, USDC_DECIMALS)),
            false => format!("{amount} base units"),
        };
        let arg = |name: &str, value: String| Arg { name: name.into(), value };
        let (function, signature, args) = match call {
            IERC20::IERC20Calls::transfer(c) => (
                "transfer",
                "transfer(address,uint256)",
                vec![arg("to", c.to.to_checksum(None)), arg("amount", amount(c.amount))],
            ),
            IERC20::IERC20Calls::approve(c) => (
                "approve",
                "approve(address,uint256)",
                vec![arg("spender", c.spender.to_checksum(None)), arg("amount", amount(c.amount))],
            ),
            IERC20::IERC20Calls::transferFrom(c) => (
                "transferFrom",
                "transferFrom(address,address,uint256)",
                vec![
                    arg("from", c.from.to_checksum(None)),
                    arg("to", c.to.to_checksum(None)),
                    arg("amount", amount(c.amount)),
                ],
            ),
        };
        CallData::Decoded { contract: "ERC-20".into(), function: function.into(), signature: signature.into(), args }
    }
}

/// One decoded argument: its ABI name and its value as text (strings quoted, raw).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

/// What a call's data is, as far as the CLI can tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum CallData {
    /// No data: a plain value transfer.
    Empty,
    #[serde(rename_all = "camelCase")]
    Decoded { contract: String, function: String, signature: String, args: Vec<Arg> },
    /// A known contract's function whose arguments do not decode: the call would revert or
    /// the data is crafted.
    #[serde(rename_all = "camelCase")]
    Undecodable { contract: String, function: String, reason: String },
    /// Nothing we know: its selector (none when the data is shorter than one).
    Unknown { selector: Option<String> },
}

/// A call proposal, decoded.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    pub index: usize,
    pub summary: String,
    pub chain_id: u64,
    /// Whether `chainId` is the chain the CLI is connected to.
    pub chain_matches: bool,
    pub to: Address,
    /// The deployment's name for `to`, when it is one of its contracts.
    pub to_name: Option<&'static str>,
    /// Wei, decimal.
    pub value: String,
    pub value_eth: String,
    pub data: Bytes,
    pub decoded: CallData,
}

/// A typed-data proposal, laid out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypedDataView {
    pub index: usize,
    pub summary: String,
    /// Who receives the signature: `submitTo`'s `host[:port]`.
    pub submit_host: String,
    pub submit_to: String,
    pub signing_hash: B256,
    pub primary_type: String,
    /// The EIP-712 domain's fields that are set, in the standard's order.
    pub domain: Vec<Arg>,
    /// The message's top-level fields (nested values as compact JSON).
    pub message: Vec<Arg>,
    pub typed_data: Value,
    pub submit_body: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProposalView {
    Call(CallView),
    TypedData(TypedDataView),
}

/// Why one typed-data proposal cannot be laid out (validation already proved it parses and
/// hashes; this keeps a failure an error, not a panic).
#[derive(Debug, thiserror::Error)]
#[error("proposal {index}: {reason}")]
pub struct TypedDataError {
    pub index: usize,
    pub reason: String,
}

impl ProposalView {
    pub fn new(decoder: &Decoder, index: usize, proposal: &Proposal) -> Result<Self, TypedDataError> {
        Ok(match proposal {
            Proposal::Call { chain_id, to, value, data, summary } => ProposalView::Call(CallView {
                index,
                summary: summary.clone(),
                chain_id: *chain_id,
                chain_matches: *chain_id == decoder.chain_id,
                to: *to,
                to_name: decoder.name_of(*to),
                value: value.to_string(),
                value_eth: format_amount(*value, 18),
                data: data.clone(),
                decoded: decoder.decode(*to, data),
            }),
            Proposal::TypedData { typed_data, submit_to, submit_body, summary } => {
                let fail = |reason: String| TypedDataError { index, reason };
                let parsed = nexus_proposals::eip712::parse(typed_data).map_err(|e| fail(e.to_string()))?;
                let signing_hash = parsed.eip712_signing_hash().map_err(|e| fail(e.to_string()))?;
                let submit_host = nexus_proposals::submit_host(submit_to).map_err(|e| fail(e.to_string()))?;
                let d = &parsed.domain;
                let domain = [
                    ("name", d.name.as_ref().map(|n| format!("{:?}", n.as_ref()))),
                    ("version", d.version.as_ref().map(|v| format!("{:?}", v.as_ref()))),
                    ("chainId", d.chain_id.map(|c| c.to_string())),
                    ("verifyingContract", d.verifying_contract.map(|a| a.to_checksum(None))),
                    ("salt", d.salt.map(|s| s.to_string())),
                ]
                .into_iter()
                .filter_map(|(name, value)| Some(Arg { name: name.into(), value: value? }))
                .collect();
                let message = match &parsed.message {
                    Value::Object(fields) => fields
                        .iter()
                        .map(|(name, value)| Arg { name: name.clone(), value: value.to_string() })
                        .collect(),
                    other => vec![Arg { name: String::new(), value: other.to_string() }],
                };
                ProposalView::TypedData(TypedDataView {
                    index,
                    summary: summary.clone(),
                    submit_host: submit_host.to_string(),
                    submit_to: submit_to.clone(),
                    signing_hash,
                    primary_type: parsed.primary_type.clone(),
                    domain,
                    message,
                    typed_data: typed_data.clone(),
                    submit_body: submit_body.clone(),
                })
            }
        })
    }

    /// The proposal as text for a terminal: every agent-controlled string is neutralised.
    pub fn render(&self) -> String {
        let mut out = String::new();
        match self {
            ProposalView::Call(c) => {
                let warning = match c.chain_matches {
                    true => String::new(),
                    false => "  !! NOT the chain this CLI is connected to: `nexus apply` refuses it".to_string(),
                };
                let head = format!("#{} call on chain {}{warning}\n", c.index, c.chain_id);
                line(&mut out, "summary:", &clean(&c.summary));
                let to = match c.to_name {
                    Some(name) => format!("{} ({name})", c.to.to_checksum(None)),
                    None => c.to.to_checksum(None),
                };
                line(&mut out, "to:", &to);
                line(&mut out, "value:", &format!("{} ETH ({} wei)", c.value_eth, c.value));
                match &c.decoded {
                    CallData::Empty => line(&mut out, "data:", "none (a plain transfer)"),
                    CallData::Decoded { contract, function, args, .. } => {
                        let args: Vec<String> =
                            args.iter().map(|a| format!("{}: {}", a.name, clean(&a.value))).collect();
                        line(&mut out, "call:", &format!("{contract} {function}({})", args.join(", ")));
                    }
                    CallData::Undecodable { contract, function, reason } => line(
                        &mut out,
                        "call:",
                        &format!("{contract} {function}: arguments do not decode ({})", clean(reason)),
                    ),
                    CallData::Unknown { selector } => line(
                        &mut out,
                        "call:",
                        &format!(
                            "unknown function {} ({} bytes of data)",
                            selector.as_deref().unwrap_or("(no selector)"),
                            c.data.len()
                        ),
                    ),
                }
                format!("{head}{out}")
            }
            ProposalView::TypedData(t) => {
                let head =
                    format!("#{} typed data: your signature goes to >>> {} <<<\n", t.index, clean(&t.submit_host));
                line(&mut out, "summary:", &clean(&t.summary));
                line(&mut out, "submit to:", &clean(&t.submit_to));
                line(&mut out, "signing hash:", &t.signing_hash.to_string());
                line(&mut out, "primary type:", &clean(&t.primary_type));
                let domain: Vec<String> = t.domain.iter().map(|a| format!("{}={}", a.name, clean(&a.value))).collect();
                line(&mut out, "domain:", &domain.join(", "));
                line(&mut out, "message:", "");
                for field in &t.message {
                    line(&mut out, "", &format!("  {}: {}", clean(&field.name), clean(&field.value)));
                }
                line(&mut out, "body:", &clean(&t.submit_body.to_string()));
                format!("{head}{out}")
            }
        }
    }
}

/// One `label value` line of a rendered proposal, values aligned.
fn line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("  {label:<13} {value}\n"));
}

/// Views of every proposal of an output, indexed as in the output (what `--index` takes).
pub fn views(decoder: &Decoder, proposals: &nexus_proposals::Proposals) -> Result<Vec<ProposalView>, TypedDataError> {
    proposals.iter().enumerate().map(|(index, proposal)| ProposalView::new(decoder, index, proposal)).collect()
}

/// A decoded ABI value as text: addresses checksummed, integers decimal, bytes 0x-hex, strings
/// quoted (raw: the caller neutralises), arrays `[..]`, tuples `(..)`.
fn format_value(value: &DynSolValue) -> String {
    let list = |values: &[DynSolValue]| values.iter().map(format_value).collect::<Vec<_>>().join(", ");
    match value {
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::FixedBytes(word, size) => alloy::hex::encode_prefixed(&word[..*size]),
        DynSolValue::Bytes(bytes) => alloy::hex::encode_prefixed(bytes),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(values) | DynSolValue::FixedArray(values) => format!("[{}]", list(values)),
        DynSolValue::Tuple(values) => format!("({})", list(values)),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
#[path = "proposals_view_tests.rs"]
mod tests;
