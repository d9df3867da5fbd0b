//! Integration tests for triage-providers, against triage-mock on 127.0.0.1.
#![expect(
    clippy::unwrap_used,
    reason = "shared test helpers panic on setup failures"
)]

mod batch;
mod conformance;
mod reasoning;
mod support;
mod thinking;
mod timeouts;
mod wire_format;
