//! bankd: a self-hosted bank aggregation server, wire-compatible with the Powens API 2.0 (Bank).
//!
//! Imports flow one way, from [`startup`] (the composition root) down to [`domain`]; the test
//! `tests/layers.rs` holds the house to it. Top to bottom:
//! - [`startup`]: builds the state, mounts every HTTP surface on one router, starts the workers;
//!   above it only [`doctor`], which checks a configuration and the world it needs with startup's own parts;
//! - [`api`] (the Powens routes) and [`webview`] (the Connect pages): two front ends, side by side;
//! - [`http`]: the extractors, middleware and operator endpoints both stand on;
//! - [`usecases`]: what both front ends do (connect, answer the bank, consent, import a file);
//! - [`state`] (what every surface shares) and [`webhooks`] (signed deliveries of the outbox);
//! - [`sync`] (the engine, its workers and scheduler), [`import`] (statement files), and [`wire`]
//!   (the Powens format: views, error envelope, request values);
//! - [`store`] (SQLite or PostgreSQL) and [`simulators`] (the banks' side of the sandbox);
//! - [`sources`] (bankd's side of every bank), the [`catalog`] of connectors, [`config`],
//!   [`crypto`], [`telemetry`], and the pure rules of [`domain`].

pub mod api;
pub mod catalog;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod doctor;
pub mod domain;
pub mod export;
pub mod http;
pub mod https;
pub mod import;
pub mod limits;
pub mod simplefin;
pub mod simulators;
pub mod sources;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod usecases;
pub mod webhooks;
pub mod webview;
pub mod wire;
