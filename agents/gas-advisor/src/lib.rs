//! EIP-1559 fee advisor: turns an `eth_feeHistory` result into fee suggestions.
//!
//! The history comes from the input, or (live mode, [`live`]) from `eth_feeHistory` on the
//! allowlisted JSON-RPC endpoint through the egress door. Either way the history alone holds
//! what a wallet's fee estimator needs. The newest block's base fee and gas-used ratio give the next base
//! fee by the EIP-1559 rule (the node also reports it as the extra last `baseFeePerGas` entry);
//! the reward percentiles of recent blocks show what tips actually got included. So:
//!
//! - **priority fee per tier** (slow / standard / fast): the median over the window's non-empty
//!   blocks of the reward column nearest the 10th / 50th / 90th percentile, never decreasing
//!   from one tier to the next;
//! - **maxFeePerGas** = `2 × next base fee + tip`, the rule most wallets use: it stays valid
//!   through five consecutive full blocks (`fullBlocksHeadroom` says exactly how many);
//! - **trend**: base fee change over the window and average block fullness.
//!
//! Money is integer wei (`u128`, checked arithmetic) end to end; the only floats are the
//! gas-used ratios the node reports as floats, which are turned into parts per billion before
//! they touch an amount.

pub mod live;
pub mod quantity;

use serde::{Deserialize, Serialize};

pub use quantity::{Quantity, gwei};

/// Most blocks an `eth_feeHistory` returns (geth's and reth's cap).
pub const MAX_BLOCKS: usize = 1024;
/// EIP-1559 constants for Ethereum mainnet; L2s override them in the input.
pub const DEFAULT_ELASTICITY: u128 = 2;
pub const DEFAULT_DENOMINATOR: u128 = 8;
/// Gas-used ratios are converted to this fixed-point scale (parts per billion).
const RATIO_SCALE: u128 = 1_000_000_000;
/// Base-fee change across the window (basis points) beyond which the trend is rising/falling.
const TREND_BPS: i128 = 300;

/// The agent's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The `result` of `eth_feeHistory(blockCount, newestBlock, rewardPercentiles)`; absent in
    /// live mode.
    #[serde(default)]
    pub fee_history: Option<FeeHistory>,
    /// Read the history from the chain instead ([`live`]).
    #[serde(default)]
    pub live: Option<live::Live>,
    /// The percentiles the history was requested with (labels for the `reward` columns).
    #[serde(default)]
    pub reward_percentiles: Option<Vec<f64>>,
    /// `low`, `medium` (default) or `high`: which tier is the recommendation.
    #[serde(default)]
    pub urgency: Option<Urgency>,
    /// Gas the transaction will use, for cost estimates.
    #[serde(default)]
    pub gas_limit: Option<u64>,
    /// EIP-1559 elasticity multiplier (default 2).
    #[serde(default)]
    pub elasticity_multiplier: Option<u64>,
    /// EIP-1559 base fee max change denominator (default 8).
    #[serde(default)]
    pub base_fee_change_denominator: Option<u64>,
}

/// The fields of an `eth_feeHistory` result the advice uses (blob fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeHistory {
    pub oldest_block: Quantity,
    /// One entry per block plus the next block's base fee.
    pub base_fee_per_gas: Vec<Quantity>,
    pub gas_used_ratio: Vec<f64>,
    #[serde(default)]
    pub reward: Option<Vec<Vec<Quantity>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speed {
    Slow,
    Standard,
    Fast,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// Number of the newest block in the history.
    pub latest_block: Quantity,
    /// Blocks in the history.
    pub blocks: usize,
    pub base_fee: BaseFee,
    pub tiers: Vec<Tier>,
    pub recommendation: Recommendation,
    pub trend: Trend,
}

/// Base fees in wei (decimal strings).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BaseFee {
    /// Base fee of the newest block.
    pub current: Quantity,
    /// Base fee of the next block: the node's value when the history has it, else `computedNext`.
    pub next: Quantity,
    pub next_gwei: String,
    /// The next base fee by the EIP-1559 rule from the newest block's base fee and gas-used ratio.
    pub computed_next: Quantity,
    /// `feeHistory` or `formula`: where `next` comes from.
    pub source: &'static str,
    /// The next base fee if the next block is full / empty.
    pub next_if_full: Quantity,
    pub next_if_empty: Quantity,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub speed: Speed,
    /// The reward percentile the tip comes from, when the input says which percentiles it holds.
    pub percentile: Option<f64>,
    pub max_priority_fee_per_gas: Quantity,
    pub max_fee_per_gas: Quantity,
    pub max_priority_fee_per_gas_gwei: String,
    pub max_fee_per_gas_gwei: String,
    /// Consecutive full blocks after the next one that `maxFeePerGas` still covers.
    pub full_blocks_headroom: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub urgency: Urgency,
    pub speed: Speed,
    pub max_priority_fee_per_gas: Quantity,
    pub max_fee_per_gas: Quantity,
    /// `gasLimit × (next base fee + tip)`, when `gasLimit` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_cost_wei: Option<Quantity>,
    /// `gasLimit × maxFeePerGas`: the most the transaction can cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_wei: Option<Quantity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Rising,
    Falling,
    Stable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Congestion {
    Low,
    Normal,
    High,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trend {
    pub direction: Direction,
    /// Change from the oldest block's base fee to the next base fee, in basis points (null when
    /// the oldest base fee is zero).
    pub base_fee_change_bps: Option<i64>,
    pub min_base_fee: Quantity,
    pub max_base_fee: Quantity,
    /// Mean gas-used ratio of the window, 4 decimals.
    pub average_gas_used_ratio: f64,
    /// Relative to the gas target: low below 60% of it, high above 160%.
    pub congestion: Congestion,
}

/// Why a fee history cannot be advised on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdviseError {
    #[error("give feeHistory (an eth_feeHistory result), or live to read it from the chain")]
    NoFeeHistory,
    #[error("feeHistory.gasUsedRatio is empty")]
    NoBlocks,
    #[error("feeHistory has {0} blocks, more than {MAX_BLOCKS}")]
    TooManyBlocks(usize),
    #[error("feeHistory.baseFeePerGas has {got} entries for {blocks} blocks (expected {blocks} or {})", blocks + 1)]
    BaseFeeLength { got: usize, blocks: usize },
    #[error("feeHistory.gasUsedRatio[{index}] = {value} is not between 0 and 1")]
    Ratio { index: usize, value: f64 },
    #[error("feeHistory.reward is missing: request eth_feeHistory with reward percentiles, e.g. [10, 50, 90]")]
    NoRewards,
    #[error("feeHistory.reward has {got} rows for {blocks} blocks")]
    RewardRows { got: usize, blocks: usize },
    #[error("feeHistory.reward rows must all have the same, non-zero number of columns")]
    RewardColumns,
    #[error("rewardPercentiles must be {0} ascending numbers between 0 and 100, one per reward column")]
    Percentiles(usize),
    #[error("elasticityMultiplier and baseFeeChangeDenominator must be at least 1")]
    Parameters,
    #[error("amount overflows 128 bits")]
    Overflow,
}

/// Next base fee by the EIP-1559 rule, with the gas used and limit in any common unit.
pub fn next_base_fee(
    base_fee: u128,
    gas_used: u128,
    gas_limit: u128,
    elasticity: u128,
    denominator: u128,
) -> Result<u128, AdviseError> {
    let target = gas_limit / elasticity;
    if target == 0 || gas_used == target {
        return Ok(base_fee);
    }
    if gas_used > target {
        let delta = base_fee.checked_mul(gas_used - target).ok_or(AdviseError::Overflow)? / target / denominator;
        base_fee.checked_add(delta.max(1)).ok_or(AdviseError::Overflow)
    } else {
        let delta = base_fee.checked_mul(target - gas_used).ok_or(AdviseError::Overflow)? / target / denominator;
        Ok(base_fee.saturating_sub(delta))
    }
}

/// Median of integers; the lower middle average for an even count, rounded down.
fn median(values: &mut [u128]) -> Option<u128> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        Some(values[mid])
    } else {
        Some(values[mid - 1] / 2 + values[mid] / 2 + (values[mid - 1] % 2 + values[mid] % 2) / 2)
    }
}

/// Computes the advice for `input`.
pub fn advise(input: &Input) -> Result<Output, AdviseError> {
    let history = input.fee_history.as_ref().ok_or(AdviseError::NoFeeHistory)?;
    let n = history.gas_used_ratio.len();
    if n == 0 {
        return Err(AdviseError::NoBlocks);
    }
    if n > MAX_BLOCKS {
        return Err(AdviseError::TooManyBlocks(n));
    }
    let bases = &history.base_fee_per_gas;
    if bases.len() != n && bases.len() != n + 1 {
        return Err(AdviseError::BaseFeeLength { got: bases.len(), blocks: n });
    }
    for (index, &value) in history.gas_used_ratio.iter().enumerate() {
        if !(0.0..=1.0).contains(&value) {
            return Err(AdviseError::Ratio { index, value });
        }
    }
    let elasticity = u128::from(input.elasticity_multiplier.unwrap_or(DEFAULT_ELASTICITY as u64));
    let denominator = u128::from(input.base_fee_change_denominator.unwrap_or(DEFAULT_DENOMINATOR as u64));
    if elasticity == 0 || denominator == 0 {
        return Err(AdviseError::Parameters);
    }
    let rewards = history.reward.as_ref().ok_or(AdviseError::NoRewards)?;
    if rewards.len() != n {
        return Err(AdviseError::RewardRows { got: rewards.len(), blocks: n });
    }
    let columns = rewards[0].len();
    if columns == 0 || rewards.iter().any(|row| row.len() != columns) {
        return Err(AdviseError::RewardColumns);
    }
    if let Some(p) = &input.reward_percentiles
        && (p.len() != columns || p.iter().any(|x| !(0.0..=100.0).contains(x)) || p.windows(2).any(|w| w[0] > w[1]))
    {
        return Err(AdviseError::Percentiles(columns));
    }

    // Base fee.
    let current = bases[n - 1].0;
    let ratio_ppb = |r: f64| (r * RATIO_SCALE as f64).round() as u128;
    let computed_next =
        next_base_fee(current, ratio_ppb(history.gas_used_ratio[n - 1]), RATIO_SCALE, elasticity, denominator)?;
    let (next, source) = match bases.get(n) {
        Some(q) => (q.0, "feeHistory"),
        None => (computed_next, "formula"),
    };
    let grow = |base: u128| next_base_fee(base, RATIO_SCALE, RATIO_SCALE, elasticity, denominator);
    let base_fee = BaseFee {
        current: Quantity(current),
        next: Quantity(next),
        next_gwei: gwei(next),
        computed_next: Quantity(computed_next),
        source,
        next_if_full: Quantity(grow(next)?),
        next_if_empty: Quantity(next_base_fee(next, 0, RATIO_SCALE, elasticity, denominator)?),
    };

    // Tips: one reward column per tier, median over non-empty blocks (empty blocks report 0).
    let column_for = |target: f64, fallback: usize| match &input.reward_percentiles {
        Some(p) => {
            let best = (0..columns)
                .min_by(|&a, &b| (p[a] - target).abs().total_cmp(&(p[b] - target).abs()))
                .unwrap_or(fallback);
            (best, Some(p[best]))
        }
        None => (fallback, None),
    };
    let busy: Vec<usize> = (0..n).filter(|&i| history.gas_used_ratio[i] > 0.0).collect();
    let blocks: Vec<usize> = if busy.is_empty() { (0..n).collect() } else { busy };
    let mut tiers = Vec::with_capacity(3);
    let mut floor = 0u128;
    for (speed, target, fallback) in
        [(Speed::Slow, 10.0, 0), (Speed::Standard, 50.0, columns / 2), (Speed::Fast, 90.0, columns - 1)]
    {
        let (column, percentile) = column_for(target, fallback);
        let mut tips: Vec<u128> = blocks.iter().map(|&i| rewards[i][column].0).collect();
        let tip = median(&mut tips).unwrap_or(0).max(floor);
        floor = tip;
        let max_fee = next.checked_mul(2).and_then(|b| b.checked_add(tip)).ok_or(AdviseError::Overflow)?;
        let mut headroom = 0u32;
        let mut base = next;
        while headroom < 100 {
            base = grow(base)?;
            if base.checked_add(tip).is_none_or(|total| total > max_fee) {
                break;
            }
            headroom += 1;
        }
        tiers.push(Tier {
            speed,
            percentile,
            max_priority_fee_per_gas: Quantity(tip),
            max_fee_per_gas: Quantity(max_fee),
            max_priority_fee_per_gas_gwei: gwei(tip),
            max_fee_per_gas_gwei: gwei(max_fee),
            full_blocks_headroom: headroom,
        });
    }

    let urgency = input.urgency.unwrap_or(Urgency::Medium);
    let chosen = &tiers[match urgency {
        Urgency::Low => 0,
        Urgency::Medium => 1,
        Urgency::High => 2,
    }];
    let cost = |per_gas: u128| {
        input
            .gas_limit
            .map(|g| u128::from(g).checked_mul(per_gas).map(Quantity).ok_or(AdviseError::Overflow))
            .transpose()
    };
    let expected = next.checked_add(chosen.max_priority_fee_per_gas.0).ok_or(AdviseError::Overflow)?;
    let recommendation = Recommendation {
        urgency,
        speed: chosen.speed,
        max_priority_fee_per_gas: chosen.max_priority_fee_per_gas,
        max_fee_per_gas: chosen.max_fee_per_gas,
        expected_cost_wei: cost(expected)?,
        max_cost_wei: cost(chosen.max_fee_per_gas.0)?,
    };

    // Trend over the window, next base fee included.
    let oldest = bases[0].0;
    let base_fee_change_bps = if oldest == 0 {
        None
    } else {
        // |next - oldest| * 10_000 / oldest, in i128: exact for any u64-sized fee.
        let diff = i128::try_from(next).ok().zip(i128::try_from(oldest).ok()).map(|(a, b)| a - b);
        diff.and_then(|d| d.checked_mul(10_000)).map(|d| d / oldest as i128).and_then(|bps| i64::try_from(bps).ok())
    };
    let direction = match base_fee_change_bps {
        Some(bps) if i128::from(bps) > TREND_BPS => Direction::Rising,
        Some(bps) if i128::from(bps) < -TREND_BPS => Direction::Falling,
        _ => Direction::Stable,
    };
    let average = history.gas_used_ratio.iter().sum::<f64>() / n as f64;
    let relative = average * elasticity as f64;
    let congestion = if relative > 1.6 {
        Congestion::High
    } else if relative < 0.6 {
        Congestion::Low
    } else {
        Congestion::Normal
    };
    let all_bases = bases.iter().map(|q| q.0);
    let trend = Trend {
        direction,
        base_fee_change_bps,
        min_base_fee: Quantity(all_bases.clone().min().unwrap_or(0).min(next)),
        max_base_fee: Quantity(all_bases.max().unwrap_or(0).max(next)),
        average_gas_used_ratio: (average * 10_000.0).round() / 10_000.0,
        congestion,
    };

    let latest_block = history.oldest_block.0.checked_add(n as u128 - 1).map(Quantity).ok_or(AdviseError::Overflow)?;
    Ok(Output { latest_block, blocks: n, base_fee, tiers, recommendation, trend })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn q(v: &[u128]) -> Vec<Quantity> {
        v.iter().copied().map(Quantity).collect()
    }

    fn input(bases: &[u128], ratios: &[f64], rewards: &[[u128; 3]]) -> Input {
        Input {
            fee_history: Some(FeeHistory {
                oldest_block: Quantity(100),
                base_fee_per_gas: q(bases),
                gas_used_ratio: ratios.to_vec(),
                reward: Some(rewards.iter().map(|r| q(r)).collect()),
            }),
            live: None,
            reward_percentiles: Some(vec![10.0, 50.0, 90.0]),
            urgency: None,
            gas_limit: None,
            elasticity_multiplier: None,
            base_fee_change_denominator: None,
        }
    }

    #[test]
    fn eip1559_rule() {
        let base = 20 * GWEI;
        assert_eq!(next_base_fee(base, 30_000_000, 30_000_000, 2, 8), Ok(22_500_000_000));
        assert_eq!(next_base_fee(base, 0, 30_000_000, 2, 8), Ok(17_500_000_000));
        assert_eq!(next_base_fee(base, 15_000_000, 30_000_000, 2, 8), Ok(base));
        assert_eq!(next_base_fee(base, 22_500_000, 30_000_000, 2, 8), Ok(21_250_000_000));
        // Above target the base fee rises by at least 1 wei.
        assert_eq!(next_base_fee(7, 15_000_001, 30_000_000, 2, 8), Ok(8));
        // Optimism-style parameters: elasticity 6, denominator 250.
        assert_eq!(next_base_fee(1_000_000, 30_000_000, 30_000_000, 6, 250), Ok(1_020_000));
        assert_eq!(next_base_fee(u128::MAX, 30_000_000, 30_000_000, 2, 8), Err(AdviseError::Overflow));
    }

    #[test]
    fn median_of_integers() {
        assert_eq!(median(&mut [3, 1, 2]), Some(2));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut [u128::MAX, u128::MAX]), Some(u128::MAX));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn tiers_follow_the_reward_percentiles() {
        let bases = [20 * GWEI, 21 * GWEI, 22 * GWEI, 23 * GWEI];
        let rewards = [[GWEI, 2 * GWEI, 5 * GWEI], [0, 0, 0], [GWEI, 3 * GWEI, 4 * GWEI]];
        let out = advise(&input(&bases, &[0.9, 0.0, 0.7], &rewards)).expect("advice");
        assert_eq!(out.latest_block, Quantity(102));
        assert_eq!(out.base_fee.next, Quantity(23 * GWEI));
        assert_eq!(out.base_fee.source, "feeHistory");
        // 22 gwei at 70% full: 22e9 * 0.2 / 0.5 / 8 = 1.1e9.
        assert_eq!(out.base_fee.computed_next, Quantity(23_100_000_000));
        assert_eq!(out.base_fee.next_if_full, Quantity(25_875_000_000));
        assert_eq!(out.base_fee.next_if_empty, Quantity(20_125_000_000));
        // The empty block's zero rewards are ignored; medians of two rewards.
        let tips: Vec<u128> = out.tiers.iter().map(|t| t.max_priority_fee_per_gas.0).collect();
        assert_eq!(tips, [GWEI, 2_500_000_000, 4_500_000_000]);
        assert_eq!(out.tiers[1].max_fee_per_gas, Quantity(46 * GWEI + 2_500_000_000));
        assert_eq!(out.tiers[1].max_fee_per_gas_gwei, "48.5");
        assert_eq!(out.tiers.iter().map(|t| t.full_blocks_headroom).collect::<Vec<_>>(), [5, 5, 5]);
        assert_eq!(out.recommendation.speed, Speed::Standard);
        assert_eq!(out.trend.direction, Direction::Rising);
        assert_eq!(out.trend.base_fee_change_bps, Some(1500));
        assert_eq!(out.trend.congestion, Congestion::Normal);
    }

    #[test]
    fn without_the_next_entry_the_formula_gives_it_and_costs_are_exact() {
        let mut i = input(&[10 * GWEI], &[1.0], &[[1, 2, 3]]);
        i.urgency = Some(Urgency::High);
        i.gas_limit = Some(21_000);
        let out = advise(&i).expect("advice");
        assert_eq!(out.base_fee.source, "formula");
        assert_eq!(out.base_fee.next, Quantity(11_250_000_000));
        let r = &out.recommendation;
        assert_eq!(r.max_priority_fee_per_gas, Quantity(3));
        assert_eq!(r.max_fee_per_gas, Quantity(22_500_000_003));
        assert_eq!(r.expected_cost_wei, Some(Quantity(21_000 * 11_250_000_003)));
        assert_eq!(r.max_cost_wei, Some(Quantity(21_000 * 22_500_000_003)));
    }

    #[test]
    fn tips_never_decrease_from_slow_to_fast() {
        // Columns out of the usual order in one block: the fast tier is raised to the standard one.
        let out = advise(&input(&[GWEI, GWEI], &[0.5], &[[5, 9, 7]])).expect("advice");
        let tips: Vec<u128> = out.tiers.iter().map(|t| t.max_priority_fee_per_gas.0).collect();
        assert_eq!(tips, [5, 9, 9]);
        assert_eq!(out.trend.direction, Direction::Stable);
    }

    #[test]
    fn rejects_inconsistent_histories() {
        assert_eq!(advise(&input(&[], &[], &[])), Err(AdviseError::NoBlocks));
        let mut neither = input(&[1, 2], &[0.5], &[[1, 2, 3]]);
        neither.fee_history = None;
        assert_eq!(advise(&neither), Err(AdviseError::NoFeeHistory));
        assert_eq!(
            advise(&input(&[1, 2, 3], &[0.5], &[[1, 2, 3]])),
            Err(AdviseError::BaseFeeLength { got: 3, blocks: 1 })
        );
        assert_eq!(advise(&input(&[1, 2], &[1.5], &[[1, 2, 3]])), Err(AdviseError::Ratio { index: 0, value: 1.5 }));
        assert_eq!(
            advise(&input(&[1, 2, 3], &[0.5, 0.5], &[[1, 2, 3]])),
            Err(AdviseError::RewardRows { got: 1, blocks: 2 })
        );
        let mut no_rewards = input(&[1, 2], &[0.5], &[[1, 2, 3]]);
        no_rewards.fee_history.as_mut().expect("history").reward = None;
        assert_eq!(advise(&no_rewards), Err(AdviseError::NoRewards));
        let mut bad_percentiles = input(&[1, 2], &[0.5], &[[1, 2, 3]]);
        bad_percentiles.reward_percentiles = Some(vec![50.0, 10.0, 90.0]);
        assert_eq!(advise(&bad_percentiles), Err(AdviseError::Percentiles(3)));
        let mut zero = input(&[1, 2], &[0.5], &[[1, 2, 3]]);
        zero.base_fee_change_denominator = Some(0);
        assert_eq!(advise(&zero), Err(AdviseError::Parameters));
    }
}
