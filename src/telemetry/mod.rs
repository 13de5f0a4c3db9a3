//! What the service tells its operators: log lines (`logging`) and the
//! Prometheus metrics behind `/metrics` (`metrics`).

pub mod logging;
pub mod metrics;

pub use logging::init;
