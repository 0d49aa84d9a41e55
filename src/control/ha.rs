//! The HA role and the connection-sync daemons, as `ringvs adm` drives them:
//! `--ha active|standby`, `--start-daemon`/`--stop-daemon` and `-L --daemon`.

use super::Ctl;

impl Ctl {
    /// Make the director active or standby. The workers follow at their next
    /// pass; the control thread announces every address with gratuitous ARP
    /// when the director becomes active (`neigh.rs`).
    pub(super) fn set_role(&self, standby: bool) {
        let was = self.shared.ha.standby();
        self.shared.ha.set_standby(standby);
        self.shared.bump();
        if was != standby {
            eprintln!("ringvs: now {}", role_name(standby));
        }
    }

    /// `active` or `standby`.
    pub(super) fn role(&self) -> &'static str {
        role_name(self.shared.ha.standby())
    }
}

fn role_name(standby: bool) -> &'static str {
    if standby { "standby" } else { "active" }
}
