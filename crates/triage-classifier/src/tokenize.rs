//! Turning a prompt into the token ids the encoder reads, keeping both ends of long prompts.

use std::borrow::Cow;

use tokenizers::{Model, ModelWrapper, NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

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
    /// Whether plain ASCII text may skip the library's normalizer and pre-tokenizer (see
    /// [`PromptTokenizer::plain_ascii_tokens`]): true for a lower-casing BERT pipeline whose
    /// added tokens all start with `[`.
    ascii_fast_path: bool,
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
        let ascii_fast_path = is_lowercasing_bert(&tokenizer);
        Ok(Self {
            tokenizer,
            cls_id,
            sep_id,
            max_tokens: config.max_tokens,
            head_tokens: config.head_tokens,
            ascii_fast_path,
        })
    }

    /// Token ids for `text`: `[CLS]`, the prompt's tokens (its first `head_tokens` and its last
    /// ones when it is too long), `[SEP]`. Never longer than `max_tokens`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let text = clip_text(text);
        let plain = match self.ascii_fast_path {
            true => self.plain_ascii_tokens(&text).transpose()?,
            false => None,
        };
        let encoding;
        let tokens = match &plain {
            Some(tokens) => tokens.as_slice(),
            None => {
                encoding = self
                    .tokenizer
                    .encode_fast(text.as_ref(), false)
                    .map_err(|error| error.to_string())?;
                encoding.get_ids()
            }
        };
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

    /// The ids the library would give `text` when it is printable ASCII (tabs and line breaks
    /// allowed) without `[`, by the same steps minus their bookkeeping: lower-case, split at
    /// whitespace, every punctuation character a word of its own, then the library's WordPiece
    /// model on each word. `None` for other text. The library's normalizer and pre-tokenizer
    /// track every character's alignment, which made tokenizing a quarter of a short prompt's
    /// classification; a test checks both ways agree.
    fn plain_ascii_tokens(&self, text: &str) -> Option<Result<Vec<u32>, String>> {
        let plain = text
            .bytes()
            .all(|byte| matches!(byte, b' '..=b'~' | b'\t' | b'\n' | b'\r') && byte != b'[');
        if !plain {
            return None;
        }
        let model = self.tokenizer.get_model();
        let mut ids = Vec::with_capacity(text.len() / 4 + 1);
        let mut word = String::new();
        let mut flush = |word: &mut String| -> Result<(), String> {
            if !word.is_empty() {
                let tokens = model.tokenize(word).map_err(|error| error.to_string())?;
                ids.extend(tokens.iter().map(|token| token.id));
                word.clear();
            }
            Ok(())
        };
        let words = text.bytes().try_for_each(|byte| {
            if byte.is_ascii_whitespace() {
                flush(&mut word)
            } else if byte.is_ascii_punctuation() {
                flush(&mut word)?;
                word.push(char::from(byte));
                flush(&mut word)
            } else {
                word.push(char::from(byte.to_ascii_lowercase()));
                Ok(())
            }
        });
        Some(words.and_then(|()| flush(&mut word)).map(|()| ids))
    }
}

/// Whether `tokenizer` is a lower-casing BERT normalizer, BERT pre-tokenizer and WordPiece
/// model whose added tokens all start with `[` (so text without `[` cannot contain one).
fn is_lowercasing_bert(tokenizer: &Tokenizer) -> bool {
    let normalizer = matches!(
        tokenizer.get_normalizer(),
        Some(NormalizerWrapper::BertNormalizer(bert)) if bert.lowercase
    );
    let pre_tokenizer = matches!(
        tokenizer.get_pre_tokenizer(),
        Some(PreTokenizerWrapper::BertPreTokenizer(_))
    );
    let model = matches!(tokenizer.get_model(), ModelWrapper::WordPiece(_));
    let added = tokenizer
        .get_added_tokens_decoder()
        .values()
        .all(|token| token.content.starts_with('['));
    normalizer && pre_tokenizer && model && added
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

    /// The shipped tokenizer, behind the fast path.
    fn shipped() -> PromptTokenizer {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/default/tokenizer.json"
        );
        let tokenizer = Tokenizer::from_file(path).expect("models/default/tokenizer.json");
        let config = ModelConfig {
            vocab_size: tokenizer.get_vocab_size(true),
            hidden_size: 8,
            num_layers: 1,
            num_heads: 1,
            intermediate_size: 8,
            max_tokens: 128,
            head_tokens: 32,
            layer_norm_eps: 1e-12,
            num_labels: 6,
            ngram_buckets: 0,
        };
        PromptTokenizer::new(tokenizer, &config).expect("a valid tokenizer")
    }

    #[test]
    fn the_ascii_fast_path_gives_the_librarys_ids() {
        let tokenizer = shipped();
        assert!(
            tokenizer.ascii_fast_path,
            "the shipped tokenizer takes the fast path"
        );
        let library = |text: &str| {
            let encoding = tokenizer.tokenizer.encode_fast(text, false).unwrap();
            encoding.get_ids().to_vec()
        };
        // Hand-picked texts, then seeded random ones from an alphabet heavy in what trips
        // tokenizers: case, digits, every punctuation character, runs of whitespace, words
        // longer than WordPiece's 100-character limit, and words no piece covers.
        let mut texts: Vec<String> = [
            "",
            "   ",
            "What is the capital of Australia?",
            "Extract every date from: the meeting moved from 3 May to 9 June.",
            "don't re-use x.y_z (a+b)*c >= 10% of $5,000 -- ok?!",
            "tab\tseparated\nlines\r\nand  double  spaces",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "qqqqzzzxxj xkcdqwv",
            "MiXeD CaSe WoRdS AND UPPER",
            "a]b}c{d|e~f^g`h_i\\j@k",
        ]
        .iter()
        .map(|text| (*text).to_owned())
        .collect();
        texts.push("x".repeat(101));
        texts.push(format!("{} end", "ab".repeat(50)));
        let alphabet: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain(" \t\n\r".chars())
            .chain("!\"#$%&'()*+,-./:;<=>?@\\]^_`{|}~".chars())
            .chain("eeeaaaiiooo     ".chars())
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..3000 {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let len = (next() % 160) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            texts.push(text);
        }
        for text in &texts {
            let fast = tokenizer
                .plain_ascii_tokens(text)
                .expect("plain ASCII")
                .unwrap();
            assert_eq!(fast, library(text), "{text:?}");
        }
        // Anything else goes to the library.
        for text in ["[CLS] hi", "café", "日本語", "null\0byte", "bell\u{7}"] {
            assert!(tokenizer.plain_ascii_tokens(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn clip_text_keeps_short_texts_and_cuts_long_ones_at_char_boundaries() {
        assert!(matches!(clip_text("short"), Cow::Borrowed("short")));
        let long = "é".repeat(10_000);
        let clipped = clip_text(&long);
        assert!(clipped.len() <= HEAD_BYTES + TAIL_BYTES + 1);
        assert!(clipped.starts_with('é') && clipped.ends_with('é'));
    }
}
