//! The FTP helper's pure parts: IPVS's `ip_vs_ftp` application
//! (`net/netfilter/ipvs/ip_vs_ftp.c`) for NAT services on the ports of
//! `ringvs run --ftp-ports` (the module's `ports=` parameter).
//!
//! An FTP session opens its data connections on ports the control connection
//! names in its text, so a NAT director must read that text:
//!
//! * **Passive** (`PASV`, `EPSV`): the real server answers `227 Entering
//!   Passive Mode (h1,h2,h3,h4,p1,p2)` with *its own* address, which the
//!   client cannot reach, or `229 Entering Extended Passive Mode (|||port|)`.
//!   The helper rewrites the reply to the VIP and the same port
//!   (`ip_vs_ftp_out`) and expects the client's data connection from any
//!   source port to VIP:port, for the same real server (IPVS's connection
//!   with `IP_VS_CONN_F_NO_CPORT`).
//! * **Active** (`PORT h1,…,p2`, `EPRT |1|addr|port|`): the client names its
//!   own address and port; nothing is rewritten (the real server sees the
//!   client's address), and the helper expects the real server's connection
//!   from its port one below the control port (20) to that address and port,
//!   which leaves from the VIP's port 20 (`ip_vs_ftp_in`).
//!
//! A rewritten `227` reply may change length (the VIP's digits against the
//! real server's), so the rest of the server's byte stream moves: [`Shift`]
//! keeps the offsets as `ip_vs_app.c` (`vs_fix_seq`, `vs_seq_update`) and
//! netfilter's `nf_conntrack_seqadj.c` do, which today's IPVS mangles
//! through.
//!
//! Commands are recognised as IPVS does (`ip_vs_ftp_get_addrport`, case
//! insensitive; `PASV` and `PORT` for IPv4 only, `EPSV` and `EPRT` of the
//! connection's family), with three deliberate differences, all stricter:
//! commands are looked for at the start of each line of a segment (IPVS
//! looks for `PASV`/`EPSV` anywhere in it and `PORT`/`EPRT` at its start
//! only); a number above 255 in `PORT` or a `227` reply is not taken
//! (IPVS keeps its low 8 bits); and an address that is not the control
//! connection's own (a `PORT` naming another host: the "FTP bounce"; a
//! `227` naming another server) creates nothing, as netfilter's
//! `nf_conntrack_ftp.c` refuses it, where IPVS would open the way.

use super::addr::Addr;
use super::conn::{Conn, FlowKey};
use crate::config::DestId;
use hashbrown::{HashMap, HashSet};
use std::io::Write;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

mod shift;
pub use shift::Shift;
use shift::after;

/// Most ports with the helper (IPVS's `IP_VS_APP_MAX_PORTS`).
pub const MAX_PORTS: usize = 8;

/// Seconds an expected data connection waits for its first packet: the
/// LISTEN timeout IPVS's helper gives it (`ip_vs_tcp_conn_listen`).
pub const EXPECT_SECS: u32 = 120;

/// Most data connections expected at once (each family).
pub const MAX_EXPECTS: usize = 1 << 14;

/// TCP, the only protocol the helper reads.
const TCP: u8 = 6;

/// The ports of the virtual services whose NAT connections the helper reads
/// (`--ftp-ports`, IPVS's `ip_vs_ftp ports=`): matched against a
/// connection's virtual port, as IPVS binds its applications
/// (`ip_vs_bind_app`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtpPorts {
    ports: [u16; MAX_PORTS],
    n: u8,
}

impl FtpPorts {
    /// The helper on `list` (duplicates kept once; 0 is no port). Both on
    /// purpose unlike IPVS's `ports=`, whose `__ip_vs_ftp_init`
    /// (`ip_vs_ftp.c`) skips a 0 and fails on a repeated port (`-EEXIST`
    /// from `tcp_register_app`, `ip_vs_proto_tcp.c`): docs/ipvsadm.md.
    pub fn new(list: &[u16]) -> Result<Self, String> {
        let mut p = Self::default();
        for &port in list {
            if port == 0 {
                return Err("--ftp-ports: port 0 is no port".into());
            }
            if p.has(port) {
                continue;
            }
            let Some(slot) = p.ports.get_mut(usize::from(p.n)) else {
                return Err(format!("--ftp-ports: at most {MAX_PORTS} ports"));
            };
            *slot = port;
            p.n += 1;
        }
        Ok(p)
    }

    /// Whether the helper is on at all.
    #[inline(always)]
    pub fn on(&self) -> bool {
        self.n != 0
    }

    /// Whether connections to virtual port `port` get the helper.
    #[inline]
    pub fn has(&self, port: u16) -> bool {
        self.list().contains(&port)
    }

    pub fn list(&self) -> &[u16] {
        &self.ports[..usize::from(self.n)]
    }
}

/// What a client's command asks the helper to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `PASV`: the server's next `227` reply names the data port.
    Pasv,
    /// `EPSV` (or `EPSV 1`, `EPSV 2` of the connection's family): its next
    /// `229` reply does.
    Epsv,
    /// `PORT` or `EPRT`: the server connects to this address and port.
    Port(IpAddr, u16),
}

/// The reply the helper waits for on a control connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    None,
    Pasv,
    Epsv,
}

/// The first command of `payload` (a client's segment on a control
/// connection) the helper acts on, looked for at the start of each line.
/// `v4`: the connection is IPv4 (`PASV` and `PORT` are IPv4 only, `EPSV`
/// and `EPRT` must name the connection's family).
pub fn command(payload: &[u8], v4: bool) -> Option<Command> {
    let mut at = 0;
    while at < payload.len() {
        if let Some(c) = command_at(&payload[at..], v4) {
            return Some(c);
        }
        at += payload[at..].iter().position(|&b| b == b'\n')? + 1;
    }
    None
}

fn command_at(line: &[u8], v4: bool) -> Option<Command> {
    let word = |w: &[u8]| line.len() >= w.len() && line[..w.len()].eq_ignore_ascii_case(w);
    if v4 && word(b"PASV\r\n") {
        return Some(Command::Pasv);
    }
    if word(b"EPSV") {
        return match line.get(4..) {
            Some([b'\r', _, ..]) => Some(Command::Epsv), // 6 bytes, as `ip_vs_ftp_in`
            Some([b' ', fam, b'\r', ..]) if *fam == family(v4) => Some(Command::Epsv),
            _ => None,
        };
    }
    if v4 && word(b"PORT ") {
        let rest = skip_spaces(&line[5..]);
        let (addr, port, _) = six_numbers(rest)?;
        return Some(Command::Port(addr, port));
    }
    if word(b"EPRT ") {
        let rest = skip_spaces(&line[5..]);
        let (addr, port, _) = extended(rest, v4, false)?;
        return Some(Command::Port(addr?, port));
    }
    None
}

/// The protocol digit of `EPSV`/`EPRT` for the family.
fn family(v4: bool) -> u8 {
    if v4 { b'1' } else { b'2' }
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// `h1,h2,h3,h4,p1,p2` at the start of `s`: the address, the port and how
/// many bytes they took, up to the first byte that is neither a digit nor a
/// comma, which must be there (numbers the segment ends in may be cut, and
/// `ip_vs_ftp_get_addrport` takes nothing when it reaches `data_limit`).
/// Stricter than the kernel on purpose (docs/ipvsadm.md): each number has
/// one to three digits and is at most 255, where the kernel takes an empty
/// one as 0 and any number of digits, keeping the low 8 bits (`0198`: 198).
fn six_numbers(s: &[u8]) -> Option<(IpAddr, u16, usize)> {
    let mut n = [0u16; 6];
    let (mut i, mut len, mut digits) = (0, 0, 0);
    for &b in s {
        match b {
            b'0'..=b'9' => {
                n[i] = n[i] * 10 + u16::from(b - b'0');
                digits += 1;
                if n[i] > 255 || digits > 3 {
                    return None;
                }
            }
            b',' if i < 5 && digits > 0 => {
                i += 1;
                digits = 0;
            }
            _ => break,
        }
        len += 1;
    }
    if i != 5 || digits == 0 || len == s.len() {
        return None;
    }
    let b = n.map(|v| v as u8);
    let addr = IpAddr::from([b[0], b[1], b[2], b[3]]);
    Some((addr, u16::from_be_bytes([b[4], b[5]]), len))
}

/// The extended form `<d><proto><d><addr><d><port><d>` at the start of `s`
/// (`d` any printable byte but space): the address (`None` when `<proto>`
/// and `<addr>` are both empty, allowed in a `229` reply only), the port
/// (not 0) and how many bytes it took.
fn extended(s: &[u8], v4: bool, reply: bool) -> Option<(Option<IpAddr>, u16, usize)> {
    let d = *s.first()?;
    if !(33..=126).contains(&d) {
        return None;
    }
    let mut fields = s[1..].splitn(4, |&b| b == d);
    let (proto, text, port) = (fields.next()?, fields.next()?, fields.next()?);
    // The port's closing delimiter must be there.
    fields.next()?;
    let addr = match (proto, text) {
        ([], []) if reply => None,
        ([p], text) if *p == family(v4) => {
            let ip: IpAddr = std::str::from_utf8(text).ok()?.parse().ok()?;
            (ip.is_ipv4() == v4).then_some(ip)?.into()
        }
        _ => return None,
    };
    if port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = 4 + proto.len() + text.len() + port.len();
    let port: u16 = std::str::from_utf8(port).ok()?.parse().ok()?;
    if port == 0 {
        return None;
    }
    Some((addr, port, len))
}

/// The address and port a server's reply names, and where in the payload
/// the text to replace lies (`start..end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub start: usize,
    pub end: usize,
    /// `None`: a `229` reply without address (the usual one).
    pub addr: Option<IpAddr>,
    pub port: u16,
}

/// The `227` (`mode` [`Mode::Pasv`]) or `229` ([`Mode::Epsv`]) reply at the
/// start of `payload`, as `ip_vs_ftp_out` reads it, but in its first line:
/// the search for its `(` stops at a CR or LF, where the kernel's
/// `ip_vs_ftp_get_addrport` goes on to the segment's end (docs/ipvsadm.md).
pub fn reply(payload: &[u8], mode: Mode, v4: bool) -> Option<Reply> {
    let (code, ext) = match mode {
        Mode::Pasv if v4 => (b"227 ", false),
        Mode::Epsv => (b"229 ", true),
        _ => return None,
    };
    if payload.len() < 4 || &payload[..4] != code {
        return None;
    }
    // To the opening parenthesis (past any more of them); the old form may
    // leave it out and start at the first digit.
    let mut s = 4;
    loop {
        let b = *payload.get(s)?;
        if !ext && b.is_ascii_digit() {
            break;
        }
        s += 1;
        if b == b'(' {
            while payload.get(s) == Some(&b'(') {
                s += 1;
            }
            break;
        }
        if b == b'\r' || b == b'\n' {
            return None;
        }
    }
    let rest = &payload[s..];
    let (addr, port, len) = if ext {
        extended(rest, v4, true)?
    } else {
        let (a, p, len) = six_numbers(rest)?;
        (Some(a), p, len)
    };
    Some(Reply {
        start: s,
        end: s + len,
        addr,
        port,
    })
}

/// The text that replaces a reply's `start..end`: the VIP and the port for
/// `227` (`h1,h2,h3,h4,p1,p2`), the port alone for `229` (`|||port|`), as
/// `ip_vs_ftp_out` writes them. Written into `buf`; returns its length.
pub fn replacement(mode: Mode, vip: IpAddr, port: u16, buf: &mut [u8; 32]) -> usize {
    let total = buf.len();
    let mut w = &mut buf[..];
    let ok = match (mode, vip) {
        (Mode::Pasv, IpAddr::V4(v)) => {
            let [a, b, c, d] = v.octets();
            write!(w, "{a},{b},{c},{d},{},{}", port >> 8, port & 0xff).is_ok()
        }
        _ => write!(w, "|||{port}|").is_ok(),
    };
    debug_assert!(ok, "32 bytes hold either form");
    total - w.len()
}

/// A control connection's helper state (per worker, beside the table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Control {
    /// The reply the client's last `PASV`/`EPSV` awaits.
    pub mode: Mode,
    /// The last reply rewritten: its sequence number and form, so that a
    /// retransmission of it is rewritten the same way.
    pub last: Option<(u32, Mode)>,
    /// The server's byte stream after rewrites.
    pub out: Shift,
    /// The data connection this control connection expects, if any (one at
    /// a time: the next `PASV`/`PORT` replaces it): passive or active, and
    /// its port.
    pub expecting: Option<(Mode, u16)>,
}

impl Control {
    /// What a server segment at `seq` may be: the reply the client's last
    /// `PASV`/`EPSV` awaits, or a retransmission of the last reply read
    /// (`true`: rewritten as that one was, nothing expected again), or an
    /// older segment (neither, even with a command armed).
    pub fn reply_mode(&self, seq: u32) -> (Mode, bool) {
        match self.last {
            Some((at, m)) if at == seq => (m, true),
            Some((at, _)) if after(at, seq) => (Mode::None, false),
            _ => (self.mode, false),
        }
    }
}

/// A data connection the helper expects, and until when (seconds on the
/// workers' clock).
#[derive(Clone, Debug)]
struct Expect<A> {
    conn: Conn<A>,
    until: u32,
    /// The control connection that made it (see `put`).
    owner: u32,
}

/// The data connections the helper expects, shared by all workers: a
/// passive one's first packet comes from a client port nobody knows yet,
/// so no worker can be told in advance which of them will see it (and an
/// active one's, from the real server, reaches the worker owning the
/// client's port, not the control connection's). Found by the key of the
/// packet that opens it: the client's SYN with port 0 for the client's
/// (`passive_key`), the real server's SYN (`active_key`).
///
/// In [`SHARDS`] shards by the client's address, each a `Mutex<HashMap>`
/// with an atomic count beside it: a shard is locked only when an
/// expectation is made or let go (a `PASV`, `EPSV`, `PORT` or `EPRT` on a
/// control connection) and when a connection's first packet finds no
/// connection while its client's shard has one pending (one atomic load
/// tells); its links, when a data connection is linked or unlinked and
/// when a SYN meets an ended connection (TIME_WAIT, CLOSE) not counted on
/// a template while its client's shard has data connections
/// ([`Expects::is_data`], port reuse). No packet of a connection in use
/// takes a lock; a client sending SYN|RST on its own ended data connection
/// takes one (uncontended but for its shard's PASVs) per such packet. A
/// SYN flood from clients with nothing expected or linked takes none.
pub struct Expects<A = u32> {
    shards: Box<[Shard<A>]>,
}

/// Shards of [`Expects`].
pub const SHARDS: usize = 64;
const PER_SHARD: usize = MAX_EXPECTS / SHARDS;
/// Most live expectations of one client address (one per control
/// connection: so many control connections open at once), so that one
/// address cannot fill the shard it shares with others.
pub const PER_CLIENT: usize = 32;

struct Shard<A> {
    map: Mutex<HashMap<FlowKey<A>, Expect<A>>>,
    pending: AtomicUsize,
    links: Mutex<Links<A>>,
    /// `links.data.len()`.
    linked: AtomicUsize,
}

/// A control connection, by its client side: (client, client port, VIP,
/// virtual port).
pub type ControlKey<A> = (A, u16, A, u16);

/// The data connections the helper made and the control connections they
/// belong to: a control connection does not expire while it has one in
/// some worker's table (IPVS's `n_control`, `ip_vs_conn_expire`).
struct Links<A> {
    /// A data connection (its client-side key) → its control connection.
    data: HashMap<FlowKey<A>, ControlKey<A>>,
    /// A control connection → how many data connections it has.
    controls: HashMap<ControlKey<A>, u32>,
}

/// Why an expectation was not made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its shard holds `MAX_EXPECTS / SHARDS` live ones, or its client
    /// [`PER_CLIENT`].
    Full,
    /// A live one of the same key leads elsewhere (two clients behind one
    /// address whose servers chose the same passive port): the first keeps
    /// it, rather than have its data reach the other's server.
    Taken,
}

impl<A: Addr> Default for Expects<A> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    map: Mutex::new(HashMap::new()),
                    pending: AtomicUsize::new(0),
                    links: Mutex::new(Links {
                        data: HashMap::new(),
                        controls: HashMap::new(),
                    }),
                    linked: AtomicUsize::new(0),
                })
                .collect(),
        }
    }
}

impl<A: Addr> Expects<A> {
    fn shard(&self, client: A) -> &Shard<A> {
        let h = client.fold().wrapping_mul(0x9e37_79b9_7f4a_7c15);
        &self.shards[(h >> 58) as usize % SHARDS]
    }

    /// The client of a key: the source of a passive one, the destination of
    /// an active one.
    fn client_of(key: &FlowKey<A>) -> A {
        if key.side == 0 { key.src } else { key.dst }
    }

    /// Whether anything is expected for `client` (no lock).
    #[inline]
    pub fn pending_for(&self, client: A) -> bool {
        self.shard(client).pending.load(Ordering::Relaxed) != 0
    }

    /// The key a passive data connection's first packet (the client's SYN)
    /// is looked up by: its own with the client port 0.
    pub fn passive_key(client: A, vip: A, vport: u16) -> FlowKey<A> {
        FlowKey::new(0, TCP, client, 0, vip, vport)
    }

    /// The key an active data connection's first packet (the real server's
    /// SYN to the client) is looked up by.
    pub fn active_key(rip: A, rport: u16, client: A, cport: u16) -> FlowKey<A> {
        FlowKey::new(1, TCP, rip, rport, client, cport)
    }

    /// Expect `conn` (its client port 0 for a passive one) for
    /// [`EXPECT_SECS`] from `now`, under `key`, for control connection
    /// `owner` (a number that tells the client's control connections
    /// apart). An expectation of the same key to the same
    /// server and port is renewed; one elsewhere is kept
    /// ([`Refused::Taken`]).
    pub fn put(
        &self,
        key: FlowKey<A>,
        (conn, owner): (Conn<A>, u32),
        now: u32,
    ) -> Result<(), Refused> {
        let client = Self::client_of(&key);
        let shard = self.shard(client);
        let Ok(mut map) = shard.map.lock() else {
            return Err(Refused::Full);
        };
        match map.get(&key) {
            Some(e) if e.until > now && (e.conn.rip, e.conn.rport) != (conn.rip, conn.rport) => {
                return Err(Refused::Taken);
            }
            Some(_) => {}
            None => {
                if map.len() >= PER_SHARD {
                    map.retain(|_, e| e.until > now);
                }
                let own = |(k, e): (&FlowKey<A>, &Expect<A>)| {
                    Self::client_of(k) == client && e.until > now
                };
                if map.len() >= PER_SHARD || map.iter().filter(|&kv| own(kv)).count() >= PER_CLIENT
                {
                    return Err(Refused::Full);
                }
            }
        }
        let until = now.saturating_add(EXPECT_SECS);
        map.insert(key, Expect { conn, until, owner });
        shard.pending.store(map.len(), Ordering::Relaxed);
        Ok(())
    }

    /// The connection expected under `key`, if it has not expired, and its
    /// control connection's `owner` number; it is expected no more (one
    /// data connection per expectation, as IPVS fills in the client port of
    /// its `NO_CPORT` connection once).
    pub fn take(&self, key: &FlowKey<A>, now: u32) -> Option<(Conn<A>, u32)> {
        let shard = self.shard(Self::client_of(key));
        let mut map = shard.map.lock().ok()?;
        let e = map.remove(key);
        shard.pending.store(map.len(), Ordering::Relaxed);
        e.filter(|e| e.until > now).map(|e| (e.conn, e.owner))
    }

    /// Data connection `data` (its client-side key) is in a table now, and
    /// belongs to control connection `control` (of the same client).
    pub fn link(&self, data: FlowKey<A>, control: ControlKey<A>) {
        let shard = self.shard(data.src);
        let Ok(mut l) = shard.links.lock() else {
            return;
        };
        match l.data.insert(data, control) {
            Some(old) if old == control => return,
            Some(old) => Self::uncount(&mut l, old),
            None => {}
        }
        *l.controls.entry(control).or_insert(0) += 1;
        shard.linked.store(l.data.len(), Ordering::Relaxed);
    }

    /// One data connection fewer for `control`.
    fn uncount(l: &mut Links<A>, control: ControlKey<A>) {
        if let Some(n) = l.controls.get_mut(&control) {
            *n -= 1;
            if *n == 0 {
                l.controls.remove(&control);
            }
        }
    }

    /// A connection of client-side key `key` left its table: if it was a
    /// data connection, its control connection has one fewer. One atomic
    /// load for clients without any.
    pub fn unlink(&self, key: &FlowKey<A>) {
        let shard = self.shard(key.src);
        if shard.linked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Ok(mut l) = shard.links.lock() else {
            return;
        };
        if let Some(control) = l.data.remove(key) {
            Self::uncount(&mut l, control);
        }
        shard.linked.store(l.data.len(), Ordering::Relaxed);
    }

    /// Whether control connection `control` has a data connection in some
    /// worker's table.
    pub fn controls(&self, control: &ControlKey<A>) -> bool {
        self.links_of(control.0, |l| l.controls.contains_key(control))
    }

    /// Whether the connection of client-side key `key` is a data connection
    /// the helper made: controlled by its control connection, as IPVS's
    /// (`ip_vs_control_add` in `ip_vs_ftp_out`, `ip_vs_ftp_in`).
    pub fn is_data(&self, key: &FlowKey<A>) -> bool {
        self.links_of(key.src, |l| l.data.contains_key(key))
    }

    /// `f` of the links of `client`'s shard: false, and no lock, if none.
    fn links_of(&self, client: A, f: impl FnOnce(&Links<A>) -> bool) -> bool {
        let shard = self.shard(client);
        shard.linked.load(Ordering::Relaxed) != 0 && shard.links.lock().is_ok_and(|l| f(&l))
    }

    /// Expect nothing more under `key` for control connection `owner` (its
    /// earlier expectation, replaced by its next; another's of the same key
    /// stays).
    pub fn forget(&self, key: &FlowKey<A>, owner: u32) {
        let shard = self.shard(Self::client_of(key));
        if shard.pending.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Ok(mut map) = shard.map.lock() {
            if map.get(key).is_some_and(|e| e.owner == owner) {
                map.remove(key);
            }
            shard.pending.store(map.len(), Ordering::Relaxed);
        }
    }

    /// Drop what expired (a worker's once-a-second sweep; a shard another
    /// holds is skipped).
    pub fn sweep(&self, now: u32) {
        for shard in &self.shards {
            if shard.pending.load(Ordering::Relaxed) == 0 {
                continue;
            }
            if let Ok(mut map) = shard.map.try_lock() {
                map.retain(|_, e| e.until > now);
                shard.pending.store(map.len(), Ordering::Relaxed);
            }
        }
    }

    /// How many are pending.
    pub fn len(&self) -> usize {
        let n = |s: &Shard<A>| s.pending.load(Ordering::Relaxed);
        self.shards.iter().map(n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add to `out` those of `ids` some expectation (swept or not) is to.
    pub fn naming(&self, ids: &HashSet<DestId>, out: &mut HashSet<DestId>) {
        let named = |e: &Expect<A>| Some(e.conn.dest()).filter(|d| ids.contains(d));
        for map in self.shards.iter().filter_map(|s| s.map.lock().ok()) {
            out.extend(map.values().filter_map(named));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DestId;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2));

    #[test]
    fn client_commands_are_read_as_ipvs_reads_them() {
        assert_eq!(command(b"PASV\r\n", true), Some(Command::Pasv));
        assert_eq!(command(b"pasv\r\n", true), Some(Command::Pasv));
        assert_eq!(command(b"PASV\r\n", false), None, "PASV is IPv4 only");
        assert_eq!(command(b"EPSV\r\n", true), Some(Command::Epsv));
        assert_eq!(command(b"EPSV 1\r\n", true), Some(Command::Epsv));
        assert_eq!(command(b"EPSV 2\r\n", true), None, "another family");
        assert_eq!(command(b"EPSV 2\r\n", false), Some(Command::Epsv));
        assert_eq!(command(b"EPSV ALL\r\n", true), None);
        assert_eq!(
            command(b"PORT 198,19,0,2,117,48\r\n", true),
            Some(Command::Port(V4, 30000))
        );
        assert_eq!(
            command(b"PORT   198,19,0,2,117,48\r\n", true),
            Some(Command::Port(V4, 30000))
        );
        assert_eq!(
            command(b"EPRT |1|198.19.0.2|30000|\r\n", true),
            Some(Command::Port(V4, 30000))
        );
        assert_eq!(
            command(b"EPRT !2!2001:2::7!40000!\r\n", false),
            Some(Command::Port(
                IpAddr::V6("2001:2::7".parse().unwrap()),
                40000
            ))
        );
        // Pipelined: the command of a later line.
        assert_eq!(command(b"TYPE I\r\nPASV\r\n", true), Some(Command::Pasv));
        for bad in [
            &b"PASV"[..],
            b"PASVX\r\n",
            b"XPASV\r\n",
            b"RETR PASV\r\n",
            b"PORT 198,19,0,2,117\r\n",
            b"PORT 198,19,0,256,117,48\r\n",
            b"PORT 198,19,0,2,1117,48\r\n",
            b"PORT 198,,19,0,2,117,48\r\n",
            b"EPRT |1|198.19.0.2|0|\r\n",
            b"EPRT |1|198.19.0.2|30000\r\n",
            b"EPRT |2|198.19.0.2|30000|\r\n",
            b"EPRT |1|2001:2::7|30000|\r\n",
            b"EPRT |||30000|\r\n",
            b"EPRT  1 198.19.0.2 30000 \r\n",
        ] {
            assert_eq!(command(bad, true), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// A command or reply the segment ends inside is not taken: its last
    /// number may go on in the next segment (`PORT …,117,4` then `8\r\n`),
    /// and `ip_vs_ftp_get_addrport` returns -1 when its number loop reaches
    /// `data_limit`; any byte after the last number ends it there, as in
    /// the kernel (an extended form needs its closing delimiter). `EPSV`
    /// wants six bytes, as `ip_vs_ftp_in` looks for it while six are left.
    #[test]
    fn a_command_or_reply_cut_by_the_segments_end_is_not_taken() {
        for cut in [
            &b"PORT 198,19,0,2,117,4"[..],
            b"PORT 198,19,0,2,117,",
            b"EPRT |1|198.19.0.2|3000",
            b"EPRT |1|198.19.0.2|30000",
            b"EPRT |1|198.19",
            b"EPSV\r",
            b"EPSV 1",
        ] {
            assert_eq!(command(cut, true), None, "{}", String::from_utf8_lossy(cut));
        }
        let port = Some(Command::Port(V4, 30000));
        assert_eq!(command(b"PORT 198,19,0,2,117,48\r", true), port);
        assert_eq!(command(b"PORT 198,19,0,2,117,48 ", true), port);
        assert_eq!(command(b"PORT 198,19,0,2,117,48,", true), port);
        assert_eq!(command(b"EPRT |1|198.19.0.2|30000|", true), port);
        assert_eq!(command(b"EPSV\r\n", true), Some(Command::Epsv));
        assert_eq!(command(b"EPSV 1\r", true), Some(Command::Epsv));
        assert_eq!(reply(b"227 (198,19,0,2,117,4", Mode::Pasv, true), None);
        assert_eq!(reply(b"227 198,19,0,2,117,48", Mode::Pasv, true), None);
        let r = reply(b"227 (198,19,0,2,117,48)", Mode::Pasv, true).expect("227");
        assert_eq!((r.start, r.end, r.port), (5, 22, 30000));
        assert_eq!(reply(b"229 (|||3000", Mode::Epsv, true), None);
        assert_eq!(reply(b"229 (|||30000", Mode::Epsv, true), None);
    }

    #[test]
    fn server_replies_name_the_text_to_replace() {
        let p = b"227 Entering Passive Mode (198,19,0,2,117,48).\r\n";
        let r = reply(p, Mode::Pasv, true).expect("227");
        assert_eq!((r.addr, r.port), (Some(V4), 30000));
        assert_eq!(&p[r.start..r.end], b"198,19,0,2,117,48");
        // Without the parenthesis.
        let p = b"227 =198,19,0,2,117,48\r\n";
        let r = reply(p, Mode::Pasv, true).expect("227");
        assert_eq!(&p[r.start..r.end], b"198,19,0,2,117,48");
        let p = b"229 Entering Extended Passive Mode (|||30000|)\r\n";
        let r = reply(p, Mode::Epsv, true).expect("229");
        assert_eq!((r.addr, r.port), (None, 30000));
        assert_eq!(&p[r.start..r.end], b"|||30000|");
        let p = b"229 Extended (!1!198.19.0.2!30000!)\r\n";
        let r = reply(p, Mode::Epsv, true).expect("229 with address");
        assert_eq!((r.addr, r.port), (Some(V4), 30000));
        assert_eq!(&p[r.start..r.end], b"!1!198.19.0.2!30000!");
        // Only the reply the client's command awaits.
        assert_eq!(
            reply(b"227 (198,19,0,2,117,48)\r\n", Mode::Epsv, true),
            None
        );
        assert_eq!(reply(b"229 (|||30000|)\r\n", Mode::Pasv, true), None);
        assert_eq!(
            reply(b"227 (198,19,0,2,117,48)\r\n", Mode::None, true),
            None
        );
        assert_eq!(
            reply(b"227 (198,19,0,2,117,48)\r\n", Mode::Pasv, false),
            None
        );
        for bad in [
            &b"226 (198,19,0,2,117,48)\r\n"[..],
            b"227 Entering Passive Mode\r\n(198,19,0,2,117,48)",
            b"227 (198,19,0,2,117)\r\n",
        ] {
            assert_eq!(reply(bad, Mode::Pasv, true), None);
        }
        assert_eq!(reply(b"229 (|||0|)\r\n", Mode::Epsv, true), None);
        assert_eq!(reply(b"229 (|||30000)\r\n", Mode::Epsv, true), None);
    }

    #[test]
    fn replacements_are_written_as_ipvs_writes_them() {
        let mut buf = [0u8; 32];
        let vip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 110));
        let n = replacement(Mode::Pasv, vip, 30000, &mut buf);
        assert_eq!(&buf[..n], b"198,18,0,110,117,48");
        let n = replacement(Mode::Epsv, vip, 30000, &mut buf);
        assert_eq!(&buf[..n], b"|||30000|");
        let n = replacement(
            Mode::Pasv,
            IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
            65535,
            &mut buf,
        );
        assert_eq!(&buf[..n], b"255,255,255,255,255,255");
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let n = replacement(Mode::Epsv, v6, 65535, &mut buf);
        assert_eq!(&buf[..n], b"|||65535|");
    }

    #[test]
    fn a_shift_moves_what_follows_a_rewrite() {
        let mut s = Shift::default();
        assert!(s.is_zero());
        assert_eq!((s.seq(5), s.ack(5)), (5, 5));
        // The segment at 1000 (30 bytes) grew by 2.
        s.update(1000, 2);
        assert_eq!(s.seq(1000), 1000, "the rewritten segment keeps its start");
        assert_eq!(s.seq(1030), 1032, "what follows moves");
        assert_eq!(s.ack(1000), 1000, "an ack of what came before");
        assert_eq!(s.ack(1032), 1030, "the ack of the rewritten segment");
        // A retransmission of it moves nothing again.
        s.update(1000, 2);
        assert_eq!(s.seq(1030), 1032);
        // The next rewrite, at 2000 (in the sender's numbering), shrank by 3.
        s.update(2000, -3);
        assert_eq!(s.seq(2000), 2002);
        assert_eq!(s.seq(2050), 2049);
        assert_eq!(s.ack(2002), 2000, "ack at the start of the shrunk one");
        assert_eq!(s.ack(2049), 2050);
        // Across the wrap of sequence space.
        let mut w = Shift::default();
        w.update(u32::MAX - 10, 4);
        assert_eq!(w.seq(5), 9);
        assert_eq!(w.ack(9), 5);
    }

    /// A shift from a sync message may hold any value: none panics (debug
    /// builds check overflow), and it comes back as it went.
    #[test]
    fn a_synced_shift_of_any_value_is_arithmetic_mod_2_32() {
        for (delta, prev) in [(i32::MIN, 0), (0, i32::MIN), (i32::MAX, i32::MIN)] {
            let s = Shift::from_parts(1000, delta, prev);
            assert_eq!(s.parts(), Some((1000, delta, prev)));
            for x in [0, 999, 1000, 5000, u32::MAX] {
                let _ = (s.seq(x), s.ack(x));
            }
        }
        let s = Shift::from_parts(1000, i32::MIN, 0);
        assert_eq!(s.seq(1001), 1001u32.wrapping_add(1 << 31));
        assert_eq!(Shift::default().parts(), None);
    }

    #[test]
    fn a_control_connection_is_held_while_its_data_connections_live() {
        let e: Expects = Expects::default();
        let (client, vip) = (0xc612_0001, 0xc612_006e);
        let control = (client, 40000, vip, 21);
        let data = |p| FlowKey::new(0, TCP, client, p, vip, 30000);
        assert!(!e.controls(&control));
        e.link(data(45000), control);
        e.link(data(45001), control);
        e.link(data(45001), control);
        assert!(e.controls(&control));
        e.unlink(&data(45000));
        assert!(e.controls(&control), "one left");
        // Another connection of the client leaving changes nothing.
        e.unlink(&FlowKey::new(0, TCP, client, 40000, vip, 21));
        assert!(e.controls(&control));
        e.unlink(&data(45001));
        assert!(!e.controls(&control));
        // A key linked again to another control connection moves its count.
        let other = (client, 40001, vip, 21);
        e.link(data(45002), control);
        e.link(data(45002), other);
        assert!(!e.controls(&control) && e.controls(&other));
    }

    #[test]
    fn a_reply_is_the_armed_one_a_retransmission_or_neither() {
        let mut c = Control::default();
        assert_eq!(c.reply_mode(100), (Mode::None, false));
        c.mode = Mode::Pasv;
        assert_eq!(c.reply_mode(100), (Mode::Pasv, false));
        c.last = Some((100, Mode::Pasv));
        c.mode = Mode::Epsv;
        // A copy of the last reply is that, even with a command armed.
        assert_eq!(c.reply_mode(100), (Mode::Pasv, true));
        // Older data is neither; newer is the armed reply.
        assert_eq!(c.reply_mode(50), (Mode::None, false));
        assert_eq!(c.reply_mode(150), (Mode::Epsv, false));
        // A refused reply's copy goes as it came.
        c.last = Some((150, Mode::None));
        assert_eq!(c.reply_mode(150), (Mode::None, true));
        // Across the wrap of sequence space.
        c.last = Some((u32::MAX - 10, Mode::Pasv));
        assert_eq!(c.reply_mode(5), (Mode::Epsv, false), "newer");
        assert_eq!(c.reply_mode(u32::MAX - 20), (Mode::None, false), "older");
    }

    /// An expected data connection names its real server for the trash
    /// (`Shared::held`) until it is taken or swept, expired or not.
    #[test]
    fn an_expectation_names_its_server_until_taken_or_swept() {
        let e: Expects = Expects::default();
        let (client, vip, rip) = (0xc612_0001, 0xc612_006e, 0xc613_0002);
        let conn = Conn::new(TCP, (client, 0), (vip, 30000), (rip, 30000), DestId(1));
        let key = Expects::passive_key(client, vip, 30000);
        let ids: HashSet<DestId> = [DestId(1), DestId(2)].into_iter().collect();
        let named = |e: &Expects| {
            let mut out = HashSet::new();
            e.naming(&ids, &mut out);
            out
        };
        assert!(named(&e).is_empty());
        assert_eq!(e.put(key, (conn, 1), 10), Ok(()));
        assert_eq!(named(&e), [DestId(1)].into_iter().collect());
        e.sweep(9 + EXPECT_SECS);
        assert_eq!(named(&e).len(), 1, "not expired yet");
        e.sweep(10 + EXPECT_SECS);
        assert!(named(&e).is_empty());
    }

    #[test]
    fn expectations_are_taken_once_and_expire() {
        let e: Expects = Expects::default();
        let (client, vip, rip) = (0xc612_0001, 0xc612_006e, 0xc613_0002);
        assert!(!e.pending_for(client));
        let conn = Conn::new(TCP, (client, 0), (vip, 30000), (rip, 30000), DestId(1));
        let key = Expects::passive_key(client, vip, 30000);
        assert_eq!(e.put(key, (conn.clone(), 1), 10), Ok(()));
        assert!(e.pending_for(client));
        assert_eq!(
            e.take(&key, 11).map(|(c, o)| (c.rport, o)),
            Some((30000, 1))
        );
        assert!(e.take(&key, 11).is_none(), "once");
        assert!(!e.pending_for(client));
        assert_eq!(e.put(key, (conn.clone(), 1), 10), Ok(()));
        assert!(e.take(&key, 10 + EXPECT_SECS).is_none(), "expired");
        assert_eq!(e.put(key, (conn.clone(), 1), 10), Ok(()));
        e.sweep(10 + EXPECT_SECS);
        assert!(e.is_empty());
        assert_eq!(e.put(key, (conn.clone(), 1), 10), Ok(()));
        e.forget(&key, 2);
        assert!(!e.is_empty(), "another control connection's stays");
        e.forget(&key, 1);
        assert!(e.is_empty());
        // The same key to another server is refused while it lives; to the
        // same one it is renewed.
        assert_eq!(e.put(key, (conn.clone(), 1), 10), Ok(()));
        let other = Conn::new(TCP, (client, 0), (vip, 30000), (rip + 1, 30000), DestId(2));
        assert_eq!(e.put(key, (other.clone(), 2), 11), Err(Refused::Taken));
        assert_eq!(e.put(key, (conn.clone(), 1), 11), Ok(()));
        assert_eq!(
            e.put(key, (other, 2), 11 + EXPECT_SECS),
            Ok(()),
            "the old expired"
        );
        // One client's live ones are bounded; the expired make room.
        e.forget(&key, 2);
        for port in 1..=PER_CLIENT as u16 {
            let k = Expects::passive_key(client, vip, port);
            assert_eq!(e.put(k, (conn.clone(), 1), 0), Ok(()));
        }
        assert_eq!(e.put(key, (conn.clone(), 1), 1), Err(Refused::Full));
        assert_eq!(e.put(key, (conn.clone(), 1), EXPECT_SECS), Ok(()));
        // A shard full of other clients' refuses too.
        let e: Expects = Expects::default();
        let mut mates = (1u32..).map(|i| client.wrapping_add(i.wrapping_mul(7919)));
        while e.len() < PER_SHARD {
            let other = mates
                .find(|&a| std::ptr::eq(e.shard(a), e.shard(client)))
                .expect("an address of the same shard");
            for port in 1..=PER_CLIENT as u16 {
                if e.len() < PER_SHARD {
                    let k = Expects::passive_key(other, vip, port);
                    assert_eq!(e.put(k, (conn.clone(), 1), 0), Ok(()));
                }
            }
        }
        assert_eq!(e.put(key, (conn.clone(), 1), 1), Err(Refused::Full));
        assert_eq!(
            e.put(key, (conn, 1), EXPECT_SECS),
            Ok(()),
            "the expired went"
        );
        assert_eq!(e.len(), 1);
    }
}
