//! The seed routing table: for each class, an ordered list of model ids, the first preferred.

use triage_types::RouteClass;

/// For each routing class, the models to use, best first. The first is the seed model of the
/// routing table; later ones are same-tier alternatives from other providers for failover.
///
/// Every list of a validated catalog is non-empty and names models of that catalog (possibly
/// retired ones, which [`crate::Catalog::resolve`] maps to their successors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTable {
    pub(crate) by_class: [Vec<String>; 6],
}

impl RouteTable {
    /// The models of `class`, best first.
    pub fn models(&self, class: RouteClass) -> &[String] {
        &self.by_class[class.index()]
    }

    /// The preferred model of `class` (the first of its list), as written in the catalog; it
    /// may be retired, so resolve it before use.
    pub fn primary(&self, class: RouteClass) -> Option<&str> {
        self.models(class).first().map(String::as_str)
    }

    /// Every class with its models, in routing-table order.
    pub fn iter(&self) -> impl Iterator<Item = (RouteClass, &[String])> {
        RouteClass::ALL
            .into_iter()
            .map(|class| (class, self.models(class)))
    }
}
