//! The pure core of a run: its events, the outcome of a step with its failure class, the control
//! signals, the ledger and circuit breaker, and the projection that folds events into the state
//! every decision is taken from.
//!
//! **Architecture invariant:** this module depends on nothing else in the crate (only on std,
//! serde, humantime and the plugin SDK's data types), performs no I/O and reads no clock: a
//! run's state is `RunState::apply` folded over its journal, live and on resume alike.

pub mod breaker;
pub mod event;
pub mod ledger;
pub mod outcome;
pub mod projection;
pub mod signal;
