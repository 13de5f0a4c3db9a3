//! What the service tells its operators: log lines (`logging`) and the
//! Prometheus metrics behind `/metrics` (`metrics`).

pub mod log_writer;
pub mod logging;
pub mod metrics;

pub use logging::init;
