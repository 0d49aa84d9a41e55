//! `udp_client.py MODE ADDR PORT N` (tests/data/dr) run in a client's
//! namespace, shared by the lab helpers (`tests/nslab`, `tests/dr`).

use ringvs::lab::ns_command;
use std::path::Path;
use std::process::Stdio;

/// `script MODE ADDR PORT N` in namespace `ns`: the lines it printed (it
/// must succeed).
pub fn lines(
    ns: &str,
    script: &Path,
    (mode, addr): (&str, &str),
    port: u16,
    n: usize,
) -> Vec<String> {
    let (script, port, n) = (
        script.display().to_string(),
        port.to_string(),
        n.to_string(),
    );
    let out = ns_command(ns, Path::new("python3"), &[&script, mode, addr, &port, &n])
        .stdin(Stdio::null())
        .output()
        .expect("run udp_client.py");
    assert!(
        out.status.success(),
        "udp_client.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
