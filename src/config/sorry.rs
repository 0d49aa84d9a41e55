//! keepalived's sorry server (`sorry_server`, `sorry_server_inhibit`,
//! `sorry_server_lvs_method`; `--sorry-server` in ringvs's ipvsadm syntax):
//! a server put in a service when none of its real servers can take a new
//! connection.
//!
//! keepalived adds it when the service loses its quorum: the weights of the
//! real servers that pass their checks add up to less than `quorum`
//! (`update_quorum_state`, `check/ipwrapper.c`; `quorum` 1 and `hysteresis`
//! 0 by default, the only values ringvs takes: it warns about others), and
//! removes it (or with `sorry_server_inhibit` sets its weight to 0) when the
//! quorum is back. The rules keep it beside the real servers; the table the
//! workers run has it only while it is needed (`health::effective`, which
//! decides from the rules and the servers held down).

use super::{AdmError, Config, Dest, DestId, Forward, Service, ServiceKey, TrashKey, check_family};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A service's sorry server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: u16,
    /// How it is reached (keepalived's `sorry_server_lvs_method`, else the
    /// service's method).
    pub forward: Forward,
    /// `sorry_server_inhibit`: kept in the service with weight 0 while the
    /// real servers hold the quorum, rather than taken out.
    pub inhibit: bool,
    /// Its id, taken with the real servers' and kept while it is configured,
    /// so that its connections and counters stay its own.
    pub id: DestId,
}

/// keepalived's `quorum` and `hysteresis` of a virtual server
/// (`--quorum`, `--hysteresis`): the service holds its quorum while the
/// weights of its real servers that are up add up to at least `quorum`;
/// `hysteresis` widens the step both ways (gained at `quorum + hysteresis`,
/// lost below `quorum - hysteresis` or at 0; `health::quorum` keeps the
/// state). While the quorum is lost, the sorry server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quorum {
    pub quorum: u32,
    pub hysteresis: u32,
}

impl Default for Quorum {
    /// keepalived's defaults: 1 and 0.
    fn default() -> Self {
        Quorum {
            quorum: 1,
            hysteresis: 0,
        }
    }
}

impl Quorum {
    /// The two values keepalived works with for a service whose real
    /// servers' configured weights add up to `total`, as its configuration
    /// check clamps them (`check_data.c`, `validate_check_config`): a
    /// quorum above `total` is lowered to it, and a hysteresis of the
    /// quorum or more to one less. ringvs's real servers and weights change
    /// at run time, so this is done whenever the quorum is weighed.
    pub fn bounds(&self, total: u64) -> (u64, u64) {
        let q = u64::from(self.quorum).min(total);
        (q, u64::from(self.hysteresis).min(q.saturating_sub(1)))
    }
}

/// A sorry server as a command gives it (its id is the table's to choose).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SorryOpts {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: Forward,
    pub inhibit: bool,
}

impl Service {
    /// Its real servers, then its sorry server as one (weight 0): every
    /// server the workers may count traffic under, for counters and metrics.
    pub fn dests_and_sorry(&self) -> impl Iterator<Item = Dest> + '_ {
        let sorry = self.sorry.map(|s| s.as_dest(0));
        self.dests.iter().copied().chain(sorry)
    }
}

impl SorryServer {
    /// It as a real server of weight `weight` (no thresholds).
    fn as_dest(&self, weight: u32) -> Dest {
        Dest {
            addr: self.addr,
            port: self.port,
            weight,
            id: self.id,
            u_threshold: 0,
            l_threshold: 0,
            forward: self.forward,
            check_ip: None,
        }
    }

    /// What a command would give to configure it again.
    pub fn opts(&self) -> SorryOpts {
        SorryOpts {
            addr: self.addr,
            port: self.port,
            forward: self.forward,
            inhibit: self.inhibit,
        }
    }
}

impl Config {
    /// Sets (or with `None` removes) a service's sorry server. One of the
    /// service's family, unless tunnelled, as a real server; the same server
    /// again keeps its id.
    pub fn set_service_sorry(
        &mut self,
        key: &ServiceKey,
        sorry: Option<SorryOpts>,
    ) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        if let Some(o) = &sorry {
            // `-S` writes masquerading or direct routing only.
            if matches!(o.forward, Forward::Tunnel(_)) {
                return Err(AdmError::InvalidOperation);
            }
            check_family(key.addr, o.addr, o.forward)?;
        }
        let old = self.services[i].sorry;
        if old.map(|s| s.opts()) == sorry {
            return Ok(());
        }
        // The same server with other settings keeps its id, as an edited
        // real server; another takes back the id kept for it, or a new one
        // (as keepalived adds and removes it: a dest of IPVS's).
        let new = match sorry {
            Some(o) => {
                let id = match old.filter(|s| (s.addr, s.port) == (o.addr, o.port)) {
                    Some(s) => s.id,
                    None => {
                        let at = TrashKey {
                            key: *key,
                            addr: o.addr,
                            port: o.port,
                            sorry: true,
                        };
                        match self.take_back(at) {
                            Some(id) => id,
                            None => self.alloc_id()?,
                        }
                    }
                };
                Some(SorryServer {
                    addr: o.addr,
                    port: o.port,
                    forward: o.forward,
                    inhibit: o.inhibit,
                    id,
                })
            }
            None => None,
        };
        if let Some(s) = old
            && new.is_none_or(|n| n.id != s.id)
        {
            self.ids_in_use.remove(&s.id.0);
            self.keep_aside(TrashKey::sorry(*key, &s), s.id, (0, 0));
        }
        self.services[i].sorry = new;
        Ok(())
    }

    /// Sets a service's quorum and hysteresis (`--quorum`, `--hysteresis`).
    pub fn set_service_quorum(&mut self, key: &ServiceKey, q: Quorum) -> Result<(), AdmError> {
        let i = self.service_index(key).ok_or(AdmError::NoSuchService)?;
        self.services[i].quorum = q;
        Ok(())
    }

    /// Puts service `key`'s sorry server among its real servers with
    /// `weight`; a real server at its address and port (in the table held
    /// down at weight 0) takes that weight instead, as keepalived does for a
    /// sorry server that duplicates a real server (`s_svr_duplicates_rs`).
    pub(crate) fn put_sorry(&mut self, key: &ServiceKey, weight: u32) {
        let Some(i) = self.service_index(key) else {
            return;
        };
        let svc = &mut self.services[i];
        let Some(s) = svc.sorry else {
            return;
        };
        if let Some(j) = svc.dest_index(s.addr, s.port) {
            let w = &mut svc.dests[j].weight;
            *w = (*w).max(weight);
        } else {
            svc.dests.push(s.as_dest(weight));
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::{Proto, Scheduler};
    use std::net::Ipv4Addr;

    #[test]
    fn a_sorry_server_keeps_its_id_until_it_changes_and_is_kept_in_the_trash() {
        let key = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        let mut c = Config::new();
        c.add_service(key, Scheduler::Rr, None).unwrap();
        let o = SorryOpts {
            addr: Ipv4Addr::new(198, 19, 0, 9).into(),
            port: 80,
            forward: Forward::Masq,
            inhibit: false,
        };
        c.set_service_sorry(&key, Some(o)).unwrap();
        let id = c.service(&key).unwrap().sorry.unwrap().id;
        assert_eq!(c.ids_in_use.len(), 1);
        c.set_service_sorry(&key, Some(o)).unwrap();
        assert_eq!(
            c.service(&key).unwrap().sorry.unwrap().id,
            id,
            "same server"
        );
        let moved = SorryOpts { port: 8080, ..o };
        c.set_service_sorry(&key, Some(moved)).unwrap();
        assert_ne!(c.service(&key).unwrap().sorry.unwrap().id, id);
        assert_eq!(c.ids_in_use.len(), 1, "the old id given back");
        // Of the other family: only tunnelled, as a real server.
        let v6 = SorryOpts {
            addr: "2001:2:0:2::9".parse().unwrap(),
            ..o
        };
        assert_eq!(
            c.set_service_sorry(&key, Some(v6)),
            Err(AdmError::MixedFamily)
        );
        let moved_id = c.service(&key).unwrap().sorry.unwrap().id;
        c.set_service_sorry(&key, None).unwrap();
        assert!(c.ids_in_use.is_empty());
        // Both ids kept in the trash, as any removed server's (its
        // connections may live): not handed to another, and each server
        // gets its own back.
        assert_eq!(c.trashed_ids(), [id, moved_id]);
        let other = SorryOpts { port: 9090, ..o };
        c.set_service_sorry(&key, Some(other)).unwrap();
        assert_eq!(c.service(&key).unwrap().sorry.unwrap().id, DestId(2));
        c.set_service_sorry(&key, Some(o)).unwrap();
        assert_eq!(c.service(&key).unwrap().sorry.unwrap().id, id);
        // Its settings edited, it keeps its id.
        let routed = SorryOpts {
            forward: Forward::Route,
            ..o
        };
        c.set_service_sorry(&key, Some(routed)).unwrap();
        assert_eq!(c.service(&key).unwrap().sorry.unwrap().id, id);
        c.set_service_sorry(&key, Some(o)).unwrap();
        // Put in the table only where no real server has its place.
        c.add_dest(&key, Ipv4Addr::new(198, 19, 0, 9), 80, 1)
            .unwrap();
        c.put_sorry(&key, 1);
        assert_eq!(c.service(&key).unwrap().dests.len(), 1);
    }
}
