//! The health thread's smoltcp side: the device that wraps smoltcp's IP packets
//! (IPv4 or IPv6) in Ethernet for the TX ring and feeds it the diverted
//! replies, and the interface holding the DIP (and the IPv6 DIP) with the
//! sockets of the checks in flight (and the commands of `MISC_CHECK`s).

use super::http::{self, Exchange};
use super::misc;
use super::ports::Ports;
use super::probe::{InFlight, Outcome, Probe, Sock, Talk, drive, drive_dns, drive_ping, drive_udp};
use super::smtp;
use super::{Packet, hop_mac, resolve};
use crate::config::{CheckKind, MAX_PAYLOAD};
use crate::dataplane::Shared;
use crate::io::{FRAME_MAX, TxQueue};
use crate::neigh::{NeighEvent, Prefix6};
use crate::wire::Mac;
use crate::wire::ethernet::ethertype;
use crossbeam_channel::Sender;
use smoltcp::iface::{Config as IfConfig, Interface, SocketSet};
use smoltcp::phy::{Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{
    HardwareAddress, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpCidr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Child;
use std::time::{Duration, Instant};

/// Where the device sends: the TX ring, with the addresses to wrap packets in.
pub(super) struct Out<'a, T> {
    pub(super) tx: &'a mut T,
    pub(super) mac: Mac,
    pub(super) shared: &'a Shared,
    pub(super) neigh_tx: &'a Sender<NeighEvent>,
    /// The internal segment and its router (`--int-gateway`): a check of a
    /// tunnelled real server off the segment goes through the router.
    pub(super) route: super::Route,
}

/// smoltcp's device: sends through `out`, receives the diverted packets queued
/// in `rxq` (giving their boxes back to `pool`).
pub(super) struct Dev<'a, T> {
    pub(super) out: Out<'a, T>,
    pub(super) rxq: std::collections::VecDeque<Box<Packet>>,
    pub(super) pool: Sender<Box<Packet>>,
    pub(super) mtu: usize,
}

pub(super) struct RxTok<'b> {
    pkt: Box<Packet>,
    pool: &'b Sender<Box<Packet>>,
}

impl smoltcp::phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.pkt.bytes());
        let _ = self.pool.try_send(self.pkt);
        r
    }
}

pub(super) struct TxTok<'b, 'a, T> {
    out: &'b mut Out<'a, T>,
}

impl<T: TxQueue> smoltcp::phy::TxToken for TxTok<'_, '_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; FRAME_MAX];
        let eth = crate::wire::ethernet::HEADER_LEN;
        let end = (eth + len).min(FRAME_MAX);
        let r = f(&mut buf[eth..end]);
        let Some((ty, dst)) = destination(&buf[eth..end]) else {
            return r;
        };
        let Some(hop) = self.out.route.hop(dst) else {
            return r;
        };
        let Some(mac) = hop_mac(self.out.shared, hop) else {
            // The control thread resolves it (ARP or NDP); TCP sends again.
            resolve(self.out.neigh_tx, hop);
            return r;
        };
        buf[..6].copy_from_slice(&mac.0);
        buf[6..12].copy_from_slice(&self.out.mac.0);
        buf[12..14].copy_from_slice(&ty.to_be_bytes());
        self.out.tx.send_one(&buf[..end]);
        r
    }
}

/// The EtherType and the destination address of an IP packet smoltcp made,
/// by its version nibble (None: too short, or neither version).
fn destination(ip: &[u8]) -> Option<(u16, IpAddr)> {
    match ip.first()? >> 4 {
        4 => {
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            Some((ethertype::IPV4, IpAddr::V4(Ipv4Addr::from(d))))
        }
        6 => {
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            Some((ethertype::IPV6, IpAddr::V6(Ipv6Addr::from(d))))
        }
        _ => None,
    }
}

impl<'a, T: TxQueue> Device for Dev<'a, T> {
    type RxToken<'b>
        = RxTok<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxTok<'b, 'a, T>
    where
        Self: 'b;

    fn receive(
        &mut self,
        _: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let pkt = self.rxq.pop_front()?;
        Some((
            RxTok {
                pkt,
                pool: &self.pool,
            },
            TxTok { out: &mut self.out },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(TxTok { out: &mut self.out })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu.min(FRAME_MAX - crate::wire::ethernet::HEADER_LEN);
        // Workers verified the IP checksum; TCP checksums of frames from a local
        // veth may be left to an offload (CHECKSUM_PARTIAL): do not verify them.
        c.checksum.ipv4 = Checksum::Tx;
        c.checksum.tcp = Checksum::Tx;
        c.checksum.udp = Checksum::Tx;
        c
    }
}

/// smoltcp's clock: time since `start`.
fn clock(start: Instant, now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.duration_since(start).as_micros() as i64)
}

/// The health thread's smoltcp side: the interface holding the DIP (and the
/// IPv6 DIP), its device, and the sockets of the checks in flight.
pub(super) struct Stack<'a, T> {
    pub(super) iface: Interface,
    pub(super) dev: Dev<'a, T>,
    pub(super) sockets: SocketSet<'static>,
    /// Where [`clock`] starts.
    start: Instant,
    /// The local ports (and echo identifiers) of the checks in flight.
    ports: Ports,
    /// The sequence number of the last echo request.
    seq: u16,
    /// A xorshift generator's state ([`Stack::random`]).
    rand: u64,
    /// `MISC_CHECK` commands ended before they exited, to be reaped.
    pub(super) ended: Vec<Child>,
}

impl<'a, T: TxQueue> Stack<'a, T> {
    /// Sets up the interface (`Medium::Ip`, the DIP with its prefix, and the
    /// IPv6 DIP with its prefix if there is one) over `dev`. smoltcp picks the
    /// source address of each check by the server's family.
    pub(super) fn new(
        mut dev: Dev<'a, T>,
        dip: Ipv4Addr,
        prefix_len: u8,
        net6: Option<Prefix6>,
    ) -> Self {
        let gateway = dev.out.route.gateway;
        let start = Instant::now();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        };
        let mut cfg = IfConfig::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let mut iface = Interface::new(cfg, &mut dev, clock(start, start));
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(dip), prefix_len));
            if let Some(n) = net6 {
                let _ = a.push(IpCidr::new(IpAddress::Ipv6(n.addr), n.len));
            }
        });
        if let Some(gw) = gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        Self {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            start,
            ports: Ports::new(),
            seq: 0,
            rand: seed | 1,
            ended: Vec::new(),
        }
    }

    /// The next number of a xorshift generator seeded at random: the DNS
    /// queries' identifiers, the first checks' `warmup` waits.
    pub(super) fn random(&mut self) -> u64 {
        self.rand ^= self.rand << 13;
        self.rand ^= self.rand >> 7;
        self.rand ^= self.rand << 17;
        self.rand
    }

    /// A packet the workers diverted: a destination unreachable about a UDP
    /// check's datagram is noted ([`Ports::note`]), anything else waits for
    /// smoltcp, an IPv6 atomic fragment without its fragment header
    /// ([`Packet::unwrap_atomic6`]).
    pub(super) fn take(&mut self, mut pkt: Box<Packet>) {
        if self.ports.note(pkt.bytes()) {
            let _ = self.dev.pool.try_send(pkt);
        } else {
            pkt.unwrap_atomic6();
            self.dev.rxq.push_back(pkt);
        }
    }

    /// Lets smoltcp take the received packets and send what it has to.
    pub(super) fn poll(&mut self, now: Instant) {
        self.iface
            .poll(clock(self.start, now), &mut self.dev, &mut self.sockets);
        self.reap();
    }

    /// Reaps the `MISC_CHECK` commands ended before they exited.
    pub(super) fn reap(&mut self) {
        if !self.ended.is_empty() {
            self.ended.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        }
    }

    /// Starts `p`'s check: opens its connection or sends its datagram or
    /// echo request (or, if smoltcp refuses, tries again in a second).
    pub(super) fn start(&mut self, p: &mut Probe, now: Instant) {
        self.start_url(p, now, 0);
    }

    /// Starts `p`'s check at its url `url` (an HTTP check goes on from one
    /// url that passed to the next, each over a connection of its own).
    fn start_url(&mut self, p: &mut Probe, now: Instant, url: usize) {
        p.arp_wait = None;
        p.last_start = Some(now);
        if let CheckKind::Misc(m) = &p.t.check.kind {
            p.flight = Some(InFlight {
                started: now,
                port: 0,
                sock: Sock::Script(misc::start(&p.t, m)),
            });
            return;
        }
        // The local port (or the echo's identifier) of this check.
        let Some(port) = self.ports.take((p.t.addr, p.t.port)) else {
            p.next = now + Duration::from_secs(1);
            return;
        };
        let remote = (IpAddress::from(p.t.addr), p.t.port);
        let sock = match &p.t.check.kind {
            CheckKind::Tcp | CheckKind::Smtp(_) => {
                let talk = match &p.t.check.kind {
                    CheckKind::Smtp(_) => Talk::Smtp(Box::new(smtp::Talk::new())),
                    _ => Talk::Nothing,
                };
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; 1024]),
                    tcp::SocketBuffer::new(vec![0; 512]),
                );
                s.connect(self.iface.context(), remote, port)
                    .ok()
                    .map(|()| Sock::Tcp {
                        handle: self.sockets.add(s),
                        talk,
                        connected: false,
                    })
            }
            CheckKind::Http(c) => {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; http::RX_BUFFER]),
                    tcp::SocketBuffer::new(vec![0; http::TX_BUFFER]),
                );
                let view = c.url(url).filter(|_| url > 0).map(Box::new);
                let x = Exchange::new(view.as_deref().unwrap_or(c), (p.t.addr, p.t.port));
                match (s.connect(self.iface.context(), remote, port), x) {
                    (Ok(()), Some(x)) => Some(Sock::Tcp {
                        handle: self.sockets.add(s),
                        talk: Talk::Http {
                            x: Box::new(x),
                            url,
                            view,
                        },
                        connected: false,
                    }),
                    _ => None,
                }
            }
            CheckKind::Udp(_) | CheckKind::Dns(_) => {
                let id = self.random() as u16;
                let payload = match &p.t.check.kind {
                    CheckKind::Dns(d) => d.query(id),
                    CheckKind::Udp(u) => u.payload.clone(),
                    _ => Vec::new(),
                };
                let mut s = udp::Socket::new(
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
                    udp::PacketBuffer::new(
                        vec![udp::PacketMetadata::EMPTY; 1],
                        vec![0; MAX_PAYLOAD],
                    ),
                );
                // Whether the datagram can leave: a next hop whose MAC is
                // unknown now drops it (`TxTok`).
                let route = self.dev.out.route;
                let resolved = route
                    .hop(p.t.addr)
                    .is_some_and(|h| hop_mac(self.dev.out.shared, h).is_some());
                let ok = s.bind(port).is_ok() && s.send_slice(&payload, remote).is_ok();
                ok.then(|| Sock::Udp {
                    handle: self.sockets.add(s),
                    resolved,
                    id,
                })
            }
            CheckKind::Ping => {
                let mut s = icmp_socket(2, ECHO_MAX);
                self.seq = self.seq.wrapping_add(1);
                let ok = s.bind(icmp::Endpoint::Ident(port)).is_ok()
                    && echo_request(&mut s, p.t.addr, port, self.seq);
                ok.then(|| Sock::Ping {
                    handle: self.sockets.add(s),
                })
            }
            // Started above.
            CheckKind::Misc(_) => None,
        };
        match sock {
            Some(sock) => {
                p.flight = Some(InFlight {
                    started: now,
                    port,
                    sock,
                })
            }
            None => {
                self.ports.free(port);
                p.next = now + Duration::from_secs(1);
            }
        }
    }

    /// One step of `p`'s check in flight ([`drive`], [`drive_udp`],
    /// [`drive_dns`], [`drive_ping`]): its outcome once it has one, and then
    /// its sockets are closed (a connection reset).
    pub(super) fn step(&mut self, p: &mut Probe, now: Instant) -> Option<Outcome> {
        let f = p.flight.as_mut()?;
        let timeout = Duration::from_secs(u64::from(p.t.check.connect_timeout));
        let timed_out = now.duration_since(f.started) >= timeout;
        let o = match (&mut f.sock, &p.t.check.kind) {
            (
                Sock::Tcp {
                    handle,
                    talk,
                    connected,
                },
                kind,
            ) => {
                let s = self.sockets.get_mut::<tcp::Socket>(*handle);
                drive(s, (talk, connected), kind, timed_out)?
            }
            (
                Sock::Udp {
                    handle,
                    resolved,
                    id,
                },
                kind,
            ) => {
                let server = (p.t.addr, p.t.port);
                let unreachable = self.ports.unreachable(f.port);
                let s = self.sockets.get_mut::<udp::Socket>(*handle);
                match kind {
                    CheckKind::Dns(_) => drive_dns(s, *id, server, (unreachable, timed_out))?,
                    CheckKind::Udp(u) => {
                        drive_udp(s, u, server, (unreachable, timed_out, *resolved))?
                    }
                    // A check's kind and its sockets change together (a
                    // changed check is a new probe): not reached.
                    _ => Outcome::Timeout,
                }
            }
            (Sock::Ping { handle }, _) => {
                let s = self.sockets.get_mut::<icmp::Socket>(*handle);
                drive_ping(s, p.t.addr, timed_out)?
            }
            (Sock::Script(run), CheckKind::Misc(m)) => {
                // `misc_timeout`, else `delay_loop` (`misc_check_thread`).
                let secs = m.timeout.unwrap_or(p.t.check.delay_loop);
                let limit = Duration::from_secs(u64::from(secs));
                misc::step(run, m, (f.started, limit), now)?
            }
            // A check's kind and its sockets change together: not reached.
            (Sock::Script(_), _) => Outcome::Exit(127),
        };
        // The url after one that passed, if the check has one.
        let next = match (&f.sock, &p.t.check.kind) {
            (
                Sock::Tcp {
                    talk: Talk::Http { url, .. },
                    ..
                },
                CheckKind::Http(c),
            ) => Some(url + 1).filter(|&u| o == Outcome::Ok && u < c.urls()),
            _ => None,
        };
        if let Some(f) = p.flight.take() {
            self.close(f, now);
        }
        if let Some(url) = next {
            self.start_url(p, now, url);
            return None;
        }
        Some(o)
    }

    /// Closes `f`'s sockets: a connection is reset (the RST sent before its
    /// socket goes).
    pub(super) fn close(&mut self, f: InFlight, now: Instant) {
        self.ports.free(f.port);
        match f.sock {
            Sock::Tcp { handle, .. } => {
                self.sockets.get_mut::<tcp::Socket>(handle).abort();
                self.poll(now);
                self.sockets.remove(handle);
            }
            Sock::Udp { handle, .. } | Sock::Ping { handle } => {
                self.sockets.remove(handle);
            }
            Sock::Script(run) => self.ended.extend(misc::end(run)),
        }
    }
}

/// Bytes of an echo request's data, as keepalived's `ping_it` sends.
const ECHO_DATA: usize = 128;
/// Bytes of an echo reply kept.
const ECHO_MAX: usize = 256;

/// An ICMP socket with room for `packets` messages of up to `bytes` each.
fn icmp_socket(packets: usize, bytes: usize) -> icmp::Socket<'static> {
    icmp::Socket::new(
        icmp::PacketBuffer::new(
            vec![icmp::PacketMetadata::EMPTY; packets],
            vec![0; packets * bytes],
        ),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 1], vec![0; ECHO_MAX]),
    )
}

/// Queues an echo request (identifier `ident`, sequence `seq`) to `addr` on
/// `s`; smoltcp sets its checksum as it sends it. False if it does not fit.
fn echo_request(s: &mut icmp::Socket, addr: IpAddr, ident: u16, seq: u16) -> bool {
    let mut data = [0u8; ECHO_DATA];
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8;
    }
    let caps = ChecksumCapabilities::ignored();
    match addr {
        IpAddr::V4(a) => {
            let repr = Icmpv4Repr::EchoRequest {
                ident,
                seq_no: seq,
                data: &data,
            };
            s.send(repr.buffer_len(), IpAddress::Ipv4(a))
                .map(|buf| repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps))
                .is_ok()
        }
        IpAddr::V6(a) => {
            let repr = Icmpv6Repr::EchoRequest {
                ident,
                seq_no: seq,
                data: &data,
            };
            // The addresses only feed the checksum, which smoltcp makes again.
            let any = Ipv6Addr::UNSPECIFIED;
            s.send(repr.buffer_len(), IpAddress::Ipv6(a))
                .map(|buf| repr.emit(&any, &a, &mut Icmpv6Packet::new_unchecked(buf), &caps))
                .is_ok()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn destination_by_version_nibble() {
        let mut v4 = [0u8; 20];
        v4[0] = 0x45;
        v4[16..20].copy_from_slice(&[198, 19, 0, 2]);
        assert_eq!(
            destination(&v4),
            Some((ethertype::IPV4, IpAddr::V4(Ipv4Addr::new(198, 19, 0, 2))))
        );
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        let rs: Ipv6Addr = "2001:2:0:2::2".parse().unwrap();
        v6[24..40].copy_from_slice(&rs.octets());
        assert_eq!(destination(&v6), Some((ethertype::IPV6, IpAddr::V6(rs))));
        assert_eq!(destination(&v6[..39]), None, "short");
        assert_eq!(destination(&v4[..19]), None, "short");
        v6[0] = 0x50;
        assert_eq!(destination(&v6), None, "neither version");
        assert_eq!(destination(&[]), None);
    }
}
