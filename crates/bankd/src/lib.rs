//! bankd: a self-hosted bank aggregation server, wire-compatible with the Powens API 2.0 (Bank).
//!
//! The flow goes one way: [`api`] (HTTP, Powens wire format) calls [`store`] (SQLite or PostgreSQL)
//! and the pure rules of [`domain`]; [`startup`] wires them from [`config`].

pub mod api;
pub mod config;
pub mod crypto;
pub mod startup;
pub mod store;
pub mod telemetry;
