//! Plumbing that every rapport service shares and none of them owns: the layered configuration
//! (`rapport.toml` + `RAPPORT_*` overrides + `env:`/`file:` secrets), tracing setup, the
//! Prometheus registry, the health registry, the admin HTTP router (`/metrics`,
//! `/health/live`, `/health/ready`) and shutdown on SIGTERM/SIGINT.
//!
//! Service logic (webhooks, consuming, metrics math) lives in the service crates, not here.

pub mod admin;
pub mod config;
pub mod health;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

pub use admin::{admin_router, serve_admin, AdminState};
pub use config::{Config, ConfigError};
pub use health::{Health, HealthHandle};
pub use secret::{Secret, SecretError, Secrets};
pub use shutdown::Shutdown;
