//! Keeps `docs/config.md`, the configuration reference, true to the code: every key of every
//! raw section struct (read from serde's own field lists, so a new or renamed field is seen
//! without anyone updating a list) must have a row in the reference, every row must name a
//! real key, every TOML example must parse, the `[fallback]` defaults must match
//! `FallbackConfig::default()`, and every environment variable of [`crate::env::ALL`] must be
//! listed.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use triage_fallback::{BreakerConfig, ChecksConfig, FallbackConfig, JudgeConfig, StreamConfig};

use crate::Config;
use crate::raw::RawConfig;
use crate::sections::RawClassLists;
use crate::sections::aliases::RawAlias;
use crate::sections::catalog::RawCatalogSection;
use crate::sections::classifier::RawClassifier;
use crate::sections::keys::RawClientKey;
use crate::sections::keywords::{RawKeywords, RawPattern};
use crate::sections::ledger::RawLedger;
use crate::sections::length::{RawBucket, RawLength};
use crate::sections::providers::{RawProviderSettings, RawProviders};
use crate::sections::quality::RawQuality;
use crate::sections::routing::RawRouting;
use crate::sections::rules::RawRule;
use crate::sections::server::RawServer;
use crate::sections::state::RawState;

/// Every table of `triage.toml` with the struct that reads it, as written in the reference's
/// headings (`<name>` stands for any name). A top-level section missing here is caught by
/// [`every_top_level_section_has_a_table`].
fn tables() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("routing", fields::<RawRouting>()),
        ("routes", fields::<RawClassLists>()),
        ("aliases.<name>", fields::<RawAlias>()),
        ("rules", fields::<RawRule>()),
        ("keywords", fields::<RawKeywords>()),
        ("keywords.patterns", fields::<RawPattern>()),
        ("length", fields::<RawLength>()),
        ("length.buckets", fields::<RawBucket>()),
        ("catalog", fields::<RawCatalogSection>()),
        ("providers", fields::<RawProviders>()),
        ("providers.settings.<id>", fields::<RawProviderSettings>()),
        ("classifier", fields::<RawClassifier>()),
        ("fallback", fields::<FallbackConfig>()),
        ("fallback.stream", fields::<StreamConfig>()),
        ("fallback.breaker", fields::<BreakerConfig>()),
        ("fallback.checks", fields::<ChecksConfig>()),
        ("fallback.checks.judge", fields::<JudgeConfig>()),
        ("fallback.routes.<class>", fields::<ChecksConfig>()),
        ("fallback.aliases.<alias>", fields::<ChecksConfig>()),
        ("quality", fields::<RawQuality>()),
        ("ledger", fields::<RawLedger>()),
        ("server", fields::<RawServer>()),
        ("server.keys", fields::<RawClientKey>()),
        ("state", fields::<RawState>()),
    ]
}

/// The field names serde's derived `Deserialize` passes to `deserialize_struct`.
fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut seen = None;
    let _ = T::deserialize(FieldNames(&mut seen));
    seen.unwrap_or_else(|| panic!("{} is not a struct", std::any::type_name::<T>()))
}

/// A deserializer that records a struct's field names and then gives up.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// What the reference says.
#[derive(Debug, Default)]
struct Reference {
    /// Table heading → key → the row's cells after the key (type, default, meaning).
    tables: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Variables listed under "Environment variables".
    variables: BTreeSet<String>,
    /// The ```toml examples.
    examples: Vec<String>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut reference = Reference::default();
    enum Under {
        Nothing,
        Table(String),
        Variables,
    }
    let mut under = Under::Nothing;
    let mut example: Option<String> = None;
    for line in text.lines() {
        if let Some(open) = &mut example {
            if line.trim_start().starts_with("```") {
                reference.examples.extend(example.take());
            } else {
                open.push_str(line);
                open.push('\n');
            }
            continue;
        }
        if line.trim_start().starts_with("```toml") {
            example = Some(String::new());
        } else if let Some(heading) = line.strip_prefix("### ") {
            under = match backticked(heading) {
                Some(name) => {
                    let name = name.trim_matches(['[', ']']).to_owned();
                    reference.tables.entry(name.clone()).or_default();
                    Under::Table(name)
                }
                None => Under::Nothing,
            };
        } else if let Some(heading) = line.strip_prefix("## ") {
            under = if heading.trim() == "Environment variables" {
                Under::Variables
            } else {
                Under::Nothing
            };
        } else if let Some(row) = line.strip_prefix("| ")
            && let Some(key) = row
                .strip_prefix('`')
                .and_then(|rest| rest.split('`').next())
        {
            match &under {
                Under::Table(table) => {
                    let cells = row.split(" | ").skip(1).map(str::to_owned).collect();
                    reference
                        .tables
                        .entry(table.clone())
                        .or_default()
                        .insert(key.to_owned(), cells);
                }
                Under::Variables => {
                    reference.variables.insert(key.to_owned());
                }
                Under::Nothing => {}
            }
        }
    }
    assert!(example.is_none(), "{path}: a ```toml example is not closed");
    reference
}

fn backticked(text: &str) -> Option<&str> {
    text.split('`').nth(1)
}

#[test]
fn every_key_has_a_row_and_every_row_a_key() {
    let reference = reference();
    let mut problems = Vec::new();
    let tables = tables();
    for (table, keys) in &tables {
        let Some(rows) = reference.tables.get(*table) else {
            problems.push(format!("no `### \\`[{table}]\\`` table"));
            continue;
        };
        for key in *keys {
            if !rows.contains_key(*key) {
                problems.push(format!("[{table}] {key}: no row"));
            }
        }
        for row in rows.keys() {
            if !keys.contains(&row.as_str()) {
                problems.push(format!("[{table}] {row}: documented but not a key"));
            }
        }
    }
    for table in reference.tables.keys() {
        if !tables.iter().any(|(name, _)| name == table) {
            problems.push(format!("[{table}]: documented but not a table"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/config.md disagrees with the config structs:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn every_top_level_section_has_a_table() {
    let tables = tables();
    for section in fields::<RawConfig>() {
        assert!(
            tables.iter().any(|(table, _)| {
                *table == *section
                    || table
                        .strip_prefix(section)
                        .is_some_and(|rest| rest.starts_with('.'))
            }),
            "[{section}] has no entry in reference::tables()"
        );
    }
}

#[test]
fn every_example_parses() {
    let reference = reference();
    assert!(reference.examples.len() >= 10, "examples were not found");
    for example in &reference.examples {
        if let Err(error) = Config::parse(example, "docs/config.md", None) {
            panic!("docs/config.md example does not parse: {error}\n{example}");
        }
    }
}

#[test]
fn fallback_defaults_match_the_code() {
    let reference = reference();
    let defaults = toml::Table::try_from(FallbackConfig::default()).expect("serializes");
    let mut compared = 0;
    for (table, value) in
        [("fallback", &defaults)]
            .into_iter()
            .chain(["stream", "breaker"].into_iter().map(|name| {
                let value = defaults.get(name).expect("a default sub-table");
                let table = match name {
                    "stream" => "fallback.stream",
                    _ => "fallback.breaker",
                };
                (table, value.as_table().expect("a table"))
            }))
    {
        for (key, value) in value {
            if value.is_table() {
                continue;
            }
            let cells = &reference.tables[table][key];
            let written = backticked(&cells[1]).unwrap_or_else(|| {
                panic!("[{table}] {key}: the default `{}` is not `code`", cells[1])
            });
            let parsed: toml::Table = toml::from_str(&format!("v = {written}"))
                .unwrap_or_else(|error| panic!("[{table}] {key}: `{written}`: {error}"));
            assert_eq!(parsed["v"], *value, "[{table}] {key}: default");
            compared += 1;
        }
    }
    assert!(compared >= 12, "only {compared} defaults compared");
}

#[test]
fn every_environment_variable_is_listed() {
    let reference = reference();
    let listed: BTreeSet<String> = crate::env::ALL
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    assert_eq!(
        reference
            .variables
            .iter()
            .filter(|name| listed.contains(*name))
            .collect::<Vec<_>>(),
        listed.iter().collect::<Vec<_>>(),
        "docs/config.md: the environment variables of triage_config::env::ALL"
    );
}
