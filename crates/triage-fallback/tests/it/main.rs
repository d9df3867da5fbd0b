//! Integration tests for triage-fallback: plan execution against the in-process mock upstream.
// Helpers outside `#[test]` functions count as non-test code for clippy; a failed setup
// step should panic with its error here.
#![expect(clippy::unwrap_used, reason = "test helpers panic on setup failures")]

mod poison;
mod reasoning;
mod scenarios;
