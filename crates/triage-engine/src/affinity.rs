//! Cache affinity: a request that continues a long prompt the gateway has just sent (the same
//! system prompt and tools, the same conversation so far) starts on the model that answered
//! it, while that provider's prompt cache is likely warm and unless the class changed, so
//! routing does not throw the cache away. In-process: each replica keeps its own.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use triage_types::{ChatRequest, ContentPart, RouteClass};

/// How long a prompt is taken to stay cached after its answer: the shortest common provider
/// cache lifetime (Anthropic's default breakpoint, OpenAI's automatic cache, 5 minutes).
pub(crate) const WARM_FOR: Duration = Duration::from_secs(5 * 60);

/// A prefix shorter than this (about 1,024 tokens, the least that OpenAI and Anthropic cache)
/// is not worth keeping a model for.
const MIN_PREFIX_CHARS: usize = 4_096;

/// The most prompts remembered; beyond it the expired ones go, then the oldest half.
const CAPACITY: usize = 16_384;

/// The prompts answered lately, by hash, with the model that answered and the class.
#[derive(Debug, Default)]
pub(crate) struct Affinity {
    entries: Mutex<HashMap<u64, Warm>>,
}

#[derive(Debug, Clone)]
struct Warm {
    model: String,
    class: RouteClass,
    until: Instant,
}

/// A request's prompt as hashes: of the whole prompt (what a later request may continue),
/// and of every long-enough prefix ending at a message boundary, longest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PromptKeys {
    pub(crate) whole: Option<u64>,
    prefixes: Vec<u64>,
}

impl PromptKeys {
    /// Hashes the tools and then each message in turn; only prefixes of at least
    /// [`MIN_PREFIX_CHARS`] count.
    pub(crate) fn of(request: &ChatRequest) -> PromptKeys {
        let mut hasher = DefaultHasher::new();
        let mut chars = 0;
        for tool in &request.tools {
            tool.name.hash(&mut hasher);
            tool.description.hash(&mut hasher);
            let schema = tool.parameters.to_string();
            chars += schema.len();
            schema.hash(&mut hasher);
        }
        let mut prefixes = Vec::with_capacity(request.messages.len());
        for message in &request.messages {
            message.role.hash(&mut hasher);
            for part in &message.content {
                match part {
                    ContentPart::Text { text } => {
                        chars += text.len();
                        text.hash(&mut hasher);
                    }
                    ContentPart::Image { url } => {
                        chars += url.len();
                        url.hash(&mut hasher);
                    }
                    ContentPart::Thinking { block } => block.hash(&mut hasher),
                }
            }
            for call in &message.tool_calls {
                chars += call.arguments.len();
                (&call.id, &call.name, &call.arguments).hash(&mut hasher);
            }
            message.tool_call_id.hash(&mut hasher);
            if chars >= MIN_PREFIX_CHARS {
                prefixes.push(hasher.clone().finish());
            }
        }
        let whole = (chars >= MIN_PREFIX_CHARS).then(|| hasher.finish());
        prefixes.reverse();
        PromptKeys { whole, prefixes }
    }
}

impl Affinity {
    /// The model that answered the longest prompt this request continues, if it is still
    /// warm and was answered for the same class.
    pub(crate) fn warm_model(&self, keys: &PromptKeys, class: RouteClass) -> Option<String> {
        if keys.prefixes.is_empty() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let now = Instant::now();
        keys.prefixes.iter().find_map(|key| {
            let warm = entries.get(key)?;
            (warm.until > now && warm.class == class).then(|| warm.model.clone())
        })
    }

    /// Notes that `model` answered the prompt behind `keys` for `class`.
    pub(crate) fn remember(&self, keys: &PromptKeys, model: &str, class: RouteClass) {
        let Some(whole) = keys.whole else {
            return;
        };
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= CAPACITY {
            entries.retain(|_, warm| warm.until > now);
            if entries.len() >= CAPACITY {
                let mut ages: Vec<Instant> = entries.values().map(|warm| warm.until).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                entries.retain(|_, warm| warm.until > cut);
            }
        }
        entries.insert(
            whole,
            Warm {
                model: model.to_owned(),
                class,
                until: now + WARM_FOR,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triage_types::{Message, Role};

    fn conversation(turns: &[&str]) -> ChatRequest {
        let mut request = ChatRequest::default();
        request
            .messages
            .push(Message::text(Role::System, "policy ".repeat(700)));
        for (index, turn) in turns.iter().enumerate() {
            let role = if index % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            request.messages.push(Message::text(role, *turn));
        }
        request
    }

    #[test]
    fn a_continued_conversation_finds_the_model_of_its_class() {
        let affinity = Affinity::default();
        let first = PromptKeys::of(&conversation(&["What is our refund window?"]));
        affinity.remember(&first, "claude-haiku-4-5", RouteClass::Faq);
        let next = PromptKeys::of(&conversation(&[
            "What is our refund window?",
            "30 days.",
            "And for sale items?",
        ]));
        assert_eq!(
            affinity.warm_model(&next, RouteClass::Faq).as_deref(),
            Some("claude-haiku-4-5")
        );
        // Another class: routing decides afresh.
        assert_eq!(affinity.warm_model(&next, RouteClass::Reason), None);
        // Another conversation with the same system prompt shares only the system prompt,
        // which nobody answered on its own.
        let other = PromptKeys::of(&conversation(&["Where is my parcel?"]));
        assert_eq!(affinity.warm_model(&other, RouteClass::Faq), None);
    }

    #[test]
    fn short_prompts_are_not_kept() {
        let keys = PromptKeys::of(&ChatRequest::from_prompt("hi"));
        assert_eq!(keys, PromptKeys::default());
        let affinity = Affinity::default();
        affinity.remember(&keys, "gpt-4o-mini", RouteClass::Faq);
        assert!(affinity.entries.lock().unwrap().is_empty());
    }
}
