//! Client keys: who a request comes from, what it may ask for, and what it may spend.

use std::sync::Arc;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// What one key may spend and how fast; `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Spend per UTC day, in US dollars.
    pub daily_budget_usd: Option<Decimal>,
    /// Spend per UTC calendar month, in US dollars.
    pub monthly_budget_usd: Option<Decimal>,
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens (input and output, every attempt) per minute.
    pub tokens_per_minute: Option<u64>,
}

impl KeyLimits {
    /// No budget and no rate limit.
    pub fn is_unlimited(&self) -> bool {
        self.daily_budget_usd.is_none()
            && self.monthly_budget_usd.is_none()
            && self.requests_per_minute.is_none()
            && self.tokens_per_minute.is_none()
    }

    /// Whether a budget is set.
    pub fn has_budget(&self) -> bool {
        self.daily_budget_usd.is_some() || self.monthly_budget_usd.is_some()
    }

    /// The limits in words for banners and `config check`: `$20/day, 600 req/min`, or
    /// `no limits`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(budget) = self.daily_budget_usd {
            parts.push(format!("${budget}/day"));
        }
        if let Some(budget) = self.monthly_budget_usd {
            parts.push(format!("${budget}/month"));
        }
        if let Some(rate) = self.requests_per_minute {
            parts.push(format!("{rate} req/min"));
        }
        if let Some(rate) = self.tokens_per_minute {
            parts.push(format!("{rate} tokens/min"));
        }
        if parts.is_empty() {
            "no limits".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// One client key: its name (recorded with each of its requests), the `model` values it may
/// send, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    /// The name recorded in the ledger.
    pub name: String,
    /// The `model` values it may send (`auto`, aliases, catalog ids); empty allows any.
    pub models: Vec<String>,
    /// Its budgets and rate limits.
    pub limits: KeyLimits,
}

impl ClientKey {
    /// A key with these models and limits.
    pub fn new(name: impl Into<String>, models: Vec<String>, limits: KeyLimits) -> ClientKey {
        ClientKey {
            name: name.into(),
            models,
            limits,
        }
    }

    /// Whether the key may send this `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|allowed| allowed == model)
    }
}

/// The keys a gateway accepts. Keys are kept as SHA-256 digests and every lookup compares
/// against all of them without stopping early, so timing tells nothing about a key.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    entries: Vec<([u8; 32], Arc<ClientKey>)>,
}

impl Keyring {
    /// An empty keyring: the gateway then asks for no key.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds a key; `secret` is what clients send.
    pub fn add(&mut self, secret: &str, key: ClientKey) {
        self.entries.push((digest(secret), Arc::new(key)));
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The keys, in the order they were added.
    pub fn keys(&self) -> impl Iterator<Item = &ClientKey> {
        self.entries.iter().map(|(_, key)| key.as_ref())
    }

    /// The key a client presented, if it is one of ours.
    pub fn authenticate(&self, presented: &str) -> Option<Arc<ClientKey>> {
        let presented = digest(presented);
        let mut found = None;
        for (secret, key) in &self.entries {
            let difference = secret
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 && found.is_none() {
                found = Some(Arc::clone(key));
            }
        }
        found
    }
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_key_and_nothing_else() {
        let mut keyring = Keyring::new();
        keyring.add(
            "sk-a",
            ClientKey::new("a", Vec::new(), KeyLimits::default()),
        );
        keyring.add(
            "sk-b",
            ClientKey::new("b", vec!["auto".to_owned()], KeyLimits::default()),
        );
        let cases = [
            ("sk-a", Some("a")),
            ("sk-b", Some("b")),
            ("sk-", None),
            ("sk-ab", None),
            ("", None),
        ];
        for (presented, expected) in cases {
            let found = keyring.authenticate(presented);
            assert_eq!(
                found.as_deref().map(|key| key.name.as_str()),
                expected,
                "{presented}"
            );
        }
        let b = keyring.authenticate("sk-b").unwrap();
        assert!(b.allows("auto"));
        assert!(!b.allows("gpt-4o"));
        assert!(keyring.authenticate("sk-a").unwrap().allows("gpt-4o"));
    }
}
