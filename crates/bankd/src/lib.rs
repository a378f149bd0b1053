//! bankd: a self-hosted bank aggregation server, wire-compatible with the Powens API 2.0 (Bank).
//!
//! The flow goes one way: [`api`] (HTTP, Powens wire format) calls [`store`] (SQLite or PostgreSQL)
//! and [`sync`]; `sync` asks a [`sources`] plug-in what the bank says and applies it through the
//! pure rules of [`domain`]; [`startup`] wires them from [`config`] and the [`catalog`].

pub mod api;
pub mod catalog;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod import;
pub mod simulators;
pub mod sources;
pub mod startup;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod webhooks;
pub mod webview;
