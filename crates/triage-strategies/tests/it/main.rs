//! Integration tests of triage-strategies: route plans on a fixed catalog, snapshotted, and the
//! crate's dependency boundary.

mod boundaries;
mod plans;
