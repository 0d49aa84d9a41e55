//! The classic pcap file format, nanosecond flavour (magic `a1b23c4d`),
//! LINKTYPE_ETHERNET, little-endian: what `tcpdump -r` and Wireshark read.

use std::io::{self, Read, Write};

pub const MAGIC_NS: u32 = 0xa1b2_3c4d;
pub const MAGIC_US: u32 = 0xa1b2_c3d4;
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The header's snapshot length: what a record holds at most
/// ([`super::SNAPLEN`], the frames the rings carry), so `tcpdump -r` says
/// what the capture cut at.
pub const SNAPLEN: u32 = super::SNAPLEN as u32;

/// Write the file header.
pub fn write_header(w: &mut (impl Write + ?Sized)) -> io::Result<()> {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&MAGIC_NS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone, sigfigs: 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    w.write_all(&h)
}

/// Write one record.
pub fn write_record(
    w: &mut (impl Write + ?Sized),
    ts_ns: u64,
    data: &[u8],
    orig_len: u32,
) -> io::Result<()> {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&((ts_ns / 1_000_000_000) as u32).to_le_bytes());
    h[4..8].copy_from_slice(&((ts_ns % 1_000_000_000) as u32).to_le_bytes());
    h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
    h[12..16].copy_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
    w.write_all(&h)?;
    w.write_all(data)
}

/// One record read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub ts_ns: u64,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Read a whole pcap file (either timestamp flavour, little-endian) written by
/// [`write_header`]/[`write_record`] or by tcpdump on this host.
pub fn read_all(r: &mut impl Read) -> io::Result<Vec<Record>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut h = [0u8; 24];
    r.read_exact(&mut h)?;
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let ns = match magic {
        MAGIC_NS => true,
        MAGIC_US => false,
        _ => return Err(bad("not a little-endian pcap file")),
    };
    if u32::from_le_bytes([h[20], h[21], h[22], h[23]]) != LINKTYPE_ETHERNET {
        return Err(bad("not LINKTYPE_ETHERNET"));
    }
    let mut out = Vec::new();
    loop {
        let mut rh = [0u8; 16];
        match r.read_exact(&mut rh) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let f = |o: usize| u32::from_le_bytes([rh[o], rh[o + 1], rh[o + 2], rh[o + 3]]);
        let (sec, frac, incl, orig) = (f(0), f(4), f(8), f(12));
        if incl > SNAPLEN {
            return Err(bad("record longer than the snap length"));
        }
        let mut data = vec![0; incl as usize];
        r.read_exact(&mut data)?;
        let frac_ns = if ns {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        out.push(Record {
            ts_ns: u64::from(sec) * 1_000_000_000 + frac_ns,
            orig_len: orig,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write_header(&mut buf).unwrap();
        write_record(&mut buf, 1_700_000_000_123_456_789, &[1, 2, 3], 3).unwrap();
        write_record(&mut buf, 5, &[9; 60], 1514).unwrap();
        let recs = read_all(&mut &buf[..]).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].ts_ns, 1_700_000_000_123_456_789);
        assert_eq!(recs[0].data, [1, 2, 3]);
        assert_eq!(recs[1].orig_len, 1514);
        assert!(read_all(&mut &buf[..10]).is_err());
        assert!(read_all(&mut &[0u8; 24][..]).is_err());
        // The snapshot length the records are cut at.
        assert_eq!(buf[16..20], (super::super::SNAPLEN as u32).to_le_bytes());
    }
}
