//! Workers' batch times ([`BatchRecorder`], published as [`BatchLatency`])
//! and their percentiles ([`batch_summary`]), for `ringvs stats`.

/// Largest batch time a histogram tells apart (longer ones count as this), ns.
pub const BATCH_MAX_NS: u64 = 10_000_000_000;

fn batch_histogram() -> hdrhistogram::Histogram<u64> {
    // Bounds are constants, so this cannot fail; fall back to auto-resizing anyway.
    hdrhistogram::Histogram::new_with_bounds(1, BATCH_MAX_NS, 3)
        .or_else(|_| hdrhistogram::Histogram::new(3))
        .unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
}

/// The time a worker spends on a non-empty batch (one pass of its loop that
/// handled frames), recorded by the worker into its own histogram (sized up front:
/// recording never allocates) and copied into [`BatchLatency`] once a second.
pub struct BatchRecorder(hdrhistogram::Histogram<u64>);

impl Default for BatchRecorder {
    fn default() -> Self {
        Self(batch_histogram())
    }
}

impl BatchRecorder {
    #[inline]
    pub fn record(&mut self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(ns.clamp(1, BATCH_MAX_NS));
    }

    /// Copy into the published slot, unless the control thread is reading it right
    /// now (then the next second's copy will do): the worker never waits.
    pub fn publish(&self, to: &BatchLatency) {
        if let Ok(mut h) = to.0.try_lock() {
            h.reset();
            // Same bounds on both sides: adding cannot fail or allocate.
            let _ = h.add(&self.0);
        }
    }
}

/// A worker's published batch-time histogram (see [`BatchRecorder`]).
pub struct BatchLatency(std::sync::Mutex<hdrhistogram::Histogram<u64>>);

impl Default for BatchLatency {
    fn default() -> Self {
        Self(std::sync::Mutex::new(batch_histogram()))
    }
}

impl std::fmt::Debug for BatchLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchLatency")
    }
}

/// Percentiles of batch times, in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BatchSummary {
    pub batches: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl BatchLatency {
    /// A copy of the histogram as last published.
    pub fn snapshot(&self) -> hdrhistogram::Histogram<u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Summarize histograms (one worker's, or several merged).
pub fn batch_summary<'a>(
    hs: impl IntoIterator<Item = &'a hdrhistogram::Histogram<u64>>,
) -> BatchSummary {
    let mut all = batch_histogram();
    for h in hs {
        let _ = all.add(h);
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    if all.is_empty() {
        return BatchSummary::default();
    }
    BatchSummary {
        batches: all.len(),
        p50_us: us(all.value_at_quantile(0.5)),
        p99_us: us(all.value_at_quantile(0.99)),
        p999_us: us(all.value_at_quantile(0.999)),
        max_us: us(all.max()),
    }
}
