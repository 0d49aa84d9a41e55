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
//! the 32-bit window of the key that starts at that bit. [`Rss`] keeps the four
//! 256-entry tables of a 4-byte input (one per byte position), so a hash is four
//! loads and three XORs.

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

/// Ownership by RSS queue: the Toeplitz tables of a 4-byte address and the
/// indirection table.
#[derive(Clone, Debug)]
pub struct Rss {
    tables: Box<[[u32; 256]; 4]>,
    indir: Box<[u16]>,
}

impl Rss {
    /// From a Toeplitz `key` (at least 8 bytes) and an indirection table whose
    /// entries are queue numbers below `queues`.
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
        if let Some(q) = indir.iter().find(|&&q| usize::from(q) >= queues) {
            return Err(err(format!(
                "the RSS indirection table sends flows to queue {q}, but there are {queues} workers"
            )));
        }
        let mut tables = Box::new([[0u32; 256]; 4]);
        for (pos, t) in tables.iter_mut().enumerate() {
            for (v, slot) in t.iter_mut().enumerate() {
                let mut data = [0u8; 4];
                data[pos] = v as u8;
                *slot = toeplitz(key, &data);
            }
        }
        Ok(Self {
            tables,
            indir: indir.into(),
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

    /// The queue RSS gives a frame whose hashed field is `addr` (the kernel
    /// indexes the table with the hash's low bits: `hash % size`, the size a
    /// power of two).
    #[inline]
    pub fn queue(&self, addr: u32) -> usize {
        usize::from(self.indir[self.hash(addr) as usize % self.indir.len()])
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
        Self::new(&ext.key, &ext.indir, queues)
    }
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
    Ok(NicRss {
        name: ifname.to_owned(),
        key,
        indir,
        toeplitz,
        tcp4,
        udp4,
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
    use std::net::Ipv4Addr;

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
}
