//! In-memory queues with the ring interface, for tests and fixtures.
//!
//! A test pushes frames into a [`MemRx`], runs the worker, and reads what the
//! worker sent from [`MemTx::sent`]. `flush` moves committed frames to `sent`, so a
//! test also sees whether the worker kicked its TX queues.

use super::{RxFrame, RxMeta, RxQueue, TxQueue};
use std::collections::VecDeque;
use std::os::fd::RawFd;

/// Largest frame a [`MemTx`] slot holds, like a 2 KiB ring frame.
pub const SLOT_LEN: usize = 2048 - 32;

#[derive(Debug, Default)]
pub struct MemRx {
    queue: VecDeque<(Vec<u8>, RxMeta)>,
    /// Pretend kernel drops, reported by `take_kernel_drops`.
    pub kernel_drops: u64,
}

impl MemRx {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a complete frame (checksums complete, not truncated).
    pub fn push(&mut self, frame: &[u8]) {
        let meta = RxMeta {
            wire_len: frame.len() as u32,
            ..RxMeta::default()
        };
        self.push_with(frame, meta);
    }

    /// Queue a frame with explicit ring metadata (partial checksum, truncation...).
    pub fn push_with(&mut self, frame: &[u8], meta: RxMeta) {
        self.queue.push_back((frame.to_vec(), meta));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl RxQueue for MemRx {
    fn peek(&mut self) -> Option<RxFrame<'_>> {
        self.queue
            .front()
            .map(|(data, meta)| RxFrame { data, meta: *meta })
    }

    fn advance(&mut self) {
        self.queue.pop_front();
    }

    fn peek_ahead(&self, k: usize) -> Option<&[u8]> {
        self.queue.get(k).map(|(data, _)| &data[..])
    }

    fn poll_fd(&self) -> Option<RawFd> {
        None
    }

    fn take_kernel_drops(&mut self) -> u64 {
        std::mem::take(&mut self.kernel_drops)
    }
}

#[derive(Debug)]
pub struct MemTx {
    slot: Vec<u8>,
    committed: Vec<Vec<u8>>,
    /// Frames handed to the "kernel" by `flush`, oldest first.
    pub sent: Vec<Vec<u8>>,
    /// How many frames may be committed before `slot` reports the ring full.
    pub capacity: usize,
}

impl Default for MemTx {
    fn default() -> Self {
        Self {
            slot: vec![0; SLOT_LEN],
            committed: Vec::new(),
            sent: Vec::new(),
            capacity: 256,
        }
    }
}

impl MemTx {
    pub fn new() -> Self {
        Self::default()
    }

    /// Take everything sent so far.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }
}

impl TxQueue for MemTx {
    fn slot(&mut self) -> Option<&mut [u8]> {
        if self.committed.len() >= self.capacity {
            return None;
        }
        Some(&mut self.slot)
    }

    fn commit(&mut self, len: usize) {
        self.committed.push(self.slot[..len].to_vec());
        // Poison the slot so a test notices a frame built on stale bytes.
        self.slot.fill(0xa5);
    }

    fn flush(&mut self) -> usize {
        let n = self.committed.len();
        self.sent.append(&mut self.committed);
        n
    }
}
