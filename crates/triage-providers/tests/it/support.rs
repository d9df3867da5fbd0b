//! Shared helpers: a mock upstream and a provider client pointed at it.

use std::sync::Arc;

use futures::StreamExt;
use triage_mock::MockUpstream;
use triage_providers::{
    ApiKey, HttpClientOptions, OpenAiQuirks, Protocol, Provider, ProviderError, ProviderSettings,
    Timeouts, build_http_client, build_provider,
};
use triage_types::StreamEvent;

/// The fake key every test uses; it must never show up in errors or debug output.
pub(crate) const KEY: &str = "sk-test-SECRET-0123456789";

/// A running mock and a client of `protocol` pointed at it.
pub(crate) struct Harness {
    pub(crate) mock: MockUpstream,
    pub(crate) provider: Arc<dyn Provider>,
}

pub(crate) fn settings_for(
    mock: &MockUpstream,
    protocol: Protocol,
    provider_id: &str,
) -> ProviderSettings {
    let base = match protocol {
        Protocol::OpenAi | Protocol::OpenAiCompatible => mock.openai_base_url(),
        Protocol::Anthropic | Protocol::Gemini => mock.url(),
    };
    // The embedded catalog states each provider's quirks (DeepSeek: `max_tokens`, no
    // `json_schema`); other ids get the protocol's defaults.
    let quirks = triage_catalog::Catalog::embedded()
        .provider(provider_id)
        .map_or_else(
            || OpenAiQuirks::for_protocol(protocol),
            |info| info.openai_quirks,
        );
    ProviderSettings::new(provider_id, protocol, base)
        .with_openai_quirks(quirks)
        .with_api_key(ApiKey::new(KEY))
}

pub(crate) async fn harness(protocol: Protocol, provider_id: &str) -> Harness {
    harness_with(protocol, provider_id, Timeouts::default()).await
}

pub(crate) async fn harness_with(
    protocol: Protocol,
    provider_id: &str,
    timeouts: Timeouts,
) -> Harness {
    let mock = MockUpstream::start().await.unwrap();
    let mut settings = settings_for(&mock, protocol, provider_id);
    settings.timeouts = timeouts;
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let provider = build_provider(settings, client).unwrap();
    Harness { mock, provider }
}

/// Every item of a stream, errors included.
pub(crate) async fn drain(
    stream: triage_providers::EventStream,
) -> Vec<Result<StreamEvent, ProviderError>> {
    stream.collect().await
}

/// Asserts that an error's text and debug output do not contain the key.
pub(crate) fn assert_no_key(error: &ProviderError) {
    assert!(!error.to_string().contains(KEY), "{error}");
    assert!(!format!("{error:?}").contains(KEY), "{error:?}");
}
