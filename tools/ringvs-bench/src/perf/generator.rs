//! Running programs in the benchmark's namespaces: any one to completion within a
//! time cap ([`run_capped`]), reading the JSON they print, and the traffic
//! generator `ringvs-gen` in a packet lab ([`Gen`]).

use super::options::PerfArgs;
use super::{FRAME, FRAME6, R, SYN_SECS, s};
use ringvs::lab::{Spawned, ns_command};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Run `program args` in `ns` to completion (killed after `cap`); its stdout.
pub(super) fn run_capped(ns: &str, program: &str, args: &[&str], cap: Duration) -> R<String> {
    let mut child = Spawned(
        ns_command(ns, Path::new(program), args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {program}: {e}"))?,
    );
    let mut stdout = child.0.stdout.take().ok_or("no stdout pipe")?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + cap;
    let status = loop {
        if let Some(st) = child.0.try_wait().map_err(s)? {
            break st;
        }
        if Instant::now() >= deadline {
            return Err(format!("{} still running after {cap:?}", args.join(" ")));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader
        .join()
        .map_err(|_| "stdout reader panicked".to_string())?
        .map_err(s)?;
    if !status.success() {
        return Err(format!(
            "`{program} {}` in {ns} exited with {status}; stdout: {}",
            args.join(" "),
            out.trim()
        ));
    }
    Ok(out)
}

/// The last line of `out` that parses as a JSON object.
pub(super) fn last_json(out: &str) -> R<Value> {
    out.lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .ok_or_else(|| format!("no JSON object in output {:?}", out.trim()))
}

pub(super) fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut v = v;
    for k in path {
        v = v.get(*k)?;
    }
    v.as_f64()
}

/// How to drive the generator in a packet lab.
pub(super) struct Gen<'a> {
    pub(super) bin: String,
    pub(super) ns: String,
    pub(super) mac: String,
    pub(super) a: &'a PerfArgs,
}

impl Gen<'_> {
    fn base(&self, mode: &str, dst: &str, flows: u64, rate: Option<u64>, secs: u64) -> Vec<String> {
        let cpu = self.a.gen_cpu.to_string();
        let rate = rate.map_or("max".to_string(), |r| r.max(1).to_string());
        // The smallest frame of the destination's family.
        let size = if dst.starts_with('[') { FRAME6 } else { FRAME };
        [
            "-c",
            &cpu,
            &self.bin,
            mode,
            "--tx-if",
            "g0",
            "--rx-if",
            "s0",
            "--dst-mac",
            &self.mac,
            "--dst",
            dst,
            "--src-net",
            "198.18.0.0/24",
            "--flows",
        ]
        .iter()
        .map(|x| x.to_string())
        .chain([
            flows.to_string(),
            "--size".into(),
            size.into(),
            "--rate".into(),
            rate,
            "--secs".into(),
            secs.to_string(),
            "--tx-core".into(),
            cpu.clone(),
            "--rx-core".into(),
            cpu.clone(),
        ])
        .collect()
    }

    /// One UDP run: the generator's JSON.
    pub(super) fn udp(&self, dst: &str, flows: u64, rate: Option<u64>, secs: u64) -> R<Value> {
        let mut args = self.base("udp", dst, flows, rate, secs);
        args.extend(["--warmup-ms".into(), "200".into(), "--json".into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_capped(&self.ns, "taskset", &argv, Duration::from_secs(secs + 30))?;
        last_json(&out)
    }

    /// One SYN per flow to `dst`; what the generator says it sent.
    pub(super) fn syn(&self, dst: &str, flows: u64, rate: u64) -> R<u64> {
        let secs = (flows / rate.max(1) + 5).min(SYN_SECS);
        let mut args = self.base("syn", dst, flows, Some(rate), secs);
        args.push("--json".into());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_capped(
            &self.ns,
            "taskset",
            &argv,
            Duration::from_secs(SYN_SECS + 30),
        )?;
        if let Ok(v) = last_json(&out) {
            for k in ["sent", "count", "syns"] {
                if let Some(n) = v.get(k).and_then(Value::as_u64) {
                    return Ok(n);
                }
            }
        }
        out.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("no count in `ringvs-gen syn` output {:?}", out.trim()))
    }
}
