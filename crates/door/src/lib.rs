//! `openlatch-door`: an OpenLatch door controller for Linux.
//!
//! The core (`core`) decides with the `ol02` engine from the last verified
//! list, with time as a parameter; the daemon (`daemon`) connects it to a
//! reader, a lock, indicators, the on-disk state (`store`) and the server
//! (`uplink`). See docs/door.md.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod indicator;
pub mod lock;
pub mod reader;
pub mod store;
pub mod uplink;
