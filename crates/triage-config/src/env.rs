//! Every environment variable triage reads, as documented constants. Only `triage-cli` reads
//! them; library crates take the values as arguments.

/// Path of the `triage.toml` to load when `--config` is not given.
pub const TRIAGE_CONFIG: &str = "TRIAGE_CONFIG";

/// Path of the request ledger (`serve`, `report`), overriding the config's `[ledger] path`.
pub const TRIAGE_LEDGER: &str = "TRIAGE_LEDGER";

/// Every variable above, with a one-line description, for `--help` texts and docs.
pub const ALL: &[(&str, &str)] = &[
    (
        TRIAGE_CONFIG,
        "path of the triage.toml to load when --config is not given",
    ),
    (
        TRIAGE_LEDGER,
        "path of the request ledger, overriding the config's [ledger] path",
    ),
];
