//! Turning a prompt into the token ids the encoder reads, keeping both ends of long prompts.

use std::borrow::Cow;

use tokenizers::Tokenizer;

use crate::ModelConfig;

/// Bytes kept from the start of a long prompt before tokenizing: eight for each of the shipped
/// model's 32 head tokens (ordinary English takes four or five a token, Chinese three), so
/// clipping rarely changes the result (3 of the 3,277 prompts over 1 KB in the shared train,
/// dev and unlabelled sets read differently than unclipped) and a 1 MB prompt costs no more
/// than a 1 KB one.
const HEAD_BYTES: usize = 256;
/// Bytes kept from the end of a long prompt before tokenizing: eight for each of its 94 tail
/// tokens.
const TAIL_BYTES: usize = 768;

/// A `tokenizers` WordPiece tokenizer plus the model's truncation rule.
#[derive(Debug, Clone)]
pub struct PromptTokenizer {
    tokenizer: Tokenizer,
    cls_id: u32,
    sep_id: u32,
    max_tokens: usize,
    head_tokens: usize,
}

impl PromptTokenizer {
    /// Wraps a tokenizer for a model with `config`; it must know `[CLS]` and `[SEP]` and give no
    /// id outside the model's vocabulary.
    pub fn new(tokenizer: Tokenizer, config: &ModelConfig) -> Result<Self, String> {
        let cls_id = tokenizer
            .token_to_id("[CLS]")
            .ok_or("the vocabulary has no [CLS] token")?;
        let sep_id = tokenizer
            .token_to_id("[SEP]")
            .ok_or("the vocabulary has no [SEP] token")?;
        let vocab_size = tokenizer.get_vocab_size(true);
        if vocab_size > config.vocab_size {
            return Err(format!(
                "the tokenizer has {vocab_size} tokens but the model only {}",
                config.vocab_size
            ));
        }
        Ok(Self {
            tokenizer,
            cls_id,
            sep_id,
            max_tokens: config.max_tokens,
            head_tokens: config.head_tokens,
        })
    }

    /// Token ids for `text`: `[CLS]`, the prompt's tokens (its first `head_tokens` and its last
    /// ones when it is too long), `[SEP]`. Never longer than `max_tokens`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let text = clip_text(text);
        let encoding = self
            .tokenizer
            .encode_fast(text.as_ref(), false)
            .map_err(|error| error.to_string())?;
        let tokens = encoding.get_ids();
        let budget = self.max_tokens - 2;
        let mut ids = Vec::with_capacity(tokens.len().min(budget) + 2);
        ids.push(self.cls_id);
        if tokens.len() <= budget {
            ids.extend_from_slice(tokens);
        } else {
            let tail = budget - self.head_tokens;
            ids.extend_from_slice(&tokens[..self.head_tokens]);
            ids.extend_from_slice(&tokens[tokens.len() - tail..]);
        }
        ids.push(self.sep_id);
        Ok(ids)
    }

    /// The wrapped tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

/// Keeps the first [`HEAD_BYTES`] and the last [`TAIL_BYTES`] of a very long text (cut at
/// character boundaries, joined by a line break); shorter texts are returned as they are.
fn clip_text(text: &str) -> Cow<'_, str> {
    if text.len() <= HEAD_BYTES + TAIL_BYTES {
        return Cow::Borrowed(text);
    }
    let mut head_end = HEAD_BYTES;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    Cow::Owned(format!("{}\n{}", &text[..head_end], &text[tail_start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_text_keeps_short_texts_and_cuts_long_ones_at_char_boundaries() {
        assert!(matches!(clip_text("short"), Cow::Borrowed("short")));
        let long = "é".repeat(10_000);
        let clipped = clip_text(&long);
        assert!(clipped.len() <= HEAD_BYTES + TAIL_BYTES + 1);
        assert!(clipped.starts_with('é') && clipped.ends_with('é'));
    }
}
