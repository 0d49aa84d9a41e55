//! What a snapshot keeps of the real servers gone from the rules the
//! workers run (`-d`, a reload, or held down by a check) for the
//! connections and persistence templates that still name them, as IPVS's
//! dest in the trash (`__ip_vs_del_dest`, `ip_vs_ctl.c`) keeps its `svc`
//! and each connection keeps the forwarding bits it was bound with: their
//! service ([`keep_service`]) and their forwarding method ([`forwards`]).

use super::{ServiceEntry, ServiceEntry6, ServiceId, ServiceId6, Snapshot};
use crate::config::{Config, DestId, Forward};
use hashbrown::HashMap;

/// What `prev` kept of the servers gone from the rules, carried into the
/// snapshot `cfg` is being built into: a server gone from the table the
/// workers run (`-d`, a reload, or held down by its check) keeps its
/// service for its connections, as IPVS's dest in the trash keeps `svc`,
/// while the service exists, the trash keeps the id and no other server
/// has taken it ([`keep_service`]); and its method ([`forwards`]).
pub(super) fn carry(
    cfg: &Config,
    prev: &Snapshot,
    (services, services6): (
        &HashMap<ServiceId, ServiceEntry>,
        &HashMap<ServiceId6, ServiceEntry6>,
    ),
    (dest_svc, dest_svc6): (&mut Vec<Option<ServiceId>>, &mut Vec<Option<ServiceId6>>),
    (forwards_now, live): (Box<[Forward]>, &[u64]),
) -> Box<[Forward]> {
    let kept = trashed(cfg);
    keep_service(
        dest_svc,
        &prev.dest_svc,
        (|k| services.contains_key(k), &kept),
    );
    keep_service(
        dest_svc6,
        &prev.dest_svc6,
        (|k| services6.contains_key(k), &kept),
    );
    let maps = (&dest_svc[..], &dest_svc6[..]);
    forwards(forwards_now, &prev.forwards, (live, kept), maps)
}

/// Fills the ids `map` has no service for with `prev`'s, where `exists`
/// and the rules still keep the id (`trashed`, see [`forwards`]).
fn keep_service<K: Copy>(
    map: &mut Vec<Option<K>>,
    prev: &[Option<K>],
    (exists, trashed): (impl Fn(&K) -> bool, impl Fn(usize) -> bool),
) {
    let own = map.len();
    if map.len() < prev.len() {
        map.resize(prev.len(), None);
    }
    for (i, (now, before)) in map.iter_mut().zip(prev).enumerate() {
        if now.is_none() && trashed(i) {
            *now = before.filter(|k| exists(k));
        }
    }
    // No longer than the rules' ids and the last one kept.
    while map.len() > own && matches!(map.last(), Some(None)) {
        map.pop();
    }
}

/// `forwards` (the rules' own, by id) with, for each id not `live` whose
/// service either family's map still keeps ([`keep_service`], already
/// applied), the method `prev` had for it: a removed DR or TUN server's
/// connections and templates are reached, and synced, as they were, as
/// IPVS keeps the forwarding bits in `cp->flags` (`ip_vs_bind_dest`,
/// `ip_vs_conn.c`) and `ip_vs_sync_conn` sends them. Only while the rules
/// still keep its id (`trashed`: in their trash, which frees it once no
/// connection or template holds it, `Config::keeps_id`), so what a
/// snapshot keeps stays bounded by what the trash holds however often
/// servers come and go. On the rules' loads only (a pass over `prev`'s
/// ids).
fn forwards<K, K6>(
    forwards: Box<[Forward]>,
    prev: &[Forward],
    (live, trashed): (&[u64], impl Fn(usize) -> bool),
    (svc, svc6): (&[Option<K>], &[Option<K6>]),
) -> Box<[Forward]> {
    let held = |i: usize| {
        let is_live = live.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
        if is_live || !trashed(i) {
            return false;
        }
        let kept = svc.get(i).is_some_and(Option::is_some);
        kept || svc6.get(i).is_some_and(Option::is_some)
    };
    let keep = |i: usize| prev[i] != Forward::Masq && held(i);
    let Some(len) = (0..prev.len()).rev().find(|&i| keep(i)).map(|i| i + 1) else {
        return forwards;
    };
    let mut v = forwards.into_vec();
    if v.len() < len {
        v.resize(len, Forward::Masq);
    }
    for i in (0..len).filter(|&i| keep(i)) {
        v[i] = prev[i];
    }
    v.into_boxed_slice()
}

/// Whether `cfg` still keeps id `i`, live or in its trash
/// (`Config::keeps_id`).
fn trashed(cfg: &Config) -> impl Fn(usize) -> bool + '_ {
    |i| u32::try_from(i).is_ok_and(|i| cfg.keeps_id(DestId(i)))
}

#[cfg(test)]
mod test {
    use super::*;

    /// A removed server's service is kept while its service exists and the
    /// rules' trash keeps its id; past the rules' own ids the map ends at
    /// the last one kept.
    #[test]
    fn a_gone_servers_service_is_kept_while_the_trash_keeps_its_id() {
        let prev = [Some(1u8), Some(2), Some(1), Some(1)];
        let exists = |k: &u8| *k == 1;
        // The rules have ids 0 and 1 (1 free); 2 is trashed, 3 freed.
        let mut map = vec![Some(1u8), None];
        keep_service(&mut map, &prev, (exists, |i| i != 3));
        assert_eq!(map, [Some(1), None, Some(1)], "2 kept; 1's service gone");
        // Everything freed: back to the rules' own length.
        let mut map = vec![Some(1u8), None];
        keep_service(&mut map, &prev, (exists, |_| false));
        assert_eq!(map, [Some(1), None]);
    }

    #[test]
    fn a_gone_servers_method_is_kept_while_its_service_holds_it() {
        let prev = [Forward::Masq, Forward::Route, Forward::Route];
        // Id 0 is live (NAT); 1 is gone, its service holds it; 2 is gone
        // with its service.
        let svc = [Some(1u8), Some(1), None];
        let none6: [Option<u8>; 0] = [];
        let trashed = |_| true;
        let f = forwards(Box::default(), &prev, (&[0b001], trashed), (&svc, &none6));
        assert_eq!(&f[..], [Forward::Masq, Forward::Route]);
        // Held by the IPv6 map alike.
        let f = forwards(Box::default(), &prev, (&[0b001], trashed), (&none6, &svc));
        assert_eq!(&f[..], [Forward::Masq, Forward::Route]);
        // Added back (as NAT): the rules' own method.
        let f = forwards(Box::default(), &prev, (&[0b011], trashed), (&svc, &none6));
        assert!(f.is_empty(), "{f:?}");
        // Freed from the trash (nothing holds it): forgotten.
        let f = forwards(
            Box::default(),
            &prev,
            (&[0b001], |i| i != 1),
            (&svc, &none6),
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
