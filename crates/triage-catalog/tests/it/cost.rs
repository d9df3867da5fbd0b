//! Cost math: exact decimals, linear in tokens, cached and batch pricing, failing closed.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use triage_catalog::{CostError, CostOptions, PriceKind};
use triage_types::Usage;

use crate::base;

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        ..Usage::default()
    }
}

const PLAIN: CostOptions = CostOptions { batch: false };
const BATCH: CostOptions = CostOptions { batch: true };

#[test]
fn cost_is_exact() {
    let catalog = base();
    let small = catalog.get("small").unwrap();
    // 1,000 in at $0.15/M + 500 out at $0.60/M = 0.00015 + 0.0003.
    assert_eq!(
        small.cost(&usage(1_000, 500), PLAIN).unwrap(),
        dec!(0.00045)
    );
    // A float would drift here: 0.1 + 0.2 style sums stay exact.
    let mut total = Decimal::ZERO;
    for _ in 0..1_000_000 {
        total += small.cost(&usage(1, 0), PLAIN).unwrap();
    }
    assert_eq!(total, dec!(0.15));
}

#[test]
fn cost_is_linear_in_tokens() {
    let catalog = base();
    for model in catalog.models() {
        let one = model.cost(&usage(1_234, 567), PLAIN).unwrap();
        for factor in [2_u64, 10, 1_000, 1_000_000] {
            let scaled = model
                .cost(&usage(1_234 * factor, 567 * factor), PLAIN)
                .unwrap();
            assert_eq!(
                scaled,
                one * Decimal::from(factor),
                "{} x{factor}",
                model.id
            );
        }
        let input_only = model.cost(&usage(1_234, 0), PLAIN).unwrap();
        let output_only = model.cost(&usage(0, 567), PLAIN).unwrap();
        assert_eq!(one, input_only + output_only, "{}", model.id);
    }
}

#[test]
fn cached_tokens_are_billed_at_the_cached_price() {
    let catalog = base();
    let big = catalog.get("big").unwrap();
    let usage = Usage {
        input_tokens: 1_000_000,
        output_tokens: 0,
        cached_read_tokens: 600_000,
        cache_write_tokens: 100_000,
        reasoning_tokens: 0,
    };
    // 300,000 plain at $3 + 600,000 cached at $0.30 + 100,000 written at $3.75.
    assert_eq!(
        big.cost(&usage, PLAIN).unwrap(),
        dec!(0.9) + dec!(0.18) + dec!(0.375)
    );
}

#[test]
fn batch_applies_the_discount() {
    let catalog = base();
    let small = catalog.get("small").unwrap();
    let plain = small.cost(&usage(1_000_000, 1_000_000), PLAIN).unwrap();
    let batch = small.cost(&usage(1_000_000, 1_000_000), BATCH).unwrap();
    assert_eq!(plain, dec!(0.75));
    assert_eq!(batch, dec!(0.375));
}

#[test]
fn unknown_prices_fail_closed() {
    let catalog = base();
    let bigger = catalog.get("bigger").unwrap();
    let cached = Usage {
        input_tokens: 10,
        cached_read_tokens: 5,
        ..Usage::default()
    };
    let written = Usage {
        input_tokens: 10,
        cache_write_tokens: 5,
        ..Usage::default()
    };
    let cases = [
        (bigger.cost(&cached, PLAIN), PriceKind::CachedInput),
        (bigger.cost(&written, PLAIN), PriceKind::CacheWrite),
        (bigger.cost(&usage(10, 10), BATCH), PriceKind::BatchDiscount),
    ];
    for (result, kind) in cases {
        assert_eq!(
            result,
            Err(CostError::MissingPrice {
                model: "bigger".to_owned(),
                kind
            })
        );
    }
    // Zero tokens of an unpriced kind need no price.
    assert_eq!(bigger.cost(&usage(1_000_000, 0), PLAIN).unwrap(), dec!(5));
    insta::assert_snapshot!(
        bigger.cost(&cached, PLAIN).unwrap_err().to_string(),
        @"model `bigger` has no cached_input price in the catalog, so its cost is unknown"
    );
}

#[test]
fn inconsistent_usage_is_an_error() {
    let catalog = base();
    let small = catalog.get("small").unwrap();
    let usage = Usage {
        input_tokens: 10,
        cached_read_tokens: 11,
        ..Usage::default()
    };
    assert_eq!(
        small.cost(&usage, PLAIN),
        Err(CostError::InconsistentUsage {
            input: 10,
            cached: 11
        })
    );
}
