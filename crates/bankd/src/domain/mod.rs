//! The pure rules of bank aggregation: no I/O, no serde for the wire, no SQL. Everything here is
//! unit-tested exhaustively, because everything else relies on it.

pub mod archiving;
pub mod bank;
pub mod money;
pub mod reconcile;
pub mod schedule;
pub mod states;
