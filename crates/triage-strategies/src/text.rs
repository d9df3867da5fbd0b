//! Text normalisation shared by the keyword strategy and its learner (`cargo xtask
//! learn-keywords`), so that learned features and run-time features are the same thing.

use std::collections::BTreeSet;

/// Which words of a prompt the keyword features look at.
///
/// Long prompts often paste material first and put the request last, so the keyword strategy
/// reads the first `head` and the last `tail` words and ignores the middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureWindow {
    /// Words kept from the start.
    pub head: usize,
    /// Words kept from the end.
    pub tail: usize,
}

impl Default for FeatureWindow {
    fn default() -> Self {
        FeatureWindow { head: 40, tail: 40 }
    }
}

/// The prompt's words, lowercased: runs of letters and digits (any script), with an apostrophe
/// kept inside a word (`don't`).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
            continue;
        }
        let inner_apostrophe = matches!(c, '\'' | '\u{2019}')
            && !current.is_empty()
            && chars.peek().is_some_and(|next| next.is_alphabetic());
        if inner_apostrophe {
            current.push('\'');
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Bytes read from each end of a long prompt. The window's words lie well within them, so a
/// megabyte of pasted text costs no more than a page.
pub const SCAN_BYTES: usize = 8 * 1024;

/// The parts of a text that windowed features and patterns read: the whole text when it is
/// short, else its first and last [`SCAN_BYTES`] (cut at whitespace, so no word is split).
pub fn scanned_parts(text: &str) -> (&str, Option<&str>) {
    if text.len() <= 2 * SCAN_BYTES {
        return (text, None);
    }
    let mut head_end = SCAN_BYTES;
    while !text.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let head_end = text[..head_end]
        .rfind(char::is_whitespace)
        .unwrap_or(head_end);
    let mut tail_start = text.len() - SCAN_BYTES;
    while !text.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let tail_start = text[tail_start..]
        .find(char::is_whitespace)
        .map_or(tail_start, |offset| tail_start + offset);
    (&text[..head_end], Some(&text[tail_start..]))
}

/// The words inside the window: all of them for a short prompt, else the first `head` and the
/// last `tail`.
pub fn windowed_words(text: &str, window: FeatureWindow) -> Vec<String> {
    if let (head, Some(tail)) = scanned_parts(text) {
        let mut out = words(head);
        out.truncate(window.head);
        let tail_words = words(tail);
        let skip = tail_words.len().saturating_sub(window.tail);
        out.extend(tail_words.into_iter().skip(skip));
        return out;
    }
    let mut all = words(text);
    if all.len() > window.head + window.tail {
        let tail = all.split_off(all.len() - window.tail);
        all.truncate(window.head);
        all.extend(tail);
    }
    all
}

/// The keyword features of a prompt: each distinct word and each pair of adjacent words
/// (`"write a"`), taken from the window. Presence counts, not frequency.
pub fn features(text: &str, window: FeatureWindow) -> BTreeSet<String> {
    let words = windowed_words(text, window);
    let mut out = BTreeSet::new();
    for pair in words.windows(2) {
        out.insert(format!("{} {}", pair[0], pair[1]));
    }
    out.extend(words);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lowercase_and_keep_inner_apostrophes() {
        assert_eq!(
            words("Don't SUMMARISE this: café, 3.5 'quoted'"),
            ["don't", "summarise", "this", "café", "3", "5", "quoted"]
        );
    }

    #[test]
    fn windows_keep_head_and_tail() {
        let window = FeatureWindow { head: 2, tail: 1 };
        assert_eq!(windowed_words("a b c d e", window), ["a", "b", "e"]);
        assert_eq!(windowed_words("a b", window), ["a", "b"]);
    }

    #[test]
    fn long_texts_are_read_at_both_ends_only() {
        let text = format!("{} middle {}", "start ".repeat(5_000), "end ".repeat(5_000));
        let window = FeatureWindow { head: 2, tail: 2 };
        assert_eq!(
            windowed_words(&text, window),
            ["start", "start", "end", "end"]
        );
        let (head, tail) = scanned_parts(&text);
        assert!(head.len() <= SCAN_BYTES && tail.is_some_and(|tail| tail.len() <= SCAN_BYTES));
    }

    #[test]
    fn features_are_unigrams_and_bigrams() {
        let features = features("Write a poem", FeatureWindow::default());
        let listed: Vec<&str> = features.iter().map(String::as_str).collect();
        assert_eq!(listed, ["a", "a poem", "poem", "write", "write a"]);
    }
}
