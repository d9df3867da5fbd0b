//! Integration tests of the `triage` binary, one module per area.

mod catalog;
