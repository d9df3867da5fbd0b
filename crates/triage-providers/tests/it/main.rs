//! Integration tests for triage-providers, against triage-mock on 127.0.0.1.

mod conformance;
mod support;
mod timeouts;
mod wire_format;
