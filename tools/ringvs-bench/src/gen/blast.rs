//! `udp` and `syn`: a TX thread writing prebuilt frames into an AF_PACKET TX
//! ring and an RX thread counting (and timing) them on another interface.

use crate::frame::{self, FrameSet, Net};
use crate::rate::{self, TokenBucket};
use hdrhistogram::Histogram;
use ringvs::io::ring::{RingSize, RxRing, RxVersion, TxRing, poll_readable};
use ringvs::io::{RxQueue, TxQueue};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Frames in flight after TX stops that the sink still waits for.
pub const DRAIN: Duration = Duration::from_millis(200);
/// TX ring: 32 blocks of 32 slots.
const TX_BLOCKS: u32 = 32;
/// RX ring: 512 blocks of 32 slots (32 MiB), room for 16k frames of backlog.
const RX_BLOCKS: u32 = 512;
/// Empty polls of the RX ring before a sink that shares its core sleeps.
const IDLE_SPINS: u32 = 2048;
/// Largest latency the histogram holds (ns): 60 s.
const HIST_MAX_NS: u64 = 60_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Loop over the flows for `secs`, stamped, timed at the sink.
    Udp,
    /// Every flow once (until `secs` runs out); the sink counts SYNs.
    Syn,
}

pub struct Plan {
    pub mode: Mode,
    pub frames: FrameSet,
    pub run: u16,
    pub src_net: Net,
    pub tx_index: i32,
    pub rx_index: i32,
    pub rate: Option<u64>,
    pub secs: f64,
    pub warmup: Duration,
    pub tx_core: Option<usize>,
    pub rx_core: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    /// Frames sent in the measured window (after warm-up).
    pub sent: u64,
    /// Of those, frames that reached the sink.
    pub received: u64,
    /// Length of the measured window.
    pub secs: f64,
    pub tx_pps: f64,
    pub rx_pps: f64,
    /// `(sent - received) / sent`, 0..1 (0 when nothing was sent).
    pub loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat_us: Option<Latency>,
    pub flows: usize,
    /// Frame size without FCS (60 = a "64-byte frame").
    pub size: usize,
    /// Frames sent / received during warm-up (not in the figures above).
    pub warmup_sent: u64,
    pub warmup_received: u64,
    /// Frames the sink's kernel dropped for a full RX ring.
    pub rx_ring_drops: u64,
    /// Frames the TX ring rejected (malformed; should be 0).
    pub tx_rejected: u64,
    /// Times the TX thread found its ring full (back-pressure).
    pub tx_ring_full: u64,
    /// The longest a measured frame waited in the sink's RX ring for its
    /// reader (µs): left out of `lat_us`, which ends when the kernel took
    /// the frame.
    pub sink_wait_max_us: f64,
}

/// `CLOCK_REALTIME` in ns since the epoch: the clock of the RX ring's
/// timestamps (`RxRing::peek_time_ns`); 0 before 1970.
fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn ns_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn pin(core: Option<usize>, what: &str) {
    if let Some(id) = core
        && !core_affinity::set_for_current(core_affinity::CoreId { id })
    {
        eprintln!("ringvs-gen: warning: could not pin the {what} thread to core {id}");
    }
}

/// Whether `id` names a core this process may run on.
pub fn check_core(id: usize, opt: &str) -> Result<(), String> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.iter().any(|c| c.id == id) {
        Ok(())
    } else {
        Err(format!(
            "{opt} {id}: no such core (available: {:?})",
            cores.iter().map(|c| c.id).collect::<Vec<_>>()
        ))
    }
}

struct TxResult {
    sent: u64,
    warm_sent: u64,
    /// ns (since start) when the measured window began and ended.
    window: (u64, u64),
    rejected: u64,
    ring_full: u64,
}

struct RxResult {
    received: u64,
    warm_received: u64,
    hist: Histogram<u64>,
    ring_drops: u64,
    /// The longest wait of a measured frame in the ring (ns).
    max_waited: u64,
}

/// Run a plan: open both rings (errors here are the user's: missing rights,
/// bad interface), start both threads, wait, report.
pub fn run(plan: Plan) -> Result<Report, String> {
    let frame_len = plan.frames.frame_len();
    let n_flows = plan.frames.len();
    let (mut tx, mut rx) = open_rings(&plan, frame_len)?;

    let mode = plan.mode;
    let warm_ns = match mode {
        Mode::Udp => u64::try_from(plan.warmup.as_nanos()).unwrap_or(u64::MAX),
        Mode::Syn => 0,
    };
    let end_ns = warm_ns.saturating_add((plan.secs * 1e9) as u64);
    let stop_rx = Arc::new(AtomicBool::new(false));
    // When TX stopped (ns since start), for the RX thread's own deadline.
    let tx_done_ns = Arc::new(AtomicU64::new(u64::MAX));
    // TX and RX each own a core: both may busy-wait. Otherwise (one core, or
    // unpinned) the sink sleeps in poll() when idle and TX yields while pacing.
    let dedicated = matches!((plan.tx_core, plan.rx_core), (Some(t), Some(r)) if t != r);
    let start = Instant::now();

    let rx_thread = {
        let core = plan.rx_core;
        let drain_ns = u64::try_from(DRAIN.as_nanos()).unwrap_or(u64::MAX);
        let sink = Sink {
            mode,
            run_id: plan.run,
            src_net: plan.src_net,
            dedicated,
            start,
            warm_ns,
            end_ns,
            drain_ns,
            // Never run past the longest possible TX plus drain plus slack.
            hard_end: end_ns.saturating_add(2 * drain_ns + 1_000_000_000),
            stop: Arc::clone(&stop_rx),
            tx_done: Arc::clone(&tx_done_ns),
        };
        thread::Builder::new()
            .name("gen-rx".into())
            .spawn(move || -> Result<RxResult, String> {
                pin(core, "RX");
                receive(&mut rx, &sink)
            })
            .map_err(|e| format!("starting the RX thread: {e}"))?
    };

    let tx_thread = {
        let frames = plan.frames;
        let core = plan.tx_core;
        let rate = plan.rate;
        let tx_done = Arc::clone(&tx_done_ns);
        thread::Builder::new()
            .name("gen-tx".into())
            .spawn(move || {
                pin(core, "TX");
                let pace = Pace {
                    mode,
                    rate,
                    dedicated,
                    start,
                    warm_ns,
                    end_ns,
                };
                let r = transmit(&mut tx, &frames, pace);
                tx_done.store(ns_since(start), Ordering::Relaxed);
                r
            })
            .map_err(|e| format!("starting the TX thread: {e}"))?
    };

    let txr = tx_thread.join();
    // Let in-flight frames land, then stop the sink.
    thread::sleep(DRAIN);
    stop_rx.store(true, Ordering::Relaxed);
    let rxr = rx_thread.join();
    let txr = txr.map_err(|_| "the TX thread panicked".to_string())?;
    let rxr = rxr.map_err(|_| "the RX thread panicked".to_string())??;
    Ok(report(mode, &txr, &rxr, n_flows, frame_len))
}

/// The TX ring on `plan.tx_index` (checked to hold a `frame_len`-byte frame in
/// a slot) and the RX ring on `plan.rx_index`, emptied.
fn open_rings(plan: &Plan, frame_len: usize) -> Result<(TxRing, RxRing), String> {
    let mut tx = TxRing::open(plan.tx_index, RingSize::new(TX_BLOCKS))
        .map_err(|e| format!("opening the TX ring: {e} (run as root)"))?;
    match tx.slot() {
        Some(s) if s.len() >= frame_len => {}
        Some(s) => {
            return Err(format!(
                "--size {frame_len}: a TX ring slot holds at most {} bytes",
                s.len()
            ));
        }
        None => return Err("the new TX ring has no free slot".into()),
    }
    let (mut rx, _) = RxRing::open(plan.rx_index, RxVersion::V2, RingSize::new(RX_BLOCKS), None)
        .map_err(|e| format!("opening the RX ring: {e} (run as root)"))?;
    rx.discard_ready();
    rx.take_kernel_drops();
    Ok((tx, rx))
}

/// What the RX loop needs besides its ring.
struct Sink {
    mode: Mode,
    run_id: u16,
    src_net: Net,
    dedicated: bool,
    start: Instant,
    warm_ns: u64,
    end_ns: u64,
    drain_ns: u64,
    hard_end: u64,
    /// Set when the sink is to stop.
    stop: Arc<AtomicBool>,
    /// When TX stopped (ns since start).
    tx_done: Arc<AtomicU64>,
}

/// The RX loop: count our frames (UDP: by window, with their latency; SYN:
/// every SYN of this run) until told to stop, or the drain after TX, or the
/// hard end.
fn receive(rx: &mut RxRing, sink: &Sink) -> Result<RxResult, String> {
    let Sink {
        mode,
        run_id,
        src_net,
        dedicated,
        start,
        warm_ns,
        end_ns,
        drain_ns,
        hard_end,
        ref stop,
        ref tx_done,
    } = *sink;
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, HIST_MAX_NS, 3).map_err(|e| e.to_string())?;
    let (mut received, mut warm_received) = (0u64, 0u64);
    let fd = rx.poll_fd();
    let mut seen: u32 = 0;
    let mut empty: u32 = 0;
    let mut max_waited = 0u64;
    loop {
        // When the kernel put the frame in the ring: the time it then waited
        // for this thread (which shares a core with TX, and can wait
        // milliseconds to run) is the sink's, not the path's.
        let taken = rx.peek_time_ns();
        if let Some(f) = rx.peek() {
            match mode {
                Mode::Udp => {
                    if let Some(st) = frame::parse_udp(f.data, run_id) {
                        let now = ns_since(start);
                        if st.ts_ns < warm_ns {
                            warm_received += 1;
                        } else if st.ts_ns < end_ns {
                            received += 1;
                            let waited = taken.map_or(0, |t| realtime_ns().saturating_sub(t));
                            let latency = now.saturating_sub(st.ts_ns).saturating_sub(waited);
                            hist.saturating_record(latency.max(1));
                            max_waited = max_waited.max(waited);
                        }
                    }
                }
                Mode::Syn => {
                    if frame::is_our_syn(f.data, src_net, run_id) {
                        received += 1;
                    }
                }
            }
            rx.advance();
            empty = 0;
            seen = seen.wrapping_add(1);
            if seen.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
                break;
            }
            continue;
        }
        // Ring empty: check the clock now and then.
        empty = empty.saturating_add(1);
        if empty.is_multiple_of(256) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let now = ns_since(start);
            let done = tx_done.load(Ordering::Relaxed);
            if now >= hard_end || now >= done.saturating_add(drain_ns) {
                break;
            }
        }
        if dedicated || empty < IDLE_SPINS {
            // Busy-poll: the sink owns its core (no wake-up
            // latency in the measurement).
            std::hint::spin_loop();
        } else if let Some(fd) = fd {
            // Sharing a core with TX: sleep until a frame comes.
            poll_readable(&[fd], 1);
        } else {
            thread::yield_now();
        }
    }
    Ok(RxResult {
        received,
        warm_received,
        hist,
        ring_drops: rx.take_kernel_drops().ring_full,
        max_waited,
    })
}

/// The report of a run from what TX and RX counted.
fn report(mode: Mode, txr: &TxResult, rxr: &RxResult, n_flows: usize, frame_len: usize) -> Report {
    let secs = txr.window.1.saturating_sub(txr.window.0) as f64 / 1e9;
    let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let loss = if txr.sent == 0 {
        0.0
    } else {
        txr.sent.saturating_sub(rxr.received) as f64 / txr.sent as f64
    };
    let lat_us = match mode {
        Mode::Udp => {
            let h = &rxr.hist;
            let q = |p: f64| round3(h.value_at_quantile(p) as f64 / 1000.0);
            Some(if h.is_empty() {
                Latency::default()
            } else {
                Latency {
                    p50: q(0.5),
                    p90: q(0.9),
                    p99: q(0.99),
                    p999: q(0.999),
                    max: round3(h.max() as f64 / 1000.0),
                }
            })
        }
        Mode::Syn => None,
    };
    Report {
        mode: match mode {
            Mode::Udp => "udp",
            Mode::Syn => "syn",
        },
        sent: txr.sent,
        received: rxr.received,
        secs: round3(secs),
        tx_pps: per_sec(txr.sent).round(),
        rx_pps: per_sec(rxr.received).round(),
        loss: (loss * 1e6).round() / 1e6,
        lat_us,
        flows: n_flows,
        size: frame_len,
        warmup_sent: txr.warm_sent,
        warmup_received: rxr.warm_received,
        rx_ring_drops: rxr.ring_drops,
        tx_rejected: txr.rejected,
        tx_ring_full: txr.ring_full,
        sink_wait_max_us: round3(rxr.max_waited as f64 / 1000.0),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The TX loop. UDP: cycle over the flows until `end_ns`, stamping each frame
/// with its sequence number and the batch's send time. SYN: each flow once.
/// What the TX loop needs besides its ring and frames.
#[derive(Clone, Copy)]
struct Pace {
    mode: Mode,
    rate: Option<u64>,
    dedicated: bool,
    start: Instant,
    warm_ns: u64,
    end_ns: u64,
}

fn transmit(tx: &mut TxRing, frames: &FrameSet, pace: Pace) -> TxResult {
    let Pace {
        mode,
        rate,
        dedicated,
        start,
        warm_ns,
        end_ns,
    } = pace;
    let batch = rate::batch_for_rate(rate);
    let mut bucket = rate.map(|r| TokenBucket::new(r, TokenBucket::burst_for(r, batch), 0));
    let n_flows = frames.len();
    let (mut sent, mut warm_sent, mut ring_full) = (0u64, 0u64, 0u64);
    let mut seq: u32 = 0;
    let mut flow = 0usize;
    let mut stop_ns;
    loop {
        let now = ns_since(start);
        stop_ns = now.min(end_ns);
        if now >= end_ns || (mode == Mode::Syn && flow >= n_flows) {
            break;
        }
        let mut want = batch;
        if mode == Mode::Syn {
            want = want.min(n_flows - flow);
        }
        if let Some(b) = bucket.as_mut()
            && !b.try_take(want as u64, now)
        {
            let wait = b.wait_ns(want as u64);
            if wait > 200_000 {
                thread::sleep(Duration::from_nanos(wait - 100_000));
            } else if dedicated {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
            continue;
        }
        let n = fill(tx, frames, mode, want, &mut flow, &mut seq, now);
        if n == 0 {
            // Ring full: the kernel has not sent the previous batches yet.
            // (Tokens taken for it are lost: the rate cannot be met anyway.)
            ring_full += 1;
            thread::yield_now();
            continue;
        }
        tx.flush();
        if now >= warm_ns {
            sent += n as u64;
        } else {
            warm_sent += n as u64;
        }
    }
    kick(tx, frames, mode, seq, start, end_ns);
    // UDP: the window is [warm-up end, stop]; SYN: from the start until the
    // last batch went out (the loop's exit time).
    TxResult {
        sent,
        warm_sent,
        window: (warm_ns, stop_ns.max(warm_ns)),
        rejected: tx.rejected,
        ring_full,
    }
}

/// Write up to `want` frames into `tx`'s free slots, from flow `*flow` on
/// (UDP: stamped with sequence numbers from `*seq` and time `now`, cycling over
/// the flows; SYN: each flow once), advancing both; how many.
fn fill(
    tx: &mut TxRing,
    frames: &FrameSet,
    mode: Mode,
    want: usize,
    flow: &mut usize,
    seq: &mut u32,
    now: u64,
) -> usize {
    let len = frames.frame_len();
    let n_flows = frames.len();
    let mut n = 0;
    while n < want {
        let Some(slot) = tx.slot() else { break };
        match mode {
            Mode::Udp => {
                frames.write(*flow, slot);
                frames.stamp(slot, *seq, now);
                *seq = seq.wrapping_add(1);
                *flow += 1;
                if *flow == n_flows {
                    *flow = 0;
                }
            }
            Mode::Syn => {
                frames.write(*flow, slot);
                *flow += 1;
            }
        }
        tx.commit(len);
        n += 1;
    }
    n
}

/// A flush whose sendto() failed (a veth's full backlog: ENOBUFS) leaves the
/// frames behind the failing one queued in the ring until the next sendto(),
/// which only a new commit triggers. Kick twice with a frame the sink ignores
/// (UDP: sequence `seq` stamped at or after the window's end, `end_ns`; SYN: the
/// first flow's SYN with another ISN) so that none of the counted frames stays
/// behind.
fn kick(tx: &mut TxRing, frames: &FrameSet, mode: Mode, seq: u32, start: Instant, end_ns: u64) {
    let len = frames.frame_len();
    for _ in 0..2 {
        thread::sleep(Duration::from_millis(1));
        if let Some(slot) = tx.slot() {
            frames.write(0, slot);
            match mode {
                Mode::Udp => frames.stamp(slot, seq, end_ns.max(ns_since(start))),
                Mode::Syn => frame::untag_syn(slot),
            }
            tx.commit(len);
            tx.flush();
        }
    }
}
