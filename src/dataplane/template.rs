//! Persistence templates seen from a worker: the key of the template a
//! connection is counted on, counting a leaving connection off it, and a
//! connection assuring it (`nat::persist` keeps the templates themselves).

use super::family::Family;
use super::worker::Core;
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
