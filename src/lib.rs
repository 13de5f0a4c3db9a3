//! orderly: a users-and-orders HTTP JSON API on PostgreSQL or SQLite.
//!
//! `main.rs` only parses the command line; everything else lives here so that
//! the integration tests build the very same application.

pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod storage;
pub mod telemetry;
