//! Host and service names from `/etc/hosts` and `/etc/services`.
//!
//! ipvsadm shows addresses and ports as names unless given `-n`, and accepts
//! names on its command line.  It asks the C library, which may ask DNS; ringvs
//! never does (a listing must not hang on a resolver): it reads the two files
//! only, and falls back to numbers.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::Proto;

/// Name tables: address ↔ host name, (port, protocol) ↔ service name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    by_addr: HashMap<Ipv4Addr, String>,
    by_host: HashMap<String, Ipv4Addr>,
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
            let Some(Ok(addr)) = words.next().map(str::parse::<Ipv4Addr>) else {
                continue;
            };
            for (i, name) in words.enumerate() {
                if i == 0 {
                    n.by_addr.entry(addr).or_insert_with(|| name.to_string());
                }
                n.by_host.entry(name.to_string()).or_insert(addr);
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
            let proto = match proto {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => continue,
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
    pub fn host(&self, addr: Ipv4Addr) -> Option<&str> {
        self.by_addr.get(&addr).map(String::as_str)
    }

    /// The address of a host name.
    pub fn addr(&self, host: &str) -> Option<Ipv4Addr> {
        self.by_host.get(host).copied()
    }

    /// The service name of a port.
    pub fn service(&self, port: u16, proto: Proto) -> Option<&str> {
        self.by_port.get(&(port, proto)).map(String::as_str)
    }

    /// The port of a service name.
    pub fn port(&self, name: &str, proto: Proto) -> Option<u16> {
        self.by_service.get(&(name.to_string(), proto)).copied()
    }

    /// `ADDR:PORT` as ipvsadm shows it: numbers with `numeric`, else names
    /// where known.  `proto` None (an unknown protocol) never names the port.
    pub fn addr_port(
        &self,
        addr: Ipv4Addr,
        port: u16,
        proto: Option<Proto>,
        numeric: bool,
    ) -> String {
        if numeric {
            return format!("{addr}:{port}");
        }
        let host = self
            .host(addr)
            .map_or_else(|| addr.to_string(), str::to_string);
        let svc = proto
            .and_then(|p| self.service(port, p))
            .map_or_else(|| port.to_string(), str::to_string);
        format!("{host}:{svc}")
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
        assert_eq!(n.host("198.19.0.2".parse().unwrap()), Some("server1"));
        assert_eq!(n.addr("s1"), Some("198.19.0.2".parse().unwrap()));
        assert_eq!(n.addr("other"), Some("198.19.0.2".parse().unwrap()));
        assert_eq!(n.service(80, Proto::Tcp), Some("http"));
        assert_eq!(n.service(53, Proto::Tcp), None);
        assert_eq!(n.port("www", Proto::Tcp), Some(80));
        assert_eq!(n.port("domain", Proto::Udp), Some(53));
        let a: Ipv4Addr = "198.19.0.2".parse().unwrap();
        assert_eq!(n.addr_port(a, 80, Some(Proto::Tcp), false), "server1:http");
        assert_eq!(n.addr_port(a, 81, Some(Proto::Tcp), false), "server1:81");
        assert_eq!(n.addr_port(a, 80, Some(Proto::Tcp), true), "198.19.0.2:80");
        assert_eq!(
            n.addr_port("10.0.0.1".parse().unwrap(), 80, None, false),
            "10.0.0.1:80"
        );
    }
}
