//! Where users' databases and clients live: PostgreSQL that requires TLS
//! (servers of the tests' own, with their own CA), PgBouncer in front
//! (both pooling modes), and browsers on other origins (CORS in headless
//! Chromium, compressed responses).

mod browsers;
mod pgbouncer;
mod startup;
mod tls;
