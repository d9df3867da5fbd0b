//! A request's reasoning effort in each API's own terms: OpenAI's `reasoning_effort`,
//! Anthropic's extended thinking (from `medium` up, and only where the API allows it) or
//! adaptive thinking (Claude 4.6 and later), Gemini's `thinkingConfig.thinkingBudget`.

use serde_json::{Value, json};
use triage_providers::Protocol;
use triage_types::{
    ChatRequest, Message, ReasoningControl, ReasoningEffort, Role, ToolCall, ToolChoice,
};

use crate::support::harness;

fn at(effort: ReasoningEffort) -> ChatRequest {
    ChatRequest {
        reasoning_effort: Some(effort),
        ..ChatRequest::from_prompt("Plan a three-day trip.")
    }
}

/// `at(effort)` for a model that thinks adaptively.
fn adaptive(effort: ReasoningEffort) -> ChatRequest {
    ChatRequest {
        reasoning_control: Some(ReasoningControl::AdaptiveThinking),
        ..at(effort)
    }
}

/// A client's own `thinking` at `effort` (as read from it), to a model of `control`.
fn client_thinking(
    thinking: Value,
    effort: ReasoningEffort,
    control: ReasoningControl,
) -> ChatRequest {
    ChatRequest {
        thinking: Some(thinking),
        reasoning_control: Some(control),
        ..at(effort)
    }
}

/// What each provider's request body says for one request: (protocol, request, the fields
/// looked at, what they must hold).
#[tokio::test]
async fn each_wire_format_carries_the_effort_its_own_way() {
    let mut forced = at(ReasoningEffort::High);
    forced.tool_choice = Some(ToolChoice::Required);
    let mut warm = at(ReasoningEffort::High);
    warm.temperature = Some(0.2);
    let mut capped = at(ReasoningEffort::Medium);
    capped.max_output_tokens = Some(2_000);
    let mut roomy = at(ReasoningEffort::Medium);
    roomy.max_output_tokens = Some(8_000);
    let mut mid_tool_turn = at(ReasoningEffort::High);
    mid_tool_turn.messages.push(Message {
        role: Role::Assistant,
        tool_calls: vec![ToolCall {
            id: "toolu_1".into(),
            name: "search".into(),
            arguments: "{}".into(),
        }],
        ..Message::default()
    });
    // The same tool turn, answered, then a new question: that loop is over.
    let mut after_tool_loop = mid_tool_turn.clone();
    after_tool_loop.messages.push(Message {
        role: Role::Tool,
        content: vec![triage_types::ContentPart::Text {
            text: "found".into(),
        }],
        tool_call_id: Some("toolu_1".into()),
        ..Message::default()
    });
    after_tool_loop.messages.push(Message {
        role: Role::Assistant,
        content: vec![triage_types::ContentPart::Text {
            text: "Here it is.".into(),
        }],
        ..Message::default()
    });
    after_tool_loop.messages.push(Message {
        role: Role::User,
        content: vec![triage_types::ContentPart::Text {
            text: "And the day after?".into(),
        }],
        ..Message::default()
    });
    let cases: Vec<(&str, Protocol, ChatRequest, &str, Value)> = vec![
        (
            "openai low",
            Protocol::OpenAi,
            at(ReasoningEffort::Low),
            "/reasoning_effort",
            json!("low"),
        ),
        (
            "openai high",
            Protocol::OpenAi,
            at(ReasoningEffort::High),
            "/reasoning_effort",
            json!("high"),
        ),
        (
            "openai unset",
            Protocol::OpenAi,
            ChatRequest::from_prompt("hi"),
            "/reasoning_effort",
            Value::Null,
        ),
        (
            "anthropic low: no thinking",
            Protocol::Anthropic,
            at(ReasoningEffort::Low),
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic medium: a 4096 budget",
            Protocol::Anthropic,
            at(ReasoningEffort::Medium),
            "/thinking",
            json!({"type": "enabled", "budget_tokens": 4096}),
        ),
        (
            "anthropic medium: max_tokens holds budget and answer",
            Protocol::Anthropic,
            at(ReasoningEffort::Medium),
            "/max_tokens",
            json!(4096 + 4096),
        ),
        (
            "anthropic under a caller's roomy cap",
            Protocol::Anthropic,
            roomy,
            "/max_tokens",
            json!(8000),
        ),
        (
            "anthropic cap too small for the budget",
            Protocol::Anthropic,
            capped.clone(),
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic forced tool choice",
            Protocol::Anthropic,
            forced,
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic temperature",
            Protocol::Anthropic,
            warm,
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic tool turn begun without thinking",
            Protocol::Anthropic,
            mid_tool_turn,
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic new question after a tool loop without thinking",
            Protocol::Anthropic,
            after_tool_loop,
            "/thinking/budget_tokens",
            json!(16_384),
        ),
        (
            "anthropic adaptive medium",
            Protocol::Anthropic,
            adaptive(ReasoningEffort::Medium),
            "",
            json!({"type": "adaptive"}),
        ),
        (
            "anthropic adaptive xhigh: effort max",
            Protocol::Anthropic,
            adaptive(ReasoningEffort::Xhigh),
            "/output_config",
            json!({"effort": "max"}),
        ),
        (
            "anthropic adaptive high: max_tokens holds the nominal budget and answer",
            Protocol::Anthropic,
            adaptive(ReasoningEffort::High),
            "/max_tokens",
            json!(16_384 + 4096),
        ),
        (
            "anthropic adaptive none: no thinking",
            Protocol::Anthropic,
            adaptive(ReasoningEffort::None),
            "/thinking",
            Value::Null,
        ),
        (
            "anthropic adaptive with a temperature: no thinking",
            Protocol::Anthropic,
            ChatRequest {
                temperature: Some(0.5),
                ..adaptive(ReasoningEffort::High)
            },
            "/output_config",
            Value::Null,
        ),
        (
            "a client's adaptive thinking to an adaptive model: as sent, with its effort",
            Protocol::Anthropic,
            client_thinking(
                json!({"type": "adaptive"}),
                ReasoningEffort::Low,
                ReasoningControl::AdaptiveThinking,
            ),
            "/output_config",
            json!({"effort": "low"}),
        ),
        (
            "a client's adaptive thinking to a budget model: a budget for its effort",
            Protocol::Anthropic,
            client_thinking(
                json!({"type": "adaptive"}),
                ReasoningEffort::High,
                ReasoningControl::ExtendedThinking,
            ),
            "/thinking",
            json!({"type": "enabled", "budget_tokens": 16_384}),
        ),
        (
            "a client's budget thinking to an adaptive model: adaptive at its effort",
            Protocol::Anthropic,
            client_thinking(
                json!({"type": "enabled", "budget_tokens": 5000}),
                ReasoningEffort::Medium,
                ReasoningControl::AdaptiveThinking,
            ),
            "",
            json!({"type": "adaptive"}),
        ),
        (
            "a client's budget thinking, control unknown: as sent",
            Protocol::Anthropic,
            ChatRequest {
                thinking: Some(json!({"type": "enabled", "budget_tokens": 5000})),
                max_output_tokens: Some(8_000),
                ..at(ReasoningEffort::Medium)
            },
            "/thinking",
            json!({"type": "enabled", "budget_tokens": 5000}),
        ),
        (
            "gemini none: a budget of 0",
            Protocol::Gemini,
            at(ReasoningEffort::None),
            "/generationConfig/thinkingConfig",
            json!({"thinkingBudget": 0}),
        ),
        (
            "gemini low",
            Protocol::Gemini,
            at(ReasoningEffort::Low),
            "/generationConfig/thinkingConfig",
            json!({"thinkingBudget": 1024}),
        ),
        (
            "gemini xhigh, clamped to the range every model takes",
            Protocol::Gemini,
            at(ReasoningEffort::Xhigh),
            "/generationConfig/thinkingConfig",
            json!({"thinkingBudget": 24_576}),
        ),
        (
            "gemini under a cap: at most half of it",
            Protocol::Gemini,
            capped,
            "/generationConfig/thinkingConfig",
            json!({"thinkingBudget": 1_000}),
        ),
        (
            "gemini under a cap too small for a budget",
            Protocol::Gemini,
            ChatRequest {
                max_output_tokens: Some(600),
                ..at(ReasoningEffort::High)
            },
            "/generationConfig/thinkingConfig",
            Value::Null,
        ),
        (
            "gemini unset",
            Protocol::Gemini,
            ChatRequest::from_prompt("hi"),
            "/generationConfig/thinkingConfig",
            Value::Null,
        ),
    ];
    for (name, protocol, request, pointer, expected) in cases {
        let id = match protocol {
            Protocol::Anthropic => "anthropic",
            Protocol::Gemini => "google",
            _ => "openai",
        };
        // An Anthropic model that takes both forms of thinking, so the mock refuses neither.
        let model = match protocol {
            Protocol::Anthropic => "claude-opus-4-6",
            _ => "model-x",
        };
        let h = harness(protocol, id).await;
        h.provider.complete(model, &request).await.unwrap();
        let body = &h.mock.requests()[0].body;
        // An empty pointer looks at `thinking` and `output_config` together.
        let found = if pointer.is_empty() {
            body["thinking"].clone()
        } else {
            body.pointer(pointer).cloned().unwrap_or(Value::Null)
        };
        assert_eq!(found, expected, "{name}: {body}");
        if pointer.is_empty() {
            assert!(
                body["output_config"]["effort"].is_string(),
                "{name}: {body}"
            );
        }
    }
}
