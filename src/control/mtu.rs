//! The NICs' MTUs as the data plane enforces them: read at start
//! ([`clamp_mtu`]) and watched while the director runs ([`MtuWatch`]), so
//! that `ip link set dev ext0 mtu 1400` takes effect at once, as the kernel
//! sees a device's MTU at each transmit (`ip_vs_xmit.c`: `__ip_vs_get_out_rt`
//! checks the route's MTU, which follows the device's, for every packet).

use super::startup::IoBackend;
use crate::dataplane::Shared;
use crate::io::nic::{self, NicInfo};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a running director reads its NICs' MTUs.
pub(super) const MTU_WATCH: Duration = Duration::from_secs(1);

/// The MTU the data plane enforces: the NIC's, but no more than a ring slot holds
/// (start-up says so when it clamps).
pub(super) fn clamp_mtu(nic: &NicInfo, io: IoBackend) -> usize {
    let (mtu, note) = mtu_clamp(&nic.name, nic.mtu, io);
    if let Some(n) = note {
        crate::log!("ringvs: {n}");
    }
    mtu
}

/// The MTU for a NIC of MTU `mtu` on `io`, and what to say if it was clamped.
/// On AF_PACKET a frame must fit both a TPACKET_V2 RX slot (the kernel cuts the
/// rest: 1982 bytes of frame in a 2 KiB slot) and a TX slot; the V3 ring is
/// clamped the same, so both formats drop the same frames. Above the clamp the
/// director drops whole frames (`drop_oversize`) instead of forwarding cut ones.
/// On AF_XDP no worker ever sees a frame longer than a UMEM frame holds: the
/// kernel drops it on its way to the socket (`xsk_rcv_check`,
/// `net/xdp/xsk.c`, counting it in the socket's `rx_dropped`), so it shows as
/// `kernel_drop`, not `drop_oversize` (a zero-copy driver drops it itself,
/// in the NIC's own statistics).
fn mtu_clamp(name: &str, mtu: usize, io: IoBackend) -> (usize, Option<String>) {
    let (frame_max, why, counted) = match io {
        IoBackend::Packet if crate::io::ring::RX_FRAME_MAX <= crate::io::ring::TX_FRAME_MAX => (
            crate::io::ring::RX_FRAME_MAX,
            "an AF_PACKET RX slot",
            "dropped (drop_oversize)",
        ),
        IoBackend::Packet => (
            crate::io::ring::TX_FRAME_MAX,
            "an AF_PACKET TX slot",
            "dropped (drop_oversize)",
        ),
        IoBackend::Xdp(_) => (
            crate::io::xdp::RX_FRAME_MAX,
            "an AF_XDP RX frame",
            "dropped by the kernel before a worker sees them (kernel_drop, not \
             drop_oversize; in zero-copy mode the NIC's own statistics)",
        ),
    };
    let max = frame_max - crate::wire::ethernet::HEADER_LEN;
    if mtu <= max {
        return (mtu, None);
    }
    let note = format!(
        "{name}: MTU {mtu} clamped to {max} ({why} holds {frame_max} bytes of frame); \
         larger IP packets are {counted}"
    );
    (max, Some(note))
}

/// The NICs' MTUs as last read, watched every [`MTU_WATCH`]: a change is
/// clamped as at start ([`mtu_clamp`]), said, stored in
/// [`Shared::mtu`] and the workers told (an epoch bump), which take it at
/// their next pass. A NIC whose MTU cannot be read keeps the last one.
pub(super) struct MtuWatch {
    names: [String; 2],
    io: IoBackend,
    /// The MTUs as the kernel gave them (before the clamp), ext and int.
    seen: [usize; 2],
    at: Instant,
}

impl MtuWatch {
    pub(super) fn new(nics: [&NicInfo; 2], io: IoBackend, now: Instant) -> Self {
        Self {
            names: nics.map(|n| n.name.clone()),
            io,
            seen: nics.map(|n| n.mtu),
            at: now,
        }
    }

    /// Read the MTUs if [`MTU_WATCH`] has passed (two small reads of
    /// sysfs, on the control thread).
    pub(super) fn check(&mut self, shared: &Shared, now: Instant) {
        if now.duration_since(self.at) < MTU_WATCH {
            return;
        }
        self.at = now;
        self.apply(shared, |name| nic::read_mtu(name).ok());
    }

    /// [`MtuWatch::check`] with the MTUs `read` gives.
    fn apply(&mut self, shared: &Shared, read: impl Fn(&str) -> Option<usize>) {
        let mut changed = false;
        for (i, name) in self.names.iter().enumerate() {
            let Some(mtu) = read(name) else { continue };
            if mtu == self.seen[i] {
                continue;
            }
            let (enforced, note) = mtu_clamp(name, mtu, self.io);
            crate::log!(
                "ringvs: {name}: MTU {mtu}, was {}: packets longer are answered \
                 fragmentation needed or packet too big, or cut into fragments",
                self.seen[i]
            );
            if let Some(n) = note {
                crate::log!("ringvs: {n}");
            }
            self.seen[i] = mtu;
            shared.mtu[i].store(enforced, Ordering::Relaxed);
            changed = true;
        }
        if changed {
            shared.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clamp lets through no frame an RX slot cannot hold whole, and says
    /// what it clamped.
    #[test]
    fn mtu_clamp_fits_the_rx_slot_and_says_so() {
        let eth = crate::wire::ethernet::HEADER_LEN;
        let (mtu, note) = mtu_clamp("eth9", 9000, IoBackend::Packet);
        assert_eq!(mtu, 1968, "2048 - 66 (MAC header offset in a V2 slot) - 14");
        assert!(mtu + eth <= crate::io::ring::RX_FRAME_MAX);
        assert!(mtu + eth <= crate::io::ring::TX_FRAME_MAX);
        let note = note.unwrap_or_default();
        assert!(
            note.contains("eth9: MTU 9000 clamped to 1968") && note.contains("RX slot"),
            "{note}"
        );
        // 1969..=2002 used to pass (the TX slot's limit) and be cut on receive.
        assert_eq!(mtu_clamp("eth9", 2002, IoBackend::Packet).0, 1968);
        assert_eq!(mtu_clamp("eth9", 1500, IoBackend::Packet), (1500, None));
        assert_eq!(mtu_clamp("eth9", 1968, IoBackend::Packet), (1968, None));
    }

    /// With AF_XDP the note names the counter that grows: the kernel drops
    /// a frame longer than a UMEM frame holds before any worker sees it
    /// (`xsk_rcv_check`), so `kernel_drop` grows and `drop_oversize` does not.
    #[test]
    fn the_xdp_clamp_note_names_kernel_drop() {
        use crate::io::xdp::XdpMode;
        let (mtu, note) = mtu_clamp("eth9", 9000, IoBackend::Xdp(XdpMode::Auto));
        assert_eq!(mtu, 1778, "2048 - 256 (XDP headroom) - 14");
        let note = note.unwrap_or_default();
        assert!(note.contains("eth9: MTU 9000 clamped to 1778"), "{note}");
        assert!(note.contains("(kernel_drop, not drop_oversize"), "{note}");
        // AF_PACKET's note still names drop_oversize, which grows there.
        let (_, note) = mtu_clamp("eth9", 9000, IoBackend::Packet);
        assert!(note.unwrap_or_default().ends_with("(drop_oversize)"));
    }

    /// A change of a NIC's MTU reaches the shared MTUs, clamped, and moves
    /// the epoch; an unchanged or unreadable one does neither.
    #[test]
    fn a_changed_mtu_is_stored_and_the_workers_told() {
        use crate::config::Config;
        use crate::nat::{Snapshot, Timeouts};
        let shared = Shared::new(Snapshot::build(&Config::new(), Timeouts::default()));
        let nic = |name: &str| NicInfo {
            name: name.into(),
            index: 1,
            mac: crate::wire::Mac([2, 0, 0, 0, 0, 1]),
            mtu: 1500,
        };
        let (ext, int) = (nic("ext0"), nic("int0"));
        let mut w = MtuWatch::new([&ext, &int], IoBackend::Packet, Instant::now());
        let epoch = shared.epoch.load(Ordering::Relaxed);
        w.apply(&shared, |_| Some(1500));
        w.apply(&shared, |_| None);
        assert_eq!(shared.epoch.load(Ordering::Relaxed), epoch);
        assert_eq!(shared.mtu[0].load(Ordering::Relaxed), 0);
        w.apply(&shared, |n| Some(if n == "ext0" { 1400 } else { 9000 }));
        assert_eq!(shared.mtu[0].load(Ordering::Relaxed), 1400);
        assert_eq!(shared.mtu[1].load(Ordering::Relaxed), 1968, "clamped");
        assert!(shared.epoch.load(Ordering::Relaxed) > epoch);
    }
}
