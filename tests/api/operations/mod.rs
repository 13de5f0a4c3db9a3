//! What operators rely on: metrics, request ids, logs, the database going
//! away under a running service, and a graceful stop.

mod database_outage;
mod metrics;
mod request_ids;
