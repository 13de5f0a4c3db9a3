//! The adoption plan: what of the schema fits orderly as it is, what
//! orderly adds (each step safe on a live database), what it leaves as it
//! is, and what stops it. Made in three stages: the catalog is compared
//! with orderly's needs into typed findings (`compare.rs`,
//! `findings.rs`), the steps are derived from the findings (`steps.rs`),
//! and the printed plan from both (`report.rs`).

mod compare;
mod findings;
mod report;
mod steps;
#[cfg(test)]
mod tests;

use super::catalog::Catalog;
use findings::{Blocker, Finding, Fit, Kept};
pub use steps::{Lock, Step};

#[derive(Debug)]
pub struct Plan {
    /// What the comparison found, in the order the report lists it.
    pub findings: Vec<Finding>,
    /// The statements that carry out the findings, in the order they run.
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn of(catalog: &Catalog) -> Self {
        let findings = compare::findings(catalog);
        let steps = steps::of(&findings);
        Plan { findings, steps }
    }

    pub fn adoptable(&self) -> bool {
        self.blockers().next().is_none()
    }

    pub fn fits(&self) -> impl Iterator<Item = &Fit> {
        self.findings.iter().filter_map(|f| match f {
            Finding::Fits(fit) => Some(fit),
            _ => None,
        })
    }

    pub fn kept(&self) -> impl Iterator<Item = &Kept> {
        self.findings.iter().filter_map(|f| match f {
            Finding::Kept(kept) => Some(kept),
            _ => None,
        })
    }

    pub fn blockers(&self) -> impl Iterator<Item = &Blocker> {
        self.findings.iter().filter_map(|f| match f {
            Finding::Blocker(blocker) => Some(blocker),
            _ => None,
        })
    }
}
