//! What the connection table and the fast path allocate, counted by a global
//! allocator that wraps the system one.
//!
//! * `table_memory_per_connection`: a [`ConnTable`] for 1M connections, filled with
//!   1M distinct connections, must hold at most 64 bytes per connection (bytes
//!   allocated, not counting freed ones) and its resident size (`/proc/self/statm`)
//!   must stay within 128 MiB; then the same for IPv6 (`ConnTable<Ipv6Addr>`),
//!   which must cost exactly 36 bytes per connection more (its wider entries:
//!   the index is the same) and stay within 100 bytes per connection. Prints
//!   both: `cargo test --release --test alloc -- --nocapture`.
//! * `fast_path_allocates_nothing`: a real worker handles established-flow packets
//!   in both directions, ARP requests, ICMP echoes, new connections (SYN) and
//!   expiry with zero allocations.
//! * `ipv6_fast_path_allocates_nothing`: the same for IPv6 connections (rr,
//!   mh, persistence by a /64): new connections, established traffic both
//!   ways, packet-too-big answers, ICMPv6 errors translated, and expiry of
//!   the IPv6 table.
//! * `poll_loop_allocates_nothing`: the whole loop (`poll_once`) over a ring-like
//!   RX queue (preallocated slots): 4000 persistent clients (a template each)
//!   expired through the loop with their gauges and templates, then made again
//!   in the warmed-up maps, with zero allocations.
//! * `pending_arp_allocates_nothing`: frames parked for an unresolved real
//!   server and flushed when the snapshot resolves it, through `poll_once`.
//! * `steering_and_handoffs_allocate_nothing`: two workers with steering on
//!   (as `--io xdp --workers 2`): TCP frames in both directions that land on
//!   the worker not owning them go through the pair's handoff ring, and a ring
//!   whose owner does not run refuses (`drop_handoff_full`), with zero
//!   allocations.
//! * `a_group_block_is_refused_before_it_is_copied`: a keepalived.conf
//!   `virtual_server group` block whose copies pass the bound is refused
//!   before any is made; under it, the copies and their warnings are held
//!   one service at a time (a /20 of 1M statements peaks under 20 MiB).
//!
//! Counting is per thread (the test harness runs tests on several threads), and
//! the tests take one lock so that the process-wide resident size of one is not
//! inflated by the other.
//!
//! All addresses are RFC 2544 benchmarking space; nothing is sent anywhere.

// A global allocator is an `unsafe impl`; this file is its own test binary and
// the only code here that needs `unsafe`.
#![allow(unsafe_code)]

use crossbeam_channel::Receiver;
use ringvs::config::ipvsadm::{apply, parse};
use ringvs::config::{Config, DestId};
use ringvs::dataplane::{Director, Env, Plan, Published, Worker};
use ringvs::io::mem::{MemRx, MemTx, MemUmem, SLOT_LEN};
use ringvs::io::{RxMeta, TxQueue};
use ringvs::nat::{Addr, Conn, ConnTable, FlowKey, Snapshot, State, Timeouts};
use ringvs::neigh::{NeighEvent, NeighTable};
use ringvs::stats::{Ctr, DestStats};
use ringvs::wire::Mac;
use ringvs::wire::checksum;
use ringvs::{Nic, NicPair};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------

struct Counting;

thread_local! {
    /// Bytes this thread holds (allocated minus freed by it), the peak of that,
    /// and how many allocations (including reallocations) it made.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note(bytes: isize, alloc: bool) {
    // `try_with`: never panic in the allocator, even while a thread is exiting.
    let _ = LIVE.try_with(|l| {
        let v = l.get() + bytes;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    if alloc {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches const-initialised
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, true);
        // SAFETY: same layout as the caller's, whose contract we inherit.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize, true);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize), false);
        // SAFETY: `ptr` came from `System` with this layout (all our allocations do).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize, true);
        // SAFETY: as `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Resident set size of the process, in bytes (`/proc/self/statm`, second field).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page as usize
}

#[test]
fn the_counter_counts() {
    let (a, l) = (allocs(), live());
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocs(), a + 1);
    assert_eq!(live(), l + 100);
    drop(v);
    assert_eq!(live(), l);
}

/// One test at a time: the resident size is per process.
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// Control requests
// ---------------------------------------------------------------------------

/// A control request costs the director a small multiple of its size,
/// whatever its fields hold: the largest request (8 MiB) with a field of
/// a few million small values, unknown (which the protocol ignores) or in
/// `v`, or a string of 8 MiB in `v`, peaks under 4 times its size while
/// read (`proto::read_request`).
/// Serde's `flatten` of the tagged command built every field as a tree
/// first: 34 times for the unknown list, 16 such clients at once 4.5 GB.
#[test]
fn a_control_request_costs_a_small_multiple_of_its_size() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let max = ringvs::proto::MAX_REQUEST;
    let padded = |head: &str, tail: &str| {
        let n = (max - head.len() - tail.len() - 2) / 2;
        let mut line = String::with_capacity(max);
        line.push_str(head);
        line.push('0');
        line.push_str(&",0".repeat(n - 1));
        line.push_str(tail);
        line.push('\n');
        assert!(line.len() <= max && line.len() > max - 8, "{}", line.len());
        line
    };
    let cases = [
        (
            "unknown field of stats",
            padded(r#"{"v":1,"cmd":"stats","json":true,"x":["#, "]}"),
        ),
        (
            "unknown field of adm",
            padded(r#"{"v":1,"cmd":"adm","argv":["-L"],"x":["#, "]}"),
        ),
        (
            "a list for v",
            padded(r#"{"cmd":"stats","json":true,"v":["#, "]}"),
        ),
        ("a string for v", {
            let head = r#"{"cmd":"stats","json":true,"v":""#;
            let n = max - head.len() - 3;
            format!("{head}{}\"}}\n", "a".repeat(n))
        }),
    ];
    for (what, line) in cases {
        let before = live();
        PEAK.with(|p| p.set(before));
        let r = ringvs::proto::read_request(&mut line.as_bytes());
        let peak = PEAK.with(Cell::get) - before;
        let times = peak as f64 / line.len() as f64;
        println!(
            "{what}: {} bytes, peak {peak} bytes ({times:.1}x)",
            line.len()
        );
        assert!(times < 4.0, "{what}: {times:.1}x its size");
        if what == "a list for v" {
            let e = r.expect_err("not a version");
            assert_eq!(
                e.err,
                "protocol version [\u{2026}] not supported (this director speaks 1)\n"
            );
        } else if what == "a string for v" {
            // Quoted cut short: the answer does not carry 8 MiB back.
            let e = r.expect_err("not a version");
            let want = format!("\"{}\u{2026}\"", "a".repeat(64));
            assert!(
                e.err.contains(&want) && e.err.len() < 200,
                "{}",
                e.err.len()
            );
        } else {
            r.expect("a request");
        }
    }
}

/// The syntax pass of a restore keeps no command: 8 MiB of `-C` lines, the
/// most commands a request can carry, peak at a few bytes beyond the text
/// (one line's words and command at a time), where parsing them into a
/// list of commands, as a restore did, held a command of the largest kind
/// for each line: `parse_numbered` of a 64th of them peaks at more than 10
/// times their size. The applying pass parses each line again as it
/// reaches it, the same way.
#[test]
fn a_restore_checks_its_rules_in_a_line_of_memory() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = "-C\n".repeat(ringvs::proto::MAX_REQUEST / 3);
    let names = ringvs::config::names::Names::none();
    let before = live();
    PEAK.with(|p| p.set(before));
    let mut lines = 0usize;
    ringvs::config::ipvsadm::check_rules(&text, &names, &mut |_| lines += 1).expect("rules");
    let peak = PEAK.with(Cell::get) - before;
    println!(
        "check_rules of {} bytes ({lines} lines): peak {peak} bytes",
        text.len()
    );
    assert_eq!(lines, ringvs::proto::MAX_REQUEST / 3);
    assert!(peak < 64 << 10, "{peak} bytes");
    // What a list of them costs.
    let part = &text[..text.len() / 64 / 3 * 3];
    let before = live();
    PEAK.with(|p| p.set(before));
    let cmds = ringvs::config::ipvsadm::parse_numbered(part, &names).expect("rules");
    let listed = PEAK.with(Cell::get) - before;
    let times = listed as f64 / part.len() as f64;
    println!(
        "parse_numbered of {} bytes: peak {listed} bytes ({times:.0}x; {} bytes a command)",
        part.len(),
        std::mem::size_of_val(&cmds[0])
    );
    assert!(times > 10.0, "{times:.1}x");
    drop(cmds);
    // Applied as a restore applies them (a quarter of them: each is
    // parsed twice), no more than one line's.
    let text = &text[..text.len() / 4 / 3 * 3];
    let mut cfg = ringvs::config::Config::new();
    let before = live();
    PEAK.with(|p| p.set(before));
    let errors =
        ringvs::config::ipvsadm::restore(&mut cfg, text, &names, &mut |_, _, _| {}).expect("rules");
    let peak = PEAK.with(Cell::get) - before;
    println!("restore: peak {peak} bytes");
    assert!(errors.is_empty());
    assert!(peak < 64 << 10, "{peak} bytes");
}

// ---------------------------------------------------------------------------
// keepalived.conf
// ---------------------------------------------------------------------------

/// A `virtual_server group` block past what a load's group blocks may
/// make (a /20, 4096 services, of 300 `~SEQ` `delay_loop` lines: 1.2M
/// statements) is refused before it is copied, peaking at what reading the
/// file costs; copied, it peaked at hundreds of MB (41M statements, GBs,
/// for 10000 lines), in the running director on a reload. A group of the
/// same size with 16 checked real servers loads, as does one of 1M
/// statements, just under the bound, each under 20 MiB: each service's
/// copy of the block is made as it is read and dropped once it is, where
/// all were made first (45 MB and 137 MB).
#[test]
fn a_group_block_is_refused_before_it_is_copied() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("ringvs-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("keepalived.conf");
    let conf = |body: &str| {
        format!(
            "virtual_server_group big {{\n  198.18.16.0/20 80\n}}\n\
             virtual_server group big {{\n  lb_kind NAT\n  protocol TCP\n{body}}}\n"
        )
    };
    let load = |text: &str| {
        std::fs::write(&path, text).expect("write");
        let before = live();
        PEAK.with(|p| p.set(before));
        let r = ringvs::config::keepalived::load(&path).map(|l| l.config.services().len());
        (r, PEAK.with(Cell::get) - before)
    };
    let (r, peak) = load(&conf("  ~SEQ(i, 1, 300) delay_loop 1\n"));
    println!("refused group block: peak {peak} bytes");
    let e = r.expect_err("past the bound").to_string();
    assert!(e.contains("more than the 1048576"), "{e}");
    assert!(peak < 4 << 20, "{peak} bytes");
    let servers: String = (1..=16)
        .map(|i| {
            format!(
                "  real_server 198.19.0.{i} 80 {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 3\n      retry 2\n    }}\n  }}\n"
            )
        })
        .collect();
    let (r, peak) = load(&conf(&servers));
    println!("a /20 of 16 checked real servers: peak {peak} bytes");
    assert_eq!(r.expect("loads"), 4096);
    assert!(peak < 20 << 20, "{peak} bytes");
    // Just under the bound (4096 times 256 statements), one copy at a time.
    let (r, peak) = load(&conf(
        "  real_server 198.19.0.1 80\n  ~SEQ(i, 1, 250) delay_loop 1\n",
    ));
    println!("a /20 of 1M statements: peak {peak} bytes");
    assert_eq!(r.expect("loads"), 4096);
    assert!(peak < 20 << 20, "{peak} bytes");
    // The same of lines each service warns about (the same line, one
    // warning): once, not held for every service until the block's end.
    std::fs::write(
        &path,
        conf("  real_server 198.19.0.1 80\n  ~SEQ(i, 1, 250) no_such_keyword_here $i\n"),
    )
    .expect("write");
    let before = live();
    PEAK.with(|p| p.set(before));
    let l = ringvs::config::keepalived::load(&path).expect("loads");
    let peak = PEAK.with(Cell::get) - before;
    println!("a /20 of 1M statements warned about: peak {peak} bytes");
    assert_eq!(l.config.services().len(), 4096);
    let f = path.display();
    assert_eq!(
        l.warnings,
        [
            format!("{f}:4: virtual_server without lb_algo: wlc (keepalived's default)"),
            format!(
                "{f}:8: no_such_keyword_here (in virtual_server): not supported by ringvs, ignored"
            ),
        ]
    );
    assert!(peak < 20 << 20, "{peak} bytes");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Table memory
// ---------------------------------------------------------------------------

const MILLION: usize = 1_000_000;

/// What filling a table of [`MILLION`] connections cost.
struct TableCost {
    /// Bytes allocated per connection, filled, and at the peak.
    per_conn: f64,
    peak_per_conn: f64,
    /// Bytes allocated in all, filled.
    bytes: isize,
    /// Growth of the resident size, filled.
    rss: usize,
}

/// Fill a table of family `A` (named `family` in the output) with [`MILLION`] distinct connections from
/// `client(i)` (port `i` mod 2^16) to `vip`:80 over the two `rips`, check that
/// the inserts allocate nothing and both keys of a sample find their
/// connection, print the cost and return it.
fn fill_a_million<A: Addr>(
    family: &str,
    client: impl Fn(usize) -> A,
    vip: A,
    rips: [A; 2],
) -> TableCost {
    let (bytes0, rss0) = (live(), rss());
    PEAK.with(|p| p.set(bytes0));
    let mut t = ConnTable::<A>::with_capacity(MILLION);
    let (bytes1, rss1) = (live(), rss());
    let allocs0 = allocs();
    for i in 0..MILLION {
        let c = Conn::new(
            6,
            (client(i), i as u16),
            (vip, 80),
            (rips[i & 1], 8080),
            DestId((i & 1) as u32),
        );
        t.insert(c, 0).expect("room for a million");
    }
    let inserts_allocated = allocs() - allocs0;
    let (bytes2, rss2) = (live(), rss());
    let peak = PEAK.with(Cell::get);
    assert_eq!(t.len(), MILLION);
    assert_eq!(t.counts()[State::None as usize] as usize, MILLION);
    assert_eq!(inserts_allocated, 0, "inserts allocated");

    let per_conn = (bytes2 - bytes0) as f64 / MILLION as f64;
    let peak_per_conn = (peak - bytes0) as f64 / MILLION as f64;
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    println!(
        "conn table ({}), {MILLION} connections: {per_conn:.1} bytes/conn allocated \
         ({:.1} at creation, peak {peak_per_conn:.1}); RSS +{:.1} MiB \
         ({:.1} MiB at creation, {:.1} MiB filled); size_of::<Conn>() = {}",
        family,
        (bytes1 - bytes0) as f64 / MILLION as f64,
        mib(rss2.saturating_sub(rss0)),
        mib(rss1.saturating_sub(rss0)),
        mib(rss2.saturating_sub(rss1)),
        size_of::<Conn<A>>(),
    );

    // Both keys of a sample find their connection.
    for i in (0..MILLION).step_by(9973) {
        let key = FlowKey::new(0, 6, client(i), i as u16, vip, 80);
        let idx = t.lookup(&key).expect("inserted");
        assert_eq!(t.lookup(&t.get(idx).out_key()), Some(idx));
    }
    TableCost {
        per_conn,
        peak_per_conn,
        bytes: bytes2 - bytes0,
        rss: rss2.saturating_sub(rss0),
    }
}

#[test]
fn table_memory_per_connection() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mib = |b: usize| b as f64 / (1 << 20) as f64;

    // IPv4: 198.18.0.0/15 clients, 64k ports each.
    let v4 = |a: Ipv4Addr| u32::from(a);
    let cost4 = fill_a_million(
        "IPv4",
        |i| v4(Ipv4Addr::new(198, 18, 0, 0)) + (i >> 16) as u32,
        v4(Ipv4Addr::new(198, 18, 0, 110)),
        [
            v4(Ipv4Addr::new(198, 19, 0, 2)),
            v4(Ipv4Addr::new(198, 19, 0, 3)),
        ],
    );
    assert_eq!(size_of::<Conn>(), 36, "IPv4 entries grew");
    assert!(
        cost4.per_conn <= 64.0,
        "{} bytes per connection",
        cost4.per_conn
    );
    assert!(
        cost4.peak_per_conn <= 64.0,
        "{} bytes per connection at peak",
        cost4.peak_per_conn
    );
    assert!(
        cost4.rss <= 128 << 20,
        "RSS grew by {:.1} MiB",
        mib(cost4.rss)
    );

    // IPv6: clients of 2001:2:0:1::/64, the same ports.
    let v6 = |n: u16| Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, n);
    let cost6 = fill_a_million(
        "IPv6",
        |i| Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0x10, (i >> 16) as u16),
        v6(0x110),
        [
            Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2),
            Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 3),
        ],
    );
    // The index costs both families the same: the difference is the
    // entries' 36 bytes of wider addresses, nothing else.
    assert_eq!(size_of::<Conn<Ipv6Addr>>(), 72);
    assert_eq!(cost6.bytes - cost4.bytes, 36 * MILLION as isize);
    assert!(
        cost6.per_conn <= 100.0,
        "{} bytes per connection",
        cost6.per_conn
    );
    assert!(
        cost6.peak_per_conn <= 100.0,
        "{} bytes per connection at peak",
        cost6.peak_per_conn
    );
    assert!(
        cost6.rss <= 128 << 20,
        "RSS grew by {:.1} MiB",
        mib(cost6.rss)
    );
}

// ---------------------------------------------------------------------------
// The fast path
// ---------------------------------------------------------------------------

const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 110);
const EXT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const RS: [Ipv4Addr; 2] = [Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 3)];
const RS_MAC: [[u8; 6]; 2] = [[0x02, 0x55, 0, 0, 0, 0x02], [0x02, 0x55, 0, 0, 0, 0x03]];
const EXT_MAC: [u8; 6] = [0x02, 0xee, 0, 0, 0, 0x02];
const INT_MAC: [u8; 6] = [0x02, 0x11, 0, 0, 0, 0x01];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
const CLIENT_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 0x01];

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// Ethernet header.
fn ether(dst: [u8; 6], src: [u8; 6], ty: u16, f: &mut Vec<u8>) {
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
}

/// An IPv4 header (20 bytes, DF, TTL 64) with its checksum.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: usize, f: &mut Vec<u8>) {
    let at = f.len();
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let c = checksum::checksum(&f[at..]);
    f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
}

fn tcp(
    (smac, dmac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    flags: u8,
    data: usize,
) -> Vec<u8> {
    let mut f = Vec::new();
    ether(dmac, smac, 0x0800, &mut f);
    ipv4(src, dst, 6, 20 + data, &mut f);
    let ph = checksum::pseudo_header_v4(src, dst, 6, (20 + data) as u16);
    tcp_segment(&mut f, (sport, dport), flags, data, ph);
    f
}

/// A TCP header (20 bytes) and `data` bytes appended to `f`, checksummed
/// with the pseudo-header sum `ph`.
fn tcp_segment(f: &mut Vec<u8>, (sport, dport): (u16, u16), flags: u8, data: usize, ph: u32) {
    let at = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[
        0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0,
    ]);
    f.extend((0..data).map(|k| k as u8));
    set_checksum(f, at, 16, ph);
}

/// The checksum of `f[at..]` with pseudo-header sum `ph`, into its field
/// `field` bytes after `at`.
fn set_checksum(f: &mut [u8], at: usize, field: usize, ph: u32) {
    let c = !checksum::fold(checksum::combine(ph, checksum::sum(&f[at..])));
    f[at + field..at + field + 2].copy_from_slice(&c.to_be_bytes());
}

fn arp_request(tip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    ether([0xff; 6], CLIENT_MAC, 0x0806, &mut f);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&CLIENT.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tip.octets());
    f.resize(60, 0);
    f
}

fn echo_request(dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let mut f = Vec::new();
    ether(EXT_MAC, CLIENT_MAC, 0x0800, &mut f);
    ipv4(CLIENT, dst, 1, 8 + 32, &mut f);
    let at = f.len();
    f.extend_from_slice(&[8, 0, 0, 0, 0x42, 0x42]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend((0..32).map(|k| k as u8));
    let c = checksum::checksum(&f[at..]);
    f[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
    f
}

/// A TX queue that allocates nothing: one slot, reused (as a ring slot is).
struct SlotTx {
    slot: Box<[u8]>,
    committed: u64,
}

impl SlotTx {
    fn new() -> Self {
        Self {
            slot: vec![0; SLOT_LEN].into_boxed_slice(),
            committed: 0,
        }
    }
}

impl TxQueue for SlotTx {
    fn slot(&mut self) -> Option<&mut [u8]> {
        Some(&mut self.slot)
    }

    fn commit(&mut self, _len: usize) {
        self.committed += 1;
    }

    fn flush(&mut self) -> usize {
        0
    }
}

/// A configuration of ipvsadm `rules`.
fn rules_config(rules: &[String]) -> Config {
    let mut cfg = Config::new();
    for r in rules {
        let args: Vec<String> = r.split_whitespace().map(String::from).collect();
        apply(&mut cfg, &parse(&args).expect("rule")).expect("rule applies");
    }
    cfg
}

/// The test director's addresses: a /16 outside (room for thousands of
/// on-link clients), a /24 inside.
fn test_env() -> Env {
    Env::new(
        [Mac(EXT_MAC), Mac(INT_MAC)],
        format!("{EXT_ADDR}/16").parse().expect("prefix"),
        "198.19.0.1/24".parse().expect("prefix"),
    )
}

/// One worker with TCP VIP:80 (`sched`) over two real servers, every neighbor
/// resolved, and zero-allocation TX queues.
struct TestDirector<R = MemRx> {
    w: Worker<R, SlotTx>,
    neigh_rx: Receiver<NeighEvent>,
    out: Arc<Published>,
    shared: Arc<ringvs::dataplane::Shared>,
    neigh: NeighTable,
    start: std::time::Instant,
}

impl TestDirector {
    /// `counts`: the scheduler gets every worker's gauges and overload flags (as
    /// for lc/wlc or servers with `-x`), and every bind and unbind checks the
    /// overload, here by upper thresholds never reached.
    fn new(sched: &str, max_conns: usize, counts: bool) -> Self {
        let rx = NicPair::new(MemRx::new(), MemRx::new());
        TestDirector::on(sched, max_conns, counts, rx, true)
    }
}

impl<R: ringvs::io::RxQueue> TestDirector<R> {
    /// On the RX queues `rx`; `both_rs`: whether the second real server is
    /// resolved too (if not, frames to it wait for ARP).
    fn on(sched: &str, max_conns: usize, counts: bool, rx: NicPair<R>, both_rs: bool) -> Self {
        let cfg = rules_config(&[
            format!("-A -t {VIP}:80 -s {sched}"),
            format!("-a -t {VIP}:80 -r {}:8080 -m -w 3", RS[0]),
            format!("-a -t {VIP}:80 -r {}:8080 -m -w 1", RS[1]),
        ]);
        let mut snap = Snapshot::build(&cfg, Timeouts::default());
        if counts {
            for svc in snap.services.values_mut() {
                svc.needs_counts = true;
                for d in svc.dests.iter_mut() {
                    d.u_threshold = 1 << 30;
                }
            }
            // So every bind and unbind checks the overload too.
            let ids = snap
                .services
                .values()
                .flat_map(|s| s.dests.iter().map(|d| d.id.0));
            let mut limits = vec![(0, 0); ids.max().map_or(0, |i| i as usize + 1)];
            for d in snap.services.values().flat_map(|s| s.dests.iter()) {
                limits[d.id.0 as usize] = (d.u_threshold, 0);
            }
            snap.limits = limits.into();
        }
        let hosts = [
            (Nic::Int, RS[0], Mac(RS_MAC[0])),
            (Nic::Ext, CLIENT, Mac(CLIENT_MAC)),
            (Nic::Int, RS[1], Mac(RS_MAC[1])),
        ];
        let n = if both_rs { 3 } else { 2 };
        Self::start((snap, test_env(), max_conns), rx, |neigh, start| {
            for (nic, ip, mac) in hosts.into_iter().take(n) {
                neigh.learn(nic, u32::from(ip), mac, start);
            }
        })
    }

    /// One worker on `snap`, `env` and a table of `max_conns`, reading `rx`,
    /// with the neighbors `learn` resolves in its table.
    fn start(
        (snap, env, max_conns): (Snapshot, Env, usize),
        rx: NicPair<R>,
        learn: impl FnOnce(&mut NeighTable, std::time::Instant),
    ) -> Self {
        let plan = Plan {
            handoff_depth: 8,
            ..Plan::new(1, env, max_conns)
        };
        let start = plan.start;
        let mut dp = Director::new(plan, snap);
        let mut neigh = NeighTable::new();
        learn(&mut neigh, start);
        dp.shared
            .neigh
            .store(Arc::new(neigh.take_snapshot().expect("learned")));
        dp.shared.bump();
        let queues = (rx, NicPair::new(SlotTx::new(), SlotTx::new()));
        let mut w = dp.workers([queues]).pop().expect("one worker");
        w.poll_once(start);
        Self {
            w,
            neigh_rx: dp.neigh_rx.clone(),
            out: Arc::clone(&dp.published[0]),
            shared: Arc::clone(&dp.shared),
            neigh,
            start,
        }
    }

    fn handle(&mut self, nic: Nic, f: &[u8]) {
        let meta = RxMeta {
            wire_len: f.len() as u32,
            csum_partial: false,
            csum_valid: false,
            vlan: None,
        };
        self.w.core.handle(nic, f, meta, false, &mut self.w.tx);
    }

    fn ctr(&self, c: Ctr) -> u64 {
        self.w.core.ctr.get(c)
    }
}

/// Client ports of the connections.
fn port(i: usize) -> u16 {
    10_000 + i as u16
}

#[test]
fn fast_path_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CONNS: usize = 1000;
    const ROUNDS: usize = 5;
    // Plain schedulers; one with the gauges of all workers read for every new
    // connection; a persistent service (a shared template per client).
    for (sched, counts) in [
        ("rr", false),
        ("wrr", false),
        ("rr", true),
        ("rr -p 300", true),
    ] {
        let mut d = TestDirector::new(sched, 2 * CONNS, counts);

        // Established connections, by a real handshake (allocation not counted).
        let syns: Vec<Vec<u8>> = (0..2 * CONNS)
            .map(|i| tcp((CLIENT_MAC, EXT_MAC), (CLIENT, port(i)), (VIP, 80), SYN, 0))
            .collect();
        let mut input = Vec::new();
        let mut output = Vec::new();
        for (i, syn) in syns[..CONNS].iter().enumerate() {
            d.handle(Nic::Ext, syn);
            let key = FlowKey::new(0, 6, u32::from(CLIENT), port(i), u32::from(VIP), 80);
            let c =
                d.w.core
                    .table
                    .get(d.w.core.table.lookup(&key).expect("made"));
            let (rip, rport) = (Ipv4Addr::from(c.rip), c.rport);
            let k = usize::from(rip == RS[1]);
            let client = (CLIENT, port(i));
            let server = (rip, rport);
            d.handle(
                Nic::Int,
                &tcp((RS_MAC[k], INT_MAC), server, client, SYN | ACK, 0),
            );
            d.handle(
                Nic::Ext,
                &tcp((CLIENT_MAC, EXT_MAC), client, (VIP, 80), ACK, 0),
            );
            input.push(tcp((CLIENT_MAC, EXT_MAC), client, (VIP, 80), ACK | PSH, 64));
            output.push(tcp((RS_MAC[k], INT_MAC), server, client, ACK | PSH, 512));
        }
        assert_eq!(d.w.core.state_count(State::Established) as usize, CONNS);
        let arps = [arp_request(VIP), arp_request(EXT_ADDR)];
        let pings = [echo_request(VIP, 1), echo_request(EXT_ADDR, 2)];
        let (fwd_in, fwd_out) = (d.ctr(Ctr::FwdIn), d.ctr(Ctr::FwdOut));
        let (arp0, echo0) = (d.ctr(Ctr::ArpReply), d.ctr(Ctr::IcmpEchoReply));
        let (ext0, int0) = (d.w.tx[Nic::Ext].committed, d.w.tx[Nic::Int].committed);

        // Established traffic both ways, ARP and ping.
        let before = allocs();
        for _ in 0..ROUNDS {
            for (i, o) in input.iter().zip(&output) {
                d.handle(Nic::Ext, i);
                d.handle(Nic::Int, o);
            }
            for f in arps.iter().chain(&pings) {
                d.handle(Nic::Ext, f);
            }
        }
        let n = allocs() - before;
        while d.neigh_rx.try_recv().is_ok() {}
        let packets = (ROUNDS * CONNS) as u64;
        assert_eq!(d.ctr(Ctr::FwdIn) - fwd_in, packets, "{sched}: forwarded in");
        assert_eq!(
            d.ctr(Ctr::FwdOut) - fwd_out,
            packets,
            "{sched}: forwarded out"
        );
        assert_eq!(d.ctr(Ctr::ArpReply) - arp0, 2 * ROUNDS as u64);
        assert_eq!(d.ctr(Ctr::IcmpEchoReply) - echo0, 2 * ROUNDS as u64);
        assert_eq!(d.w.tx[Nic::Int].committed - int0, packets);
        assert_eq!(
            d.w.tx[Nic::Ext].committed - ext0,
            packets + 4 * ROUNDS as u64
        );
        assert_eq!(n, 0, "{sched}: {n} allocations for {} frames", 2 * packets);
        // ... each counted for its real server.
        let traffic = (0..2).fold(DestStats::default(), |mut t, id| {
            t.add(&d.out.dest_stats(DestId(id)));
            t
        });
        assert_eq!(traffic.conns, CONNS as u64);
        assert_eq!(traffic.inpkts, d.ctr(Ctr::FwdIn));
        assert_eq!(traffic.outpkts, d.ctr(Ctr::FwdOut));

        // New connections into the preallocated table, then expiry of them all.
        new_then_expired(&mut d, &syns[CONNS..], Ctr::ConnNew, sched, |c| {
            c.table
                .expire(u32::MAX, &Timeouts::default(), usize::MAX, |_, _| {})
        });
    }
}

/// An ICMP error from `src` to `dst` (`ty`, `code`, bytes 4..8 `rest`)
/// quoting `quote`, from `macs`.
fn icmp_error(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    (ty, code, rest): (u8, u8, u32),
    quote: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    ether(macs.1, macs.0, 0x0800, &mut f);
    ipv4(src, dst, 1, 8 + quote.len(), &mut f);
    let at = f.len();
    f.extend_from_slice(&[ty, code, 0, 0]);
    f.extend_from_slice(&rest.to_be_bytes());
    f.extend_from_slice(quote);
    let c = checksum::checksum(&f[at..]);
    f[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
    f
}

/// DR and TUN: client packets; a router's "fragmentation needed" about the
/// server's reply, sent on to the server (`icmp_error_direct`); for TUN, a
/// router's error about a tunnel packet turned into one to the client
/// (`icmp_error_tunnel`) and a packet without DF too big for the tunnel,
/// sent in fragments (`tx_fragments`): no allocation.
#[test]
fn dr_and_tun_paths_allocate_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Within the burst of the ICMP rate limit (the clock stands still here).
    const ROUNDS: u64 = 40;
    let (router, dip) = (Ipv4Addr::new(198, 19, 0, 254), Ipv4Addr::new(198, 19, 0, 1));
    for (opts, tunnel) in [("-g", false), ("-i --tun-type gue --tun-port 6080", true)] {
        let cfg = rules_config(&[
            format!("-A -t {VIP}:80 -s rr"),
            format!("-a -t {VIP}:80 -r {}:80 {opts}", RS[0]),
        ]);
        let snap = Snapshot::build(&cfg, Timeouts::default());
        let rx = NicPair::new(MemRx::new(), MemRx::new());
        let mut d = TestDirector::start((snap, test_env(), 64), rx, |neigh, start| {
            neigh.learn(Nic::Int, u32::from(RS[0]), Mac(RS_MAC[0]), start);
            neigh.learn(Nic::Ext, u32::from(CLIENT), Mac(CLIENT_MAC), start);
        });
        let client = (CLIENT, 40000);
        let to_vip = (CLIENT_MAC, EXT_MAC);
        d.handle(Nic::Ext, &tcp(to_vip, client, (VIP, 80), SYN, 0));
        let data = tcp(to_vip, client, (VIP, 80), ACK | PSH, 64);
        // What the director sent for `data` (the slot holds the last frame).
        d.handle(Nic::Ext, &data);
        let sent = d.w.tx[Nic::Int].slot[..data.len() + if tunnel { 32 } else { 0 }].to_vec();
        let mut big = tcp(to_vip, client, (VIP, 80), ACK | PSH, 1460);
        big[14 + 6] = 0; // DF clear
        big[14 + 10..14 + 12].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&big[14..34]);
        big[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        let reply = tcp(to_vip, (VIP, 80), client, ACK, 0);
        let direct = icmp_error(
            (CLIENT_MAC, EXT_MAC),
            (CLIENT, VIP),
            (3, 4, 1400),
            &reply[14..14 + 28],
        );
        let about_tunnel = icmp_error(
            (RS_MAC[1], INT_MAC),
            (router, dip),
            (3, 4, 1400),
            &sent[14..],
        );
        let c0 = |c: Ctr| d.ctr(c);
        let (fwd0, direct0, tun0, frag0) = (
            c0(Ctr::FwdIn),
            c0(Ctr::IcmpErrorDirect),
            c0(Ctr::IcmpErrorTunnel),
            c0(Ctr::TxFragments),
        );
        let before = allocs();
        for _ in 0..ROUNDS {
            d.handle(Nic::Ext, &data);
            d.handle(Nic::Ext, &big);
            d.handle(Nic::Ext, &direct);
            if tunnel {
                d.handle(Nic::Int, &about_tunnel);
            }
        }
        let n = allocs() - before;
        while d.neigh_rx.try_recv().is_ok() {}
        assert_eq!(n, 0, "{opts}: {n} allocations");
        assert_eq!(d.ctr(Ctr::FwdIn) - fwd0, 2 * ROUNDS, "{opts}: forwarded");
        assert_eq!(d.ctr(Ctr::IcmpErrorDirect) - direct0, ROUNDS, "{opts}");
        let t = u64::from(tunnel);
        assert_eq!(d.ctr(Ctr::IcmpErrorTunnel) - tun0, t * ROUNDS, "{opts}");
        assert_eq!(d.ctr(Ctr::TxFragments) - frag0, t * 2 * ROUNDS, "{opts}");
    }
}

/// IPv4 fragments (`frag.rs`): a later fragment held until its first comes,
/// then both forwarded on the connection; the datagram's entry is made and
/// forgotten each round. No allocation.
#[test]
fn fragments_allocate_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const ROUNDS: u64 = 200;
    let mut d = TestDirector::new("rr", 64, false);
    let client = (CLIENT, 40000);
    let to_vip = (CLIENT_MAC, EXT_MAC);
    d.handle(Nic::Ext, &tcp(to_vip, client, (VIP, 80), SYN, 0));
    let data = tcp(to_vip, client, (VIP, 80), ACK | PSH, 1000);
    // Cut after 512 bytes of TCP: offset 0 with MF, then offset 512.
    let cut = |from: usize, to: usize, more: bool| {
        let mut f = data[..34].to_vec();
        f.extend_from_slice(&data[34 + from..34 + to]);
        f[16..18].copy_from_slice(&((20 + to - from) as u16).to_be_bytes());
        let flags = (u16::from(more) << 13) | (from / 8) as u16;
        f[20..22].copy_from_slice(&flags.to_be_bytes());
        f[24..26].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f
    };
    let (first, second) = (cut(0, 512, true), cut(512, 1020, false));
    let c0 = |c: Ctr| d.ctr(c);
    let (fwd0, held0, released0) = (c0(Ctr::FwdIn), c0(Ctr::FragHeld), c0(Ctr::FragReleased));
    let before = allocs();
    for _ in 0..ROUNDS {
        d.handle(Nic::Ext, &second);
        d.handle(Nic::Ext, &first);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations");
    assert_eq!(d.ctr(Ctr::FwdIn) - fwd0, 2 * ROUNDS, "forwarded");
    assert_eq!(d.ctr(Ctr::FragHeld) - held0, ROUNDS);
    assert_eq!(d.ctr(Ctr::FragReleased) - released0, ROUNDS);
}

/// A UDP datagram of 32 bytes from `src` to `dst`, checksummed.
fn udp(macs: ([u8; 6], [u8; 6]), from: (Ipv4Addr, u16), to: (Ipv4Addr, u16)) -> Vec<u8> {
    let data: Vec<u8> = (0..32).collect();
    udp_with(macs, from, to, &data)
}

/// A UDP datagram carrying `data` from `src` to `dst`, checksummed.
fn udp_with(
    (smac, dmac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    data: &[u8],
) -> Vec<u8> {
    let len = 8 + data.len();
    let mut f = Vec::new();
    ether(dmac, smac, 0x0800, &mut f);
    ipv4(src, dst, 17, len, &mut f);
    let at = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(data);
    let ph = checksum::pseudo_header_v4(src, dst, 17, len as u16);
    set_checksum(&mut f, at, 6, ph);
    f
}

/// A director with UDP service `VIP:{service}` (its port and options) on
/// both real servers at `rport`, every neighbour known.
fn udp_director(service: &str, rport: u16) -> TestDirector {
    let svc_port = service.split_whitespace().next().unwrap_or_default();
    let cfg = rules_config(&[
        format!("-A -u {VIP}:{service}"),
        format!("-a -u {VIP}:{svc_port} -r {}:{rport} -m", RS[0]),
        format!("-a -u {VIP}:{svc_port} -r {}:{rport} -m", RS[1]),
    ]);
    let snap = Snapshot::build(&cfg, Timeouts::default());
    let rx = NicPair::new(MemRx::new(), MemRx::new());
    TestDirector::start((snap, test_env(), 64), rx, |neigh, start| {
        neigh.learn(Nic::Int, u32::from(RS[0]), Mac(RS_MAC[0]), start);
        neigh.learn(Nic::Int, u32::from(RS[1]), Mac(RS_MAC[1]), start);
        neigh.learn(Nic::Ext, u32::from(CLIENT), Mac(CLIENT_MAC), start);
    })
}

/// One-packet scheduling (`-o`), with a persistence template: each
/// datagram scheduled through the template and released, each reply
/// translated from the snapshot's map. No allocation, no connection.
#[test]
fn one_packet_scheduling_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const ROUNDS: u64 = 500;
    let mut d = udp_director("53 -s rr -p 300 -o", 5353);
    let query = |p: u16| udp((CLIENT_MAC, EXT_MAC), (CLIENT, p), (VIP, 53));
    let answer = |p: u16| udp((RS_MAC[0], INT_MAC), (RS[0], 5353), (CLIENT, p));
    let (queries, answers): (Vec<_>, Vec<_>) = (0..ROUNDS as u16)
        .map(|i| (query(i + 1000), answer(i + 1000)))
        .unzip();
    // The template is made (and its shard's room) before counting.
    d.handle(Nic::Ext, &query(999));
    let (fwd_in, fwd_out) = (d.ctr(Ctr::FwdIn), d.ctr(Ctr::FwdOut));
    let before = allocs();
    for (q, a) in queries.iter().zip(&answers) {
        d.handle(Nic::Ext, q);
        d.handle(Nic::Int, a);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations");
    assert_eq!(d.ctr(Ctr::FwdIn) - fwd_in, ROUNDS);
    assert_eq!(d.ctr(Ctr::FwdOut) - fwd_out, ROUNDS);
    assert_eq!(d.ctr(Ctr::OpsScheduled), ROUNDS + 1);
    assert!(d.w.core.table.is_empty());
}

/// The SIP persistence engine (`--pe sip`) on a one-packet service: each
/// datagram's Call-ID read and hashed, its template found (the four calls'
/// templates made before counting), the datagram scheduled and released. No
/// allocation.
#[test]
fn the_sip_engine_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const ROUNDS: u64 = 500;
    let mut d = udp_director("5060 -s rr -p 300 -o --pe sip", 5060);
    let request = |p: u16, call: u16| {
        let text = format!(
            "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP c;branch=z9hG4bK\r\n\
             Call-ID: call-{call}@client\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        udp_with(
            (CLIENT_MAC, EXT_MAC),
            (CLIENT, p),
            (VIP, 5060),
            text.as_bytes(),
        )
    };
    let requests: Vec<_> = (0..ROUNDS as u16)
        .map(|i| request(i + 1000, i % 4))
        .collect();
    for call in 0..4 {
        d.handle(Nic::Ext, &request(999, call));
    }
    let fwd_in = d.ctr(Ctr::FwdIn);
    let before = allocs();
    for r in &requests {
        d.handle(Nic::Ext, r);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations");
    assert_eq!(d.ctr(Ctr::FwdIn) - fwd_in, ROUNDS);
    assert_eq!(d.ctr(Ctr::DropNoCallId), 0);
    // The real servers' own requests (`conn_out`): with -o a template each,
    // without -o a connection too (50 client ports: the table holds 64),
    // which the later ones of a port go through.
    let bye = |rs: usize, p: u16, call: u16| {
        let text = format!("BYE sip:c SIP/2.0\r\nCall-ID: call-{call}@client\r\n\r\n");
        let from = (RS_MAC[rs], INT_MAC);
        udp_with(from, (RS[rs], 5060), (CLIENT, p), text.as_bytes())
    };
    let byes: Vec<_> = (0..ROUNDS as u16)
        .map(|i| bye(usize::from(i % 2), i % 50 + 1000, i % 4))
        .collect();
    let without_o = udp_director("5060 -s rr -p 300 --pe sip", 5060);
    for (mut d, made, conns) in [(d, ROUNDS, 0), (without_o, 50, 50)] {
        d.handle(Nic::Int, &bye(0, 999, 9));
        let (fwd_out, new) = (d.ctr(Ctr::FwdOut), d.ctr(Ctr::ConnNew));
        let before = allocs();
        for b in &byes {
            d.handle(Nic::Int, b);
        }
        let n = allocs() - before;
        assert_eq!(n, 0, "{n} allocations");
        assert_eq!(d.ctr(Ctr::FwdOut) - fwd_out, ROUNDS);
        assert_eq!(d.ctr(Ctr::ConnNew) - new, conns);
        assert_eq!(d.ctr(Ctr::SipConnOut), made + 1);
    }
}

/// A TCP segment carrying `text`, with sequence and acknowledgement numbers.
fn tcp_text(
    (smac, dmac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
    (flags, seq, ack): (u8, u32, u32),
    text: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    ether(dmac, smac, 0x0800, &mut f);
    ipv4(src, dst, 6, 20 + text.len(), &mut f);
    let at = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    f.extend_from_slice(text);
    let ph = checksum::pseudo_header_v4(src, dst, 6, (20 + text.len()) as u16);
    set_checksum(&mut f, at, 16, ph);
    f
}

/// The FTP helper (`--ftp-ports 21`) on one control connection, round after
/// round: a `PASV`, the server's `227` rewritten to the VIP (two bytes
/// longer, so every later segment is shifted), the expected data connection
/// made from the client's SYN and linked to its control connection. Once
/// the maps have their room (a first batch of twice as many rounds, whose
/// data connections then expire), no allocation.
#[test]
fn the_ftp_helper_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const ROUNDS: u32 = 100;
    let cfg = rules_config(&[
        format!("-A -t {VIP}:21 -s rr"),
        format!("-a -t {VIP}:21 -r {}:21 -m", RS[0]),
    ]);
    let snap = Snapshot::build(&cfg, Timeouts::default());
    let env = Env {
        ftp: ringvs::nat::ftp::FtpPorts::new(&[21]).expect("ports"),
        ..test_env()
    };
    let rx = NicPair::new(MemRx::new(), MemRx::new());
    let mut d = TestDirector::start((snap, env, 256), rx, |neigh, start| {
        neigh.learn(Nic::Int, u32::from(RS[0]), Mac(RS_MAC[0]), start);
        neigh.learn(Nic::Ext, u32::from(CLIENT), Mac(CLIENT_MAC), start);
    });
    let from_client = |(flags, seq, ack): (u8, u32, u32), text: &[u8]| {
        let macs = (CLIENT_MAC, EXT_MAC);
        tcp_text(macs, (CLIENT, 40000), (VIP, 21), (flags, seq, ack), text)
    };
    let from_rs = |(flags, seq, ack): (u8, u32, u32), text: &[u8]| {
        let macs = (RS_MAC[0], INT_MAC);
        tcp_text(macs, (RS[0], 21), (CLIENT, 40000), (flags, seq, ack), text)
    };
    let [a, b, c, e] = RS[0].octets();
    let reply = format!("227 Entering Passive Mode ({a},{b},{c},{e},117,48).\r\n").into_bytes();
    let (syn, ack) = (0x02, 0x10);
    d.handle(Nic::Ext, &from_client((syn, 100, 0), b""));
    d.handle(Nic::Int, &from_rs((syn | ack, 5000, 101), b""));
    d.handle(Nic::Ext, &from_client((ack, 101, 5001), b""));
    let round = |i: u32| {
        let (c, s) = (101 + 6 * i, 5001 + reply.len() as u32 * i);
        let data = (CLIENT_MAC, EXT_MAC);
        let data = tcp_text(
            data,
            (CLIENT, 1000 + i as u16),
            (VIP, 30000),
            (syn, 1, 0),
            b"",
        );
        (
            from_client((ack | 0x08, c, s), b"PASV\r\n"),
            from_rs((ack | 0x08, s, c + 6), &reply),
            data,
        )
    };
    let frames: Vec<_> = (0..3 * ROUNDS).map(round).collect();
    let play = |d: &mut TestDirector, (pasv, reply, data): &(Vec<u8>, Vec<u8>, Vec<u8>)| {
        d.handle(Nic::Ext, pasv);
        d.handle(Nic::Int, reply);
        d.handle(Nic::Ext, data);
    };
    // A first batch gives the maps their room: the links of twice as many
    // data connections at once, so that the tombstones its removals leave
    // are cleared by rehashing in place (hashbrown does when at most half
    // the room is used), never into a new allocation. Its data
    // connections, left in SYN_RECV, expire.
    let warm = 2 * ROUNDS as usize;
    for f in &frames[..warm] {
        play(&mut d, f);
    }
    assert_eq!(d.w.core.table.len(), warm + 1);
    d.w.poll_once(d.start + std::time::Duration::from_secs(120));
    assert_eq!(d.w.core.table.len(), 1, "the control connection (not due)");
    let before = allocs();
    for f in &frames[warm..] {
        play(&mut d, f);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations");
    assert_eq!(d.ctr(Ctr::FtpRewritten), 3 * u64::from(ROUNDS));
    assert_eq!(d.ctr(Ctr::FtpData), 3 * u64::from(ROUNDS));
    assert_eq!(d.w.core.table.len(), ROUNDS as usize + 1);
}

/// `syns` (new connections, counted by `new`) into the preallocated table,
/// then every connection of the table `expire` empties: no allocation.
fn new_then_expired(
    d: &mut TestDirector,
    syns: &[Vec<u8>],
    new: Ctr,
    sched: &str,
    expire: impl FnOnce(&mut ringvs::dataplane::Core) -> usize,
) {
    let new0 = d.ctr(new);
    let before = allocs();
    for syn in syns {
        d.handle(Nic::Ext, syn);
    }
    let n = allocs() - before;
    let k = syns.len();
    assert_eq!(d.ctr(new) - new0, k as u64, "{sched}: SYNs");
    assert_eq!(n, 0, "{sched}: {n} allocations for {k} new connections");
    let before = allocs();
    let gone = expire(&mut d.w.core);
    let n = allocs() - before;
    assert_eq!(gone, 2 * k);
    assert_eq!(n, 0, "{sched}: {n} allocations expiring {gone} connections");
}

// ---------------------------------------------------------------------------
// The IPv6 fast path
// ---------------------------------------------------------------------------

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 0, 0x110);
const RS6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 2),
    Ipv6Addr::new(0x2001, 2, 0, 2, 0, 0, 0, 3),
];

/// IPv6 client `i` of the external /64.
fn client6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 2, 0, 1, 0, 0, 1, i as u16)
}

/// An IPv6 TCP segment with `data` bytes, checksum right, hop limit 64.
fn tcp6(
    (smac, dmac): ([u8; 6], [u8; 6]),
    (src, sport): (Ipv6Addr, u16),
    (dst, dport): (Ipv6Addr, u16),
    flags: u8,
    data: usize,
) -> Vec<u8> {
    let mut f = Vec::new();
    ipv6_header((smac, dmac), (src, dst), 6, 20 + data, &mut f);
    let ph = checksum::pseudo_header_v6(src, dst, 6, (20 + data) as u32);
    tcp_segment(&mut f, (sport, dport), flags, data, ph);
    f
}

/// An ICMPv6 destination unreachable from `src` (MAC `smac`) to `dst`,
/// quoting the first 48 bytes of `quoted`'s IPv6 packet.
fn unreach6(
    smac: [u8; 6],
    dmac: [u8; 6],
    (src, dst): (Ipv6Addr, Ipv6Addr),
    quoted: &[u8],
) -> Vec<u8> {
    let quote = &quoted[14..14 + 48];
    let mut f = Vec::new();
    ipv6_header((smac, dmac), (src, dst), 58, 8 + quote.len(), &mut f);
    let at = f.len();
    f.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(quote);
    let ph = checksum::pseudo_header_v6(src, dst, 58, (8 + quote.len()) as u32);
    set_checksum(&mut f, at, 2, ph);
    f
}

/// Ethernet and a 40-byte IPv6 header (hop limit 64) for `len` bytes of
/// `next`.
fn ipv6_header(
    (smac, dmac): ([u8; 6], [u8; 6]),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    next: u8,
    len: usize,
    f: &mut Vec<u8>,
) {
    ether(dmac, smac, 0x86dd, f);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
}

/// One dual-stack worker with TCP [VIP6]:80 (`sched`) over two IPv6 real
/// servers, every neighbor resolved, an internal MTU of 1400 and
/// zero-allocation TX queues.
fn director6(sched: &str, max_conns: usize) -> TestDirector {
    let cfg = rules_config(&[
        format!("-A -t [{VIP6}]:80 -s {sched}"),
        format!("-a -t [{VIP6}]:80 -r [{}]:8080 -m", RS6[0]),
        format!("-a -t [{VIP6}]:80 -r [{}]:8080 -m", RS6[1]),
    ]);
    let env = Env {
        ext_net6: Some("2001:2:0:1::2/64".parse().expect("prefix")),
        int_net6: Some("2001:2:0:2::1/64".parse().expect("prefix")),
        mtu: [1500, 1400],
        ..test_env()
    };
    let snap = Snapshot::build(&cfg, Timeouts::default());
    let rx = NicPair::new(MemRx::new(), MemRx::new());
    TestDirector::start((snap, env, max_conns), rx, |neigh, start| {
        for (i, rs) in RS6.iter().enumerate() {
            neigh.learn(Nic::Int, *rs, Mac(RS_MAC[i]), start);
        }
        for i in 0..max_conns {
            neigh.learn(Nic::Ext, client6(i), Mac(CLIENT_MAC), start);
        }
    })
}

#[test]
fn ipv6_fast_path_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CONNS: usize = 300;
    const ROUNDS: usize = 5;
    for sched in ["rr", "mh", "rr -p 300 -M 64"] {
        let mut d = director6(sched, 2 * CONNS);
        let syns: Vec<Vec<u8>> = (0..2 * CONNS)
            .map(|i| {
                tcp6(
                    (CLIENT_MAC, EXT_MAC),
                    (client6(i), port(i)),
                    (VIP6, 80),
                    SYN,
                    0,
                )
            })
            .collect();
        // Established connections, by a real handshake (allocation not counted).
        let (mut input, mut output, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for (i, syn) in syns[..CONNS].iter().enumerate() {
            d.handle(Nic::Ext, syn);
            let key = FlowKey::new(0, 6, client6(i), port(i), VIP6, 80);
            let t = &d.w.core.table6;
            let c = t.get(t.lookup(&key).expect("made"));
            let (rip, rport) = (c.rip, c.rport);
            let k = usize::from(rip == RS6[1]);
            let client = (client6(i), port(i));
            let server = (rip, rport);
            d.handle(
                Nic::Int,
                &tcp6((RS_MAC[k], INT_MAC), server, client, SYN | ACK, 0),
            );
            d.handle(
                Nic::Ext,
                &tcp6((CLIENT_MAC, EXT_MAC), client, (VIP6, 80), ACK, 0),
            );
            input.push(tcp6(
                (CLIENT_MAC, EXT_MAC),
                client,
                (VIP6, 80),
                ACK | PSH,
                64,
            ));
            output.push(tcp6((RS_MAC[k], INT_MAC), server, client, ACK | PSH, 512));
            // Too big for the internal MTU: packet-too-big (or its limit).
            let big = tcp6((CLIENT_MAC, EXT_MAC), client, (VIP6, 80), ACK, 1400);
            // The real server's port unreachable, about what it received.
            let got = tcp6((CLIENT_MAC, EXT_MAC), client, server, ACK, 0);
            let unreach = unreach6(RS_MAC[k], INT_MAC, (rip, client.0), &got);
            errors.push((big, unreach));
        }
        assert_eq!(d.w.core.state_count(State::Established) as usize, CONNS);
        let (fwd_in, fwd_out) = (d.ctr(Ctr::FwdIn6), d.ctr(Ctr::FwdOut6));
        let icmp0 = d.ctr(Ctr::IcmpErrorNat);
        let too_big0 = d.ctr(Ctr::DropTooBig);

        let before = allocs();
        for _ in 0..ROUNDS {
            for ((i, o), (big, unreach)) in input.iter().zip(&output).zip(&errors) {
                d.handle(Nic::Ext, i);
                d.handle(Nic::Int, o);
                d.handle(Nic::Ext, big);
                d.handle(Nic::Int, unreach);
            }
        }
        let n = allocs() - before;
        let packets = (ROUNDS * CONNS) as u64;
        assert_eq!(
            d.ctr(Ctr::FwdIn6) - fwd_in,
            packets,
            "{sched}: forwarded in"
        );
        assert_eq!(
            d.ctr(Ctr::FwdOut6) - fwd_out,
            packets,
            "{sched}: forwarded out"
        );
        assert_eq!(d.ctr(Ctr::IcmpErrorNat) - icmp0, packets, "{sched}: errors");
        assert_eq!(
            d.ctr(Ctr::DropTooBig) - too_big0,
            packets,
            "{sched}: too big"
        );
        assert!(d.ctr(Ctr::Icmp6TooBig) > 0, "{sched}: packet too big sent");
        assert_eq!(n, 0, "{sched}: {n} allocations for {} frames", 4 * packets);

        // New connections into the preallocated table, then expiry of them all.
        new_then_expired(&mut d, &syns[CONNS..], Ctr::ConnNew6, sched, |c| {
            c.table6
                .expire(u32::MAX, &Timeouts::default(), usize::MAX, |_, _| {})
        });
        while d.neigh_rx.try_recv().is_ok() {}
    }
}

#[test]
fn eviction_from_a_full_table_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CONNS: usize = 1000;
    let mut d = TestDirector::new("rr", CONNS, false);
    // A table full of half-open (SYN_RECV) entries.
    let syn = |i: usize| tcp((CLIENT_MAC, EXT_MAC), (CLIENT, port(i)), (VIP, 80), SYN, 0);
    for i in 0..CONNS {
        d.handle(Nic::Ext, &syn(i));
    }
    assert_eq!(d.w.core.table.len(), CONNS);
    assert_eq!(d.w.core.state_count(State::SynRecv) as usize, CONNS);
    // As many again, each evicting the stalest: all admitted, none allocating.
    let flood: Vec<Vec<u8>> = (CONNS..3 * CONNS).map(syn).collect();
    let (new0, int0) = (d.ctr(Ctr::ConnNew), d.w.tx[Nic::Int].committed);
    let before = allocs();
    for f in &flood {
        d.handle(Nic::Ext, f);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations for {} evicting SYNs", flood.len());
    assert_eq!(d.ctr(Ctr::ConnEvicted), 2 * CONNS as u64);
    assert_eq!(d.ctr(Ctr::ConnNew) - new0, 2 * CONNS as u64);
    assert_eq!(d.w.tx[Nic::Int].committed - int0, 2 * CONNS as u64);
    assert_eq!(d.ctr(Ctr::DropTableFull), 0);
    assert_eq!(d.w.core.table.len(), CONNS);
}

/// A receive queue like a ring: a fixed number of preallocated slots, frames
/// copied in by the test and handed out in place (`MemRx` allocates a `Vec`
/// per frame it is given).
struct RingRx {
    slots: Box<[u8]>,
    lens: Box<[usize]>,
    head: usize,
    tail: usize,
}

const RING_SLOTS: usize = 256;

impl RingRx {
    fn new() -> Self {
        Self {
            slots: vec![0; RING_SLOTS * SLOT_LEN].into_boxed_slice(),
            lens: vec![0; RING_SLOTS].into_boxed_slice(),
            head: 0,
            tail: 0,
        }
    }

    /// Copy `f` into the next free slot; false if the ring is full.
    fn push(&mut self, f: &[u8]) -> bool {
        if self.tail - self.head == RING_SLOTS {
            return false;
        }
        let i = self.tail % RING_SLOTS;
        self.slots[i * SLOT_LEN..i * SLOT_LEN + f.len()].copy_from_slice(f);
        self.lens[i] = f.len();
        self.tail += 1;
        true
    }

    fn is_empty(&self) -> bool {
        self.head == self.tail
    }
}

impl ringvs::io::RxQueue for RingRx {
    fn peek(&mut self) -> Option<ringvs::io::RxFrame<'_>> {
        if self.is_empty() {
            return None;
        }
        let i = self.head % RING_SLOTS;
        let len = self.lens[i];
        Some(ringvs::io::RxFrame {
            data: &self.slots[i * SLOT_LEN..i * SLOT_LEN + len],
            meta: RxMeta {
                wire_len: len as u32,
                csum_partial: false,
                csum_valid: false,
                vlan: None,
            },
        })
    }

    fn advance(&mut self) {
        if !self.is_empty() {
            self.head += 1;
        }
    }

    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    fn take_kernel_drops(&mut self) -> ringvs::io::KernelDrops {
        ringvs::io::KernelDrops::default()
    }
}

type RingDirector = TestDirector<RingRx>;

impl RingDirector {
    fn ring(sched: &str, max_conns: usize, both_rs: bool) -> Self {
        let rx = NicPair::new(RingRx::new(), RingRx::new());
        TestDirector::on(sched, max_conns, true, rx, both_rs)
    }

    /// Feed `frames` through the external ring, a ring's worth at a time, with
    /// `poll_once` at `now` draining it.
    fn feed(&mut self, frames: &[Vec<u8>], now: std::time::Instant) {
        let mut it = frames.iter().peekable();
        while it.peek().is_some() {
            while let Some(f) = it.peek() {
                if !self.w.rx[Nic::Ext].push(f) {
                    break;
                }
                it.next();
            }
            while !self.w.rx[Nic::Ext].is_empty() {
                self.w.poll_once(now);
            }
        }
    }
}

/// Client `i` of thousands (198.18.1.0 and up: each its own template).
fn client(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 1, 0)) + i as u32)
}

/// The whole worker loop (`poll_once`) over a ring-like queue: thousands of
/// persistent clients (a template each) made and expired, connection expiry
/// through the loop with its gauge updates and template release, and again
/// into the warmed-up maps: nothing allocated once warm.
#[test]
fn poll_loop_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CLIENTS: usize = 4000;
    let mut d = RingDirector::ring("rr -p 300", 2 * CLIENTS, true);
    let syns = |port: u16| -> Vec<Vec<u8>> {
        (0..CLIENTS)
            .map(|i| tcp((CLIENT_MAC, EXT_MAC), (client(i), port), (VIP, 80), SYN, 0))
            .collect()
    };
    let (first, second) = (syns(10_000), syns(20_000));
    let mut now = d.start;
    let gauges = |d: &RingDirector| {
        (0..2).fold((0, 0), |(a, i), id| {
            let (da, di) = d.out.gauges.get(DestId(id));
            (a + da, i + di)
        })
    };
    // Expire everything through the loop: connections (their gauges, their
    // templates' counts), then the templates by the once-a-second sweep.
    let expire_all = |d: &mut RingDirector, now: &mut std::time::Instant| {
        for _ in 0..400 {
            *now += std::time::Duration::from_secs(1);
            for _ in 0..4 {
                d.w.poll_once(*now);
            }
        }
    };

    // Warm-up: the template shards' maps grow to hold the clients.
    d.feed(&first, now);
    assert_eq!(
        d.ctr(Ctr::ConnNew),
        CLIENTS as u64,
        "every client connected"
    );
    let start = d.start;
    let now_s = |now: std::time::Instant| now.duration_since(start).as_secs() as u32;
    assert_eq!(
        d.shared.templates.len(now_s(now)),
        CLIENTS,
        "a template each"
    );
    assert_eq!(
        gauges(&d),
        (CLIENTS as u32, 0),
        "SYN_RECV is active (tcp_state_active_table)"
    );

    let before = allocs();
    expire_all(&mut d, &mut now);
    let n = allocs() - before;
    assert_eq!(d.w.core.table.len(), 0);
    assert_eq!(d.ctr(Ctr::ConnExpired), CLIENTS as u64);
    assert_eq!(gauges(&d), (0, 0), "gauges follow expiry");
    assert_eq!(d.shared.templates.len(now_s(now)), 0, "templates swept");
    assert_eq!(
        n, 0,
        "{n} allocations expiring {CLIENTS} connections and templates"
    );

    // The same clients again: templates made anew in the warmed maps.
    let before = allocs();
    d.feed(&second, now);
    let n = allocs() - before;
    assert_eq!(d.ctr(Ctr::ConnNew), 2 * CLIENTS as u64);
    assert_eq!(d.shared.templates.len(now_s(now)), CLIENTS);
    assert_eq!(
        d.w.tx[Nic::Int].committed,
        2 * CLIENTS as u64,
        "all forwarded"
    );
    assert_eq!(n, 0, "{n} allocations for {CLIENTS} persistent clients");
}

/// Frames to a real server not resolved yet wait for ARP and leave when it is
/// resolved, through `poll_once`, allocating nothing.
#[test]
fn pending_arp_allocates_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut d = RingDirector::ring("rr", 1000, false);
    let now = d.start;
    // Four frames wait per unresolved neighbor at most: eight SYNs, every
    // other one to RS[1].
    let syns: Vec<Vec<u8>> = (0..8)
        .map(|i| tcp((CLIENT_MAC, EXT_MAC), (CLIENT, port(i)), (VIP, 80), SYN, 0))
        .collect();
    // The snapshot that resolves RS[1], made before counting (the control
    // thread makes it, not the worker).
    let ip = u32::from(RS[1]);
    d.neigh
        .event(NeighEvent::Resolve { nic: Nic::Int, ip }, now);
    let heard = NeighEvent::Heard {
        nic: Nic::Int,
        ip,
        mac: Mac(RS_MAC[1]),
        reply: true,
    };
    d.neigh.event(heard, now);
    let snap = Arc::new(d.neigh.take_snapshot().expect("learned"));

    let before = allocs();
    d.feed(&syns, now);
    let n = allocs() - before;
    let waiting = d.ctr(Ctr::NeighQueued);
    assert_eq!(d.ctr(Ctr::ConnNew), 8);
    assert_eq!(waiting, 4, "rr: every other SYN waits for RS[1]");
    assert_eq!(d.ctr(Ctr::DropNeighQueue), 0);
    assert_eq!(d.w.tx[Nic::Int].committed, 4);
    assert_eq!(n, 0, "{n} allocations parking {waiting} frames");
    assert!(d.neigh_rx.try_recv().is_ok(), "asked to resolve RS[1]");
    while d.neigh_rx.try_recv().is_ok() {}

    d.shared.neigh.store(snap);
    d.shared.bump();
    let before = allocs();
    d.w.poll_once(now);
    let n = allocs() - before;
    assert_eq!(d.w.tx[Nic::Int].committed, 8, "the waiting frames left");
    assert_eq!(n, 0, "{n} allocations flushing {waiting} waiting frames");
}

// ---------------------------------------------------------------------------
// Handoffs between two workers (the steering of AF_XDP on several queues)
// ---------------------------------------------------------------------------

/// Two workers with steering on, as `ringvs run --io xdp --workers 2` wires
/// them, on ring-like queues (the XDP sockets cannot run here; the steering
/// and handoff code they feed is the same).
struct SteeredPair<R = RingRx, T = SlotTx> {
    w: Vec<Worker<R, T>>,
    start: std::time::Instant,
    _neigh_rx: Receiver<NeighEvent>,
}

/// A test's receive queue: frames put in by the test.
trait Fed: ringvs::io::RxQueue {
    /// Queue `f`; false if full.
    fn put(&mut self, f: &[u8]) -> bool;
    fn drained(&self) -> bool;
}

impl Fed for RingRx {
    fn put(&mut self, f: &[u8]) -> bool {
        self.push(f)
    }
    fn drained(&self) -> bool {
        self.is_empty()
    }
}

impl Fed for MemRx {
    fn put(&mut self, f: &[u8]) -> bool {
        self.push(f);
        true
    }
    fn drained(&self) -> bool {
        self.is_empty()
    }
}

impl SteeredPair {
    fn new(max_conns: usize, depth: usize) -> Self {
        let queues = (0..2).map(|_| {
            (
                NicPair::new(RingRx::new(), RingRx::new()),
                NicPair::new(SlotTx::new(), SlotTx::new()),
            )
        });
        Self::with_queues(max_conns, depth, queues)
    }
}

impl<R: Fed, T: TxQueue> SteeredPair<R, T> {
    fn with_queues(
        max_conns: usize,
        depth: usize,
        queues: impl IntoIterator<Item = (NicPair<R>, NicPair<T>)>,
    ) -> Self {
        let mut cfg = Config::new();
        for r in [
            format!("-A -t {VIP}:80 -s rr"),
            format!("-a -t {VIP}:80 -r {}:8080 -m", RS[0]),
            format!("-a -t {VIP}:80 -r {}:8080 -m", RS[1]),
        ] {
            let args: Vec<String> = r.split_whitespace().map(String::from).collect();
            apply(&mut cfg, &parse(&args).expect("rule")).expect("rule applies");
        }
        let env = Env::new(
            [Mac(EXT_MAC), Mac(INT_MAC)],
            format!("{EXT_ADDR}/16").parse().expect("prefix"),
            "198.19.0.1/24".parse().expect("prefix"),
        );
        let plan = Plan {
            handoff_depth: depth,
            steer: true,
            ..Plan::new(2, env, max_conns)
        };
        let start = plan.start;
        let mut dp = Director::new(plan, Snapshot::build(&cfg, Timeouts::default()));
        let mut neigh = NeighTable::new();
        for (nic, ip, mac) in [
            (Nic::Int, RS[0], RS_MAC[0]),
            (Nic::Int, RS[1], RS_MAC[1]),
            (Nic::Ext, CLIENT, CLIENT_MAC),
        ] {
            let ip = u32::from(ip);
            neigh.event(NeighEvent::Resolve { nic, ip }, start);
            let mac = Mac(mac);
            neigh.event(
                NeighEvent::Heard {
                    nic,
                    ip,
                    mac,
                    reply: true,
                },
                start,
            );
        }
        dp.shared
            .neigh
            .store(Arc::new(neigh.take_snapshot().expect("learned")));
        dp.shared.bump();
        let mut w = dp.workers(queues);
        for w in &mut w {
            w.poll_once(start);
        }
        SteeredPair {
            w,
            start,
            _neigh_rx: dp.neigh_rx.clone(),
        }
    }

    fn ctr(&self, k: usize, c: Ctr) -> u64 {
        self.w[k].core.ctr.get(c)
    }

    fn sum(&self, c: Ctr) -> u64 {
        self.ctr(0, c) + self.ctr(1, c)
    }

    /// Feed `(worker, nic, frame)` through the workers' rings, 32 frames at a
    /// time, each batch followed by passes of both workers until nothing is
    /// left in a ring or in flight between them.
    fn feed(&mut self, frames: &[(usize, Nic, Vec<u8>)]) {
        let now = self.start;
        for chunk in frames.chunks(32) {
            for (k, nic, f) in chunk {
                assert!(self.w[*k].rx[*nic].put(f), "ring full");
            }
            for _ in 0..3 {
                for w in &mut self.w {
                    w.poll_once(now);
                }
            }
            assert!(
                self.w
                    .iter()
                    .all(|w| w.rx[Nic::Ext].drained() && w.rx[Nic::Int].drained())
            );
        }
    }
}

/// A frame to feed, with the worker and the NIC it lands on.
type Landing = (usize, Nic, Vec<u8>);

/// Connections `conns` client ports make through `p` (SYN, SYN+ACK, ACK,
/// each landing on a queue by its port's bits, as RSS would: unrelated to
/// the owner), and a data frame each way per connection for the caller to
/// send: the ports, those frames (client's first), and how many of them land
/// on the worker that does not own them.
fn establish<R: Fed, T: TxQueue>(
    p: &mut SteeredPair<R, T>,
    conns: usize,
) -> (Vec<u16>, Vec<Landing>, u64) {
    let owner = |port: u16| ringvs::io::fanout::owner(u32::from(CLIENT), port, 2, 0);
    // Where a frame lands: the external NIC's queue by the port's low bit, the
    // internal one's by the next bit (as RSS would: unrelated to the owner).
    let ext_q = |port: u16| usize::from(port & 1);
    let int_q = |port: u16| usize::from((port >> 1) & 1);
    let ports: Vec<u16> = (0..conns).map(port).collect();
    assert!(ports.iter().any(|&q| owner(q) == 0) && ports.iter().any(|&q| owner(q) == 1));

    // Handshakes (allocation not counted): SYN, then the server's SYN+ACK to
    // whichever real server the owner chose, then the client's ACK.
    let syns: Vec<_> = ports
        .iter()
        .map(|&q| {
            let f = tcp((CLIENT_MAC, EXT_MAC), (CLIENT, q), (VIP, 80), SYN, 0);
            (ext_q(q), Nic::Ext, f)
        })
        .collect();
    p.feed(&syns);
    assert_eq!(p.sum(Ctr::ConnNew), conns as u64);
    let server = |p: &SteeredPair<R, T>, q: u16| {
        let key = FlowKey::new(0, 6, u32::from(CLIENT), q, u32::from(VIP), 80);
        let t = &p.w[owner(q)].core.table;
        let c = t.get(t.lookup(&key).expect("the owner holds the connection"));
        (Ipv4Addr::from(c.rip), c.rport)
    };
    let mut hs = Vec::new();
    let (mut input, mut output) = (Vec::new(), Vec::new());
    for &q in &ports {
        let (rip, rport) = server(p, q);
        let mac = RS_MAC[usize::from(rip == RS[1])];
        let (c, s) = ((CLIENT, q), (rip, rport));
        hs.push((int_q(q), Nic::Int, tcp((mac, INT_MAC), s, c, SYN | ACK, 0)));
        hs.push((
            ext_q(q),
            Nic::Ext,
            tcp((CLIENT_MAC, EXT_MAC), c, (VIP, 80), ACK, 0),
        ));
        input.push((
            ext_q(q),
            Nic::Ext,
            tcp((CLIENT_MAC, EXT_MAC), c, (VIP, 80), ACK | PSH, 64),
        ));
        output.push((
            int_q(q),
            Nic::Int,
            tcp((mac, INT_MAC), s, c, ACK | PSH, 512),
        ));
    }
    p.feed(&hs);
    let est = |p: &SteeredPair<R, T>| {
        p.w.iter()
            .map(|w| w.core.state_count(State::Established) as usize)
            .sum::<usize>()
    };
    assert_eq!(est(p), conns);
    let handed = |fs: &[(usize, Nic, Vec<u8>)], ports: &[u16]| {
        fs.iter()
            .zip(ports)
            .filter(|(f, q)| f.0 != owner(**q))
            .count() as u64
    };
    let expect_handed = handed(&input, &ports) + handed(&output, &ports);
    assert!(expect_handed > 0);
    let frames = input.into_iter().chain(output).collect();
    (ports, frames, expect_handed)
}

/// The same with every worker's queues on one frame memory, as
/// `io::xdp::open_workers` opens AF_XDP sockets: the frames go to their owner
/// by their descriptors and leave from the buffers they arrived in. The
/// in-memory queues allocate a buffer per frame a test pushes in (not
/// counted) and keep what was sent (cleared between bursts, not counted);
/// what the workers do with the frames allocates nothing once warm.
#[test]
fn handoffs_by_descriptor_allocate_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CONNS: usize = 200;
    const ROUNDS: u64 = 5;
    let umem = MemUmem::new();
    let queues = (0..2).map(|_| {
        (
            NicPair::new(MemRx::in_place(&umem), MemRx::in_place(&umem)),
            NicPair::new(MemTx::in_place(&umem), MemTx::in_place(&umem)),
        )
    });
    let mut p = SteeredPair::with_queues(2 * CONNS, 64, queues);
    let (_, frames, expect_handed) = establish(&mut p, CONNS);
    let (lent0, in0, zc0) = (
        p.sum(Ctr::HandoffZeroCopy),
        p.sum(Ctr::HandoffIn),
        p.sum(Ctr::TxZeroCopy),
    );
    let mut n = 0;
    // Round 0 warms up the queues' vectors.
    for round in 0..=ROUNDS {
        for chunk in frames.chunks(32) {
            for (k, nic, f) in chunk {
                p.w[*k].rx[*nic].push(f);
            }
            let before = allocs();
            for _ in 0..3 {
                for w in &mut p.w {
                    w.poll_once(p.start);
                }
            }
            if round > 0 {
                n += allocs() - before;
            }
            for w in &mut p.w {
                assert!(w.rx[Nic::Ext].is_empty() && w.rx[Nic::Int].is_empty());
                w.tx[Nic::Ext].sent.clear();
                w.tx[Nic::Int].sent.clear();
            }
        }
    }
    let rounds = ROUNDS + 1;
    assert_eq!(p.sum(Ctr::HandoffZeroCopy) - lent0, rounds * expect_handed);
    assert_eq!(p.sum(Ctr::HandoffIn) - in0, rounds * expect_handed);
    assert_eq!(
        p.sum(Ctr::TxZeroCopy) - zc0,
        rounds * 2 * CONNS as u64,
        "every frame sent from its own buffer"
    );
    assert_eq!(p.sum(Ctr::DropNoConn) + p.sum(Ctr::DropHandoffFull), 0);
    assert_eq!(umem.lent(), 0, "a frame left lent");
    assert_eq!(
        n,
        0,
        "{n} allocations for {} frames",
        ROUNDS * frames.len() as u64
    );
}

/// Steering: TCP frames that reach the worker not owning their client key are
/// handed to the owner through the pair's ring, in both directions, and the
/// owner forwards them: nothing allocated once the rings exist, no frame of a
/// connection meets a worker without it. A ring that its owner does not drain
/// refuses what does not fit, counted as `drop_handoff_full`.
#[test]
fn steering_and_handoffs_allocate_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const CONNS: usize = 400;
    const ROUNDS: usize = 5;
    let mut p = SteeredPair::new(2 * CONNS, 64);
    let owner = |port: u16| ringvs::io::fanout::owner(u32::from(CLIENT), port, 2, 0);
    let (ports, frames, expect_handed) = establish(&mut p, CONNS);

    // Established traffic both ways, a good part of it through the rings.
    let (out0, fwd_in0, fwd_out0) = (
        p.sum(Ctr::HandoffOut),
        p.sum(Ctr::FwdIn),
        p.sum(Ctr::FwdOut),
    );
    let before = allocs();
    for _ in 0..ROUNDS {
        p.feed(&frames);
    }
    let n = allocs() - before;
    let packets = (ROUNDS * CONNS) as u64;
    assert_eq!(p.sum(Ctr::FwdIn) - fwd_in0, packets, "forwarded in");
    assert_eq!(p.sum(Ctr::FwdOut) - fwd_out0, packets, "forwarded out");
    assert_eq!(p.sum(Ctr::HandoffOut) - out0, ROUNDS as u64 * expect_handed);
    assert_eq!(p.sum(Ctr::HandoffOut), p.sum(Ctr::HandoffIn));
    assert_eq!(p.sum(Ctr::DropNoConn), 0);
    assert_eq!(p.sum(Ctr::DropHandoffFull), 0);
    assert_eq!(n, 0, "{n} allocations for {} frames", 2 * packets);
    // Each worker forwarded only its own connections' frames (a SYN, an ACK
    // and a frame per round each).
    for k in 0..2 {
        let mine = ports.iter().filter(|&&q| owner(q) == k).count() as u64;
        assert_eq!(
            p.ctr(k, Ctr::FwdIn),
            (ROUNDS as u64 + 2) * mine,
            "worker {k}"
        );
    }

    // The owner does not run: its ring from the other worker fills at 64.
    let stuck: Vec<_> = ports
        .iter()
        .copied()
        .filter(|&q| owner(q) == 1)
        .take(100)
        .collect();
    assert_eq!(stuck.len(), 100);
    let full0 = p.ctr(0, Ctr::DropHandoffFull);
    for &q in &stuck {
        let f = tcp((CLIENT_MAC, EXT_MAC), (CLIENT, q), (VIP, 80), ACK | PSH, 64);
        assert!(p.w[0].rx[Nic::Ext].push(&f));
    }
    let before = allocs();
    for _ in 0..4 {
        p.w[0].poll_once(p.start);
    }
    let n = allocs() - before;
    assert_eq!(p.ctr(0, Ctr::DropHandoffFull) - full0, 100 - 64);
    assert_eq!(n, 0, "{n} allocations refusing handoffs");
    // Once the owner runs, the 64 get through.
    let fwd = p.ctr(1, Ctr::FwdIn);
    p.w[1].poll_once(p.start);
    assert_eq!(p.ctr(1, Ctr::FwdIn) - fwd, 64);
}
