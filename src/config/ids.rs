//! The ids of a [`Config`]'s real servers: handed out in turn, skipping
//! those in use, and kept aside for a removed server so that it gets its own
//! back when added again (the trash, as IPVS's: `ip_vs_trash_get_dest`).

use std::net::IpAddr;

use super::{AdmError, Config, Dest, DestId, MAX_DEST_IDS, ServiceKey};

/// How many removed real servers keep their ids ([`Config`]'s trash).
pub const TRASH_MAX: usize = 4096;

impl Config {
    /// Whether some real server (or sorry server) has id `id`.
    pub fn has_id(&self, id: DestId) -> bool {
        self.ids_in_use.contains(&id.0)
    }

    /// Whether `id` is a server's, now or kept for a removed one to have back
    /// (the trash).
    pub fn keeps_id(&self, id: DestId) -> bool {
        self.ids_in_use.contains(&id.0) || self.trashed.contains(&id.0)
    }

    /// Number of server ids in use over all services: real servers and
    /// sorry servers.
    pub fn dest_count(&self) -> usize {
        self.ids_in_use.len()
    }

    /// Keeps removed server `d` of service `key` with its id (see `trash`).
    pub(super) fn keep_aside(&mut self, key: ServiceKey, d: &Dest) {
        if self.trash.len() >= TRASH_MAX
            && let Some((.., old)) = self.trash.pop_front()
        {
            self.trashed.remove(&old.0);
        }
        self.trash.push_back((key, d.addr, d.port, d.id));
        self.trashed.insert(d.id.0);
    }

    /// The id kept for server `addr:port` of service `key`, taken out of the
    /// trash.
    pub(super) fn take_back(&mut self, key: ServiceKey, addr: IpAddr, port: u16) -> Option<DestId> {
        let at = self
            .trash
            .iter()
            .position(|&(k, a, p, _)| (k, a, p) == (key, addr, port))?;
        let (.., id) = self.trash.remove(at)?;
        self.trashed.remove(&id.0);
        self.ids_in_use.insert(id.0).then_some(id)
    }

    pub(super) fn alloc_id(&mut self) -> Result<DestId, AdmError> {
        for _ in 0..MAX_DEST_IDS {
            let id = self.next_id;
            self.next_id = (self.next_id + 1) % MAX_DEST_IDS;
            if !self.trashed.contains(&id) && self.ids_in_use.insert(id) {
                return Ok(DestId(id));
            }
        }
        // Every free id is kept for a removed server: the oldest gives its up.
        while let Some((.., id)) = self.trash.pop_front() {
            self.trashed.remove(&id.0);
            if self.ids_in_use.insert(id.0) {
                return Ok(id);
            }
        }
        Err(AdmError::NoMemory)
    }
}
