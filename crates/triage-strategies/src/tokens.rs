//! Token estimates for prompts: OpenAI's real tokenizers (tiktoken) for OpenAI models, a
//! documented approximation for everyone else.
//!
//! - OpenAI models of the GPT-4o generation and later (`gpt-4o*`, `gpt-4.1*`, `gpt-5*`,
//!   `o1*`, `o3*`, `o4*`, `chatgpt-*`) count with `o200k_base`; older ones (`gpt-4`,
//!   `gpt-3.5`) with `cl100k_base`.
//! - Other providers publish no offline tokenizer we can ship, so their count is the
//!   `o200k_base` count times a per-provider factor: 1.2 for Anthropic (its tokenizer yields
//!   noticeably more tokens for the same English text), 1.0 otherwise.
//! - If a tokenizer cannot be built, the estimate falls back to one token per four characters,
//!   rounded up.
//!
//! The BPE tables are built once per process on first use (a `LazyLock`), which costs roughly
//! a tenth of a second of start-up time; every later count is fast. Texts longer than
//! [`EXACT_LIMIT_CHARS`] are counted exactly up to that limit and extrapolated by length, and
//! counting works on chunks of [`CHUNK_CHARS`] characters, so that a megabyte of text without
//! spaces cannot make byte-pair merging quadratic.

use std::sync::LazyLock;

use tiktoken_rs::CoreBPE;

/// Characters counted exactly; beyond this the count is extrapolated.
pub const EXACT_LIMIT_CHARS: usize = 32 * 1024;

/// Characters per chunk handed to the tokenizer.
pub const CHUNK_CHARS: usize = 1024;

/// Characters per token in the last-resort approximation.
pub const CHARS_PER_TOKEN: usize = 4;

static O200K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::o200k_base().ok());
static CL100K: LazyLock<Option<CoreBPE>> = LazyLock::new(|| tiktoken_rs::cl100k_base().ok());

/// How a model's tokens are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenCounter {
    /// OpenAI's `o200k_base` (GPT-4o and later).
    O200k,
    /// OpenAI's `cl100k_base` (GPT-4, GPT-3.5).
    Cl100k,
    /// `o200k_base` times a factor, in percent (120 = 1.2×), for providers without a public
    /// offline tokenizer.
    Scaled {
        /// The factor in percent.
        percent: u32,
    },
}

impl TokenCounter {
    /// The counter for a model, from its provider and its id or API name.
    pub fn for_model(provider: &str, model_name: &str) -> Self {
        let name = model_name.to_ascii_lowercase();
        match provider {
            "openai" | "azure" => {
                let legacy = name.starts_with("gpt-4")
                    && !name.starts_with("gpt-4o")
                    && !name.starts_with("gpt-4.");
                if legacy || name.starts_with("gpt-3.5") {
                    TokenCounter::Cl100k
                } else {
                    TokenCounter::O200k
                }
            }
            "anthropic" => TokenCounter::Scaled { percent: 120 },
            _ => TokenCounter::Scaled { percent: 100 },
        }
    }

    /// A short description for `--explain`.
    pub fn describe(self) -> String {
        match self {
            TokenCounter::O200k => "tiktoken o200k_base".to_owned(),
            TokenCounter::Cl100k => "tiktoken cl100k_base".to_owned(),
            TokenCounter::Scaled { percent } => {
                format!("tiktoken o200k_base × {}", f64::from(percent) / 100.0)
            }
        }
    }

    /// The estimated token count of `text`.
    pub fn count(self, text: &str) -> u64 {
        self.scale(self.encoding().count(text))
    }

    /// The tiktoken encoding it counts with.
    pub fn encoding(self) -> Encoding {
        match self {
            TokenCounter::Cl100k => Encoding::Cl100k,
            TokenCounter::O200k | TokenCounter::Scaled { .. } => Encoding::O200k,
        }
    }

    /// Its count for a text that [`TokenCounter::encoding`] counts as `tokens`.
    pub fn scale(self, tokens: u64) -> u64 {
        match self {
            TokenCounter::O200k | TokenCounter::Cl100k => tokens,
            TokenCounter::Scaled { percent } => (tokens * u64::from(percent)).div_ceil(100),
        }
    }
}

/// A tiktoken encoding, which several [`TokenCounter`]s may share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `o200k_base`.
    O200k,
    /// `cl100k_base`.
    Cl100k,
}

impl Encoding {
    /// Tokens of `text` under this encoding.
    pub fn count(self, text: &str) -> u64 {
        match self {
            Encoding::O200k => count_with(O200K.as_ref(), text),
            Encoding::Cl100k => count_with(CL100K.as_ref(), text),
        }
    }
}

/// Tokens of `text` under `o200k_base`: the generic estimate used by the length strategy.
pub fn count_tokens(text: &str) -> u64 {
    TokenCounter::O200k.count(text)
}

fn count_with(bpe: Option<&CoreBPE>, text: &str) -> u64 {
    let Some(bpe) = bpe else {
        return approximate(text);
    };
    let total_chars = text.chars().count();
    let mut counted_chars = 0_usize;
    let mut tokens = 0_u64;
    let mut rest = text;
    while !rest.is_empty() && counted_chars < EXACT_LIMIT_CHARS {
        let end = chunk_end(rest, CHUNK_CHARS);
        let (chunk, tail) = rest.split_at(end);
        tokens += bpe.encode_ordinary(chunk).len() as u64;
        counted_chars += chunk.chars().count();
        rest = tail;
    }
    if rest.is_empty() || counted_chars == 0 {
        return tokens;
    }
    // Extrapolate the rest at the rate measured so far.
    let rate = tokens as f64 / counted_chars as f64;
    tokens + (rate * (total_chars - counted_chars) as f64).ceil() as u64
}

/// The byte index ending a chunk of at most `max_chars` characters, preferring to cut after
/// whitespace so that words stay whole.
fn chunk_end(text: &str, max_chars: usize) -> usize {
    let Some((hard_end, _)) = text.char_indices().nth(max_chars) else {
        return text.len();
    };
    let window = &text[..hard_end];
    match window.rfind(char::is_whitespace) {
        Some(at) if at > 0 => at,
        _ => hard_end,
    }
}

/// One token per [`CHARS_PER_TOKEN`] characters, rounded up.
pub fn approximate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(CHARS_PER_TOKEN as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_model_family() {
        assert_eq!(
            TokenCounter::for_model("openai", "gpt-4o-mini"),
            TokenCounter::O200k
        );
        assert_eq!(
            TokenCounter::for_model("openai", "gpt-4.1-nano"),
            TokenCounter::O200k
        );
        assert_eq!(
            TokenCounter::for_model("openai", "o3-mini"),
            TokenCounter::O200k
        );
        assert_eq!(
            TokenCounter::for_model("openai", "gpt-4-turbo"),
            TokenCounter::Cl100k
        );
        assert_eq!(
            TokenCounter::for_model("openai", "gpt-3.5-turbo"),
            TokenCounter::Cl100k
        );
        assert_eq!(
            TokenCounter::for_model("anthropic", "claude-sonnet-4-5"),
            TokenCounter::Scaled { percent: 120 }
        );
        assert_eq!(
            TokenCounter::for_model("google", "gemini-2.5-flash"),
            TokenCounter::Scaled { percent: 100 }
        );
    }

    #[test]
    fn counts_real_tokens() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("hello world"), 2);
        assert!(TokenCounter::Scaled { percent: 120 }.count("hello world") >= 3);
        assert_eq!(approximate("abcdefghi"), 3);
    }

    #[test]
    fn huge_texts_without_spaces_are_counted_quickly() {
        let text = "a".repeat(1_000_000);
        let started = std::time::Instant::now();
        let tokens = count_tokens(&text);
        assert!(tokens > 10_000, "{tokens}");
        assert!(started.elapsed().as_secs() < 20);
        let spaced = "word ".repeat(100_000);
        let tokens = count_tokens(&spaced);
        assert!((90_000..=110_000).contains(&tokens), "{tokens}");
    }
}
