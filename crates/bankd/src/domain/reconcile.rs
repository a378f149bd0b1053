//! Pending → booked reconciliation (stub, being written).
