//! The student's vocabulary and initial embeddings, taken from all-MiniLM-L6-v2: only the
//! WordPiece tokens the training prompts use (plus every single character, so no word becomes
//! `[UNK]` for lack of pieces), with MiniLM's 384-wide embeddings projected onto their top
//! principal directions; then the characters MiniLM lacks (Chinese, Korean, Thai, … : most of a
//! Chinese prompt is `[UNK]` to MiniLM) that the prompts use most, as new tokens that start as
//! `[UNK]` and learn their own embeddings.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};
use tokenizers::Tokenizer;

/// Special tokens, first in the compact vocabulary in this order.
const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// The compact tokenizer and the embeddings to start from.
pub(crate) struct StudentVocab {
    /// `tokenizer.json` of the compact vocabulary.
    pub(crate) tokenizer_json: String,
    /// `(vocab, hidden)` initial token embeddings: `minilm_rows` times `projection`.
    pub(crate) word_embeddings: Tensor,
    /// `(vocab, 384)` MiniLM's embeddings of the kept tokens (`[UNK]`'s for new tokens).
    pub(crate) minilm_rows: Tensor,
    /// How many tokens, at the end of the vocabulary, are new (not MiniLM's).
    pub(crate) new_tokens: usize,
    /// `(384, hidden)` projection onto the top principal directions of `minilm_rows`.
    pub(crate) projection: Tensor,
    /// `(max_tokens, hidden)` initial position embeddings (token type 0 folded in).
    pub(crate) position_embeddings: Tensor,
}

/// What the vocabulary is built from and how large it may grow.
pub(crate) struct VocabInputs<'a> {
    /// The all-MiniLM-L6-v2 directory.
    pub(crate) minilm: &'a Path,
    /// The labelled training prompts: MiniLM tokens they use this often are kept.
    pub(crate) texts: &'a [&'a str],
    /// Every prompt trained on, unlabelled ones included: where new characters are counted.
    pub(crate) all_texts: &'a [&'a str],
    pub(crate) min_count: usize,
    /// At most this many new characters, the most used first.
    pub(crate) new_token_limit: usize,
    pub(crate) hidden: usize,
    pub(crate) max_tokens: usize,
}

/// Builds the compact vocabulary from MiniLM's tokenizer and the training texts, and projects
/// MiniLM's embeddings to `hidden` dimensions.
pub(crate) fn build(inputs: &VocabInputs<'_>) -> Result<StudentVocab> {
    let VocabInputs {
        minilm,
        texts,
        min_count,
        hidden,
        max_tokens,
        ..
    } = *inputs;
    let tokenizer_path = minilm.join("tokenizer.json");
    let tokenizer_text = std::fs::read_to_string(&tokenizer_path).with_context(|| {
        format!(
            "reading {} (run `bash ../shared/tools/fetch-minilm.sh .minilm`)",
            tokenizer_path.display()
        )
    })?;
    let tokenizer = Tokenizer::from_bytes(tokenizer_text.as_bytes())
        .map_err(|error| anyhow::anyhow!("{}: {error}", tokenizer_path.display()))?;
    let original_vocab = tokenizer.get_vocab(true);
    let mut by_id: Vec<(u32, String)> = original_vocab
        .iter()
        .map(|(token, id)| (*id, token.clone()))
        .collect();
    by_id.sort();

    let mut counts = vec![0usize; by_id.len()];
    for text in texts {
        let encoding = tokenizer
            .encode_fast(*text, false)
            .map_err(|error| anyhow::anyhow!("tokenizing with MiniLM: {error}"))?;
        for id in encoding.get_ids() {
            counts[*id as usize] += 1;
        }
    }
    let mut kept: BTreeSet<u32> = BTreeSet::new();
    for (id, token) in &by_id {
        let bare = token.strip_prefix("##").unwrap_or(token);
        let single_char = bare.chars().count() == 1;
        let special = token.starts_with('[') && token.ends_with(']');
        if (counts[*id as usize] >= min_count || single_char) && !special {
            kept.insert(*id);
        }
    }
    let mut new_tokens: Vec<(String, Option<u32>)> = SPECIALS
        .iter()
        .map(|token| ((*token).to_owned(), original_vocab.get(*token).copied()))
        .collect();
    new_tokens.extend(
        kept.iter()
            .map(|id| (by_id[*id as usize].1.clone(), Some(*id))),
    );

    let added = unknown_characters(&tokenizer, inputs.all_texts, inputs.new_token_limit)?;
    let added_count = added.len();
    let unk = original_vocab.get("[UNK]").copied();
    new_tokens.extend(added.into_iter().map(|token| (token, unk)));
    eprintln!("vocabulary: {added_count} new characters MiniLM has no token for");

    let tokenizer_json = compact_tokenizer_json(&tokenizer_text, &new_tokens)?;

    let weights = candle_core::safetensors::load(minilm.join("model.safetensors"), &Device::Cpu)
        .with_context(|| format!("reading {}", minilm.join("model.safetensors").display()))?;
    let get = |name: &str| {
        weights
            .get(name)
            .cloned()
            .with_context(|| format!("MiniLM has no tensor `{name}`"))
    };
    let words = get("embeddings.word_embeddings.weight")?;
    let positions = get("embeddings.position_embeddings.weight")?;
    let token_type = get("embeddings.token_type_embeddings.weight")?.narrow(0, 0, 1)?;
    let original_ids: Vec<u32> = new_tokens.iter().map(|(_, id)| id.unwrap_or(0)).collect();
    let ids = Tensor::new(original_ids.as_slice(), &Device::Cpu)?;
    let kept_words = words.index_select(&ids, 0)?.to_dtype(DType::F32)?;
    let projection = principal_directions(&kept_words, hidden)?;
    let word_embeddings = kept_words.matmul(&projection)?;
    let positions = positions
        .narrow(0, 0, max_tokens)?
        .broadcast_add(&token_type)?;
    let position_embeddings = positions.matmul(&projection)?;
    Ok(StudentVocab {
        tokenizer_json,
        word_embeddings,
        minilm_rows: kept_words,
        new_tokens: added_count,
        projection,
        position_embeddings,
    })
}

/// The characters of words MiniLM's tokenizer turns into `[UNK]`, as WordPiece tokens (`c` at a
/// word's start, `##c` inside it), used at least twice in `texts`: the `limit` most used, most
/// used first (ties in character order).
fn unknown_characters(tokenizer: &Tokenizer, texts: &[&str], limit: usize) -> Result<Vec<String>> {
    let unk = tokenizer
        .token_to_id("[UNK]")
        .context("MiniLM has no [UNK]")?;
    let normalizer = tokenizer.get_normalizer();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for text in texts {
        // `encode` (not `encode_fast`) tracks the byte offsets of each token.
        let encoding = tokenizer
            .encode(*text, false)
            .map_err(|error| anyhow::anyhow!("tokenizing with MiniLM: {error}"))?;
        for (id, (start, end)) in encoding.get_ids().iter().zip(encoding.get_offsets()) {
            if *id != unk {
                continue;
            }
            let Some(word) = text.get(*start..*end) else {
                continue;
            };
            let word = match normalizer {
                Some(normalizer) => {
                    use tokenizers::{NormalizedString, Normalizer};
                    let mut normalized = NormalizedString::from(word);
                    normalizer
                        .normalize(&mut normalized)
                        .map_err(|error| anyhow::anyhow!("normalizing: {error}"))?;
                    normalized.get().to_owned()
                }
                None => word.to_owned(),
            };
            // The normalizer pads Chinese characters with spaces: each piece is a word.
            for piece in word.split_whitespace() {
                for (index, character) in piece.chars().enumerate() {
                    let token = if index == 0 {
                        character.to_string()
                    } else {
                        format!("##{character}")
                    };
                    if tokenizer.token_to_id(&token).is_none() {
                        *counts.entry(token).or_default() += 1;
                    }
                }
            }
        }
    }
    let mut counted: Vec<(String, usize)> = counts
        .into_iter()
        .filter(|(_, count)| *count >= 2)
        .collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counted.truncate(limit);
    Ok(counted.into_iter().map(|(token, _)| token).collect())
}

/// MiniLM's `tokenizer.json` with the compact vocabulary: new ids for every kept token and for
/// the special tokens, no padding or truncation (the classifier truncates itself).
fn compact_tokenizer_json(original: &str, tokens: &[(String, Option<u32>)]) -> Result<String> {
    let mut json: Value = serde_json::from_str(original)?;
    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(id, (token, _))| (token.clone(), json!(id)))
        .collect();
    let id_of = |token: &str| tokens.iter().position(|(t, _)| t == token);
    json["model"]["vocab"] = Value::Object(vocab);
    json["truncation"] = Value::Null;
    json["padding"] = Value::Null;
    let Some(added) = json["added_tokens"].as_array_mut() else {
        bail!("MiniLM's tokenizer.json has no added_tokens list");
    };
    for token in added.iter_mut() {
        let content = token["content"].as_str().unwrap_or_default().to_owned();
        let Some(id) = id_of(&content) else {
            bail!("special token {content} missing from the compact vocabulary");
        };
        token["id"] = json!(id);
    }
    for special in ["[CLS]", "[SEP]"] {
        let id = id_of(special).with_context(|| format!("no {special} token"))?;
        json["post_processor"]["special_tokens"][special]["ids"] = json!([id]);
    }
    Ok(serde_json::to_string(&json)?)
}

/// The top `count` right singular vectors of `rows` (`(n, dim)`), as a `(dim, count)` matrix,
/// by subspace iteration on `rows^T rows`.
fn principal_directions(rows: &Tensor, count: usize) -> Result<Tensor> {
    let dim = rows.dim(1)?;
    if count > dim {
        bail!("cannot project {dim} dimensions onto {count}");
    }
    let gram = rows.t()?.matmul(rows)?.to_dtype(DType::F64)?;
    // A fixed start: the first `count` coordinate axes, slightly mixed so no direction is missed.
    let mut basis: Vec<f64> = (0..dim * count)
        .map(|index| {
            let (row, column) = (index / count, index % count);
            if row == column {
                1.0
            } else {
                ((index * 7919) % 1000) as f64 * 1e-4
            }
        })
        .collect();
    for _ in 0..60 {
        let current = Tensor::from_vec(basis, (dim, count), &Device::Cpu)?;
        let next = gram.matmul(&current)?;
        basis = orthonormal_columns(next.flatten_all()?.to_vec1::<f64>()?, dim, count);
    }
    Ok(Tensor::from_vec(basis, (dim, count), &Device::Cpu)?.to_dtype(DType::F32)?)
}

/// Gram-Schmidt on the columns of a row-major `(rows, columns)` matrix.
fn orthonormal_columns(mut matrix: Vec<f64>, rows: usize, columns: usize) -> Vec<f64> {
    for column in 0..columns {
        for previous in 0..column {
            let dot: f64 = (0..rows)
                .map(|row| matrix[row * columns + column] * matrix[row * columns + previous])
                .sum();
            for row in 0..rows {
                matrix[row * columns + column] -= dot * matrix[row * columns + previous];
            }
        }
        let norm = (0..rows)
            .map(|row| matrix[row * columns + column].powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        for row in 0..rows {
            matrix[row * columns + column] /= norm;
        }
    }
    matrix
}
