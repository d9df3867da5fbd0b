//! The whole `triage.toml` as written: one optional field per top-level section, each
//! section's struct in its own module under `sections/`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::sections::aliases::RawAlias;
use crate::sections::catalog::RawCatalogSection;
use crate::sections::classifier::RawClassifier;
use crate::sections::keywords::RawKeywords;
use crate::sections::ledger::RawLedger;
use crate::sections::length::RawLength;
use crate::sections::providers::RawProviders;
use crate::sections::quality::RawQuality;
use crate::sections::routes::RawRoutes;
use crate::sections::routing::RawRouting;
use crate::sections::rules::RawRule;
use crate::sections::server::RawServer;
use crate::sections::state::RawState;

/// `triage.toml` as written. Unknown top-level keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// `[routing]`: default strategy and low-confidence threshold.
    #[serde(default)]
    pub(crate) routing: RawRouting,
    /// `[routes]`: per-class model lists replacing the catalog's.
    #[serde(default)]
    pub(crate) routes: RawRoutes,
    /// `[aliases.<name>]`: route aliases.
    #[serde(default)]
    pub(crate) aliases: BTreeMap<String, Spanned<RawAlias>>,
    /// `[[rules]]`: rules evaluated before any strategy.
    #[serde(default)]
    pub(crate) rules: Vec<Spanned<RawRule>>,
    /// `[keywords]`: keyword strategy overrides.
    #[serde(default)]
    pub(crate) keywords: RawKeywords,
    /// `[length]`: length strategy buckets.
    #[serde(default)]
    pub(crate) length: Option<RawLength>,
    /// `[catalog]`: catalog overrides.
    #[serde(default)]
    pub(crate) catalog: RawCatalogSection,
    /// `[providers]`: enabled and disabled providers.
    #[serde(default)]
    pub(crate) providers: RawProviders,
    /// `[classifier]`: the on-device model's directory.
    #[serde(default)]
    pub(crate) classifier: RawClassifier,
    /// `[fallback]`: `triage-fallback`'s own section type, read in place so an unknown key
    /// is reported at its line.
    #[serde(default)]
    pub(crate) fallback: Option<Spanned<triage_fallback::FallbackConfig>>,
    /// `[ledger]`: where requests are recorded, and the baseline model.
    #[serde(default)]
    pub(crate) ledger: RawLedger,
    /// `[quality]`.
    #[serde(default)]
    pub(crate) quality: RawQuality,
    /// `[server]`: listen address, proxy keys, body limit and request timeout.
    #[serde(default)]
    pub(crate) server: RawServer,
    /// `[state]`: where budgets and rate limits are counted (in process, or Redis).
    #[serde(default)]
    pub(crate) state: RawState,
}
