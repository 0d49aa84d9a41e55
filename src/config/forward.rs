//! How a real server is reached (ipvsadm's `-m`, `-g`, `-i`).

use serde::{Deserialize, Serialize};

/// The forwarding method of a real server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Forward {
    #[default]
    Masq,
    Route,
    Tunnel(Tunnel),
}

/// A tunnel's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tunnel {
    pub kind: TunKind,
    pub port: u16,
    pub csum: TunCsum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunKind {
    Ipip,
    Gue,
    Gre,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TunCsum {
    NoCsum,
    Csum,
    RemCsum,
}
