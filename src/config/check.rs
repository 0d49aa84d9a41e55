//! A service's health check (`--check`, keepalived's `TCP_CHECK` and
//! `HTTP_GET`), in keepalived's terms; `health` carries it out.

use serde::{Deserialize, Serialize};

/// What a health check does to decide that a real server is alive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckKind {
    /// keepalived's `TCP_CHECK`: the TCP handshake completes.
    Tcp,
    /// keepalived's `HTTP_GET`: `GET path` answers with status `status`.
    Http { path: String, status: u16 },
}

/// keepalived's defaults (keepalived.conf(5)).
pub const DEFAULT_DELAY_LOOP: u32 = 60;
pub const DEFAULT_CONNECT_TIMEOUT: u32 = 5;
pub const DEFAULT_RETRY: u32 = 1;
pub const DEFAULT_DELAY_BEFORE_RETRY: u32 = 1;
pub const DEFAULT_CHECK_STATUS: u16 = 200;
pub const DEFAULT_CHECK_PATH: &str = "/";

/// A service's health check, in keepalived's terms.  Times are seconds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HealthCheck {
    pub kind: CheckKind,
    /// Seconds between checks of a server (`delay_loop`).
    pub delay_loop: u32,
    /// Seconds a check may take, handshake and answer (`connect_timeout`).
    pub connect_timeout: u32,
    /// Failed tries repeated before the server is declared down (`retry`):
    /// a server goes down after `retry + 1` failures in a row.
    pub retry: u32,
    /// Seconds between a failed try and its retry (`delay_before_retry`).
    pub delay_before_retry: u32,
    /// On failure set the weight to 0 instead of removing the server
    /// (`inhibit_on_failure`).
    pub inhibit_on_failure: bool,
    /// keepalived's `alpha`: a server starts down, and is put in only once
    /// its first check passes (without it a server starts up).
    #[serde(default)]
    pub alpha: bool,
}

impl HealthCheck {
    /// A check of kind `kind` with keepalived's defaults.
    pub fn new(kind: CheckKind) -> Self {
        HealthCheck {
            kind,
            delay_loop: DEFAULT_DELAY_LOOP,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: DEFAULT_RETRY,
            delay_before_retry: DEFAULT_DELAY_BEFORE_RETRY,
            inhibit_on_failure: false,
            alpha: false,
        }
    }
}
