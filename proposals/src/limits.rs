//! The limits every proposal must respect, and why each is what it is.
//!
//! They bound what one output can make a user's screen and wallet process; they are not a
//! safety check of the action itself (that is the user's confirmation, with decoding).

/// At most this many proposals per output: enough for an approve + swap + a few orders, few
/// enough that a user can actually read every one before confirming.
pub const MAX_PROPOSALS: usize = 16;

/// A summary is one readable line (a tweet's length): long enough to name amounts, assets and
/// counterparties, short enough to fit a confirmation screen without scrolling.
pub const MAX_SUMMARY_CHARS: usize = 280;

/// Calldata of one call: 64 KiB covers multicalls and batched swaps; contract deployments are
/// not something an agent proposes.
pub const MAX_CALL_DATA_BYTES: usize = 64 * 1024;

/// EIP-712 JSON (`typedData`), compact serialisation: real messages (permits, orders) are a
/// few hundred bytes; 16 KiB leaves room for nested types without letting an output smuggle a
/// large blob through a signing prompt.
pub const MAX_TYPED_DATA_JSON_BYTES: usize = 16 * 1024;

/// The body posted to `submitTo` (`submitBody`), compact serialisation: an exchange action with
/// a batch of orders fits easily.
pub const MAX_SUBMIT_BODY_JSON_BYTES: usize = 16 * 1024;

/// `submitTo` length: the common practical URL limit of browsers and servers.
pub const MAX_SUBMIT_TO_BYTES: usize = 2048;
