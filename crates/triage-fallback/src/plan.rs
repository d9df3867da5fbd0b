//! The ordered list of models the executor walks, and where it looks up models and prices.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use triage_catalog::{Catalog, CostOptions};
use triage_types::{RouteClass, Usage};

/// One candidate model of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStep {
    /// The model's catalog id.
    pub model: String,
    /// The id of the provider serving it.
    pub provider: String,
    /// The model name the provider's API expects.
    pub api_name: String,
    /// Its capability tier (1 cheapest to 5 frontier): steps of the same tier are equivalent
    /// (failover), higher tiers are escalation targets.
    pub tier: u8,
}

/// The models to try for one request, cheapest first, with what the router knew.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExecutionPlan {
    /// The candidates, in the order the router ranked them.
    pub steps: Vec<PlanStep>,
    /// The routing class, which scales the default minimum answer length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<RouteClass>,
    /// The classifier's confidence in `class`; below the configured threshold the plan starts
    /// one tier higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// Where the executor looks up models (for the judge and plans built from ids) and prices
/// usage. Implemented for [`Catalog`].
pub trait ModelDirectory: Send + Sync {
    /// The plan step for a catalog id, if the model is known.
    fn step(&self, model: &str) -> Option<PlanStep>;

    /// What `usage` costs on `model`, in US dollars; an error when a needed price is missing
    /// (never a silent zero).
    fn cost(&self, model: &str, usage: &Usage) -> Result<Decimal, String>;
}

impl ModelDirectory for Catalog {
    fn step(&self, model: &str) -> Option<PlanStep> {
        self.find(model).map(|found| PlanStep {
            model: found.id.clone(),
            provider: found.provider.clone(),
            api_name: found.api_name.clone(),
            tier: found.tier,
        })
    }

    fn cost(&self, model: &str, usage: &Usage) -> Result<Decimal, String> {
        let found = self.get(model).map_err(|error| error.to_string())?;
        found
            .cost(usage, CostOptions::default())
            .map_err(|error| error.to_string())
    }
}

impl ExecutionPlan {
    /// A plan from catalog ids, in order; unknown ids are returned as the error.
    pub fn from_models<S: AsRef<str>>(
        directory: &dyn ModelDirectory,
        models: &[S],
    ) -> Result<ExecutionPlan, String> {
        let steps = models
            .iter()
            .map(|model| {
                directory
                    .step(model.as_ref())
                    .ok_or_else(|| model.as_ref().to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExecutionPlan {
            steps,
            class: None,
            confidence: None,
        })
    }

    /// Sets the routing class and the classifier's confidence.
    pub fn with_class(mut self, class: RouteClass, confidence: Option<f32>) -> Self {
        self.class = Some(class);
        self.confidence = confidence;
        self
    }
}
