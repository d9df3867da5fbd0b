//! The second step of reading a catalog: raw entries become validated models, merged onto a base
//! catalog, then checked as a whole (providers, successors, cycles, routes).

use std::collections::HashMap;

use rust_decimal::Decimal;
use time::{Date, Month};
use toml::value::Datetime;
use triage_types::RouteClass;

use toml::Spanned;
use triage_types::OpenAiQuirks;

use crate::error::{CatalogError, ProviderFieldProblem};
use crate::location::{Location, Source};
use crate::raw::{RawCapability, RawCatalog, RawModel, RawPrice, RawProvider, RawReasoningControl};
use crate::{
    Capabilities, Catalog, EffortSet, Lifecycle, Model, PriceKind, Pricing, Protocol, ProviderInfo,
    ReasoningControl, ReasoningEffort, ReasoningSpec, Tier,
};

/// Whether the text is a complete catalog or an overlay on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every route class must be listed.
    Full,
    /// Everything is optional.
    Overlay,
}

/// Merges `raw` (read from `text` at `origin`) onto `base` and checks the result.
pub(crate) fn build(
    mut base: Catalog,
    raw: RawCatalog,
    text: &str,
    origin: &str,
    mode: Mode,
) -> Result<Catalog, CatalogError> {
    let source = Source { text, origin };
    for (id, provider) in raw.providers {
        let info = provider_info(id, provider, &source)?;
        match base.providers.iter_mut().find(|known| known.id == info.id) {
            Some(known) => *known = info,
            None => base.providers.push(info),
        }
    }
    base.providers.sort_by(|a, b| a.id.cmp(&b.id));

    let mut first_seen: HashMap<String, Location> = HashMap::new();
    let mut reasoning_written = Vec::new();
    for mut raw_model in raw.models {
        reasoning_written.push((
            raw_model.id.get_ref().clone(),
            WrittenReasoning {
                control: raw_model.reasoning_control,
                efforts: raw_model.reasoning_efforts.take(),
                default_effort: raw_model.default_reasoning_effort.take(),
            },
        ));
        let model = model(raw_model, &source)?;
        if let Some(first) = first_seen.get(&model.id) {
            return Err(CatalogError::DuplicateModel {
                location: Box::new(model.defined_at.clone()),
                id: model.id,
                first: first.clone(),
            });
        }
        first_seen.insert(model.id.clone(), model.defined_at.clone());
        match base.index.get(&model.id) {
            Some(&position) => base.models[position] = model,
            None => {
                base.index.insert(model.id.clone(), base.models.len());
                base.models.push(model);
            }
        }
    }

    check_models(&base, origin)?;
    // A model's reasoning spec may follow its provider's protocol, known only now.
    for (id, written) in reasoning_written {
        if let Some(&position) = base.index.get(&id) {
            let model = &base.models[position];
            let protocol = base
                .provider(&model.provider)
                .map(|provider| provider.protocol);
            let spec = reasoning_spec(model, written, protocol, &source)?;
            base.models[position].capabilities.reasoning_spec = spec;
        }
    }

    let lists = raw
        .routes
        .map(|routes| routes.into_array())
        .unwrap_or_default();
    for (class, list) in RouteClass::ALL.into_iter().zip(lists) {
        let Some(list) = list else { continue };
        let mut ids = Vec::with_capacity(list.len());
        for entry in list {
            let id = entry.get_ref();
            if base.find(id).is_none() {
                return Err(CatalogError::UnknownRouteModel {
                    location: Box::new(source.at(entry.span().start)),
                    class,
                    model: id.clone(),
                    suggestions: base.suggestions(id),
                });
            }
            ids.push(entry.into_inner());
        }
        base.routes.by_class[class.index()] = ids;
    }
    if let Some(baseline) = raw.default_baseline {
        let location = || Box::new(source.at(baseline.span().start));
        let id = baseline.get_ref();
        let Some(model) = base.find(id) else {
            return Err(CatalogError::UnknownBaseline {
                location: location(),
                model: id.clone(),
                suggestions: base.suggestions(id),
            });
        };
        let checked_on = model.pricing.checked_on;
        if let Some(retired_on) = model.lifecycle.retires_on.filter(|day| *day <= checked_on) {
            return Err(CatalogError::RetiredBaseline {
                location: location(),
                model: id.clone(),
                retired_on,
                checked_on,
            });
        }
        base.default_baseline = Some(baseline.into_inner());
    }
    if mode == Mode::Full || !base.routes.by_class.iter().all(Vec::is_empty) {
        for class in RouteClass::ALL {
            if base.routes.models(class).is_empty() {
                return Err(CatalogError::MissingRoute {
                    origin: origin.to_owned(),
                    class,
                });
            }
        }
    }
    Ok(base)
}

/// Checks one `[providers.<id>]` table and turns it into a provider.
fn provider_info(
    id: String,
    raw: RawProvider,
    source: &Source<'_>,
) -> Result<ProviderInfo, CatalogError> {
    let protocol = raw.protocol.into_inner();
    let reject = |field: &str, span: std::ops::Range<usize>, value: String, problem| {
        CatalogError::InvalidProvider {
            location: Box::new(source.span(&span)),
            provider: id.clone(),
            field: field.to_owned(),
            value,
            problem,
        }
    };
    let env_var = |field: &str, written: Option<Spanned<String>>| match written {
        Some(name) if !is_env_var_name(name.get_ref()) => Err(reject(
            field,
            name.span(),
            format!("{:?}", name.get_ref()),
            ProviderFieldProblem::NotEnvVarName,
        )),
        written => Ok(written.map(Spanned::into_inner)),
    };
    let base_url_env = env_var("base_url_env", raw.base_url_env)?;
    let api_key_env = env_var("api_key_env", raw.api_key_env)?;
    let base_url = raw.base_url;
    if !(base_url.get_ref().starts_with("http://") || base_url.get_ref().starts_with("https://")) {
        return Err(reject(
            "base_url",
            base_url.span(),
            format!("{:?}", base_url.get_ref()),
            ProviderFieldProblem::NotHttpUrl,
        ));
    }

    let mut openai_quirks = OpenAiQuirks::for_protocol(protocol);
    if let Some(field) = raw.max_tokens_field {
        if !protocol.is_openai_style() {
            return Err(reject(
                "max_tokens_field",
                field.span(),
                format!("\"{}\"", field.get_ref()),
                ProviderFieldProblem::NotOpenAiStyle { protocol },
            ));
        }
        openai_quirks.max_tokens_field = field.into_inner();
    }
    if let Some(json_schema) = raw.json_schema {
        if !protocol.is_openai_style() {
            return Err(reject(
                "json_schema",
                json_schema.span(),
                json_schema.get_ref().to_string(),
                ProviderFieldProblem::NotOpenAiStyle { protocol },
            ));
        }
        openai_quirks.json_schema = json_schema.into_inner();
    }
    Ok(ProviderInfo {
        protocol,
        base_url: base_url.into_inner(),
        base_url_env,
        api_key_env,
        openai_quirks,
        id,
    })
}

/// Whether `name` can name an environment variable: ASCII letters, digits and `_`, not
/// starting with a digit.
fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks one raw entry and turns it into a model.
fn model(raw: RawModel, source: &Source<'_>) -> Result<Model, CatalogError> {
    let defined_at = source.at(raw.id.span().start);
    let id = raw.id.into_inner();
    let date = |field: &str, value: Option<Datetime>| -> Result<Option<Date>, CatalogError> {
        value
            .map(|value| plain_date(&value))
            .transpose()
            .map_err(|value| CatalogError::InvalidDate {
                location: Box::new(defined_at.clone()),
                model: id.clone(),
                field: field.to_owned(),
                value,
            })
    };
    let released = date("released", raw.released)?;
    let deprecated_on = date("deprecated_on", raw.deprecated_on)?;
    let retires_on = date("retires_on", raw.retires_on)?;
    let checked_on = date("pricing.checked_on", Some(raw.pricing.checked_on))?;

    if !(Tier::MIN..=Tier::MAX).contains(&raw.tier) {
        return Err(CatalogError::InvalidTier {
            location: Box::new(defined_at),
            model: id,
            tier: raw.tier,
        });
    }

    let price = |kind: PriceKind, value: RawPrice| -> Result<Decimal, CatalogError> {
        if value.0.is_sign_negative() && !value.0.is_zero() {
            return Err(CatalogError::NegativePrice {
                location: Box::new(defined_at.clone()),
                model: id.clone(),
                kind,
                value: value.0,
            });
        }
        Ok(value.0)
    };
    let pricing = raw.pricing;
    let input = price(PriceKind::Input, pricing.input)?;
    let output = price(PriceKind::Output, pricing.output)?;
    let cached_input = pricing
        .cached_input
        .map(|value| price(PriceKind::CachedInput, value))
        .transpose()?;
    let cache_write = pricing
        .cache_write
        .map(|value| price(PriceKind::CacheWrite, value))
        .transpose()?;
    let batch_discount = match pricing.batch_discount {
        Some(RawPrice(value)) if value <= Decimal::ZERO || value > Decimal::ONE => {
            return Err(CatalogError::InvalidBatchDiscount {
                location: Box::new(defined_at),
                model: id,
                value,
            });
        }
        Some(RawPrice(value)) => Some(value),
        None => None,
    };

    let mut capabilities = Capabilities::default();
    for capability in raw.capabilities {
        match capability {
            RawCapability::Tools => capabilities.tools = true,
            RawCapability::Vision => capabilities.vision = true,
            RawCapability::JsonMode => capabilities.json_mode = true,
            RawCapability::Reasoning => capabilities.reasoning = true,
        }
    }
    Ok(Model {
        api_name: raw.api_name.unwrap_or_else(|| id.clone()),
        id,
        provider: raw.provider,
        pricing: Pricing {
            input,
            output,
            cached_input,
            cache_write,
            batch_discount,
            // `date` only fails on a present value, and this one is always present.
            checked_on: checked_on.unwrap_or(Date::MIN),
            source: pricing.source,
        },
        context_window: raw.context_window,
        max_output_tokens: raw.max_output_tokens,
        capabilities,
        tier: raw.tier,
        lifecycle: Lifecycle {
            released,
            deprecated_on,
            retires_on,
            successor: raw.successor,
        },
        defined_at,
    })
}

/// A TOML local date (`2025-01-31`) as a [`Date`]; anything else is returned as text.
fn plain_date(value: &Datetime) -> Result<Date, String> {
    let (Some(day), None, None) = (value.date, value.time, value.offset) else {
        return Err(value.to_string());
    };
    let month = Month::try_from(day.month).map_err(|_| value.to_string())?;
    Date::from_calendar_date(i32::from(day.year), month, day.day).map_err(|_| value.to_string())
}

/// Checks what spans models: providers exist, successors exist and form no cycle.
fn check_models(catalog: &Catalog, origin: &str) -> Result<(), CatalogError> {
    for model in &catalog.models {
        if catalog.provider(&model.provider).is_none() {
            return Err(CatalogError::UnknownProvider {
                location: Box::new(model.defined_at.clone()),
                model: model.id.clone(),
                provider: model.provider.clone(),
                known: catalog.providers.iter().map(|p| p.id.clone()).collect(),
            });
        }
        let Some(successor) = &model.lifecycle.successor else {
            continue;
        };
        if catalog.find(successor).is_none() {
            return Err(CatalogError::UnknownSuccessor {
                location: Box::new(model.defined_at.clone()),
                model: model.id.clone(),
                successor: successor.clone(),
                suggestions: catalog.suggestions(successor),
            });
        }
    }
    for model in &catalog.models {
        let mut path: Vec<&str> = vec![&model.id];
        let mut current = model;
        while let Some(next) = current.lifecycle.successor.as_deref() {
            if let Some(start) = path.iter().position(|id| *id == next) {
                let mut cycle: Vec<&Model> = path[start..]
                    .iter()
                    .filter_map(|id| catalog.find(id))
                    .collect();
                // Start the loop at a model of the file being read, where the fix belongs.
                let first = cycle
                    .iter()
                    .position(|member| member.defined_at.origin == origin)
                    .unwrap_or(0);
                cycle.rotate_left(first);
                let location = cycle.first().map_or_else(
                    || model.defined_at.clone(),
                    |member| member.defined_at.clone(),
                );
                let mut ids: Vec<String> = cycle.iter().map(|member| member.id.clone()).collect();
                if let Some(first) = ids.first().cloned() {
                    ids.push(first);
                }
                return Err(CatalogError::SuccessorCycle {
                    location: Box::new(location),
                    cycle: ids,
                });
            }
            path.push(next);
            let Some(found) = catalog.find(next) else {
                break;
            };
            current = found;
        }
    }
    Ok(())
}

/// Up to `limit` of `candidates` closest to `wanted`, best first.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Vec<String> {
    let wanted = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|candidate| {
            (
                strsim::jaro_winkler(&wanted, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, candidate)| candidate.to_owned())
        .collect()
}

/// A model's reasoning fields as written, resolved once its provider's protocol is known.
struct WrittenReasoning {
    control: Option<RawReasoningControl>,
    efforts: Option<Spanned<Vec<ReasoningEffort>>>,
    default_effort: Option<Spanned<ReasoningEffort>>,
}

/// `model`'s reasoning spec from its written fields, the unset ones following `protocol`
/// ([`ReasoningSpec::of_protocol`], [`ReasoningSpec::of_control`]). Fields that steer
/// reasoning need the `reasoning` capability and a control; the default effort must be one
/// the model accepts.
fn reasoning_spec(
    model: &Model,
    written: WrittenReasoning,
    protocol: Option<Protocol>,
    source: &Source,
) -> Result<Option<ReasoningSpec>, CatalogError> {
    let at = |span: Option<std::ops::Range<usize>>| {
        Box::new(span.map_or_else(|| model.defined_at.clone(), |span| source.at(span.start)))
    };
    let written_field = [
        (
            matches!(
                written.control,
                Some(control) if control != RawReasoningControl::None
            ),
            "reasoning_control",
            None,
        ),
        (
            written.efforts.is_some(),
            "reasoning_efforts",
            written.efforts.as_ref().map(Spanned::span),
        ),
        (
            written.default_effort.is_some(),
            "default_reasoning_effort",
            written.default_effort.as_ref().map(Spanned::span),
        ),
    ]
    .into_iter()
    .find(|(set, ..)| *set);
    if let Some((_, field, span)) = written_field.clone()
        && !model.capabilities.reasoning
    {
        return Err(CatalogError::ReasoningControlWithoutReasoning {
            location: at(span),
            model: model.id.clone(),
            field,
        });
    }
    let control = match written.control {
        Some(RawReasoningControl::None) => None,
        Some(RawReasoningControl::Effort) => Some(ReasoningControl::Effort),
        Some(RawReasoningControl::ThinkingBudget) => Some(ReasoningControl::ThinkingBudget),
        Some(RawReasoningControl::ExtendedThinking) => Some(ReasoningControl::ExtendedThinking),
        Some(RawReasoningControl::AdaptiveThinking) => Some(ReasoningControl::AdaptiveThinking),
        None => None,
    };
    let spec = match (written.control, control) {
        (_, Some(control)) => Some(ReasoningSpec::of_control(control, model.max_output_tokens)),
        (None, None) => protocol
            .filter(|_| model.capabilities.reasoning)
            .and_then(|protocol| ReasoningSpec::of_protocol(protocol, model.max_output_tokens)),
        (Some(_), None) => None,
    };
    let Some(mut spec) = spec else {
        return match written_field {
            Some((_, field, span)) => Err(CatalogError::ReasoningEffortWithoutControl {
                location: at(span),
                model: model.id.clone(),
                field,
            }),
            None => Ok(None),
        };
    };
    if let Some(efforts) = &written.efforts {
        spec.efforts = ReasoningSpec::fitting(
            spec.control,
            EffortSet::of(efforts.get_ref()),
            model.max_output_tokens,
        );
        if spec.efforts.is_empty() {
            return Err(CatalogError::NoReasoningEfforts {
                location: at(Some(efforts.span())),
                model: model.id.clone(),
            });
        }
    }
    if let Some(default_effort) = &written.default_effort {
        spec.default_effort = *default_effort.get_ref();
    }
    if !spec.efforts.contains(spec.default_effort) {
        let span = written
            .default_effort
            .as_ref()
            .map(Spanned::span)
            .or_else(|| written.efforts.as_ref().map(Spanned::span));
        return Err(CatalogError::DefaultEffortNotAccepted {
            location: at(span),
            model: model.id.clone(),
            default_effort: spec.default_effort.as_str(),
            efforts: spec
                .efforts
                .iter()
                .map(ReasoningEffort::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(Some(spec))
}
