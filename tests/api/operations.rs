//! What operators rely on: metrics, request ids, logs, the database going
//! away under a running service, and a graceful stop.

mod database_outage;
mod logs;
mod metrics;
mod openapi;
mod request_ids;
mod shutdown;
