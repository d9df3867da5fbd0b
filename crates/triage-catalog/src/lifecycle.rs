//! Lifecycle resolution: a requested model id becomes a usable model, with a warning when the
//! model is deprecated or was replaced by its successor.

use std::fmt;

use time::Date;

use crate::Model;

/// A model id resolved to a usable model.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    /// The model to use: the one asked for, or the end of its successor chain.
    pub model: &'a Model,
    /// The id that was asked for.
    pub requested: String,
    /// Why the answer deserves a second look, if it does.
    pub warning: Option<LifecycleWarning>,
}

/// A note about a resolved model's lifecycle, to show to the user or log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleWarning {
    /// The requested model is retired; its successor (followed transitively) is used instead.
    Retired {
        /// The id asked for.
        requested: String,
        /// The day it retired.
        retired_on: Date,
        /// The model used instead.
        successor: String,
    },
    /// The model is deprecated but still served.
    Deprecated {
        /// The model's id.
        model: String,
        /// The day it was deprecated, when recorded.
        deprecated_on: Option<Date>,
        /// The day it will retire, when announced.
        retires_on: Option<Date>,
        /// The model to move to, when named.
        successor: Option<String>,
    },
}

impl fmt::Display for LifecycleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleWarning::Retired {
                requested,
                retired_on,
                successor,
            } => write!(
                f,
                "{requested} retired on {retired_on}; using its successor {successor}"
            ),
            LifecycleWarning::Deprecated {
                model,
                deprecated_on,
                retires_on,
                successor,
            } => {
                write!(f, "{model} is deprecated")?;
                if let Some(day) = deprecated_on {
                    write!(f, " since {day}")?;
                }
                match retires_on {
                    Some(day) => write!(f, " and retires on {day}")?,
                    None => write!(f, " (no retirement date announced)")?,
                }
                if let Some(successor) = successor {
                    write!(f, "; move to {successor}")?;
                }
                Ok(())
            }
        }
    }
}
