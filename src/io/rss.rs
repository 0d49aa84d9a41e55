//! RSS-aligned ownership (`ringvs run --io xdp --steer rss`): a connection's
//! owner is the receive queue the NICs' own RSS gives its client address, so on
//! NICs set up for it both directions of a flow arrive at their owner and
//! handoffs are rare.
//!
//! With AF_XDP each worker owns one queue of each NIC, and the NIC's RSS picks
//! the queue. By default ([`super::fanout::owner`]) the owner is ringvs's own
//! hash of the client address and port, which RSS knows nothing about: with N
//! workers, (N−1)/N of the frames reach another worker first and are handed
//! over. `--steer rss` takes the owner from RSS instead, which works when
//!
//! * both NICs hash only the client's address: the source address on the
//!   external NIC (`ethtool -N EXT rx-flow-hash tcp4 s`, and `udp4 s`), the
//!   destination address on the internal NIC (`… d`);
//! * both use the Toeplitz function with the same key and the same indirection
//!   table (`ethtool -X IF hfunc toeplitz hkey KEY equal N` on both).
//!
//! Then RSS sends a request and its reply to the same queue number, and
//! [`Rss::queue`] computes that number in software for the frames the NIC could
//! not hash that way (ICMP errors, which quote the flow). [`read`] reads the two
//! NICs' settings with `ethtool` and [`Rss::for_pair`] refuses to start when they
//! do not meet these conditions, saying which command fixes them.
//!
//! Toeplitz hash: for every set bit of the input (most significant first), XOR
//! the 32-bit window of the key that starts at that bit. The hash is linear in
//! the input, so [`Rss`] keeps one 256-entry table per byte position (the hash
//! of that byte alone there) and a hash is a load per byte and XORs: four for
//! an IPv4 address, sixteen for an IPv6 one.
//!
//! # IPv6
//!
//! A NIC's IPv6 RSS input is the source then the destination address (16 bytes
//! each), then the ports when it hashes them (Microsoft's "RSS hashing
//! functions", `NDIS_HASH_IPV6`). Told to hash only the client's address
//! (`ethtool -N EXT rx-flow-hash tcp6 s`, `udp6 s`; `… d` on the internal
//! NIC), its input is that address alone, and [`Rss::queue6`] computes the
//! queue over the same 16 bytes. Since a key window starts at every input bit,
//! the 16 tables of an IPv6 address begin with the four of an IPv4 one, and the
//! key must be 20 bytes long to cover them (NICs' keys are 40 or 52).
//!
//! Both families must be set up on the NICs for IPv6 flows to arrive at their
//! owner, but only IPv4's is required to start: [`Rss::for_pair`] records
//! whether IPv6's is ([`Rss::aligned6`]). When it is not, IPv6 flows are owned
//! by the fanout hash ([`super::fanout::owner6`]) as under `--steer hash`:
//! either way every frame reaches its owner, directly or handed over, but only
//! the fanout hash spreads one client's connections over the workers.

use std::fmt;
use std::process::Command;

/// What goes wrong reading or checking the NICs' RSS settings.
#[derive(Debug, PartialEq, Eq)]
pub struct RssError(pub String);

impl fmt::Display for RssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RssError {}

fn err(s: impl Into<String>) -> RssError {
    RssError(s.into())
}

/// The Toeplitz hash of `data` under `key` (the reference form: bit by bit).
/// `key` must be at least 4 bytes longer than `data`; missing key bits count as 0.
pub fn toeplitz(key: &[u8], data: &[u8]) -> u32 {
    let bit = |i: usize| -> u32 {
        key.get(i / 8)
            .map_or(0, |b| u32::from(b >> (7 - i % 8) & 1))
    };
    let mut h = 0u32;
    for (i, &b) in data.iter().enumerate() {
        for j in 0..8 {
            if b & (0x80 >> j) != 0 {
                let start = i * 8 + j;
                let window = (0..32).fold(0u32, |w, k| w << 1 | bit(start + k));
                h ^= window;
            }
        }
    }
    h
}

/// Ownership by RSS queue: the Toeplitz tables of a 16-byte input (the first
/// four serve an IPv4 address) and the indirection table.
#[derive(Clone, Debug)]
pub struct Rss {
    tables: Box<[[u32; 256]; 16]>,
    indir: Box<[u16]>,
    /// Why IPv6 is not set up for RSS ownership, if it is not.
    advice6: Option<Box<str>>,
}

impl Rss {
    /// From a Toeplitz `key` (at least 8 bytes; 20 to hash IPv6 addresses as a
    /// NIC does, the key bits missing beyond it counting as 0) and an
    /// indirection table whose entries are queue numbers below `queues`.
    /// IPv6 counts as set up alike ([`Rss::aligned6`]).
    pub fn new(key: &[u8], indir: &[u16], queues: usize) -> Result<Self, RssError> {
        if key.len() < 8 {
            return Err(err(format!(
                "RSS key of {} bytes: at least 8 needed",
                key.len()
            )));
        }
        if indir.is_empty() {
            return Err(err("empty RSS indirection table"));
        }
        // NICs index the table with the hash's low bits; `pick`'s `%` is
        // the same only for a power-of-two size.
        if !indir.len().is_power_of_two() {
            return Err(err(format!(
                "an RSS indirection table of {} entries: --steer rss needs a power of two",
                indir.len()
            )));
        }
        if let Some(q) = indir.iter().find(|&&q| usize::from(q) >= queues) {
            return Err(err(format!(
                "the RSS indirection table sends flows to queue {q}, but there are {queues} workers"
            )));
        }
        let mut tables = Box::new([[0u32; 256]; 16]);
        for (pos, t) in tables.iter_mut().enumerate() {
            for (v, slot) in t.iter_mut().enumerate() {
                let mut data = [0u8; 16];
                data[pos] = v as u8;
                *slot = toeplitz(key, &data);
            }
        }
        Ok(Self {
            tables,
            indir: indir.into(),
            advice6: None,
        })
    }

    /// The Toeplitz hash of an IPv4 address (host order).
    #[inline]
    pub fn hash(&self, addr: u32) -> u32 {
        let [a, b, c, d] = addr.to_be_bytes();
        self.tables[0][usize::from(a)]
            ^ self.tables[1][usize::from(b)]
            ^ self.tables[2][usize::from(c)]
            ^ self.tables[3][usize::from(d)]
    }

    /// The Toeplitz hash of an IPv6 address.
    #[inline]
    pub fn hash6(&self, addr: std::net::Ipv6Addr) -> u32 {
        self.tables
            .iter()
            .zip(addr.octets())
            .fold(0, |h, (t, b)| h ^ t[usize::from(b)])
    }

    /// The queue RSS gives a frame whose hashed field is `addr` (the NIC
    /// indexes the table with the hash's low bits: `hash % size`, the size a
    /// power of two, which [`Rss::new`] checks).
    #[inline]
    pub fn queue(&self, addr: u32) -> usize {
        self.pick(self.hash(addr))
    }

    /// The queue RSS gives an IPv6 frame whose hashed field is `addr`.
    #[inline]
    pub fn queue6(&self, addr: std::net::Ipv6Addr) -> usize {
        self.pick(self.hash6(addr))
    }

    #[inline]
    fn pick(&self, hash: u32) -> usize {
        usize::from(self.indir[hash as usize % self.indir.len()])
    }

    /// Whether both NICs hash IPv6 TCP and UDP on the client's address alone
    /// with a key long enough for it, so that [`Rss::queue6`] is the queue an
    /// IPv6 flow arrives on (see the module docs).
    #[inline]
    pub fn aligned6(&self) -> bool {
        self.advice6.is_none()
    }

    /// When IPv6 is not aligned, a line for the operator saying so and naming
    /// the commands that would align it.
    pub fn advice6(&self) -> Option<&str> {
        self.advice6.as_deref()
    }

    /// Ownership for the NIC pair, if their settings allow it (see the module
    /// docs); the error names what to change.
    pub fn for_pair(ext: &NicRss, int: &NicRss, queues: usize) -> Result<Self, RssError> {
        for (nic, want, flag) in [(ext, Field::SrcIp, "s"), (int, Field::DstIp, "d")] {
            if !nic.toeplitz {
                return Err(err(format!(
                    "--steer rss: {} does not hash with Toeplitz (ethtool -X {} hfunc toeplitz)",
                    nic.name, nic.name
                )));
            }
            for (proto, fields) in [("tcp4", &nic.tcp4), ("udp4", &nic.udp4)] {
                if fields.as_slice() != [want] {
                    return Err(err(format!(
                        "--steer rss: {} hashes {proto} on {fields:?}, not the client's address alone (ethtool -N {} rx-flow-hash {proto} {flag})",
                        nic.name, nic.name
                    )));
                }
            }
        }
        if ext.key != int.key || ext.indir != int.indir {
            return Err(err(format!(
                "--steer rss: {} and {} have different RSS keys or indirection tables (set both with ethtool -X IF hkey KEY equal {queues})",
                ext.name, int.name
            )));
        }
        let mut rss = Self::new(&ext.key, &ext.indir, queues)?;
        rss.advice6 = misaligned6(ext, int).map(Into::into);
        Ok(rss)
    }
}

/// What keeps IPv6 flows from arriving at their RSS owner on this NIC pair
/// (see the module docs), as the commands that fix it; `None` if nothing does.
fn misaligned6(ext: &NicRss, int: &NicRss) -> Option<String> {
    let mut fix = Vec::new();
    for (nic, want, flag) in [(ext, Field::SrcIp, "s"), (int, Field::DstIp, "d")] {
        for (proto, fields) in [("tcp6", &nic.tcp6), ("udp6", &nic.udp6)] {
            if fields.as_slice() != [want] {
                fix.push(format!(
                    "ethtool -N {} rx-flow-hash {proto} {flag}",
                    nic.name
                ));
            }
        }
    }
    if ext.key.len() < 20 {
        fix.push(format!(
            "a key of 20 bytes or more (ethtool -X IF hkey KEY; it has {})",
            ext.key.len()
        ));
    }
    (!fix.is_empty()).then(|| {
        format!(
            "--steer rss: IPv6 flows are owned by the fanout hash, not their RSS queue, so most are handed over; to align them: {}",
            fix.join("; ")
        )
    })
}

/// A field a NIC's RSS hashes (`ethtool -n IF rx-flow-hash tcp4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    SrcIp,
    DstIp,
    SrcPort,
    DstPort,
    /// Anything else (VLAN, L2 destination, L3 protocol, ...).
    Other,
}

/// One NIC's RSS settings, as `ethtool` shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicRss {
    pub name: String,
    pub key: Vec<u8>,
    pub indir: Vec<u16>,
    pub toeplitz: bool,
    pub tcp4: Vec<Field>,
    pub udp4: Vec<Field>,
    /// IPv6's fields; empty if the NIC would not say (no IPv6 RSS).
    pub tcp6: Vec<Field>,
    pub udp6: Vec<Field>,
}

/// Read `ifname`'s RSS settings with `ethtool -x` and `ethtool -n`.
pub fn read(ifname: &str) -> Result<NicRss, RssError> {
    let run = |args: &[&str]| -> Result<String, RssError> {
        let out = Command::new("ethtool").args(args).output().map_err(|e| {
            err(format!(
                "--steer rss reads the NICs' RSS settings with ethtool: {e}"
            ))
        })?;
        if !out.status.success() {
            return Err(err(format!(
                "--steer rss: ethtool {} failed: {} (the NIC must report its RSS key and indirection table)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (key, indir, toeplitz) = parse_rxfh(&run(&["-x", ifname])?)
        .map_err(|e| err(format!("--steer rss: ethtool -x {ifname}: {e}")))?;
    let tcp4 = parse_flow_hash(&run(&["-n", ifname, "rx-flow-hash", "tcp4"])?);
    let udp4 = parse_flow_hash(&run(&["-n", ifname, "rx-flow-hash", "udp4"])?);
    // IPv6 is optional (see the module docs): a NIC that cannot tell has none.
    let v6 = |proto| {
        run(&["-n", ifname, "rx-flow-hash", proto])
            .map(|t| parse_flow_hash(&t))
            .unwrap_or_default()
    };
    Ok(NicRss {
        name: ifname.to_owned(),
        key,
        indir,
        toeplitz,
        tcp4,
        udp4,
        tcp6: v6("tcp6"),
        udp6: v6("udp6"),
    })
}

/// The key, the indirection table and whether Toeplitz is on, from `ethtool -x`.
pub fn parse_rxfh(text: &str) -> Result<(Vec<u8>, Vec<u16>, bool), String> {
    let mut indir = Vec::new();
    let mut key = None;
    let mut toeplitz = false;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some((at, rest)) = t.split_once(':')
            && at.chars().all(|c| c.is_ascii_digit())
            && !at.is_empty()
        {
            for q in rest.split_whitespace() {
                indir.push(q.parse().map_err(|_| format!("bad queue {q:?}"))?);
            }
        } else if t.starts_with("RSS hash key") {
            let Some(k) = lines.next() else {
                return Err("no RSS hash key".into());
            };
            let bytes: Result<Vec<u8>, _> = k
                .trim()
                .split(':')
                .map(|b| u8::from_str_radix(b, 16))
                .collect();
            key = Some(bytes.map_err(|_| format!("bad RSS hash key {:?}", k.trim()))?);
        } else if let Some(on) = t.strip_prefix("toeplitz:") {
            toeplitz = on.trim() == "on";
        } else if let Some((xfrm, on)) = t.split_once(':')
            && xfrm.starts_with("symmetric")
            && on.trim() == "on"
        {
            // An input transformation (`RSS input transformation:` section):
            // the NIC hashes a combination of source and destination, not the
            // client's address as read.
            return Err(format!(
                "the RSS input is transformed ({xfrm}): turn it off (ethtool -X IF xfrm none)"
            ));
        }
    }
    let key = key.ok_or("no RSS hash key")?;
    if indir.is_empty() {
        return Err("no indirection table".into());
    }
    Ok((key, indir, toeplitz))
}

/// The fields of `ethtool -n IF rx-flow-hash PROTO`'s answer.
pub fn parse_flow_hash(text: &str) -> Vec<Field> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.ends_with(':'))
        .map(|l| match l {
            "IP SA" => Field::SrcIp,
            "IP DA" => Field::DstIp,
            l if l.starts_with("L4 bytes 0 & 1") => Field::SrcPort,
            l if l.starts_with("L4 bytes 2 & 3") => Field::DstPort,
            _ => Field::Other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The key of Microsoft's "Verifying the RSS hash calculation".
    const KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    fn ip(s: &str) -> [u8; 4] {
        s.parse::<Ipv4Addr>()
            .map(|a| a.octets())
            .unwrap_or_default()
    }

    #[test]
    fn toeplitz_matches_the_published_ipv4_vectors() {
        // (destination, source, IPv4 hash): the input is source then destination.
        for (dst, src, want) in [
            ("161.142.100.80", "66.9.149.187", 0x323e_8fc2u32),
            ("65.69.140.83", "199.92.111.2", 0xd718_262a),
            ("12.22.207.184", "24.19.198.95", 0xd2d0_a5de),
            ("209.142.163.6", "38.27.205.30", 0x8298_9176),
            ("202.188.127.2", "153.39.163.191", 0x5d18_09c5),
        ] {
            let data: Vec<u8> = ip(src).into_iter().chain(ip(dst)).collect();
            assert_eq!(toeplitz(&KEY, &data), want, "{src} -> {dst}");
        }
    }

    #[test]
    fn toeplitz_matches_the_published_ipv6_vectors() {
        // (destination, port, source, port, IPv6 hash, IPv6 with TCP hash):
        // the input is the source address, the destination address, then
        // the source and destination ports.
        for (dst, dport, src, sport, want, want_tcp) in [
            (
                "3ffe:2501:200:3::1",
                1766u16,
                "3ffe:2501:200:1fff::7",
                2794u16,
                0x2cc1_8cd5u32,
                0x4020_7d3du32,
            ),
            (
                "ff02::1",
                4739,
                "3ffe:501:8::260:97ff:fe40:efab",
                14230,
                0x0f0c_461c,
                0xdde5_1bbf,
            ),
            (
                "fe80::200:f8ff:fe21:67cf",
                38024,
                "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
                44251,
                0x4b61_e985,
                0x02d1_feef,
            ),
        ] {
            let addr = |s: &str| {
                s.parse::<Ipv6Addr>()
                    .map(|a| a.octets())
                    .unwrap_or_default()
            };
            let mut data: Vec<u8> = addr(src).into_iter().chain(addr(dst)).collect();
            assert_eq!(toeplitz(&KEY, &data), want, "{src} -> {dst}");
            data.extend(sport.to_be_bytes().into_iter().chain(dport.to_be_bytes()));
            assert_eq!(
                toeplitz(&KEY, &data),
                want_tcp,
                "{src}.{sport} -> {dst}.{dport}"
            );
        }
    }

    #[test]
    fn the_ipv6_tables_agree_with_the_reference() {
        let rss = Rss::new(&KEY, &[0, 1, 2, 0], 3).expect("rss");
        let mut x = 0x2001_0002_0000_0001_0123_4567_89ab_cdefu128;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645)
                .wrapping_add(0x5851_f42d_4c95_7f2d_1405_7b7e_f767_814f);
            let a = Ipv6Addr::from(x);
            assert_eq!(rss.hash6(a), toeplitz(&KEY, &a.octets()), "{a}");
            assert_eq!(rss.queue6(a), [0, 1, 2, 0][(rss.hash6(a) % 4) as usize]);
        }
        // An IPv4 address and an IPv6 one starting with its bytes (the rest
        // zero) hash alike: the IPv4 tables are the IPv6 ones' first four.
        let v4 = u32::from(Ipv4Addr::new(198, 18, 0, 7));
        assert_eq!(
            rss.hash(v4),
            rss.hash6(Ipv6Addr::from(u128::from(v4) << 96))
        );
    }

    #[test]
    fn the_tables_agree_with_the_reference() {
        let rss = Rss::new(&KEY, &[0, 1, 2, 3], 4).expect("rss");
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            assert_eq!(rss.hash(x), toeplitz(&KEY, &x.to_be_bytes()), "{x:#x}");
            assert_eq!(rss.queue(x), (rss.hash(x) % 4) as usize);
        }
    }

    const RXFH: &str = "RX flow hash indirection table for ens1f0 with 2 RX ring(s):
    0:      0     1     0     1     0     1     0     1
    8:      0     1     0     1     0     1     0     1
RSS hash key:
6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa
RSS hash function:
    toeplitz: on
    xor: off
    crc32: off
";

    /// A table whose size is not a power of two would be indexed otherwise
    /// by the NIC than by `pick`: refused, as is a transformed input.
    #[test]
    fn tables_and_inputs_rss_cannot_predict_are_refused() {
        let e = Rss::new(&KEY, &[0, 1, 2], 3).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("3 entries"));
        assert!(Rss::new(&KEY, &[0; 128], 1).is_ok());
        let sym = format!("{RXFH}RSS input transformation:\n    symmetric-xor: on\n");
        let e = parse_rxfh(&sym).err().unwrap_or_default();
        assert!(
            e.contains("symmetric-xor") && e.contains("xfrm none"),
            "{e}"
        );
        let off = format!("{RXFH}RSS input transformation:\n    symmetric-xor: off\n");
        assert!(parse_rxfh(&off).is_ok());
    }

    #[test]
    fn parses_ethtool_x() {
        let (key, indir, toeplitz) = parse_rxfh(RXFH).expect("parse");
        assert_eq!(key, KEY);
        assert_eq!(indir.len(), 16);
        assert_eq!(&indir[..4], &[0, 1, 0, 1]);
        assert!(toeplitz);
        assert!(parse_rxfh("RSS hash key:\nzz:01\n").is_err());
        assert!(parse_rxfh("nothing here\n").is_err());
    }

    fn nic(name: &str, f: Field) -> NicRss {
        let (key, indir, toeplitz) = parse_rxfh(RXFH).expect("parse");
        NicRss {
            name: name.into(),
            key,
            indir,
            toeplitz,
            tcp4: vec![f],
            udp4: vec![f],
            tcp6: vec![f],
            udp6: vec![f],
        }
    }

    #[test]
    fn a_pair_is_checked_before_it_is_trusted() {
        let both = "TCP over IPV4 flows use these fields for computing Hash flow key:\nIP SA\nIP DA\nL4 bytes 0 & 1 [TCP/UDP src port]\nL4 bytes 2 & 3 [TCP/UDP dst port]\n";
        assert_eq!(
            parse_flow_hash(both),
            [Field::SrcIp, Field::DstIp, Field::SrcPort, Field::DstPort]
        );
        let (ext, int) = (nic("ext0", Field::SrcIp), nic("int0", Field::DstIp));
        let rss = Rss::for_pair(&ext, &int, 2).expect("a good pair");
        // A request (client = source, on ext) and its reply (client =
        // destination, on int) hash the same bytes: the same queue.
        let client = u32::from(Ipv4Addr::new(198, 18, 0, 7));
        assert!(rss.queue(client) < 2);

        let mut bad = nic("int0", Field::DstIp);
        bad.tcp4 = parse_flow_hash(both);
        let e = Rss::for_pair(&ext, &bad, 2).expect_err("4-tuple hash");
        assert!(e.0.contains("ethtool -N int0 rx-flow-hash tcp4 d"), "{e}");
        let mut bad = nic("int0", Field::DstIp);
        bad.key[0] ^= 1;
        let e = Rss::for_pair(&ext, &bad, 2).expect_err("other key");
        assert!(e.0.contains("different RSS keys"), "{e}");
        let e = Rss::for_pair(&ext, &int, 1).expect_err("queue 1 of 1");
        assert!(e.0.contains("queue 1"), "{e}");
        let mut bad = nic("ext0", Field::SrcIp);
        bad.toeplitz = false;
        assert!(Rss::for_pair(&bad, &int, 2).is_err());
    }

    #[test]
    fn ipv6_alignment_is_recorded_not_required() {
        let (ext, int) = (nic("ext0", Field::SrcIp), nic("int0", Field::DstIp));
        let rss = Rss::for_pair(&ext, &int, 2).expect("a good pair");
        assert!(rss.aligned6());
        assert_eq!(rss.advice6(), None);

        // The internal NIC hashes IPv6 TCP on the whole tuple, and the
        // external one cannot tell for UDP: IPv4 still starts, IPv6 is not
        // aligned and the advice names both fixes.
        let both = "TCP over IPV6 flows use these fields for computing Hash flow key:\nIP SA\nIP DA\nL4 bytes 0 & 1 [TCP/UDP src port]\nL4 bytes 2 & 3 [TCP/UDP dst port]\n";
        let mut int4 = nic("int0", Field::DstIp);
        int4.tcp6 = parse_flow_hash(both);
        let mut ext_no_udp6 = nic("ext0", Field::SrcIp);
        ext_no_udp6.udp6.clear();
        let rss = Rss::for_pair(&ext_no_udp6, &int4, 2).expect("IPv4 is enough");
        assert!(!rss.aligned6());
        let advice = rss.advice6().unwrap_or_default();
        assert!(
            advice.contains("ethtool -N ext0 rx-flow-hash udp6 s"),
            "{advice}"
        );
        assert!(
            advice.contains("ethtool -N int0 rx-flow-hash tcp6 d"),
            "{advice}"
        );
        assert!(
            !advice.contains("tcp6 s") && !advice.contains("udp6 d"),
            "{advice}"
        );

        // A key too short for the 16-byte input.
        let (mut ext16, mut int16) = (ext.clone(), int.clone());
        ext16.key.truncate(16);
        int16.key.truncate(16);
        let rss = Rss::for_pair(&ext16, &int16, 2).expect("16 bytes do for IPv4");
        assert!(rss.advice6().is_some_and(|a| a.contains("it has 16")));
    }
}
