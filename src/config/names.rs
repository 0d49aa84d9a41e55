//! Host and service names from `/etc/hosts` and `/etc/services`.
//!
//! ipvsadm shows addresses and ports as names unless given `-n`, and accepts
//! names on its command line.  It asks the C library, which may ask DNS; ringvs
//! never does (a listing must not hang on a resolver): it reads the two files
//! only, and falls back to numbers.
//!
//! Both families have names when shown (ipvsadm's `addr_to_host` asks
//! `gethostbyaddr` with the address's family, which finds IPv6 lines of
//! `/etc/hosts` too); a name on the command line is an IPv4 address only
//! (ipvsadm's `host_to_addr` takes `gethostbyname`'s answer only if it is
//! `AF_INET`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use super::Proto;

/// Name tables: address ↔ host name, (port, protocol) ↔ service name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    by_addr: HashMap<IpAddr, String>,
    by_host: HashMap<String, Ipv4Addr>,
    /// Names `/etc/hosts` gives IPv6 addresses only (lower case).
    v6_hosts: std::collections::HashSet<String>,
    by_port: HashMap<(u16, Proto), String>,
    by_service: HashMap<(String, Proto), u16>,
}

/// Largest file read (a bigger one is read up to this much).
const MAX_FILE: u64 = 4 << 20;

fn read_limited(path: &str) -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(MAX_FILE).read_to_string(&mut s);
    }
    s
}

impl Names {
    /// No names at all: everything is shown as numbers.
    pub fn none() -> Self {
        Self::default()
    }

    /// The system's `/etc/hosts` and `/etc/services` (missing or unreadable
    /// files give no names).
    pub fn system() -> Self {
        Self::parse(&read_limited("/etc/hosts"), &read_limited("/etc/services"))
    }

    /// Tables from the text of a hosts file and a services file.  As with the
    /// C library, the first line that mentions an address or a port wins, and
    /// its first name is the one shown.
    pub fn parse(hosts: &str, services: &str) -> Self {
        let mut n = Names::default();
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(Ok(addr)) = words.next().map(str::parse::<IpAddr>) else {
                continue;
            };
            for (i, name) in words.enumerate() {
                if i == 0 {
                    n.by_addr.entry(addr).or_insert_with(|| name.to_string());
                }
                // Names without regard to case, as the C library's files
                // backend compares them (`strcasecmp`).
                match addr {
                    IpAddr::V4(a) => {
                        n.by_host.entry(name.to_ascii_lowercase()).or_insert(a);
                    }
                    IpAddr::V6(_) => {
                        n.v6_hosts.insert(name.to_ascii_lowercase());
                    }
                }
            }
        }
        for line in services.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(pp)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let Some(proto) = Proto::from_name(proto) else {
                continue;
            };
            n.by_port
                .entry((port, proto))
                .or_insert_with(|| name.to_string());
            for alias in std::iter::once(name).chain(words) {
                n.by_service
                    .entry((alias.to_string(), proto))
                    .or_insert(port);
            }
        }
        n
    }

    /// The host name of an address.
    pub fn host(&self, addr: impl Into<IpAddr>) -> Option<&str> {
        self.by_addr.get(&addr.into()).map(String::as_str)
    }

    /// The IPv4 address of a host name.
    pub fn addr(&self, host: &str) -> Option<Ipv4Addr> {
        self.by_host.get(&host.to_ascii_lowercase()).copied()
    }

    /// Whether `host` is a name of the hosts file that has IPv6 addresses
    /// only (no IPv4 one: [`Names::addr`] has none for it).
    pub fn v6_only(&self, host: &str) -> bool {
        let h = host.to_ascii_lowercase();
        !self.by_host.contains_key(&h) && self.v6_hosts.contains(&h)
    }

    /// The service name of a port.
    pub fn service(&self, port: u16, proto: Proto) -> Option<&str> {
        self.by_port.get(&(port, proto)).map(String::as_str)
    }

    /// The port of a service name.
    pub fn port(&self, name: &str, proto: Proto) -> Option<u16> {
        self.by_service.get(&(name.to_string(), proto)).copied()
    }

    /// `ADDR:PORT` as ipvsadm shows it (`addrport_to_anyname`): numbers
    /// with `numeric`, else names where known; an IPv6 address (or its name)
    /// in brackets, `[ADDR]:PORT`.  `proto` None (an unknown protocol) never
    /// names the port.  At most [`ADDR_PORT_MAX`] bytes, as ipvsadm's buffer.
    pub fn addr_port(
        &self,
        addr: impl Into<IpAddr>,
        port: u16,
        proto: Option<Proto>,
        numeric: bool,
    ) -> String {
        let addr = addr.into();
        let (open, close) = if addr.is_ipv6() { ("[", "]") } else { ("", "") };
        let host = match self.host(addr).filter(|_| !numeric) {
            Some(name) => name.to_string(),
            None => ntop(addr),
        };
        let svc = proto
            .filter(|_| !numeric)
            .and_then(|p| self.service(port, p))
            .map_or_else(|| port.to_string(), str::to_string);
        let mut s = format!("{open}{host}{close}:{svc}");
        if s.len() > ADDR_PORT_MAX {
            let mut k = ADDR_PORT_MAX;
            while !s.is_char_boundary(k) {
                k -= 1;
            }
            s.truncate(k);
        }
        s
    }
}

/// The longest `ADDR:PORT` ipvsadm prints: `addrport_to_anyname` writes into
/// a 60-byte buffer with `snprintf`, so a long host name is cut at 59 bytes.
/// A numeric one always fits (`[` + 45 bytes of `INET6_ADDRSTRLEN` + `]:` +
/// 5 digits).
pub const ADDR_PORT_MAX: usize = 59;

/// An address as `inet_ntop` writes it (glibc `inet_ntop6`). Rust's IPv6
/// text follows the same RFC 5952 rules (longest run of two or more zero
/// groups as `::`, the first of equal runs, lower-case hex without leading
/// zeros, `::ffff:a.b.c.d` for a mapped address) but for one form: an
/// IPv4-compatible address (six zero groups, then a non-zero seventh) which
/// `inet_ntop` ends with a dotted quad (`::198.18.0.1`) and Rust with hex.
pub fn ntop(addr: IpAddr) -> String {
    match addr {
        IpAddr::V6(a) => {
            let g = a.segments();
            if g[..6].iter().all(|&w| w == 0) && g[6] != 0 {
                let o = a.octets();
                format!("::{}", Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else {
                a.to_string()
            }
        }
        IpAddr::V4(a) => a.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_parse_first_wins() {
        let n = Names::parse(
            "127.0.0.1 localhost\n# c\n198.19.0.2 server1 s1 # x\n198.19.0.2 other\n::1 ip6-localhost\nbogus line\n",
            "http 80/tcp www # WorldWideWeb\nhttp 80/udp\ndomain 53/udp\nhttp-alt 80/tcp\nbad\nx 99999/tcp\n",
        );
        assert_eq!(
            n.host("198.19.0.2".parse::<IpAddr>().unwrap()),
            Some("server1")
        );
        assert_eq!(n.addr("s1"), Some("198.19.0.2".parse().unwrap()));
        assert_eq!(n.addr("other"), Some("198.19.0.2".parse().unwrap()));
        // Host names without regard to case (glibc's files backend).
        assert_eq!(n.addr("SERVER1"), Some("198.19.0.2".parse().unwrap()));
        assert_eq!(n.addr("Localhost"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(n.service(80, Proto::Tcp), Some("http"));
        assert_eq!(n.service(53, Proto::Tcp), None);
        assert_eq!(n.port("www", Proto::Tcp), Some(80));
        assert_eq!(n.port("domain", Proto::Udp), Some(53));
        let a: Ipv4Addr = "198.19.0.2".parse().unwrap();
        assert_eq!(n.addr_port(a, 80, Some(Proto::Tcp), false), "server1:http");
        assert_eq!(n.addr_port(a, 81, Some(Proto::Tcp), false), "server1:81");
        assert_eq!(n.addr_port(a, 80, Some(Proto::Tcp), true), "198.19.0.2:80");
        assert_eq!(
            n.addr_port("10.0.0.1".parse::<Ipv4Addr>().unwrap(), 80, None, false),
            "10.0.0.1:80"
        );
    }

    #[test]
    fn ipv6_names_and_brackets() {
        let n = Names::parse(
            "2001:2:0:2::2 web6 # v6\n198.19.0.2 web4\n",
            "http 80/tcp\n",
        );
        let a: IpAddr = "2001:2:0:2::2".parse().unwrap();
        assert_eq!(n.host(a), Some("web6"));
        assert_eq!(n.addr_port(a, 80, Some(Proto::Tcp), false), "[web6]:http");
        assert_eq!(
            n.addr_port(a, 80, Some(Proto::Tcp), true),
            "[2001:2:0:2::2]:80"
        );
        let b: IpAddr = "2001:2:0:2::3".parse().unwrap();
        assert_eq!(
            n.addr_port(b, 8080, Some(Proto::Tcp), false),
            "[2001:2:0:2::3]:8080"
        );
        // A name stands for an IPv4 address only, as gethostbyname's.
        assert_eq!(n.addr("web6"), None);
        assert_eq!(n.addr("web4"), Some(Ipv4Addr::new(198, 19, 0, 2)));
        // The 59-byte cap of ipvsadm's buffer, for a long name only.
        let long = format!("{} {}\n", a, "h".repeat(70));
        let n = Names::parse(&long, "");
        let s = n.addr_port(a, 80, None, false);
        assert_eq!(s.len(), ADDR_PORT_MAX);
        assert_eq!(s, format!("[{}", "h".repeat(58)));
    }

    #[test]
    fn ntop_is_glibcs() {
        for (text, shown) in [
            ("2001:2:0:1::110", "2001:2:0:1::110"),
            ("2001:2:0:0:1:0:0:1", "2001:2::1:0:0:1"),
            ("2001:2:0:1:0:0:0:1", "2001:2:0:1::1"),
            ("::1", "::1"),
            ("::", "::"),
            ("::198.18.0.1", "::198.18.0.1"),
            ("::198.18.0.0", "::198.18.0.0"),
            ("::0.0.1.0", "::100"),
            ("::ffff:198.18.0.1", "::ffff:198.18.0.1"),
            ("2001:2:0:1:a:b:c:d", "2001:2:0:1:a:b:c:d"),
            ("2001:2:0:1:0:b:0:d", "2001:2:0:1:0:b:0:d"),
        ] {
            let a: IpAddr = text.parse().unwrap();
            assert_eq!(ntop(a), shown, "{text}");
        }
        assert_eq!(ntop(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1))), "198.18.0.1");
    }
}
