//! A service's real servers in a [`Config`]: `-a` (with the kernel's order of
//! refusals), `-e`, `-d`, and their settings (forwarding method, connection
//! thresholds, the address its health check goes to).

use std::net::IpAddr;

use super::{AdmError, Config, Dest, DestId, Forward, ServiceKey, check_family, unicast};

impl Dest {
    /// Its connection thresholds: (`-x`, `-y`).
    pub fn limits(&self) -> (u32, u32) {
        (self.u_threshold, self.l_threshold)
    }
}

impl Config {
    /// Sets a real server's connection thresholds (`-x`, `-y`).  A lower
    /// threshold above the upper one is refused, as by the kernel.
    pub fn set_dest_thresholds(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
        u_threshold: u32,
        l_threshold: u32,
    ) -> Result<(), AdmError> {
        if l_threshold > u_threshold {
            return Err(AdmError::ThresholdRange);
        }
        let d = self.dest_mut(key, addr.into(), port)?;
        d.u_threshold = u_threshold;
        d.l_threshold = l_threshold;
        Ok(())
    }

    /// Puts real server `id` at the head of the kernel's list of its
    /// service (the end of `dests`, the newest), as a server deleted and
    /// added again: what keepalived does to a server its check brings back
    /// after holding it down without `inhibit_on_failure`
    /// (`check/ipwrapper.c`: `perform_svr_state` sends `LVS_CMD_ADD_DEST`,
    /// and the kernel's `__ip_vs_update_dest` adds it at the head of
    /// `svc->destinations`). Its id, weight and settings stay. True if it
    /// moved.
    pub fn raise_dest(&mut self, id: DestId) -> bool {
        for svc in &mut self.services {
            let Some(j) = svc.dests.iter().position(|d| d.id == id) else {
                continue;
            };
            if j + 1 == svc.dests.len() {
                return false;
            }
            let d = svc.dests.remove(j);
            svc.dests.push(d);
            return true;
        }
        false
    }

    /// Real server `addr:port` of service `key`, to change; the errors
    /// ipvsadm gives for a missing service or server.
    fn dest_mut(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
    ) -> Result<&mut Dest, AdmError> {
        let i = self.service_index(key).ok_or(AdmError::ServiceNotDefined)?;
        let svc = &mut self.services[i];
        let j = svc.dest_index(addr, port).ok_or(AdmError::NoSuchDest)?;
        Ok(&mut svc.dests[j])
    }

    /// Sets a real server's forwarding method (`-m`, `-g`, `-i` and the
    /// tunnel options); a tunnel [`Tunnel::check`] refuses is not set, nor a
    /// method other than tunnelling for a server of the other family.
    pub fn set_dest_forward(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
        forward: Forward,
    ) -> Result<(), AdmError> {
        let addr = addr.into();
        forward.check()?;
        let d = self.dest_mut(key, addr, port)?;
        check_family(key.addr, addr, forward)?;
        d.forward = forward;
        Ok(())
    }

    /// `-a`: adds a masquerading real server to a service and returns its
    /// new id ([`Config::set_dest_forward`] sets another method).
    pub fn add_dest(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
        weight: u32,
    ) -> Result<DestId, AdmError> {
        self.add_dest_with(key, addr, port, weight, Forward::Masq)
    }

    /// `-a` with its forwarding method: the way to add a tunnelled real
    /// server of the other family than its service.
    pub fn add_dest_with(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
        weight: u32,
        forward: Forward,
    ) -> Result<DestId, AdmError> {
        // The kernel's order: the service, the family
        // (`ip_vs_genl_set_cmd`), the tunnel, the duplicate (`ip_vs_add_dest`),
        // the address (`ip_vs_new_dest`).
        let addr = addr.into();
        let i = self.service_index(key).ok_or(AdmError::ServiceNotDefined)?;
        check_family(key.addr, addr, forward)?;
        forward.check()?;
        if self.services[i].dest(addr, port).is_some() {
            return Err(AdmError::DestExists);
        }
        if !unicast(addr) {
            return Err(AdmError::InvalidOperation);
        }
        let at = super::TrashKey {
            key: *key,
            addr,
            port,
            sorry: false,
        };
        let id = match self.take_back(at) {
            Some(id) => id,
            None => self.alloc_id()?,
        };
        self.services[i].dests.push(Dest {
            addr,
            port,
            weight,
            id,
            u_threshold: 0,
            l_threshold: 0,
            forward,
            check_ip: None,
        });
        Ok(id)
    }

    /// Sets (or with `None` clears) the address a real server's health
    /// check goes to (`--check-ip`, keepalived's `connect_ip`); its own
    /// address is none. Refused unless unicast, as a real server's own.
    pub fn set_dest_check_ip(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
        check_ip: Option<IpAddr>,
    ) -> Result<(), AdmError> {
        if check_ip.is_some_and(|ip| !unicast(ip)) {
            return Err(AdmError::Usage("illegal check-ip specified".into()));
        }
        let d = self.dest_mut(key, addr, port)?;
        d.check_ip = check_ip.filter(|&ip| ip != addr);
        Ok(())
    }

    /// Whether some real server is of the other family than its service (a
    /// tunnel): IPVS then refuses to start a sync daemon
    /// (`ip_vs_genl_new_daemon`, `mixed_address_family_dests`).
    pub fn has_mixed_families(&self) -> bool {
        self.services.iter().any(|s| {
            s.dests
                .iter()
                .any(|d| d.addr.is_ipv6() != s.key.addr.is_ipv6())
        })
    }

    /// `-e`: sets a real server's weight; returns its (unchanged) id.
    pub fn edit_dest(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
        weight: u32,
    ) -> Result<DestId, AdmError> {
        let d = self.dest_mut(key, addr.into(), port)?;
        d.weight = weight;
        Ok(d.id)
    }

    /// `-d`: removes a real server; returns the id it had.
    pub fn del_dest(
        &mut self,
        key: &ServiceKey,
        addr: impl Into<IpAddr>,
        port: u16,
    ) -> Result<DestId, AdmError> {
        let i = self.service_index(key).ok_or(AdmError::ServiceNotDefined)?;
        let svc = &mut self.services[i];
        let j = svc
            .dest_index(addr.into(), port)
            .ok_or(AdmError::NoSuchDest)?;
        let d = svc.dests.remove(j);
        svc.forget_scripts(d.addr, d.port);
        self.ids_in_use.remove(&d.id.0);
        self.keep_aside(super::TrashKey::real(*key, &d), d.id, d.limits());
        Ok(d.id)
    }
}
