//! Hostile, malformed and slow requests, channel by channel.

mod bodies;
mod slow;
mod targets;
