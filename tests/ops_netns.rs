//! One-packet scheduling (`ipvsadm -o`) with kernel endpoints: a client
//! sends eight datagrams from one connected UDP socket (one source port; its
//! kernel takes only answers from the VIP and port it sent to) to a `-o`
//! service of two NAT real servers. Each datagram is scheduled on its own (rr
//! alternates), none leaves a connection, and every answer comes back from
//! the VIP (`src/dataplane/ops.rs`). `-E` without `-o` then makes the same
//! socket one connection again: every answer from one server.
//!
//! Two workers on AF_PACKET, IPv4 and IPv6. Needs root and `ip netns`; under
//! `CI=true` a missing capability fails the test.

mod nslab;
use nslab::{NsDirector, Scenario, adm, stats, total};
use ringvs::lab;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const PORT: u16 = 5353;
const REQUESTS: usize = 8;
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr");

/// `udp_echo.py` on both real servers, named rs1 and rs2, bound to every
/// address of `any`'s family; returns once both are bound.
fn start_echo(lab: &mut lab::Lab, any: &str) {
    let script = Path::new(DATA).join("udp_echo.py").display().to_string();
    for n in 1..=2 {
        let (name, port) = (format!("rs{n}"), PORT.to_string());
        lab.spawn_in(
            &lab.ns_rs(n),
            Path::new("python3"),
            &[&script, any, &port, &name, "60"],
        )
        .expect("start udp_echo.py");
    }
}

fn wait_bound(lab: &lab::Lab) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for n in 1..=2 {
        loop {
            let out = lab::ns_command(&lab.ns_rs(n), Path::new("ss"), &["-Hunl"])
                .output()
                .expect("ss");
            if String::from_utf8_lossy(&out.stdout).contains(&format!(":{PORT}")) {
                break;
            }
            assert!(Instant::now() < deadline, "udp_echo.py on rs{n} not bound");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The answers to `REQUESTS` datagrams from one connected socket.
fn ask_from_one_port(lab: &lab::Lab, vip: &str) -> Vec<String> {
    let script = Path::new(DATA).join("udp_client.py").display().to_string();
    let (port, n) = (PORT.to_string(), REQUESTS.to_string());
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &[&script, "one", vip, &port, &n],
    )
    .stdin(Stdio::null())
    .output()
    .expect("udp_client.py");
    assert!(
        out.status.success(),
        "udp_client.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn one_packet_scheduling(tag: &'static str, v6: bool) {
    let (vip, rs, any) = if v6 {
        let rs = [lab::rs_addr6(1), lab::rs_addr6(2)].map(|a| format!("[{a}]"));
        (format!("[{}]", lab::VIP6), rs, "::")
    } else {
        let rs = ["198.19.0.2", "198.19.0.3"].map(str::to_owned);
        (lab::VIP.to_string(), rs, "0.0.0.0")
    };
    let svc = format!("{vip}:{PORT}");
    let rules = format!(
        "-A -u {svc} -s rr -o\n-a -u {svc} -r {}:{PORT} -m\n-a -u {svc} -r {}:{PORT} -m\n",
        rs[0], rs[1]
    );
    let mut scenario = Scenario::new(tag)
        .needs(&["python3", "ss"])
        .workers(2)
        .before_director(move |lab| start_echo(lab, any))
        .rules(&rules);
    if v6 {
        scenario = scenario.ipv6();
    }
    let Some(NsDirector { lab, control }) = scenario.start() else {
        return;
    };
    wait_bound(&lab);
    let client_vip = if v6 {
        lab::VIP6.to_string()
    } else {
        vip.clone()
    };
    let listed = adm(&control, &["-L", "-n", "-u", &svc]);
    assert!(listed.contains(" rr ops\n"), "{listed}");

    let before = stats(&control);
    let answers = ask_from_one_port(&lab, &client_vip);
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    eprintln!(
        "OPS-MEASURE {tag}: answers {answers:?} ops_scheduled=+{} conn_new=+{} fwd_in=+{} fwd_out=+{} drop_no_conn=+{}",
        d("ops_scheduled"),
        d("conn_new"),
        d("fwd_in"),
        d("fwd_out"),
        d("drop_no_conn"),
    );
    // Every answer came back, from the VIP (the connected socket takes no
    // other), and rr alternated datagram by datagram.
    assert_eq!(answers.len(), REQUESTS, "{answers:?}");
    let want: Vec<String> = (0..REQUESTS)
        .map(|i| format!("rs{} 32", 1 + (i + usize::from(answers[0] == "rs2 32")) % 2))
        .collect();
    assert_eq!(answers, want, "one datagram, one scheduling");
    assert_eq!(d("ops_scheduled"), REQUESTS as u64);
    assert_eq!((d("fwd_in"), d("fwd_out")), (8, 8));
    assert_eq!(d("conn_new"), 0, "no connection");
    assert_eq!(d("drop_no_conn"), 0);
    let conns = adm(&control, &["-L", "-n", "-c"]);
    assert_eq!(conns.lines().count(), 2, "no entry in -L -c: {conns}");

    // The same socket without -o: one connection, one server.
    adm(&control, &["-E", "-u", &svc, "-s", "rr"]);
    let listed = adm(&control, &["-L", "-n", "-u", &svc]);
    assert!(!listed.contains("ops"), "{listed}");
    let answers = ask_from_one_port(&lab, &client_vip);
    assert_eq!(answers.len(), REQUESTS);
    assert!(
        answers.iter().all(|a| a == &answers[0]) && answers[0].ends_with(" 32"),
        "every answer from one server: {answers:?}"
    );
}

#[test]
fn datagrams_from_one_port_are_scheduled_one_by_one() {
    one_packet_scheduling("ops", false);
}

#[test]
fn ipv6_datagrams_from_one_port_are_scheduled_one_by_one() {
    one_packet_scheduling("ops6", true);
}
