//! Integration tests: each spawns the real server on a random port and drives it over HTTP.
//! They run on SQLite, or on PostgreSQL when `BANKD_TEST_DATABASE_URL` is set (see helpers.rs).

mod accounts;
mod auth;
mod authz;
mod backups;
mod balances;
mod connections;
mod connectors;
mod crash_rounds;
mod engine;
mod errors;
mod exports;
mod faults;
mod fints;
mod helpers;
mod isolation;
mod limits;
mod metrics_kit;
mod powens_client;
mod powens_compat;
mod powens_spec;
mod processes;
mod psd2;
mod rotation;
mod secrets;
mod simplefin;
mod spawned;
mod statements;
mod transactions;
mod users;
mod web;
mod webhooks;
mod webview;
mod webview_browser;
mod woob;
mod woob_modules;
