//! Persistence engines (`ipvsadm --pe`): the kernel has one, `sip`.

use super::AdmError;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A persistence engine (`--pe`, IPVS's `struct ip_vs_pe`): what else than
/// the client's address a persistent service's templates are found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PersistEngine {
    /// `ip_vs_pe_sip`: a UDP datagram's SIP Call-ID (`nat::sip`).
    Sip,
}

impl PersistEngine {
    pub fn name(self) -> &'static str {
        match self {
            PersistEngine::Sip => "sip",
        }
    }
}

impl FromStr for PersistEngine {
    type Err = AdmError;

    /// The kernel's one engine; another name is what the kernel answers
    /// (`ip_vs_pe_getbyname` finds none: "Scheduler or persistence engine
    /// not found").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sip" => Ok(PersistEngine::Sip),
            _ => Err(AdmError::SchedulerNotFound),
        }
    }
}
