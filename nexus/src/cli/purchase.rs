//! The price bound of `nexus buy`.
//!
//! `buy` reads the agent's unit price once, shows it (the cost, the approval and the ETH sent
//! are computed from it) and passes that same price to `purchase` as `maxUnitPrice`. It is not
//! read again before sending: if the developer or a curator raises the price in between (or in
//! a transaction ordered just before the purchase), the marketplace refuses with `PriceAboveMax`
//! instead of charging more. A lower price is simply charged as it is.
//!
//! When a purchase fails, [`explain_refusal`] reads the price again (after the fact, to explain,
//! never to decide what to pay) and, if it is now above the price shown, replaces the error with
//! a sentence that says what happened, that nothing was paid, and what to do.

use alloy::eips::BlockId;
use alloy::primitives::U256;

use super::chain::{Chain, Token};

/// What the buyer was shown and agreed to: `units` credits of the agent at `unit_price` each.
pub struct Quote<'a> {
    pub agent_id: U256,
    pub label: &'a str,
    pub unit_price: U256,
    pub units: u64,
    pub token: &'a Token,
    /// ETH-priced: the cost is sent as the transaction's value.
    pub paid_in_eth: bool,
}

impl Quote<'_> {
    /// What the quote costs in total.
    pub fn cost(&self) -> Option<U256> {
        self.unit_price.checked_mul(U256::from(self.units))
    }

    /// The line shown before anything is signed; its unit price is the purchase's bound.
    pub fn announce(&self) -> String {
        let cost = self.cost().map(|c| self.token.format(c)).unwrap_or_else(|| "an overflowing amount".into());
        format!(
            "buying {} × {} at {} per credit ({cost}); the purchase will not pay more than that per credit",
            self.units,
            self.label,
            self.token.format(self.unit_price)
        )
    }
}

/// The refusal of a purchase whose price rose above the quote, in words.
#[derive(Debug, thiserror::Error)]
#[error(
    "purchase refused: the price of {label} rose from {shown} to {now} per credit after it was shown, and this \
     purchase was limited to {shown} per credit. Nothing was paid and no credits were bought{gas}. Check the \
     new price with `nexus agents` and run `nexus buy` again if you accept it."
)]
pub struct PriceRose {
    pub label: String,
    pub shown: String,
    pub now: String,
    /// Empty, or a note that a transaction reached the chain and its gas was spent.
    gas: &'static str,
}

/// Turns `error`, the failure of the purchase described by `quote`, into [`PriceRose`] when the
/// agent's price is now above the quote; otherwise returns `error` unchanged. `sent` says whether
/// the purchase may have reached the chain (then its gas, but nothing else, was spent).
pub async fn explain_refusal(chain: &Chain, quote: &Quote<'_>, sent: bool, error: anyhow::Error) -> anyhow::Error {
    // The pending state: the node may have refused the purchase on a price change that is not
    // in a block yet (estimating against pending transactions).
    let Ok(terms) = chain.registry().terms(quote.agent_id).block(BlockId::pending()).call().await else {
        return error;
    };
    let now = U256::from(terms.price);
    let gas = if sent { " (only the gas of the refused transaction was spent)" } else { "" };
    let (label, shown, now_text) =
        (quote.label.to_string(), quote.token.format(quote.unit_price), quote.token.format(now));
    if now > quote.unit_price {
        return anyhow::Error::new(PriceRose { label, shown, now: now_text, gas });
    }
    // ETH is sent with the purchase and must match the price exactly: a lower price refuses the
    // amount computed from the higher one (WrongPayment).
    if now < quote.unit_price && quote.paid_in_eth {
        return anyhow::anyhow!(
            "purchase refused: the price of {label} fell from {shown} to {now_text} per credit after it was shown, and              an ETH purchase must send the exact price. Nothing was paid and no credits were bought{gas}. Run              `nexus buy` again to buy at {now_text} per credit."
        );
    }
    error
}

/// Whether `error` says the purchase never left this machine (the node refused it while
/// estimating its gas, so no transaction was sent).
pub fn refused_before_sending(error: &anyhow::Error) -> bool {
    error.downcast_ref::<super::chain::Refused>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc() -> Token {
        Token { symbol: "USDC".into(), decimals: 6 }
    }

    #[test]
    fn the_announced_price_is_the_bound() {
        let token = usdc();
        let quote = Quote {
            agent_id: U256::from(1),
            label: "Summarizer (agent 1)",
            unit_price: U256::from(50_000),
            units: 3,
            token: &token,
            paid_in_eth: false,
        };
        assert_eq!(quote.cost(), Some(U256::from(150_000)));
        assert_eq!(
            quote.announce(),
            "buying 3 × Summarizer (agent 1) at 0.05 USDC per credit (0.15 USDC); the purchase will not pay more than \
             that per credit"
        );
    }

    #[test]
    fn a_price_rise_says_what_happened_and_what_to_do() {
        let text = PriceRose {
            label: "Summarizer (agent 1)".into(),
            shown: "0.05 USDC".into(),
            now: "0.1 USDC".into(),
            gas: "",
        }
        .to_string();
        assert!(text.contains("rose from 0.05 USDC to 0.1 USDC"), "{text}");
        assert!(text.contains("Nothing was paid"), "{text}");
        assert!(text.contains("`nexus agents`"), "{text}");
    }
}
