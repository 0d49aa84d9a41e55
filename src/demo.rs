//! `ringvs demo`: the seed's LVS-NAT walk-through, in network namespaces.
//!
//! Builds client, director and two real servers (each running ringvs's own tiny
//! HTTP server), starts the director with two workers, configures it with the
//! seed's ipvsadm commands through `ringvs adm`, makes HTTP requests from the
//! client to the VIP and prints the bodies and `ipvsadm -L -n`. Everything it made
//! is deleted on the way out, also on error or Ctrl-C.

use ringvs::lab::{self, Lab};
use ringvs::proto::{self, Command};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub fn run(requests: usize, show_stats: bool, xdp: bool) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("demo: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    match demo(requests, show_stats, xdp, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(stop: &AtomicBool) -> Result<(), String> {
    if stop.load(Ordering::Relaxed) {
        Err("interrupted; cleaning up".into())
    } else {
        Ok(())
    }
}

fn adm(control: &Path, args: &[&str]) -> Result<String, String> {
    println!("# ringvs adm {}", args.join(" "));
    proto::adm(control, args)
}

fn demo(requests: usize, show_stats: bool, xdp: bool, stop: &AtomicBool) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let tag = Lab::unique_tag();
    println!("Building the lab (namespaces rv{tag}-*): client 198.18.0.1, VIP 198.18.0.110,");
    println!("director DIP 198.19.0.1, real servers rs1 198.19.0.2 and rs2 198.19.0.3.");
    let mut lab = Lab::build(&tag).map_err(|e| e.to_string())?;
    step(stop)?;
    lab.start_http_servers(&exe).map_err(|e| e.to_string())?;
    step(stop)?;
    let control = PathBuf::from(format!("/run/ringvs-demo-{tag}.sock"));
    let (workers, io) = if xdp { ("1", "xdp") } else { ("2", "packet") };
    lab.start_director(&exe, &control, &["--workers", workers, "--io", io])
        .map_err(|e| e.to_string())?;
    println!(
        "Director running in rv{tag}-dir with {workers} worker(s) on {io} I/O; control socket {}",
        control.display()
    );
    step(stop)?;

    let vip = format!("{}:80", lab::VIP);
    adm(&control, &["-A", "-t", &vip, "-s", "rr"])?;
    for n in 1..=2 {
        let rip = format!("{}:80", lab::rs_addr(n));
        adm(&control, &["-a", "-t", &vip, "-r", &rip, "-m"])?;
    }
    step(stop)?;

    println!("# from the client namespace: {requests} x GET http://{vip}/");
    let count = requests.to_string();
    let mut client = lab::ns_command(
        &lab.ns_client(),
        &exe,
        &["http-get", &vip, "--count", &count],
    )
    .stdout(Stdio::piped())
    .spawn()
    .map_err(|e| format!("running the client: {e}"))?;
    // Print the bodies as they come; stop the client if we are interrupted.
    let stdout = client.stdout.take();
    let printer = std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
            }
        }
    });
    let status = loop {
        if let Some(st) = client.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if stop.load(Ordering::Relaxed) {
            let _ = client.kill();
            let _ = client.wait();
            let _ = printer.join();
            return Err("interrupted; cleaning up".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = printer.join();
    step(stop)?;
    print!("{}", adm(&control, &["-L", "-n"])?);
    if show_stats {
        println!("# ringvs stats");
        let r = proto::call(&control, Command::Stats { json: false })?;
        print!("{}", r.out);
    }
    if !status.success() {
        return Err("some requests failed".into());
    }
    println!("Cleaning up the lab.");
    Ok(())
}
