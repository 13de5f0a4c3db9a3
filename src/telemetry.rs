//! What the service tells its operators: log lines (`logging`) and the
//! Prometheus metrics behind `/metrics` (`metrics`).

mod line_layer;
pub mod log_writer;
pub mod logging;
pub mod metrics;
pub mod request_id;

pub use logging::init;
