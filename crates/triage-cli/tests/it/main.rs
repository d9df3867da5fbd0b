//! Integration tests of the `triage` binary, one module per area.

mod ask;
mod batch;
mod catalog;
mod chaos;
mod gateway;
mod mock_upstream;
mod outcomes;
mod readme;
mod replicas;
mod report;
mod routing;
mod tidy;
