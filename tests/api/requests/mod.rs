//! Hostile and malformed requests, channel by channel.

mod bodies;
mod targets;
