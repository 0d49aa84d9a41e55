//! The connections-per-second test: TCP connections through the director in the
//! namespace [`Lab`] (client, director, switch, two real servers running
//! `serve-http`), made by `ringvs-gen tcp-cps`.

use super::generator::{last_json, num, run_capped};
use super::options::{Datapath, PerfArgs};
use super::setup::{rps, start_datapath, sysctl};
use super::{Figures, R, put, s};
use ringvs::lab::{EXT_ADDR_CIDR, HTTP_READY_TIMEOUT, Lab, LabOptions, ip, listens_on};
use std::path::Path;
use std::time::{Duration, Instant};

/// TCP connections per second through the director, in the namespace [`Lab`];
/// IPv4 only (an IPv6 datapath records none).
pub(super) fn cps_test(exe: &Path, a: &PerfArgs, dp: Datapath, f: &mut Figures) -> R<()> {
    if a.no_cps || dp.ipv6() {
        return Ok(());
    }
    let tag = Lab::unique_tag();
    let lab = cps_lab(exe, a, dp, &tag)?;
    wait_for_servers(&lab)?;
    let (cli, dns) = (lab.ns_client(), lab.ns_director());
    let _dir = start_datapath(exe, &dns, &tag, dp, a, None)?;
    let dst = dp.tcp_dst();
    let threads = a.cps_threads.to_string();
    let secs = a.secs.to_string();
    // Warm-up: ARP everywhere.
    let _ = tcp_cps(&cli, a, &dst, "1", "1", Duration::from_secs(30));
    let out = tcp_cps(
        &cli,
        a,
        &dst,
        &threads,
        &secs,
        Duration::from_secs(a.secs + 30),
    )?;
    let v = last_json(&out)?;
    put(f, "cps", num(&v, &["cps"]));
    put(
        f,
        "cps_failed",
        num(&v, &["failures"]).or(num(&v, &["failed"])),
    );
    eprintln!(
        "#   {:<16} cps {:.0} (failed {})",
        dp.name(),
        num(&v, &["cps"]).unwrap_or(-1.0),
        num(&v, &["failures"])
            .or(num(&v, &["failed"]))
            .unwrap_or(-1.0)
    );
    Ok(())
}

/// The lab of the test, with `serve-http` started in the real servers, the
/// receive work steered (the director's NICs to its CPU, the rest to the
/// generator's), the client ready for many connections and, for `--io-only`, a
/// route to the real servers through the director.
fn cps_lab(exe: &Path, a: &PerfArgs, dp: Datapath, tag: &str) -> R<Lab> {
    // Complete checksums from the client and the servers: --io-only forwards
    // frames as they are and would pass partial ones on unfinished.
    let opts = LabOptions {
        client_tx_csum: false,
        rs_tx_csum: false,
        queues: dp.queues(),
        ..LabOptions::default()
    };
    let mut lab = Lab::build_with(tag, opts).map_err(s)?;
    let gcpu = a.gen_cpu.to_string();
    let (cli, dns, sw) = (lab.ns_client(), lab.ns_director(), lab.ns_switch());
    for n in 1..=lab.n_real_servers() {
        let ns = lab.ns_rs(n);
        let body = format!("i am rs{n}");
        let exe_s = exe.display().to_string();
        let args = [
            "-c",
            &gcpu,
            &exe_s,
            "serve-http",
            "--listen",
            "0.0.0.0:80",
            "--body",
            &body,
            "--max-secs",
            "300",
        ];
        lab.spawn_in(&ns, Path::new("taskset"), &args).map_err(s)?;
        rps(&ns, "eth0", a.gen_cpu)?;
        rps(&sw, &format!("rs{n}"), a.gen_cpu)?;
    }
    rps(&sw, "d0", a.gen_cpu)?;
    rps(&cli, "c0", a.gen_cpu)?;
    rps(&dns, "ext0", a.dir_cpu)?;
    rps(&dns, "int0", a.dir_cpu)?;
    sysctl(&cli, "net.ipv4.ip_local_port_range=1024 65535")?;
    sysctl(&cli, "net.ipv4.tcp_tw_reuse=1")?;
    if dp.io_only() {
        // No VIP: the client reaches the real servers through the director.
        let via = EXT_ADDR_CIDR.split('/').next().unwrap_or_default();
        ip(&["-n", &cli, "route", "add", "198.19.0.0/24", "via", via]).map_err(s)?;
    }
    Ok(lab)
}

/// Wait until every real server's `serve-http` listens on port 80.
fn wait_for_servers(lab: &Lab) -> R<()> {
    let start = Instant::now();
    for n in 1..=lab.n_real_servers() {
        while !listens_on(&lab.ns_rs(n), 80).map_err(s)? {
            if start.elapsed() > HTTP_READY_TIMEOUT {
                return Err(format!("serve-http in {} not listening", lab.ns_rs(n)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// `ringvs-gen tcp-cps` to `dst` from the client namespace `cli`, on the
/// generator's CPU, with `threads` threads for `secs` seconds (killed after
/// `cap`); its output.
fn tcp_cps(
    cli: &str,
    a: &PerfArgs,
    dst: &str,
    threads: &str,
    secs: &str,
    cap: Duration,
) -> R<String> {
    let gcpu = a.gen_cpu.to_string();
    let genb = a.generator.display().to_string();
    run_capped(
        cli,
        "taskset",
        &[
            "-c",
            &gcpu,
            &genb,
            "tcp-cps",
            "--dst",
            dst,
            "--threads",
            threads,
            "--secs",
            secs,
            "--json",
        ],
        cap,
    )
}
