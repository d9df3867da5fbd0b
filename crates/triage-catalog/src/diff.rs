//! What changed between two catalogs: models added and removed, every price that moved, and
//! lifecycle dates and successors that were set or changed — for `triage catalog diff`.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::{Catalog, Model};

/// One difference between two catalogs, for one model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// In the new catalog only.
    Added {
        /// The model id.
        model: String,
        /// Its provider.
        provider: String,
    },
    /// In the old catalog only.
    Removed {
        /// The model id.
        model: String,
    },
    /// A price per million tokens moved (or became known, or unknown).
    Price {
        /// The model id.
        model: String,
        /// `input`, `output`, `cached_input`, `cache_write` or `batch_discount`.
        field: &'static str,
        /// The old value (`None`: unknown).
        old: Option<Decimal>,
        /// The new value.
        new: Option<Decimal>,
        /// The new relative to the old, in percent (`None` when either is unknown or the old
        /// is zero).
        percent: Option<Decimal>,
        /// The day the new price was read.
        checked_on: String,
    },
    /// A lifecycle fact was set or changed: `deprecated_on`, `retires_on`, `successor`.
    Lifecycle {
        /// The model id.
        model: String,
        /// Which fact.
        field: &'static str,
        /// The old value, as text (`None`: unset).
        old: Option<String>,
        /// The new value.
        new: Option<String>,
    },
}

/// Every change from `old` to `new`, by model id; within a model, prices before lifecycle.
pub fn diff(old: &Catalog, new: &Catalog) -> Vec<Change> {
    let mut ids: Vec<&str> = old
        .models()
        .chain(new.models())
        .map(|model| model.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut changes = Vec::new();
    for id in ids {
        match (old.find(id), new.find(id)) {
            (None, Some(model)) => changes.push(Change::Added {
                model: model.id.clone(),
                provider: model.provider.clone(),
            }),
            (Some(_), None) => changes.push(Change::Removed {
                model: id.to_owned(),
            }),
            (Some(before), Some(after)) => model_changes(before, after, &mut changes),
            (None, None) => {}
        }
    }
    changes
}

fn model_changes(before: &Model, after: &Model, changes: &mut Vec<Change>) {
    let (old, new) = (&before.pricing, &after.pricing);
    let prices = [
        ("input", Some(old.input), Some(new.input)),
        ("output", Some(old.output), Some(new.output)),
        ("cached_input", old.cached_input, new.cached_input),
        ("cache_write", old.cache_write, new.cache_write),
        ("batch_discount", old.batch_discount, new.batch_discount),
    ];
    for (field, was, now) in prices {
        if was.map(|value| value.normalize()) == now.map(|value| value.normalize()) {
            continue;
        }
        let percent = match (was, now) {
            (Some(was), Some(now)) if !was.is_zero() => Some(
                ((now - was) * Decimal::ONE_HUNDRED / was)
                    .round_dp(1)
                    .normalize(),
            ),
            _ => None,
        };
        changes.push(Change::Price {
            model: after.id.clone(),
            field,
            old: was.map(|value| value.normalize()),
            new: now.map(|value| value.normalize()),
            percent,
            checked_on: new.checked_on.to_string(),
        });
    }
    let (old, new) = (&before.lifecycle, &after.lifecycle);
    let facts = [
        (
            "deprecated_on",
            old.deprecated_on.map(|day| day.to_string()),
            new.deprecated_on.map(|day| day.to_string()),
        ),
        (
            "retires_on",
            old.retires_on.map(|day| day.to_string()),
            new.retires_on.map(|day| day.to_string()),
        ),
        ("successor", old.successor.clone(), new.successor.clone()),
    ];
    for (field, was, now) in facts {
        if was != now {
            changes.push(Change::Lifecycle {
                model: after.id.clone(),
                field,
                old: was,
                new: now,
            });
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |value: &Option<String>| value.clone().unwrap_or_else(|| "unset".to_owned());
        match self {
            Change::Added { model, provider } => write!(f, "+ {model} ({provider}): new"),
            Change::Removed { model } => write!(f, "- {model}: removed"),
            Change::Price {
                model,
                field,
                old,
                new,
                percent,
                checked_on,
            } => {
                let price = |value: &Option<Decimal>| match value {
                    Some(value) if *field == "batch_discount" => format!("{value}"),
                    Some(value) => format!("${value}"),
                    None => "unknown".to_owned(),
                };
                write!(f, "~ {model}: {field} {} → {}", price(old), price(new))?;
                if let Some(percent) = percent {
                    let sign = if percent.is_sign_negative() { "" } else { "+" };
                    write!(f, " ({sign}{percent}%)")?;
                }
                write!(f, ", prices of {checked_on}")
            }
            Change::Lifecycle {
                model,
                field,
                old,
                new,
            } => write!(f, "~ {model}: {field} {} → {}", shown(old), shown(new)),
        }
    }
}
