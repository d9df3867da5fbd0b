//! An optional prompt cache, as the providers run theirs, so demos and tests see cached-token
//! usage move with what is sent: a request's usage counts its prompt (about four characters a
//! token), and a prefix the same model saw within five minutes is read from the cache.
//!
//! The prefix is each API's: OpenAI and Gemini cache implicitly, the prompt before its last
//! message (tools and system included) once it is 1,024 tokens or more, counted in steps of
//! 128; Anthropic caches up to the last block marked `cache_control` (tools, then system, then
//! messages, its own order), writing it on a miss and reading it on a hit.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scenario::MockUsage;
use crate::wire::Wire;

/// How long a cached prefix stays warm (the providers' default TTL).
const TTL: Duration = Duration::from_secs(5 * 60);

/// The shortest prefix a provider caches, in tokens.
const MIN_PREFIX_TOKENS: u64 = 1_024;

/// The prefixes seen, by model and prefix hash, with when each goes cold.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    warm: HashMap<(String, u64), Instant>,
}

impl PromptCache {
    /// The usage of a request to `model` with `body`: its prompt tokens, of which read from or
    /// written to the cache, and `output` answer tokens.
    pub(crate) fn usage(
        &mut self,
        wire: Wire,
        model: &str,
        body: &Value,
        output: u64,
    ) -> MockUsage {
        let input = tokens(&body_text(wire, body)).max(1);
        let mut usage = MockUsage {
            input,
            output,
            cached_read: 0,
            cache_write: 0,
            reasoning: 0,
        };
        let Some(prefix) = cacheable_prefix(wire, body) else {
            return usage;
        };
        let prefix_tokens = tokens(&prefix).min(input);
        if prefix_tokens < MIN_PREFIX_TOKENS {
            return usage;
        }
        let mut hasher = DefaultHasher::new();
        prefix.hash(&mut hasher);
        let key = (model.to_owned(), hasher.finish());
        let now = Instant::now();
        self.warm.retain(|_, cold_at| *cold_at > now);
        let hit = self.warm.insert(key, now + TTL).is_some();
        match (wire, hit) {
            (Wire::Anthropic, true) => usage.cached_read = prefix_tokens,
            (Wire::Anthropic, false) => usage.cache_write = prefix_tokens,
            (Wire::OpenAi | Wire::Gemini, true) => {
                usage.cached_read = prefix_tokens / 128 * 128;
            }
            (Wire::OpenAi | Wire::Gemini, false) => {}
        }
        usage
    }
}

/// About four characters a token.
fn tokens(text: &str) -> u64 {
    u64::try_from(text.chars().count() / 4).unwrap_or(u64::MAX)
}

/// The prompt's text as the mock counts it: the whole body's JSON (roles and fields included).
fn body_text(wire: Wire, body: &Value) -> String {
    let fields: &[&str] = match wire {
        Wire::OpenAi => &["tools", "messages"],
        Wire::Anthropic => &["tools", "system", "messages"],
        Wire::Gemini => &["tools", "systemInstruction", "contents"],
    };
    fields
        .iter()
        .filter_map(|field| body.get(*field))
        .map(Value::to_string)
        .collect()
}

/// The part of the prompt this API would cache, if any.
fn cacheable_prefix(wire: Wire, body: &Value) -> Option<String> {
    match wire {
        Wire::OpenAi | Wire::Gemini => {
            let (before, turns) = match wire {
                Wire::OpenAi => (vec!["tools"], "messages"),
                _ => (vec!["tools", "systemInstruction"], "contents"),
            };
            let turns = body.get(turns)?.as_array()?;
            let (_, earlier) = turns.split_last()?;
            let mut prefix: String = before
                .iter()
                .filter_map(|field| body.get(*field))
                .map(Value::to_string)
                .collect();
            for turn in earlier {
                prefix.push_str(&turn.to_string());
            }
            Some(prefix)
        }
        Wire::Anthropic => anthropic_prefix(body),
    }
}

/// Anthropic's cached prefix: everything up to the last block with `cache_control`.
fn anthropic_prefix(body: &Value) -> Option<String> {
    let mut blocks: Vec<&Value> = Vec::new();
    blocks.extend(body["tools"].as_array().into_iter().flatten());
    if let Some(system) = body["system"].as_array() {
        blocks.extend(system);
    } else if body["system"].is_string() {
        blocks.push(&body["system"]);
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        match message["content"].as_array() {
            Some(content) => blocks.extend(content),
            None => blocks.push(&message["content"]),
        }
    }
    let last_mark = blocks
        .iter()
        .rposition(|block| block.get("cache_control").is_some())?;
    Some(
        blocks[..=last_mark]
            .iter()
            .map(|block| block.to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn implicit_and_marked_prefixes_hit_on_the_second_request() {
        let long = "policy ".repeat(1_000);
        let openai = json!({"messages": [
            {"role": "system", "content": long},
            {"role": "user", "content": "first question"}
        ]});
        let mut cache = PromptCache::default();
        let first = cache.usage(Wire::OpenAi, "m", &openai, 5);
        assert_eq!((first.cached_read, first.cache_write), (0, 0));
        let second = cache.usage(Wire::OpenAi, "m", &openai, 5);
        assert!(
            second.cached_read >= 1_024 && second.cached_read % 128 == 0,
            "{second:?}"
        );
        // Another model has its own cache.
        assert_eq!(
            cache.usage(Wire::OpenAi, "other", &openai, 5).cached_read,
            0
        );

        let anthropic = json!({
            "system": [{"type": "text", "text": long, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "first question"}]
        });
        let first = cache.usage(Wire::Anthropic, "c", &anthropic, 5);
        assert!(
            first.cache_write >= 1_024 && first.cached_read == 0,
            "{first:?}"
        );
        let second = cache.usage(Wire::Anthropic, "c", &anthropic, 5);
        assert_eq!(second.cached_read, first.cache_write);
        // No breakpoint, no cache.
        let unmarked = json!({"system": long, "messages": [{"role": "user", "content": "q"}]});
        cache.usage(Wire::Anthropic, "c", &unmarked, 5);
        assert_eq!(
            cache.usage(Wire::Anthropic, "c", &unmarked, 5).cached_read,
            0
        );
    }
}
