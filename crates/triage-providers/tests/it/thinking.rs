//! Extended thinking kept intact: Anthropic's signed blocks come back in answers and streams
//! and go back in later turns byte for byte; providers that cannot take them leave them out.

use futures::StreamExt;
use serde_json::json;
use triage_providers::{Protocol, ProviderError, StreamAccumulator};
use triage_types::{
    ChatRequest, ChatResponse, ContentPart, FinishReason, Message, Role, ThinkingBlock, ToolCall,
    Usage,
};

use crate::support::harness;

fn thinking_request() -> ChatRequest {
    ChatRequest {
        thinking: Some(json!({"type": "enabled", "budget_tokens": 1024})),
        max_output_tokens: Some(2048),
        ..ChatRequest::from_prompt("What is 6 x 7?")
    }
}

/// The request after the model's turn: its thinking blocks first, then a tool call.
fn continued(answer: &ChatResponse) -> ChatRequest {
    let mut request = thinking_request();
    let mut content: Vec<ContentPart> = answer
        .thinking
        .iter()
        .map(|block| ContentPart::Thinking {
            block: block.clone(),
        })
        .collect();
    content.push(ContentPart::Text {
        text: "Let me check.".into(),
    });
    request.messages.push(Message {
        role: Role::Assistant,
        content,
        tool_calls: vec![ToolCall {
            id: "toolu_1".into(),
            name: "calculator".into(),
            arguments: r#"{"expression":"6*7"}"#.into(),
        }],
        ..Message::default()
    });
    request.messages.push(Message {
        role: Role::Tool,
        content: vec![ContentPart::Text { text: "42".into() }],
        tool_call_id: Some("toolu_1".into()),
        ..Message::default()
    });
    request
}

#[tokio::test]
async fn anthropic_thinking_blocks_round_trip_signed_and_streamed() {
    let h = harness(Protocol::Anthropic, "anthropic").await;
    let answer = h
        .provider
        .complete("claude-x", &thinking_request())
        .await
        .unwrap();
    assert_eq!(
        h.mock.requests()[0].body["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    let [
        ThinkingBlock::Thinking {
            thinking,
            signature,
        },
    ] = answer.thinking.as_slice()
    else {
        panic!("one thinking block expected: {:?}", answer.thinking);
    };
    assert_eq!(thinking, "The user asks: What is 6 x 7?");
    assert!(signature.starts_with("mocksig_"), "{signature}");
    assert_eq!(answer.text, "echo: What is 6 x 7?");

    // A stream folds into the same blocks: deltas joined, the signature on its block.
    let mut stream = h
        .provider
        .stream("claude-x", &thinking_request())
        .await
        .unwrap();
    let mut accumulator = StreamAccumulator::default();
    while let Some(event) = stream.next().await {
        accumulator.push(&event.unwrap());
    }
    let streamed = accumulator.into_response("claude-x");
    assert_eq!(streamed.thinking, answer.thinking);
    assert_eq!(streamed.text, answer.text);

    // The next turn sends the blocks back first in the assistant turn, as received; the mock
    // checks the signature as the API does.
    h.provider
        .complete("claude-x", &continued(&answer))
        .await
        .unwrap();
    let body = &h.mock.requests()[2].body;
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": thinking, "signature": signature},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {"expression": "6*7"}},
        ])
    );

    // A block altered on the way is refused upstream, as Anthropic refuses it.
    let mut altered = answer.clone();
    altered.thinking = vec![ThinkingBlock::Thinking {
        thinking: format!("{thinking} (edited)"),
        signature: signature.clone(),
    }];
    let error = h
        .provider
        .complete("claude-x", &continued(&altered))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::BadRequest { message, .. } if message.contains("Invalid `signature`")),
        "{error:?}"
    );
}

#[tokio::test]
async fn redacted_thinking_goes_back_as_sent() {
    let h = harness(Protocol::Anthropic, "anthropic").await;
    let answer = ChatResponse {
        thinking: vec![ThinkingBlock::RedactedThinking {
            data: "EmwKAhgBEgy3va3pzix/LafPsn4a".into(),
        }],
        ..h.provider
            .complete("claude-x", &ChatRequest::from_prompt("hi"))
            .await
            .unwrap()
    };
    h.provider
        .complete("claude-x", &continued(&answer))
        .await
        .unwrap();
    assert_eq!(
        h.mock.requests()[1].body["messages"][1]["content"][0],
        json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"})
    );
}

#[tokio::test]
async fn other_providers_leave_thinking_out() {
    let answer = ChatResponse {
        model: "m".into(),
        text: String::new(),
        thinking: vec![ThinkingBlock::Thinking {
            thinking: "private".into(),
            signature: "sig".into(),
        }],
        tool_calls: Vec::new(),
        finish_reason: FinishReason::Stop,
        usage: Usage::default(),
    };
    for (protocol, id) in [
        (Protocol::OpenAi, "openai"),
        (Protocol::OpenAiCompatible, "deepseek"),
        (Protocol::Gemini, "google"),
    ] {
        let h = harness(protocol, id).await;
        h.provider
            .complete("model-x", &continued(&answer))
            .await
            .unwrap();
        let body = h.mock.requests()[0].body.to_string();
        assert!(!body.contains("private"), "{id}: {body}");
        assert!(!body.contains("budget_tokens"), "{id}: {body}");
        assert!(body.contains("Let me check."), "{id}: {body}");
    }
}
