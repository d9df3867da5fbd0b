//! Reading per-prompt outcome files (`{"id", "prompt", "scores", "out_tokens"}` lines) and
//! model maps (`{"map": {dataset model: catalog id}}`) for `eval --outcomes` and `calibrate`,
//! and the classify-once strategy both run over the items.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::Value;
use time::Date;
use triage_catalog::Catalog;
use triage_strategies::outcomes::{OutcomeItem, item_cost};
use triage_strategies::{Classification, Router, Strategy, StrategyError};
use triage_types::ChatRequest;

use crate::commands::jsonl;

/// Reads a model map: `{"map": {"<dataset model>": "<catalog id>"}}` (other keys ignored).
pub(crate) fn read_map(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read model map {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let Some(Value::Object(map)) = value.get("map") else {
        anyhow::bail!(
            "{}: expected an object {{\"map\": {{model: catalog id}}}}",
            path.display()
        );
    };
    let mut out = BTreeMap::new();
    for (name, id) in map {
        let Value::String(id) = id else {
            anyhow::bail!("{}: map.{name} is not a string", path.display());
        };
        out.insert(name.clone(), id.clone());
    }
    Ok(out)
}

/// Reads an outcome file, keeping the models `map` names (all of them when `map` is `None`,
/// under their own names as catalog ids) and pricing each (item, model) at the catalog's
/// prices: input tokens from `in_tokens` when a line gives it, else estimated from the prompt.
pub(crate) fn read_outcomes(
    path: &Path,
    map: Option<&BTreeMap<String, String>>,
    catalog: &Catalog,
    today: Date,
) -> anyhow::Result<Vec<OutcomeItem>> {
    let reader = jsonl::open(path)?;
    let mut items = Vec::new();
    let mut problem: Option<String> = None;
    jsonl::for_each_line(reader, |index, line| {
        let at = |message: String| format!("{}: line {}: {message}", path.display(), index + 1);
        match parse_item(line, map, catalog, today) {
            Ok(item) => {
                items.push(item);
                Ok(ControlFlow::Continue(()))
            }
            Err(message) => {
                problem = Some(at(message));
                Ok(ControlFlow::Break(()))
            }
        }
    })?;
    if let Some(problem) = problem {
        anyhow::bail!(
            "{problem}; every line must be {{\"id\", \"prompt\", \"scores\": {{model: 0..1}}, \"out_tokens\": {{model: n}}}}"
        );
    }
    if items.is_empty() {
        anyhow::bail!("{} holds no outcome items", path.display());
    }
    Ok(items)
}

fn parse_item(
    line: &str,
    map: Option<&BTreeMap<String, String>>,
    catalog: &Catalog,
    today: Date,
) -> Result<OutcomeItem, String> {
    let value: Value = serde_json::from_str(line).map_err(|error| format!("not JSON: {error}"))?;
    let text = |key: &str| match value.get(key) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Number(number)) if key == "id" => Ok(number.to_string()),
        _ => Err(format!("no string `{key}`")),
    };
    let id = text("id")?;
    let prompt = text("prompt")?;
    let object = |key: &str| match value.get(key) {
        Some(Value::Object(object)) => Ok(object),
        _ => Err(format!("no object `{key}`")),
    };
    let scores = object("scores")?;
    let out_tokens = object("out_tokens")?;
    let in_tokens = value.get("in_tokens").and_then(Value::as_u64);
    let mut item = OutcomeItem {
        id,
        prompt,
        scores: BTreeMap::new(),
        costs: BTreeMap::new(),
    };
    for (name, score) in scores {
        let catalog_id = match map {
            Some(map) => match map.get(name) {
                Some(id) => id.clone(),
                None => continue,
            },
            None => name.clone(),
        };
        let score = score
            .as_f64()
            .filter(|score| (0.0..=1.0).contains(score))
            .ok_or_else(|| format!("scores.{name} is not a number in 0..=1"))?;
        let output = out_tokens
            .get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("out_tokens.{name} is missing or not a whole number"))?;
        let model = catalog
            .resolve(&catalog_id, today)
            .map_err(|error| format!("model {name} → {catalog_id}: {error}"))?
            .model;
        let cost = item_cost(model, &item.prompt, in_tokens, output)
            .map_err(|error| format!("model {catalog_id}: {error}"))?;
        item.scores.insert(model.id.clone(), score);
        item.costs.insert(model.id.clone(), cost);
    }
    Ok(item)
}

/// A strategy that classifies each distinct text once: the outcome commands route the same
/// prompts many times (a sweep of the knob, cross-validation folds).
pub(crate) struct ClassifyOnce {
    inner: Arc<dyn Strategy>,
    seen: Mutex<HashMap<String, Classification>>,
}

impl ClassifyOnce {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Arc<dyn Strategy>) -> Self {
        ClassifyOnce {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }
}

impl Strategy for ClassifyOnce {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn classify(&self, request: &ChatRequest) -> Result<Classification, StrategyError> {
        let key = request.all_text();
        if let Ok(seen) = self.seen.lock()
            && let Some(found) = seen.get(&key)
        {
            return Ok(found.clone());
        }
        let found = self.inner.classify(request)?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.insert(key, found.clone());
        }
        Ok(found)
    }
}

/// The model the router picks for each item's prompt (its plan's first model), in order.
pub(crate) fn route_items<'a>(
    router: &Router,
    catalog: &Catalog,
    items: impl IntoIterator<Item = &'a OutcomeItem>,
    today: Date,
) -> anyhow::Result<Vec<String>> {
    items
        .into_iter()
        .map(|item| {
            let request = ChatRequest::from_prompt(item.prompt.clone());
            let route = router
                .route(catalog, &request, today)
                .with_context(|| format!("routing outcome item {}", item.id))?;
            Ok(route.plan.primary.id)
        })
        .collect()
}

/// The catalog tier of every model the items score.
pub(crate) fn tiers(catalog: &Catalog, items: &[OutcomeItem]) -> BTreeMap<String, u8> {
    items
        .iter()
        .flat_map(|item| item.scores.keys())
        .filter_map(|id| catalog.find(id).map(|model| (id.clone(), model.tier)))
        .collect()
}

/// The router an outcome command routes the data's items by: the config's rules and policy,
/// the knob at `knob` choosing among the data's `models` only, priced against `baseline`,
/// weighing `table`.
pub(crate) fn outcome_router(
    context: &crate::commands::context::Context,
    strategy: &Arc<dyn Strategy>,
    knob: f64,
    models: &[String],
    baseline: &str,
    table: Arc<triage_strategies::QualityTable>,
) -> Router {
    context.config.router(
        &context.catalog,
        Arc::clone(strategy),
        triage_strategies::QualityPolicy {
            knob,
            candidates: Some(models.to_vec()),
            baseline: Some(baseline.to_owned()),
            table,
            high_stakes: context.config.routing.high_stakes,
        },
    )
}
