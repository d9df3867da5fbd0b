//! Integration tests of triage-config: a full example file, and errors naming file, line and key.

mod errors;
mod full;
