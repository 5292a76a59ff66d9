//! OpenLatch: the access-control backend for community spaces.
//!
//! Layers, each with its own error type: `domain` (pure types and rules),
//! `storage` (SQLite and PostgreSQL through one query path), `app` (use
//! cases and transactions), `http` (axum routes; the only place errors
//! become status codes).
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod domain;
pub mod http;
pub mod ops;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tls;
