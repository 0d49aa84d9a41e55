//! What a snapshot keeps of the real servers gone from the rules the
//! workers run (`-d`, a reload, or held down by a check) for the
//! connections and persistence templates that still name them, as IPVS's
//! dest in the trash (`__ip_vs_del_dest`, `ip_vs_ctl.c`) keeps its `svc`
//! and each connection keeps the forwarding bits it was bound with: their
//! service ([`keep_service`]) and their forwarding method ([`forwards`]).

use crate::config::Forward;

/// Fills the ids `map` has no service for with `prev`'s, where `exists`.
pub(super) fn keep_service<K: Copy>(
    map: &mut Vec<Option<K>>,
    prev: &[Option<K>],
    exists: impl Fn(&K) -> bool,
) {
    if map.len() < prev.len() {
        map.resize(prev.len(), None);
    }
    for (now, before) in map.iter_mut().zip(prev) {
        if now.is_none() {
            *now = before.filter(|k| exists(k));
        }
    }
}

/// `forwards` (the rules' own, by id) with, for each id not `live` whose
/// service either family's map still keeps ([`keep_service`], already
/// applied), the method `prev` had for it: a removed DR or TUN server's
/// connections and templates are reached, and synced, as they were, as
/// IPVS keeps the forwarding bits in `cp->flags` (`ip_vs_bind_dest`,
/// `ip_vs_conn.c`) and `ip_vs_sync_conn` sends them. On the rules' loads
/// only (a pass over `prev`'s ids).
pub(super) fn forwards<K, K6>(
    forwards: Box<[Forward]>,
    prev: &[Forward],
    live: &[u64],
    (svc, svc6): (&[Option<K>], &[Option<K6>]),
) -> Box<[Forward]> {
    let held = |i: usize| {
        let is_live = live.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
        let kept = svc.get(i).is_some_and(Option::is_some);
        !is_live && (kept || svc6.get(i).is_some_and(Option::is_some))
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

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_gone_servers_method_is_kept_while_its_service_holds_it() {
        let prev = [Forward::Masq, Forward::Route, Forward::Route];
        // Id 0 is live (NAT); 1 is gone, its service holds it; 2 is gone
        // with its service.
        let svc = [Some(1u8), Some(1), None];
        let none6: [Option<u8>; 0] = [];
        let f = forwards(Box::default(), &prev, &[0b001], (&svc, &none6));
        assert_eq!(&f[..], [Forward::Masq, Forward::Route]);
        // Held by the IPv6 map alike.
        let f = forwards(Box::default(), &prev, &[0b001], (&none6, &svc));
        assert_eq!(&f[..], [Forward::Masq, Forward::Route]);
        // Added back (as NAT): the rules' own method.
        let f = forwards(Box::default(), &prev, &[0b011], (&svc, &none6));
        assert!(f.is_empty(), "{f:?}");
    }
}
