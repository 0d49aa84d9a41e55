//! `inject` and `capture`: raw Ethernet frames through an AF_PACKET socket
//! (`pnet_datalink`), for the hostile-input namespace test.
//!
//! * `inject` sends the frames of a file (one frame per line, hex) on an
//!   interface, in order, and prints how many went out.
//! * `capture` counts, for a bounded time, the frames seen on an interface that
//!   come from a given MAC and carry a marker IPv4 identification, and prints the
//!   count (one JSON object). It prints `ready` on stderr once listening.

use pnet_datalink::{Channel, Config, NetworkInterface};
use std::time::{Duration, Instant};

fn iface(name: &str) -> Result<NetworkInterface, String> {
    pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| format!("no interface {name}"))
}

/// Frames from a file of hex lines (blank lines and `#` comments skipped).
pub fn read_frames(text: &str) -> Result<Vec<Vec<u8>>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(n, l)| {
            if l.len() % 2 != 0 {
                return Err(format!("line {}: odd number of hex digits", n + 1));
            }
            (0..l.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(&l[i..i + 2], 16).map_err(|e| format!("line {}: {e}", n + 1))
                })
                .collect()
        })
        .collect()
}

/// Whether an IPv4 address is in 198.18.0.0/15 (RFC 2544).
fn bench(a: &[u8]) -> bool {
    a[0] == 198 && (a[1] & 0xfe) == 18
}

/// Refuse frames whose IPv4 or ARP addresses (where the frame is long enough to
/// hold them) leave 198.18.0.0/15: injected frames stay in benchmarking space.
pub fn check_addresses(frames: &[Vec<u8>]) -> Result<(), String> {
    for (n, f) in frames.iter().enumerate() {
        let bad = match f.get(12..14) {
            Some([8, 0]) if f.len() >= 34 => !bench(&f[26..30]) || !bench(&f[30..34]),
            Some([8, 6]) if f.len() >= 42 => !bench(&f[28..32]) || !bench(&f[38..42]),
            _ => false,
        };
        if bad {
            return Err(format!("frame {}: address outside 198.18.0.0/15", n + 1));
        }
    }
    Ok(())
}

pub fn inject(ifname: &str, frames: &[Vec<u8>]) -> Result<String, String> {
    check_addresses(frames)?;
    let i = iface(ifname)?;
    let (mut tx, _rx) = match pnet_datalink::channel(&i, Config::default()) {
        Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
        Ok(_) => return Err("not an Ethernet channel".into()),
        Err(e) => return Err(format!("AF_PACKET on {ifname}: {e}")),
    };
    let mut sent = 0u64;
    let mut failed = 0u64;
    for f in frames {
        match tx.send_to(f, None) {
            Some(Ok(())) => sent += 1,
            _ => failed += 1,
        }
    }
    Ok(format!("{{\"sent\":{sent},\"failed\":{failed}}}"))
}

pub fn capture(ifname: &str, src_mac: [u8; 6], ip_id: u16, secs: f64) -> Result<String, String> {
    let i = iface(ifname)?;
    let cfg = Config {
        read_timeout: Some(Duration::from_millis(50)),
        ..Config::default()
    };
    let mut rx = match pnet_datalink::channel(&i, cfg) {
        Ok(Channel::Ethernet(_tx, rx)) => rx,
        Ok(_) => return Err("not an Ethernet channel".into()),
        Err(e) => return Err(format!("AF_PACKET on {ifname}: {e}")),
    };
    eprintln!("ready");
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let (mut seen, mut marked) = (0u64, 0u64);
    while Instant::now() < end {
        let Ok(f) = rx.next() else {
            continue;
        };
        if f.len() < 14 || f[6..12] != src_mac {
            continue;
        }
        seen += 1;
        if f.len() >= 20 && f[12..14] == [8, 0] && f[18..20] == ip_id.to_be_bytes() {
            marked += 1;
        }
    }
    Ok(format!("{{\"from_mac\":{seen},\"marked\":{marked}}}"))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn hex_lines_parse() {
        let f = read_frames("# c\n0aff\n\n 10 \n").expect("parses");
        assert_eq!(f, vec![vec![0x0a, 0xff], vec![0x10]]);
        assert!(read_frames("abc").is_err());
        assert!(read_frames("zz").is_err());
        let mut f = vec![0u8; 34];
        f[12] = 8;
        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
        f[30..34].copy_from_slice(&[198, 19, 0, 2]);
        assert!(check_addresses(std::slice::from_ref(&f)).is_ok());
        f[30..34].copy_from_slice(&[10, 0, 0, 1]);
        assert!(check_addresses(&[f]).is_err());
    }
}
