//! `/api/v1/users`: every row of API.md's users table.

mod create;
mod delete;
mod list;
mod update;
