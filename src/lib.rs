//! orderly: a users-and-orders HTTP JSON API on PostgreSQL or SQLite.
//!
//! `main.rs` only parses the command line; everything else lives here so that
//! the integration tests build the very same application. Layers, top down:
//! `http` (parse, call a use case, render), `app` (the use cases and the
//! rules that span storage calls), `storage` (rows and transactions, one
//! backend per database), with `domain` types passed between them.

pub mod admin;
pub mod app;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod webhooks;
