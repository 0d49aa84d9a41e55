//! Waiting for a director's counters to settle, shared by the namespace
//! harnesses (`nslab`, `dr`).

use serde_json::Value;
use std::time::{Duration, Instant};

/// The frames received and sent over all workers in a `stats --json`.
fn frames(v: &Value) -> [u64; 4] {
    ["rx_ext", "rx_int", "tx_ext", "tx_int"].map(|k| {
        v["workers"]
            .as_array()
            .map_or(0, |w| w.iter().map(|x| x[k].as_u64().unwrap_or(0)).sum())
    })
}

/// `read()` (a `stats --json`) once the workers' counters have settled:
/// two reads 50 ms apart show the same frames received and sent. A worker
/// publishes its counters after each idle pass, so a frame still in flight
/// moves them; at most 5 s, then the last read.
pub fn settled(read: impl Fn() -> Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = read();
        if frames(&now) == frames(&last) || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}
