//! `ringvs top`: a live view of per-service and per-real-server rates (the
//! director's `-L -n --rate`) and of the drops per second by reason, refreshed
//! every second. Everything comes through the control socket.

use crate::proto::{self, Command};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Drop counters summed over the workers and the control thread, by name,
/// and the frames the workers received.
fn drops(socket: &Path) -> Result<(BTreeMap<String, u64>, u64), String> {
    let r = proto::call(socket, Command::Stats { json: true })?;
    // A refusal (`director busy: too many control clients`) is the
    // director's own words, not stats to parse.
    if r.code != 0 {
        return Err(r.err.trim_end().to_string());
    }
    let v: serde_json::Value =
        serde_json::from_str(&r.out).map_err(|e| format!("bad stats from the director: {e}"))?;
    Ok(drops_of(&v))
}

/// [`drops`] of `ringvs stats --json`'s answer `v`: every worker's drops and
/// the control thread's (`control`: an announcement its ring had no slot
/// for, `drop_tx_full`), as `ringvs stats` totals them.
fn drops_of(v: &serde_json::Value) -> (BTreeMap<String, u64>, u64) {
    let mut m = BTreeMap::new();
    let mut rx = 0;
    let workers = v["workers"].as_array().into_iter().flatten();
    for (w, control) in workers.map(|w| (w, false)).chain([(&v["control"], true)]) {
        for (k, n) in w.as_object().into_iter().flatten() {
            let n = n.as_u64().unwrap_or(0);
            if k.starts_with("drop_")
                || [
                    "kernel_drop",
                    "capture_dropped",
                    "trace_dropped",
                    "xdp_bad_addr",
                    "xdp_fill_empty",
                    "xdp_tx_invalid",
                    "tx_rejected",
                ]
                .contains(&k.as_str())
            {
                *m.entry(k.clone()).or_insert(0) += n;
            }
            if !control && (k == "rx_ext" || k == "rx_int") {
                rx += n;
            }
        }
    }
    (m, rx)
}

/// One frame: the rate listing, then frames/s and drops/s over `secs`.
fn frame(
    socket: &Path,
    before: &(BTreeMap<String, u64>, u64),
    after: &(BTreeMap<String, u64>, u64),
    secs: f64,
) -> Result<String, String> {
    let list = proto::adm(socket, &["-L", "-n", "--rate"])?;
    let mut out = list;
    let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / secs.max(0.001);
    out.push_str(&format!(
        "\nframes received/s {:.0}\n",
        rate(after.1, before.1)
    ));
    out.push_str("drops/s by reason (total since start):\n");
    let mut any = false;
    for (k, &n) in &after.0 {
        let r = rate(n, before.0.get(k).copied().unwrap_or(0));
        if n > 0 {
            any = true;
            out.push_str(&format!("  {k:<24} {r:>10.1} ({n})\n"));
        }
    }
    if !any {
        out.push_str("  none\n");
    }
    Ok(out)
}

/// Run until interrupted (or one frame with `once`, measured over one second).
pub fn run(socket: &Path, once: bool, out: &mut dyn Write) -> Result<(), String> {
    let mut before = drops(socket)?;
    let mut t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let after = drops(socket)?;
        let t1 = Instant::now();
        let text = frame(socket, &before, &after, t1.duration_since(t0).as_secs_f64())?;
        let w = |e: std::io::Error| format!("writing: {e}");
        if once {
            out.write_all(text.as_bytes()).map_err(w)?;
            return out.flush().map_err(w);
        }
        // Home the cursor and clear, as `watch` does.
        out.write_all(b"\x1b[H\x1b[2J").map_err(w)?;
        out.write_all(text.as_bytes()).map_err(w)?;
        out.flush().map_err(w)?;
        before = after;
        t0 = t1;
    }
}

#[cfg(test)]
mod tests {
    /// The control thread's drops (`control.drop_tx_full`) count in
    /// `top`'s drops by reason, beside the workers', as in `ringvs stats`'
    /// total; its counters are no frames received.
    #[test]
    fn the_control_threads_drops_are_counted() {
        let v = serde_json::json!({
            "workers": [
                {"rx_ext": 10, "rx_int": 5, "drop_tx_full": 2, "drop_no_conn": 1, "fwd_in": 9},
                {"rx_ext": 1, "rx_int": 0, "drop_tx_full": 0, "tx_rejected": 4},
            ],
            "control": {"drop_tx_full": 3, "mld_report": 7, "rx_ext": 100},
        });
        let (m, rx) = super::drops_of(&v);
        let want = [("drop_no_conn", 1), ("drop_tx_full", 5), ("tx_rejected", 4)];
        let want: super::BTreeMap<String, u64> =
            want.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        assert_eq!((m, rx), (want, 16));
    }

    /// A director that refuses (16 clients already) is relayed as it says
    /// it, not as stats that do not parse.
    #[test]
    fn a_refusal_is_relayed() {
        use std::io::{BufRead, BufReader, Write};
        let dir = std::env::temp_dir().join(format!("ringvs-top-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("busy.sock");
        let _ = std::fs::remove_file(&path);
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let busy = std::thread::spawn(move || {
            let (c, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&c).read_line(&mut line).unwrap();
            assert!(line.contains(r#""cmd":"stats""#), "{line}");
            let answer = r#"{"code":1,"out":"","err":"director busy: too many control clients\n"}"#;
            (&c).write_all(format!("{answer}\n").as_bytes()).unwrap();
        });
        let mut out = Vec::new();
        let e = super::run(&path, true, &mut out).unwrap_err();
        assert_eq!(e, "director busy: too many control clients");
        assert!(out.is_empty());
        busy.join().unwrap();
        let _ = std::fs::remove_file(&path);
    }
}
