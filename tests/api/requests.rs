//! Hostile, malformed and slow requests, channel by channel.

mod bodies;
mod hostile;
mod slow;
mod targets;
