//! The client side of the pipeline: the gateway's keyring from the config, and each request's
//! admission against its key's models, budgets and rate limits — refused, admitted, or
//! admitted and routed one tier cheaper because the key is near its budget.

use rust_decimal::Decimal;
use time::OffsetDateTime;
use triage_config::{ClientKeySettings, Config, KeySecret};
use triage_limits::{ClientKey, Estimate, KeyLimits, Keyring};
use triage_types::ChatRequest;

use crate::account::Ticket;
use crate::engine::{Engine, Planned};
use crate::{BuildError, EngineError, EnvLookup};

/// The keys `triage serve` accepts: every `[[server.keys]]` entry (a `key_env` read through
/// `env`, unset being an error naming the variable) and every `[server] api_keys` entry
/// (named `api_keys[N]`, without limits).
pub fn keyring(config: &Config, env: &EnvLookup) -> Result<Keyring, BuildError> {
    let mut keyring = Keyring::new();
    for entry in &config.server.keys {
        let secret = match &entry.secret {
            KeySecret::Literal(secret) => secret.clone(),
            KeySecret::Env(variable) => env(variable)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| BuildError::MissingKeyEnv {
                    key: entry.name.clone(),
                    env_var: variable.clone(),
                })?,
        };
        keyring.add(
            &secret,
            ClientKey::new(
                entry.name.clone(),
                entry.models.iter().map(|model| model.id.clone()).collect(),
                key_limits(entry),
            ),
        );
    }
    for (index, secret) in config.server.api_keys.iter().enumerate() {
        keyring.add(
            secret,
            ClientKey::new(
                format!("api_keys[{index}]"),
                Vec::new(),
                KeyLimits::default(),
            ),
        );
    }
    Ok(keyring)
}

/// A `[[server.keys]]` entry's budgets and rate limits.
pub fn key_limits(entry: &ClientKeySettings) -> KeyLimits {
    KeyLimits {
        daily_budget_usd: entry.daily_budget_usd,
        monthly_budget_usd: entry.monthly_budget_usd,
        requests_per_minute: entry.requests_per_minute,
        tokens_per_minute: entry.tokens_per_minute,
    }
}

impl Engine {
    /// Checks the request against its key: the `model` it may send, then its budgets and
    /// rate limits, reserving the plan's estimate. Near a budget, the plan starts one tier
    /// cheaper and says why. Without a key, nothing to check.
    pub(crate) async fn admit(
        &self,
        ticket: &mut Ticket,
        model: &str,
        planned: &mut Planned,
        request: &ChatRequest,
    ) -> Result<(), EngineError> {
        let Some(key) = ticket.caller.key.clone() else {
            return Ok(());
        };
        if !key.allows(model) {
            return Err(EngineError::ModelNotAllowed {
                key: key.name.clone(),
                model: model.to_owned(),
                allowed: key.models.clone(),
            });
        }
        let plan = &planned.plan;
        let estimate = Estimate {
            cost_usd: plan.estimated_cost.unwrap_or(Decimal::ZERO),
            tokens: plan
                .estimated_input_tokens
                .saturating_add(plan.estimated_output_tokens),
        };
        let admission = self
            .inner
            .limits
            .admit(&key, estimate, OffsetDateTime::now_utc())
            .await?;
        if let Some(near) = admission.downshift() {
            let inner = &self.inner;
            let change = inner.router.policy().start_one_tier_cheaper(
                &inner.catalog,
                &mut planned.plan,
                request,
                self.today(),
            );
            let note = match change {
                Some(change) => format!("{near}; {change}"),
                None => format!("{near}; no cheaper tier fits this request"),
            };
            tracing::info!(request = %ticket.request_id, key = %key.name, %note, "near budget");
            planned.budget_note = Some(note);
        }
        ticket.admission = Some(admission);
        Ok(())
    }
}
