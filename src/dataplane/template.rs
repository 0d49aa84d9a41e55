//! Persistence templates seen from a worker: the key of the template a
//! connection is counted on, counting a synced connection on it and a
//! leaving one off it, and a connection assuring it (`nat::persist` keeps
//! the templates themselves).

use super::family::Family;
use super::worker::Core;
use crate::nat::conn::TEMPLATE_ASSURED;
use crate::nat::persist::{TemplateKey, Templates};
use crate::nat::{Conn, Snapshot};

impl Core {
    /// Connection `idx` assures its persistence template (its first
    /// establishment or UDP reply; a lock of the template's shard, once or
    /// so per connection), and keeps [`TEMPLATE_ASSURED`] to say so.
    #[cold]
    pub(super) fn assure_template<A: Family>(&mut self, idx: u32) {
        let c = A::table(self).get(idx);
        if let Some(key) = template_key(&self.snap.cfg, c) {
            A::templates(&self.shared).assure(key, Some(c.template_gen()));
        }
        A::table_mut(self).set_template_assured(idx);
    }

    /// Count synced connection `idx`, installed without a template, on its
    /// client's template in the shared ones if that sends it to its real
    /// server ([`Templates::adopt`]): a report of it then brings the
    /// template, as the master's reports of it did, so that after a
    /// takeover the resend sweep passes the templates on too. A deliberate
    /// difference: IPVS's backup leaves a synced connection without its
    /// control template (`ip_vs_proc_conn`). A lock of the template's
    /// shard, on the sync install path only.
    #[cold]
    pub(super) fn adopt_template<A: Family>(&mut self, idx: u32) {
        let c = A::table(self).get(idx);
        if c.template != 0 {
            return;
        }
        let Some(p) = A::conn_service(&self.snap.cfg, c).and_then(|s| s.entry.persist) else {
            return;
        };
        let Some(key) = template_key(&self.snap.cfg, c) else {
            return;
        };
        let now = self.clock.now_s;
        let Some((generation, assured)) =
            A::templates(&self.shared).adopt(key, c.dest(), p.mask, now)
        else {
            return;
        };
        let bit = if assured { TEMPLATE_ASSURED } else { 0 };
        A::table_mut(self).set_template(idx, generation | bit);
    }
}

/// Uncount a connection leaving at `now` on its persistence template, if it
/// has one.
pub(super) fn release_template<A: Family>(
    templates: &Templates<A>,
    cfg: &Snapshot,
    c: &Conn<A>,
    now: u32,
) {
    if c.template == 0 {
        return;
    }
    if let Some(key) = template_key(cfg, c) {
        templates.release(key, c.template_gen(), now);
    }
}

/// The key of the persistence template `c` would be counted on: its
/// client's under the service it was scheduled by (its real server's,
/// `Family::conn_service`) and that service's current netmask (if `-M`
/// changed, the template of the old mask is swept: it would not be found
/// or not match generations); `None` for a service not persistent.
pub(super) fn template_key<A: Family>(cfg: &Snapshot, c: &Conn<A>) -> Option<TemplateKey<A>> {
    let svc = A::conn_service(cfg, c)?;
    let p = svc.entry.persist?;
    Some(TemplateKey::new(svc.id, c.client, p.mask))
}
