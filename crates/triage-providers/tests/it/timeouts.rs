//! The first-token and total timeouts, a missing key, and key redaction in debug output.

use std::time::Duration;

use triage_mock::Scenario;
use triage_providers::{
    HttpClientOptions, Protocol, ProviderError, ProviderSettings, TimeoutPhase, Timeouts,
    build_http_client, build_provider,
};
use triage_types::{ChatRequest, StreamEvent};

use crate::support::{KEY, drain, harness, harness_with};

const TIGHT: Timeouts = Timeouts {
    first_token: Duration::from_millis(200),
    total: Duration::from_millis(600),
};

fn timeout_phase(error: &ProviderError) -> Option<TimeoutPhase> {
    match error {
        ProviderError::Timeout { phase, .. } => Some(*phase),
        _ => None,
    }
}

#[tokio::test]
async fn slow_headers_hit_the_first_token_timeout() {
    for protocol in Protocol::ALL {
        let h = harness_with(protocol, "p", TIGHT).await;
        h.mock
            .push(Scenario::echo().with_delay_before_headers(Duration::from_millis(400)));
        let error = h
            .provider
            .complete("m", &ChatRequest::from_prompt("hi"))
            .await
            .unwrap_err();
        assert_eq!(
            timeout_phase(&error),
            Some(TimeoutPhase::FirstToken),
            "{protocol}: {error:?}"
        );
        assert!(error.is_retryable());
    }
}

#[tokio::test]
async fn a_slow_first_event_hits_the_first_token_timeout() {
    for protocol in Protocol::ALL {
        let h = harness_with(protocol, "p", TIGHT).await;
        h.mock.push(
            Scenario::text("late answer").with_delay_before_first_chunk(Duration::from_millis(400)),
        );
        let stream = h
            .provider
            .stream("m", &ChatRequest::from_prompt("hi"))
            .await
            .unwrap();
        let items = drain(stream).await;
        assert_eq!(items.len(), 1, "{protocol}: {items:?}");
        let error = items[0].as_ref().unwrap_err();
        assert_eq!(
            timeout_phase(error),
            Some(TimeoutPhase::FirstToken),
            "{protocol}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_stream_hits_the_total_timeout() {
    for protocol in Protocol::ALL {
        let h = harness_with(protocol, "p", TIGHT).await;
        h.mock.push(
            Scenario::text("a b c d e f g h i j k l m n o p q r s t")
                .with_delay_between_chunks(Duration::from_millis(60)),
        );
        let stream = h
            .provider
            .stream("m", &ChatRequest::from_prompt("hi"))
            .await
            .unwrap();
        let items = drain(stream).await;
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(
            timeout_phase(last),
            Some(TimeoutPhase::Total),
            "{protocol}: {items:?}"
        );
        assert!(
            items
                .iter()
                .any(|item| matches!(item, Ok(StreamEvent::TextDelta { .. })))
        );
    }
}

#[tokio::test]
async fn a_slow_body_hits_the_total_timeout() {
    let h = harness_with(Protocol::OpenAi, "openai", TIGHT).await;
    h.mock
        .push(Scenario::echo().with_delay_before_first_chunk(Duration::from_millis(800)));
    let error = h
        .provider
        .complete("m", &ChatRequest::from_prompt("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        timeout_phase(&error),
        Some(TimeoutPhase::Total),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let settings =
        ProviderSettings::new("openai", Protocol::OpenAi, format!("http://{address}/v1"))
            .with_api_key(triage_providers::ApiKey::new(KEY));
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let provider = build_provider(settings, client).unwrap();
    let error = provider
        .complete("m", &ChatRequest::from_prompt("hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProviderError::Connection { .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(!error.to_string().contains(KEY));
}

#[tokio::test]
async fn a_missing_key_names_the_variable() {
    let mut settings =
        ProviderSettings::new("anthropic", Protocol::Anthropic, "http://127.0.0.1:9");
    settings.api_key_env = Some("ANTHROPIC_API_KEY".into());
    let client = build_http_client(&HttpClientOptions::default()).unwrap();
    let error = build_provider(settings, client).unwrap_err();
    assert_eq!(
        error,
        ProviderError::MissingApiKey {
            provider: "anthropic".into(),
            env_var: "ANTHROPIC_API_KEY".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "anthropic: no API key: set the environment variable ANTHROPIC_API_KEY"
    );
}

#[tokio::test]
async fn debug_output_never_shows_the_key() {
    for protocol in Protocol::ALL {
        let h = harness(protocol, "p").await;
        let debug = format!("{:?}", h.provider);
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        // The key does go on the wire, in the protocol's header.
        h.provider
            .complete("m", &ChatRequest::from_prompt("hi"))
            .await
            .unwrap();
        let headers = &h.mock.requests()[0].headers;
        let sent = match protocol {
            Protocol::OpenAi | Protocol::OpenAiCompatible => headers["authorization"].clone(),
            Protocol::Anthropic => headers["x-api-key"].clone(),
            Protocol::Gemini => headers["x-goog-api-key"].clone(),
        };
        assert!(sent.ends_with(KEY));
    }
}

#[tokio::test]
async fn markers_in_the_prompt_choose_the_scenario() {
    let h = harness(Protocol::OpenAi, "openai").await;
    let error = h
        .provider
        .complete(
            "m",
            &ChatRequest::from_prompt("please fail [mock:status=429]"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    let response = h
        .provider
        .complete("m", &ChatRequest::from_prompt("[mock:json]"))
        .await
        .unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&response.text).is_ok());
}
