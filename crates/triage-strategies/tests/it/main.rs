//! Integration tests of triage-strategies: route plans on a fixed catalog, snapshotted.

mod plans;
