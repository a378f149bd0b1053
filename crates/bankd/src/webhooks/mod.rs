//! Webhooks: client apps learn about fresh data from signed POSTs instead of polling.
//!
//! The path of an event: a store write emits it in its own database transaction (the outbox,
//! `store::outbox`), with one pending delivery per subscribed URL (`store::webhooks`); the
//! [`delivery`] workers claim those, render the payload in Powens' shapes ([`payload`]), sign it
//! ([`signing`]) and POST it through a client that only reaches public addresses ([`client`],
//! [`safety`]), retrying with back-off and keeping each user's events in order.

pub mod client;
pub mod delivery;
pub mod payload;
pub mod safety;
pub mod signing;
