//! The integration tests: one binary, a module per resource or concern.
//! Every test runs the real app over HTTP on a real port, against both
//! PostgreSQL and SQLite unless it says why not.

mod helpers;

mod access;
mod adoption;
mod constraints;
mod crash;
mod deployment;
mod docs;
mod embedded;
mod events;
mod idempotency;
mod instances;
mod migrations;
mod operations;
mod orders;
mod replication;
mod requests;
mod seed;
mod users;
