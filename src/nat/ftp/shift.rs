//! The sequence shift of the FTP helper (`super`): how far one direction's
//! byte stream has moved after rewrites that changed its length.

/// `a` is after `b` in sequence space.
#[inline]
pub(super) fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// How far one direction's byte stream has moved after rewrites that
/// changed its length: by `prev` up to and including the segment at `init`
/// (the last rewritten one), by `delta` after it. As `ip_vs_app.c`
/// (`vs_fix_seq`, `vs_seq_update`) and `nf_conntrack_seqadj.c`
/// (`nf_ct_seq_adjust`, which also maps the other side's acknowledgements
/// and SACK blocks back); positions are in the sender's numbering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shift {
    init: u32,
    delta: i32,
    prev: i32,
    set: bool,
}

impl Shift {
    pub fn is_zero(&self) -> bool {
        self.delta == 0 && self.prev == 0
    }

    /// A segment of the sender's at `seq`: where the receiver sees it.
    pub fn seq(&self, seq: u32) -> u32 {
        let d = if after(seq, self.init) {
            self.delta
        } else {
            self.prev
        };
        seq.wrapping_add_signed(d)
    }

    /// The receiver's acknowledgement (or SACK edge) `ack`: in the sender's
    /// numbering.
    pub fn ack(&self, ack: u32) -> u32 {
        // Wrapping negations: a synced shift may hold any value.
        let d = if after(ack.wrapping_add_signed(self.prev.wrapping_neg()), self.init) {
            self.delta
        } else {
            self.prev
        };
        ack.wrapping_add_signed(d.wrapping_neg())
    }

    /// What connection sync carries of it (IPVS's `struct ip_vs_seq`:
    /// `init_seq`, `delta`, `previous_delta`), or `None` while nothing was
    /// ever rewritten (IPVS's `IP_VS_CONN_F_OUT_SEQ` unset).
    pub fn parts(&self) -> Option<(u32, i32, i32)> {
        self.set.then_some((self.init, self.delta, self.prev))
    }

    /// The shift a synced entry carried ([`Shift::parts`]), as IPVS's
    /// backup takes it into its connection (`ip_vs_proc_conn`).
    pub fn from_parts(init: u32, delta: i32, prev: i32) -> Self {
        Self {
            init,
            delta,
            prev,
            set: true,
        }
    }

    /// The segment at `seq` (sender's numbering) changed length by `diff`:
    /// later segments move by that much more. A segment not after the last
    /// rewritten one (a retransmission) moves nothing again.
    pub fn update(&mut self, seq: u32, diff: i32) {
        if diff == 0 || (self.set && !after(seq, self.init)) {
            return;
        }
        self.prev = self.delta;
        self.delta = self.delta.wrapping_add(diff);
        self.init = seq;
        self.set = true;
    }
}
