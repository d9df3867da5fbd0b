//! Cost math: what a call's token usage costs on a model, exactly, failing closed on unknown prices.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use triage_types::Usage;

use crate::Model;

/// Tokens per unit of catalog price: prices are per million tokens.
const TOKENS_PER_PRICE_UNIT: u64 = 1_000_000;

/// How a call is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostOptions {
    /// Sent through the provider's batch API, at its batch discount.
    pub batch: bool,
}

/// A kind of price a model may or may not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    /// Uncached prompt tokens.
    Input,
    /// Answer tokens.
    Output,
    /// Prompt tokens read from the cache.
    CachedInput,
    /// Prompt tokens written to the cache.
    CacheWrite,
    /// The batch API's discount.
    BatchDiscount,
}

impl PriceKind {
    /// The price's key in catalog files.
    pub const fn as_str(self) -> &'static str {
        match self {
            PriceKind::Input => "input",
            PriceKind::Output => "output",
            PriceKind::CachedInput => "cached_input",
            PriceKind::CacheWrite => "cache_write",
            PriceKind::BatchDiscount => "batch_discount",
        }
    }
}

impl fmt::Display for PriceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a cost could not be computed. Never answered with $0 instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// The usage needs a price the catalog does not know for this model.
    #[error("model `{model}` has no {kind} price in the catalog, so its cost is unknown")]
    MissingPrice {
        /// The model's id.
        model: String,
        /// The missing price.
        kind: PriceKind,
    },
    /// Cached and cache-written tokens outnumber all prompt tokens.
    #[error(
        "usage counts {cached} cached and cache-written prompt tokens but only {input} prompt tokens in all"
    )]
    InconsistentUsage {
        /// All prompt tokens.
        input: u64,
        /// Cached-read plus cache-write tokens.
        cached: u64,
    },
    /// The figures are too large for exact arithmetic.
    #[error("cost of model `{model}` overflows exact decimal arithmetic")]
    Overflow {
        /// The model's id.
        model: String,
    },
}

/// Token counts as exact decimals: averages and projections may be fractional.
///
/// The same split as [`Usage`]: `input` counts every prompt token, of which `cached_read` were
/// read from the cache and `cache_write` written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    /// All prompt tokens, cached ones included.
    pub input: Decimal,
    /// Prompt tokens read from the cache.
    pub cached_read: Decimal,
    /// Prompt tokens written to the cache.
    pub cache_write: Decimal,
    /// Answer tokens, reasoning included.
    pub output: Decimal,
}

impl From<&Usage> for TokenCounts {
    fn from(usage: &Usage) -> Self {
        TokenCounts {
            input: Decimal::from(usage.input_tokens),
            cached_read: Decimal::from(usage.cached_read_tokens),
            cache_write: Decimal::from(usage.cache_write_tokens),
            output: Decimal::from(usage.output_tokens),
        }
    }
}

impl Model {
    /// What `usage` costs on this model, in exact US dollars.
    ///
    /// `usage.input_tokens` counts every prompt token: `cached_read_tokens` of them are billed at
    /// the cached-input price, `cache_write_tokens` at the cache-write price and the rest at the
    /// input price. Output tokens (reasoning included) are billed at the output price. With
    /// `options.batch` every price is reduced by the model's batch discount.
    ///
    /// A price that the usage needs but the catalog lacks is an error, never $0: cached tokens on
    /// a model without a `cached_input` price, or `batch` on a model without a batch discount.
    pub fn cost(&self, usage: &Usage, options: CostOptions) -> Result<Decimal, CostError> {
        let cached = usage
            .cached_read_tokens
            .saturating_add(usage.cache_write_tokens);
        if cached > usage.input_tokens {
            return Err(CostError::InconsistentUsage {
                input: usage.input_tokens,
                cached,
            });
        }
        self.cost_of(&TokenCounts::from(usage), options)
    }

    /// What possibly fractional token counts cost, in exact US dollars: [`Model::cost`] for
    /// averages and projections. Negative counts, or cached ones above the input, are treated as
    /// inconsistent usage.
    pub fn cost_of(
        &self,
        tokens: &TokenCounts,
        options: CostOptions,
    ) -> Result<Decimal, CostError> {
        let pricing = &self.pricing;
        let cached = tokens
            .cached_read
            .checked_add(tokens.cache_write)
            .ok_or_else(|| self.overflow())?;
        let negative = [
            tokens.input,
            tokens.cached_read,
            tokens.cache_write,
            tokens.output,
        ]
        .iter()
        .any(|count| count.is_sign_negative() && !count.is_zero());
        if negative || cached > tokens.input {
            return Err(CostError::InconsistentUsage {
                input: whole(tokens.input),
                cached: whole(cached),
            });
        }
        let plain_input = tokens.input - cached;

        let mut total = Decimal::ZERO;
        let mut add = |count: Decimal, price: Option<Decimal>, kind: PriceKind| {
            if count.is_zero() {
                return Ok(());
            }
            let price = price.ok_or_else(|| self.missing(kind))?;
            let part = count.checked_mul(price).ok_or_else(|| self.overflow())?;
            total = total.checked_add(part).ok_or_else(|| self.overflow())?;
            Ok::<(), CostError>(())
        };
        add(plain_input, Some(pricing.input), PriceKind::Input)?;
        add(
            tokens.cached_read,
            pricing.cached_input,
            PriceKind::CachedInput,
        )?;
        add(
            tokens.cache_write,
            pricing.cache_write,
            PriceKind::CacheWrite,
        )?;
        add(tokens.output, Some(pricing.output), PriceKind::Output)?;

        let mut dollars = total
            .checked_div(Decimal::from(TOKENS_PER_PRICE_UNIT))
            .ok_or_else(|| self.overflow())?;
        if options.batch {
            let discount = pricing
                .batch_discount
                .ok_or_else(|| self.missing(PriceKind::BatchDiscount))?;
            dollars = dollars
                .checked_mul(Decimal::ONE - discount)
                .ok_or_else(|| self.overflow())?;
        }
        Ok(dollars.normalize())
    }

    fn missing(&self, kind: PriceKind) -> CostError {
        CostError::MissingPrice {
            model: self.id.clone(),
            kind,
        }
    }

    fn overflow(&self) -> CostError {
        CostError::Overflow {
            model: self.id.clone(),
        }
    }
}

/// A token count as a whole number, for messages.
fn whole(count: Decimal) -> u64 {
    use rust_decimal::prelude::ToPrimitive;
    count.trunc().to_u64().unwrap_or(0)
}
