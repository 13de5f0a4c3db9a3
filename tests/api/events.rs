//! Events: the outbox (an event exactly when its change committed), the
//! feed (never skips), and webhook deliveries to real receivers that
//! verify every signature with the Python `standardwebhooks` package.

pub mod deliveries;
mod faults;
mod feed;
