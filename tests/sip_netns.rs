//! The SIP persistence engine (`ipvsadm --pe sip`, IPVS's `ip_vs_pe_sip`)
//! with kernel endpoints: a client sends SIP requests over UDP for four calls
//! (four Call-IDs), each from sixteen sockets (sixteen source ports, spread
//! over the director's two workers by the fanout), to a service with `-p 60 -o
//! --pe sip` on two NAT real servers that answer with their name. Every
//! request of a call reaches the same server, whatever its port and worker;
//! rr spreads the calls; a request without a Call-ID is not scheduled
//! (`drop_no_callid`). Without `--pe sip` (`-E`), one client's requests all
//! share its one template: one server for every call.
//!
//! A second test has the callee hang up (IPVS's `conn_out`): its BYE
//! reaches the client from the VIP, the client's answer comes back to it,
//! and the call's next requests go to it.
//!
//! Two workers on AF_PACKET. Needs root and `ip netns`; under `CI=true` a
//! missing capability fails the test.

mod nslab;
use nslab::{NsDirector, Scenario, adm, stats, total};
use ringvs::lab::{self, Lab};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const PORT: u16 = 5060;
const CALLS: usize = 4;
/// Source ports per call: the fanout puts each on a worker by a hash of
/// its flow, so with 16 both workers see some but once in 2^15 runs.
const SOCKETS: usize = 16;

/// `sip_client.py` from the client: each call's set of answering servers,
/// and the answer to the request without a Call-ID.
fn calls(lab: &Lab) -> (BTreeMap<usize, BTreeSet<String>>, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr/sip_client.py");
    let vip = lab::VIP.to_string();
    let (port, n, k) = (PORT.to_string(), CALLS.to_string(), SOCKETS.to_string());
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &[script, &vip, &port, &n, &k],
    )
    .stdin(std::process::Stdio::null())
    .output()
    .expect("run sip_client.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("SIP-MEASURE lines:\n{text}");
    let mut by_call: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut nocallid = String::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["call", k, _port, server, ..] => {
                let k: usize = k.parse().expect("call number");
                by_call.entry(k).or_default().insert((*server).to_owned());
            }
            ["nocallid", rest @ ..] => nocallid = rest.join(" "),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    (by_call, nocallid)
}

#[test]
fn a_calls_requests_reach_one_server_from_any_port_and_worker() {
    let svc = format!("{}:{PORT}", lab::VIP);
    let rules = format!(
        "-A -u {svc} -s rr -p 60 -o --pe sip\n-a -u {svc} -r 198.19.0.2:{PORT} -m\n\
         -a -u {svc} -r 198.19.0.3:{PORT} -m\n"
    );
    let scenario = Scenario::new("sip").workers(2).rules(&rules);
    let Some(NsDirector { lab, control }) = scenario.start_with_udp_echo("0.0.0.0", PORT, false)
    else {
        return;
    };
    let listed = adm(&control, &["-L", "-n", "-u", &svc]);
    assert!(
        listed.contains(" rr persistent 60 pe sip ops\n"),
        "{listed}"
    );

    let before = stats(&control);
    let (by_call, nocallid) = calls(&lab);
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    let per_worker = nslab::per_worker(&after, "ops_scheduled");
    eprintln!(
        "SIP-MEASURE by_call={by_call:?} nocallid={nocallid:?} ops_scheduled=+{} per_worker={per_worker:?} drop_no_callid=+{} conn_new=+{}",
        d("ops_scheduled"),
        d("drop_no_callid"),
        d("conn_new"),
    );
    assert_eq!(by_call.len(), CALLS);
    for (k, servers) in &by_call {
        assert_eq!(servers.len(), 1, "call {k} answered by {servers:?}");
        assert!(
            servers.iter().all(|s| s.starts_with("rs")),
            "call {k}: {servers:?}"
        );
    }
    let used: BTreeSet<&String> = by_call.values().flatten().collect();
    assert_eq!(used.len(), 2, "rr over the calls: {by_call:?}");
    assert_eq!(d("ops_scheduled"), (CALLS * SOCKETS) as u64);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both workers scheduled datagrams: {per_worker:?}"
    );
    assert_eq!(nocallid, "timeout");
    assert_eq!(d("drop_no_callid"), 1);
    assert_eq!(d("conn_new"), 0, "-o: no connection");

    // Without the engine, the client's one template sends every call to
    // one server.
    adm(&control, &["-E", "-u", &svc, "-s", "rr", "-p", "60", "-o"]);
    let (by_call, nocallid) = calls(&lab);
    let used: BTreeSet<&String> = by_call.values().flatten().collect();
    assert_eq!(used.len(), 1, "one template for the client: {by_call:?}");
    assert_ne!(nocallid, "timeout", "scheduled without the engine");
}

/// The lines `lines` holds now.
fn lines_now(lines: &nslab::StampedLines<()>) -> Vec<String> {
    let l = lines.lock().expect("lines");
    l.iter().map(|(_, s)| s.clone()).collect()
}

/// Polls `f` over the lines of `lines` every 50 ms for `limit` at most.
fn wait_lines(
    lines: &nslab::StampedLines<()>,
    limit: std::time::Duration,
    f: impl Fn(&[String]) -> bool,
) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if f(&lines_now(lines)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// IPVS's `conn_out` with kernel endpoints, on a service without `-o`
/// through two workers: the callee (rs2) hangs up with a BYE from its port
/// 5060 to the client's 5070, which no connection holds. It reaches the
/// client from the VIP; the client's 200 OK, sent back to the VIP from
/// 5070, reaches rs2 through the connection the BYE made (on the worker
/// that owns the client's port, whichever NIC the packet came in on); and
/// the call's next requests, each from a new port, all go to rs2 by the
/// template the BYE put there.
#[test]
fn a_callees_bye_reaches_the_client_from_the_vip_and_brings_the_call_back() {
    let svc = format!("{}:{PORT}", lab::VIP);
    let rules = format!(
        "-A -u {svc} -s rr -p 60 --pe sip\n-a -u {svc} -r 198.19.0.2:{PORT} -m\n\
         -a -u {svc} -r 198.19.0.3:{PORT} -m\n"
    );
    let scenario = Scenario::new("sipout")
        .workers(2)
        .needs(&["python3", "ss"])
        .rules(&rules);
    let Some(NsDirector { mut lab, control }) = scenario.start() else {
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr/sip_callee.py");
    let trigger = |n: usize| {
        let name = format!("ringvs-sipout-{}-rs{n}", std::process::id());
        std::env::temp_dir().join(name)
    };
    let mut rs_lines = Vec::new();
    for n in 1..=2 {
        let _ = std::fs::remove_file(trigger(n));
        let (name, t) = (format!("rs{n}"), trigger(n).display().to_string());
        let port = PORT.to_string();
        let args = [script, "rs", &name, &port, &t, "30"];
        let cmd = lab::ns_command(&lab.ns_rs(n), Path::new("python3"), &args);
        rs_lines.push(nslab::spawn_collecting(&mut lab, cmd, |_| ()));
    }
    nslab::wait_udp_bound(&lab, PORT);
    let before = stats(&control);
    let vip = lab::VIP.to_string();
    let args = [script, "ua", &vip, "5060", "5070", "4"];
    let cmd = lab::ns_command(&lab.ns_client(), Path::new("python3"), &args);
    let ua = nslab::spawn_collecting(&mut lab, cmd, |_| ());
    let secs = std::time::Duration::from_secs;
    assert!(wait_lines(&ua, secs(5), |l| l.iter().any(|s| s == "ready")));
    std::fs::write(trigger(2), format!("{} 5070 hangup-1@callee", lab::CLIENT)).expect("trigger");
    let done = wait_lines(&ua, secs(15), |l| {
        l.iter().filter(|s| s.starts_with("answer")).count() == 4
            || l.iter().any(|s| s == "bye timeout")
    });
    let _ = std::fs::remove_file(trigger(2));
    let (ua, rs2) = (lines_now(&ua), lines_now(&rs_lines[1]));
    let after = stats(&control);
    let d = |n: &str| total(&after, n) - total(&before, n);
    eprintln!(
        "SIP-MEASURE conn_out ua={ua:?} rs2={rs2:?} sip_conn_out=+{} conn_new=+{} drop_no_conn=+{} per_worker_conn_new={:?}",
        d("sip_conn_out"),
        d("conn_new"),
        d("drop_no_conn"),
        nslab::per_worker(&after, "conn_new"),
    );
    assert!(done, "ua: {ua:?}");
    assert!(
        ua.contains(&format!("bye {} {PORT} hangup-1@callee", lab::VIP)),
        "the BYE from the VIP: {ua:?}"
    );
    assert!(
        rs2.contains(&format!("response {} 5070 hangup-1@callee", lab::CLIENT)),
        "the 200 OK back to rs2: {rs2:?}"
    );
    let answers: Vec<&String> = ua.iter().filter(|s| s.starts_with("answer")).collect();
    assert_eq!(answers, ["answer rs2"; 4], "the call's template on rs2");
    assert_eq!(d("sip_conn_out"), 1);
    assert_eq!(d("conn_new"), 5, "the BYE's and four requests'");
    assert_eq!(d("drop_no_conn"), 0);
}
