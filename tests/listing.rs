//! Connection listings (`ipvsadm -L -c`) served by the workers in bounded steps:
//! a pass of the loop looks at no more than `LISTING_CHUNK` table entries, and
//! concurrent callers each get their own complete answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod inmem;

use inmem::*;
use ringvs::Nic;
use ringvs::dataplane::{LISTING_CHUNK, Listing};
use ringvs::nat::ConnInfo;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const RULES: [&str; 3] = [
    "-A -t 198.18.0.110:80 -s rr",
    "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
    "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
];

/// `workers` workers with room for `max` connections, every neighbor resolved.
fn lab(workers: usize, max: usize) -> MemDirector {
    let mut d = MemDirector::with_env(workers, &RULES, env(), max);
    d.resolve_all();
    d
}

/// Open connections from ports `ports` of clients 198.18.0.10-89 (one SYN
/// each, spread over the workers), polling until the tables have them.
fn open(lab: &mut MemDirector, ports: std::ops::Range<u16>) {
    let want = lab_conns(lab) + ports.len() as u64;
    for p in ports {
        let client = std::net::Ipv4Addr::new(198, 18, 0, 10 + (p % 80) as u8);
        let k = usize::from(p) % lab.workers.len();
        lab.workers[k].rx[Nic::Ext].push(&tcp_frame(&L3::from_client(client), p, 80, SYN));
        lab.poll();
    }
    assert_eq!(lab_conns(lab), want, "every SYN made a connection");
}

fn lab_conns(lab: &MemDirector) -> u64 {
    lab.workers.iter().map(|w| w.core.table.len() as u64).sum()
}

fn ports(v: &[ConnInfo]) -> Vec<u16> {
    let mut p: Vec<u16> = v.iter().map(|c| c.client.1).collect();
    p.sort_unstable();
    p
}

/// One pass of a worker with a listing pending lists at most a chunk: a table
/// of 10 000 connections takes ceil(10 000 / LISTING_CHUNK) passes, each adding
/// no more than LISTING_CHUNK entries; the result has every connection once,
/// even though new ones arrived between the steps.
#[test]
fn a_pass_walks_at_most_a_chunk() {
    let mut lab = lab(1, 20_000);
    open(&mut lab, 10_000..20_000);
    let mut l = Listing::start(lab.published.iter().map(|p| &**p));
    let mut passes = 0;
    let mut seen = 0;
    while !l.complete() {
        lab.poll();
        passes += 1;
        l.poll();
        let now = l.received();
        assert!(
            now - seen <= LISTING_CHUNK,
            "pass {passes} listed {} entries",
            now - seen
        );
        assert!(now > seen || l.complete(), "pass {passes} made no progress");
        seen = now;
        if passes == 1 {
            // Connections made while the listing is under way (handled by the
            // next pass): listed or not, but never twice, and the others all
            // still are.
            for p in 20_000..20_050 {
                lab.w().rx[Nic::Ext].push(&tcp_frame(&L3::to_vip(), p, 80, SYN));
            }
        }
        assert!(passes <= 10, "not complete after {passes} passes");
    }
    assert_eq!(lab_conns(&lab), 10_050);
    assert_eq!(passes, 10_050usize.div_ceil(LISTING_CHUNK), "passes");
    let (v, _now, missing) = l.finish();
    assert_eq!(missing, 0);
    let p = ports(&v);
    let set: BTreeSet<u16> = p.iter().copied().collect();
    assert_eq!(set.len(), p.len(), "no connection listed twice");
    assert!(
        (10_000..20_000).all(|x| set.contains(&x)),
        "all the old ones"
    );
}

/// A listing holds every connection, as `/proc/net/ip_vs_conn` does
/// (`ip_vs_conn_seq_show`): a worker with more than 2^20 of them lists them
/// all. It used to stop at 2^20 a worker, without a word.
#[test]
fn a_listing_holds_more_than_a_million_connections() {
    let want = (1usize << 20) + 10;
    let mut lab = lab(1, want + 64);
    let mut n = 0;
    'fill: for c in 10..=89u8 {
        let client = std::net::Ipv4Addr::new(198, 18, 0, c);
        for port in 1024..=u16::MAX {
            if n == want {
                break 'fill;
            }
            let f = tcp_frame(&L3::from_client(client), port, 80, SYN);
            lab.workers[0].rx[Nic::Ext].push(&f);
            n += 1;
            if n % 32 == 0 {
                lab.poll();
            }
        }
    }
    lab.poll();
    assert_eq!(lab_conns(&lab), want as u64, "every SYN made a connection");
    let mut l = Listing::start(lab.published.iter().map(|p| &**p));
    while !l.complete() {
        lab.poll();
        l.poll();
    }
    let (v, _, missing) = l.finish();
    assert_eq!(missing, 0);
    assert_eq!(v.len(), want);
}

/// Callers that ask at the same time each get all of it: three threads list
/// while the test thread runs two workers; a caller that gives up half way
/// leaves nothing behind for the next.
#[test]
fn concurrent_callers_each_get_a_complete_listing() {
    let mut lab = lab(2, 20_000);
    open(&mut lab, 10_000..19_000);
    let want: Vec<u16> = (10_000..19_000).collect();
    for w in &lab.workers {
        assert!(w.core.table.len() > LISTING_CHUNK / 2, "both workers busy");
    }

    // One that gives up after a step.
    let mut quitter = Listing::start(lab.published.iter().map(|p| &**p));
    lab.poll();
    quitter.poll();
    assert!(quitter.received() > 0 && !quitter.complete());
    drop(quitter);

    let callers: Vec<_> = (0..3)
        .map(|_| {
            let published = lab.published.clone();
            std::thread::spawn(move || {
                let mut l = Listing::start(published.iter().map(|p| &**p));
                l.wait(Duration::from_secs(20));
                l.finish()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !callers.iter().all(|c| c.is_finished()) {
        assert!(Instant::now() < deadline, "callers not answered");
        lab.poll();
        std::thread::yield_now();
    }
    for c in callers {
        let (v, _, missing) = c.join().unwrap();
        assert_eq!(missing, 0);
        assert_eq!(ports(&v), want, "complete, nothing twice");
    }
    // The one-caller form still works afterwards, and nothing is left queued.
    assert_eq!(lab.conns(0).len() + lab.conns(1).len(), want.len());
    for p in &lab.published {
        assert!(p.take_conns().is_none());
    }
}
