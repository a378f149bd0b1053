//! Webhooks (issue 12), the pure parts so far: how a delivery is signed ([`signing`]) and which
//! receiver addresses bankd refuses to call ([`safety`]). Subscriptions, the transactional outbox
//! and the delivery workers come next.

pub mod client;
pub mod safety;
pub mod signing;
