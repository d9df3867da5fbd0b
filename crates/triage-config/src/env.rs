//! Every environment variable triage reads, as documented constants, the way uv's `EnvVars`
//! lists them. Only `triage-cli` reads them; library crates take the values as arguments.
//!
//! Provider variables are not here: which variable holds a provider's API key
//! (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `DEEPSEEK_API_KEY`) and which
//! overrides its base URL (`OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GEMINI_BASE_URL`) is
//! catalog data, `api_key_env` and `base_url_env` in the catalog's `[providers.<id>]` (and
//! `api_key_env` in `triage.toml`'s `[providers.settings.<id>]`). The `xtask` developer tool
//! keeps its own list (`HF_*` for model downloads) beside its code.

/// Path of the `triage.toml` to load when `--config` is not given.
pub const TRIAGE_CONFIG: &str = "TRIAGE_CONFIG";

/// Path of the ledger database (`triage serve` writes it, `triage report` reads it) when
/// `--ledger` is not given; overrides `[ledger] path`.
pub const TRIAGE_LEDGER: &str = "TRIAGE_LEDGER";

/// A `tracing` filter (`info`, `triage_server=debug`) for log output on stderr; overrides `-v`.
pub const RUST_LOG: &str = "RUST_LOG";

/// Threads for the classifier's matrix products (rayon's pool, which candle uses). When unset,
/// `triage` sets it to `1` at start-up: concurrent requests use the cores instead.
pub const RAYON_NUM_THREADS: &str = "RAYON_NUM_THREADS";

/// Threads candle itself may use; like [`RAYON_NUM_THREADS`], set to `1` at start-up when
/// unset.
pub const CANDLE_NUM_THREADS: &str = "CANDLE_NUM_THREADS";

/// When set to anything but the empty string, log output has no ANSI colours
/// (<https://no-color.org>). Without it, colours are used only when stderr is a terminal.
pub const NO_COLOR: &str = "NO_COLOR";

/// Every variable above, with a one-line description, for `--help` texts and docs.
pub const ALL: &[(&str, &str)] = &[
    (
        TRIAGE_CONFIG,
        "path of the triage.toml to load when --config is not given",
    ),
    (
        TRIAGE_LEDGER,
        "the ledger (an SQLite file or a PostgreSQL URL) when --ledger is not given; overrides [ledger] path and url",
    ),
    (
        RUST_LOG,
        "tracing filter for log output on stderr; overrides -v",
    ),
    (
        RAYON_NUM_THREADS,
        "threads for the classifier's matrix products (default 1)",
    ),
    (CANDLE_NUM_THREADS, "threads candle may use (default 1)"),
    (
        NO_COLOR,
        "set (not empty): no ANSI colours in log output; colours need a terminal anyway",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once_and_is_its_own_value() {
        let names: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                TRIAGE_CONFIG,
                TRIAGE_LEDGER,
                RUST_LOG,
                RAYON_NUM_THREADS,
                CANDLE_NUM_THREADS,
                NO_COLOR
            ]
        );
        assert_eq!(
            names,
            [
                "TRIAGE_CONFIG",
                "TRIAGE_LEDGER",
                "RUST_LOG",
                "RAYON_NUM_THREADS",
                "CANDLE_NUM_THREADS",
                "NO_COLOR"
            ]
        );
    }
}
