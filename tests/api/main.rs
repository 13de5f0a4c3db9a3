//! The integration tests: one binary, a module per resource. Every test runs
//! the real app over HTTP on a real port, against both PostgreSQL and SQLite.

mod helpers;

mod errors;
mod idempotency;
mod orders;
mod seed;
mod users;
