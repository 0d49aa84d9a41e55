//! Opening the workers' queues for `ringvs run` (`startup.rs`): per worker an
//! AF_PACKET fanout ring pair on each NIC, or AF_XDP sockets sharing one UMEM
//! per worker with the XDP programs that feed them; the TX rings of the
//! control threads; and the all-multicast membership IPv6 needs on real NICs.

use super::RunError;
use super::startup::{IoBackend, RunOptions};
use crate::NicPair;
use crate::io::fanout::Side;
use crate::io::nic::{self, NicInfo};
use crate::io::ring::{AllMulti, Fanout, RingSize, RxRing, TxRing};
use crate::io::xdp::{self, XdpMode, XdpProgram, XskOptions, XskRx, XskSize, XskTx};

/// A TX ring of `size` on `info`.
pub(super) fn open_tx(info: &NicInfo, size: RingSize) -> Result<TxRing, RunError> {
    TxRing::open(info.index, size).map_err(|err| RunError::Ring {
        what: "TX",
        nic: info.name.clone(),
        err,
    })
}

pub(super) fn allmulti(info: &NicInfo) -> Result<AllMulti, RunError> {
    AllMulti::join(info.index).map_err(|err| RunError::Ring {
        what: "multicast membership",
        nic: info.name.clone(),
        err,
    })
}

/// The workers' queues on both NICs, with the sockets `--io` asks for.
pub(super) fn open_queues(
    opts: &RunOptions,
    n: usize,
    ext: &NicInfo,
    int: &NicInfo,
    fanout_key: u32,
) -> Result<Queues, RunError> {
    let size = RingSize::new(opts.ring_blocks);
    Ok(match opts.io {
        IoBackend::Packet => Queues::Packet(open_packet(opts, n, ext, int, size, fanout_key)?),
        IoBackend::Xdp(mode) => {
            let xsk = XskOptions {
                size: XskSize::new(size.block_size / size.frame_size * size.block_nr),
                busy_poll: opts
                    .busy_poll
                    .then(|| u16::try_from(opts.burst).unwrap_or(u16::MAX)),
                per_worker_umem: opts.per_worker_umem,
                copy_only: mode == XdpMode::Generic,
            };
            Queues::Xdp(open_xdp(n, [ext, int], xsk, mode)?)
        }
    })
}

/// Every worker's queues on both NICs, in worker order.
pub(super) struct WorkerQueues<R, T> {
    pub(super) ext: Vec<(R, T)>,
    pub(super) int: Vec<(R, T)>,
}

impl<R, T> WorkerQueues<R, T> {
    /// Worker k's queues on both NICs, as `(rx, tx)` pairs.
    pub(super) fn pairs(self) -> impl Iterator<Item = (NicPair<R>, NicPair<T>)> {
        self.ext
            .into_iter()
            .zip(self.int)
            .map(|((er, et), (ir, it))| (NicPair::new(er, ir), NicPair::new(et, it)))
    }
}

/// AF_XDP: every worker's sockets on both NICs, and the programs feeding them.
pub(super) struct XdpQueues {
    /// First, so dropped (detached) first: a program left attached while
    /// the sockets close would redirect to emptied slots, which pass.
    pub(super) programs: Vec<XdpProgram>,
    pub(super) ext: Vec<(XskRx, XskTx)>,
    pub(super) int: Vec<(XskRx, XskTx)>,
}

/// Every worker's queues, on the backend `--io` chose.
pub(super) enum Queues {
    Packet(WorkerQueues<RxRing, TxRing>),
    Xdp(XdpQueues),
}

/// AF_PACKET: every worker's ext RX socket joins the ext fanout group, then every
/// int one the int group, in worker order, so member k of both groups is worker k.
fn open_packet(
    opts: &RunOptions,
    n: usize,
    ext: &NicInfo,
    int: &NicInfo,
    size: RingSize,
    key: u32,
) -> Result<WorkerQueues<RxRing, TxRing>, RunError> {
    let open = |info: &NicInfo, side: Side| -> Result<Vec<(RxRing, TxRing)>, RunError> {
        let ring_err = |what: &'static str| {
            let nic = info.name.clone();
            move |err| RunError::Ring { what, nic, err }
        };
        join_in_turn(n, |id| {
            let fanout = Fanout { id, side, key };
            let (r, g) = RxRing::open(info.index, opts.rx_version, size, Some(fanout))
                .map_err(ring_err("RX"))?;
            if id.is_some_and(|id| id != g) {
                let err = std::io::Error::other(format!("joined fanout group {g}, not {id:?}"));
                return Err(ring_err("RX")(err));
            }
            let t = TxRing::open(info.index, size).map_err(ring_err("TX"))?;
            Ok(((r, t), g))
        })
    };
    let mut q = WorkerQueues {
        ext: open(ext, Side::Ext)?,
        int: open(int, Side::Int)?,
    };
    // Frames that reached a socket before the whole group had joined went to the
    // wrong member: give them back.
    for (r, _) in q.ext.iter_mut().chain(q.int.iter_mut()) {
        r.discard_ready();
    }
    Ok(q)
}

/// Opens `n` members of one fanout group in turn with `open`: the first asks
/// for a new group (`None`), the others join the one it got, whatever its
/// id. (Not 0 for "none yet": `PACKET_FANOUT_FLAG_UNIQUEID` can hand out 0,
/// the kernel's `fanout_next_id` starting there and wrapping, and the second
/// worker then made a group of its own, so both got every frame of the NIC
/// and each made its own copy of every connection.)
fn join_in_turn<T, E>(
    n: usize,
    mut open: impl FnMut(Option<u16>) -> Result<(T, u16), E>,
) -> Result<Vec<T>, E> {
    let mut group = None;
    (0..n)
        .map(|_| {
            let (t, g) = open(group)?;
            group = Some(g);
            Ok(t)
        })
        .collect()
}

/// AF_XDP: worker k opens a socket on receive queue k of each NIC and
/// registers it in that NIC's XDP socket map at key k (the program redirects
/// by receive queue). Each NIC must have exactly `n` receive queues: a frame on
/// a queue without a socket would go to the kernel instead of a worker. Which
/// worker a frame reaches is RSS's choice; the workers steer TCP/UDP frames to
/// the owner of their client key (`Plan::steer`). The programs are attached
/// last ([`in_start_order`]).
fn open_xdp(
    n: usize,
    nics: [&NicInfo; 2],
    opts: XskOptions,
    mode: XdpMode,
) -> Result<XdpQueues, RunError> {
    for info in nics {
        check_rx_queues(&info.name, nic::rx_queues(&info.name), n)?;
        check_tx_queues(&info.name, nic::tx_queues(&info.name), n)?;
    }
    let mut index = [0; 2];
    let mut programs = Vec::with_capacity(2);
    for (i, info) in nics.iter().enumerate() {
        index[i] = u32::try_from(info.index)
            .map_err(|_| RunError::Invalid(format!("bad ifindex for {}", info.name)))?;
        programs.push(XdpProgram::load().map_err(xdp_err(info, "XDP program"))?);
    }
    let (programs, (ext, int)) = in_start_order(
        programs,
        |programs| open_sockets(n, nics, index, opts, programs),
        |prog, i| {
            prog.attach(index[i], mode)
                .map_err(xdp_err(nics[i], "XDP program"))
        },
    )?;
    Ok(XdpQueues { ext, int, programs })
}

/// A [`RunError`] about `what` on `info`.
fn xdp_err(info: &NicInfo, what: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    let nic = info.name.clone();
    move |err| RunError::Ring { what, nic, err }
}

/// The order of an AF_XDP start: `open` opens and binds every socket and
/// enters each in its NIC's socket map (`programs`, loaded but attached to
/// nothing), and only then is each program attached (`attach`, in NIC
/// order). An attached program redirects every IPv4, IPv6 and ARP frame to
/// its map's slot for the frame's receive queue, and a frame whose slot is
/// still empty goes to the kernel's stack: attached first, as they were,
/// the programs handed the kernel the frames of the whole socket set-up.
/// What `open` returns is returned with the programs, which the caller
/// keeps for as long as the sockets are read (`startup::stop` detaches
/// them before the workers close the sockets).
fn in_start_order<P, Q>(
    mut programs: Vec<P>,
    open: impl FnOnce(&[P]) -> Result<Q, RunError>,
    mut attach: impl FnMut(&mut P, usize) -> Result<(), RunError>,
) -> Result<(Vec<P>, Q), RunError> {
    let q = open(&programs)?;
    for i in 0..programs.len() {
        if let Err(e) = attach(&mut programs[i], i) {
            // Those attached are detached before the sockets close.
            drop(programs);
            drop(q);
            return Err(e);
        }
    }
    Ok((programs, q))
}

/// Every worker's sockets on both NICs (`index`), each registered with its
/// NIC's program: worker k's at key k. Returns the ext and int queues.
#[allow(clippy::type_complexity)]
fn open_sockets(
    n: usize,
    nics: [&NicInfo; 2],
    index: [u32; 2],
    opts: XskOptions,
    programs: &[XdpProgram],
) -> Result<(Vec<(XskRx, XskTx)>, Vec<(XskRx, XskTx)>), RunError> {
    let (mut ext, mut int) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut zero_copy, mut copy) = (Vec::new(), Vec::new());
    let (mut refused, mut unshared) = (None, Vec::new());
    // All workers' sockets on both NICs share one UMEM (`xdp::open_workers`):
    // a frame moves by its descriptor between NICs and between workers.
    let at: Vec<_> = (0..n as u32)
        .map(|k| ((index[0], k), (index[1], k)))
        .collect();
    let all = xdp::open_workers(&at, opts).map_err(xdp_err(nics[0], "AF_XDP socket"))?;
    if let Some(e) = &all.unshared {
        crate::log!(
            "ringvs: AF_XDP: the kernel refused one UMEM for all workers ({e}): each worker has its own, and frames handed between workers are copied"
        );
    }
    for (k, pair) in (0..).zip(all.pairs) {
        if let Some(e) = pair.unshared {
            unshared.push(format!("{k} ({e})"));
        }
        for ((info, x), (prog, out)) in nics
            .iter()
            .zip([pair.ext, pair.int])
            .zip(programs.iter().zip([&mut ext, &mut int]))
        {
            prog.register(k, &x.rx)
                .map_err(xdp_err(info, "XDP socket map"))?;
            if x.zero_copy {
                &mut zero_copy
            } else {
                &mut copy
            }
            .push(format!("{}:{k}", info.name));
            refused = refused.or(x.busy_poll_refused);
            out.push((x.rx, x.tx));
        }
    }
    if !unshared.is_empty() {
        crate::log!(
            "ringvs: AF_XDP: the kernel refused to share a UMEM between {} and {}, forwarded frames are copied for worker(s) {}",
            nics[0].name,
            nics[1].name,
            unshared.join(", ")
        );
    }
    if !copy.is_empty() {
        crate::log!(
            "ringvs: AF_XDP zero-copy refused by the driver, copy mode on {} (zero-copy on: {})",
            copy.join(" "),
            if zero_copy.is_empty() {
                "none".into()
            } else {
                zero_copy.join(" ")
            }
        );
    }
    if let Some(e) = refused {
        crate::log!(
            "ringvs: --busy-poll: the kernel refused preferred busy polling on the AF_XDP sockets ({e}); the workers spin without it"
        );
    }
    Ok((ext, int))
}

/// `--io xdp` with `n` workers on a NIC with `rxq` receive queues: one queue
/// per worker, or say how to make it so.
pub(super) fn check_rx_queues(name: &str, rxq: usize, n: usize) -> Result<(), RunError> {
    if rxq == n {
        return Ok(());
    }
    Err(RunError::Invalid(format!(
        "--io xdp runs one worker per receive queue: {name} has {rxq} receive queue(s) and \
         --workers is {n}; make them equal (`ethtool -L {name} combined {n}`, or \
         `rx {n}` on NICs with separate RX channels), or run --workers {rxq}"
    )))
}

/// Worker k's sockets send on transmit queue k of each NIC, so each needs at
/// least `n`. A socket bound to queue k of a NIC with k transmit queues or
/// fewer is accepted (the kernel checks the queue against the larger of the
/// two counts) and then sends nothing, without an error: copy mode skips a
/// queue past the NIC's transmit queues (`xsk_generic_xmit`,
/// `net/xdp/xsk.c`), and the worker's frames would wait in a full TX ring.
pub(super) fn check_tx_queues(name: &str, txq: usize, n: usize) -> Result<(), RunError> {
    if txq >= n {
        return Ok(());
    }
    Err(RunError::Invalid(format!(
        "--io xdp sends on transmit queue k from worker k: {name} has {txq} transmit queue(s) \
         and --workers is {n}; give it {n} (`ethtool -L {name} combined {n}`, or `tx {n}` on \
         NICs with separate TX channels), or run --workers {txq}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fewer transmit queues than workers would leave some workers unable
    /// to send: refused, with the fix; more are fine.
    #[test]
    fn xdp_needs_a_tx_queue_per_worker() {
        assert!(check_tx_queues("eth9", 4, 4).is_ok());
        assert!(check_tx_queues("eth9", 8, 2).is_ok());
        let e = check_tx_queues("eth9", 1, 2).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("eth9 has 1 transmit queue(s)")
                && e.contains("ethtool -L eth9 combined 2")
                && e.contains("--workers 1"),
            "{e}"
        );
    }

    /// `--io xdp` takes one worker per receive queue, and says how to fix a
    /// mismatch.
    #[test]
    fn xdp_needs_one_rx_queue_per_worker() {
        assert!(check_rx_queues("eth9", 4, 4).is_ok());
        let e = check_rx_queues("eth9", 8, 2).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("eth9 has 8 receive queue(s)")
                && e.contains("ethtool -L eth9 combined 2")
                && e.contains("--workers 8"),
            "{e}"
        );
    }

    /// The programs are attached only after every socket is open and in
    /// its map, in NIC order; a failed open attaches none (the programs
    /// used to be attached first, and the kernel got the frames of the
    /// set-up: a redirect to an empty slot passes).
    #[test]
    fn xdp_programs_are_attached_after_the_sockets_are_registered() {
        let log = std::cell::RefCell::new(Vec::new());
        let got = in_start_order(
            vec!["ext", "int"],
            |p| {
                log.borrow_mut()
                    .push(format!("open+register {}", p.join(" ")));
                Ok(7)
            },
            |p, i| {
                log.borrow_mut().push(format!("attach {p} {i}"));
                Ok(())
            },
        );
        assert_eq!(got.ok(), Some((vec!["ext", "int"], 7)));
        assert_eq!(
            log.take(),
            ["open+register ext int", "attach ext 0", "attach int 1"]
        );
        let got = in_start_order(
            vec!["ext", "int"],
            |_| Err::<(), _>(RunError::Invalid("no socket".into())),
            |p, _| {
                log.borrow_mut().push(format!("attach {p}"));
                Ok(())
            },
        );
        assert!(got.is_err());
        assert!(log.take().is_empty(), "attached without sockets");
    }

    /// A failed attach (the int NIC has another XDP program) detaches the
    /// programs attached so far before the sockets close, and so does
    /// dropping the queues: a program left attached while the sockets close
    /// redirects to their emptied slots, which pass to the kernel.
    #[test]
    fn xdp_programs_are_detached_before_the_sockets_close() {
        struct Noted<'a>(&'a std::cell::RefCell<Vec<String>>, &'static str);
        impl Drop for Noted<'_> {
            fn drop(&mut self) {
                self.0.borrow_mut().push(format!("drop {}", self.1));
            }
        }
        let log = std::cell::RefCell::new(Vec::new());
        let got = in_start_order(
            vec![Noted(&log, "ext program"), Noted(&log, "int program")],
            |_| Ok(Noted(&log, "sockets")),
            |_, i| match i {
                0 => Ok(()),
                _ => Err(RunError::Invalid("busy".into())),
            },
        );
        assert!(got.is_err());
        assert_eq!(
            log.take(),
            ["drop ext program", "drop int program", "drop sockets"]
        );
    }

    /// Every worker after the first joins the group the first got, 0 too
    /// (the kernel hands out unique ids from 0: a group 0 taken for "no
    /// group yet" put the second worker in a group of its own, and each
    /// got every frame; seen as every connection listed twice).
    #[test]
    fn workers_join_the_first_ones_group_even_group_0() {
        for first in [0u16, 7] {
            let mut asked = Vec::new();
            let got = join_in_turn(3, |id| {
                asked.push(id);
                Ok::<_, ()>((asked.len(), id.unwrap_or(first)))
            });
            assert_eq!(got, Ok(vec![1, 2, 3]));
            assert_eq!(asked, [None, Some(first), Some(first)], "first got {first}");
        }
    }
}
