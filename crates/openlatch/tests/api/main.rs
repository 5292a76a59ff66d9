//! Black-box tests of the HTTP API. Each test starts its own server on port 0
//! with a fresh database: SQLite by default, PostgreSQL when
//! `OPENLATCH_TEST_DATABASE_URL` names a server (CI runs both).

mod helpers;

mod allowlist;
mod approvals;
mod audit;
mod auth;
mod backup;
mod db_copy;
mod device_api;
mod hardening;
mod health;
mod import;
mod keypad;
mod keys;
mod list_inputs;
mod members;
mod monitoring;
mod mqtt;
mod notifications;
mod rules;
mod service;
mod settings;
mod storage_failures;
mod upgrade;
mod web_browser;
mod web_pages;
mod web_support;
mod zones;
