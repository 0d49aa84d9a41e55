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
use nslab::{NsDirector, Scenario, adm, stats, total, udp_client};
use ringvs::lab;

const PORT: u16 = 5353;
const REQUESTS: usize = 8;

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
    let scenario = Scenario::new(tag).workers(2).rules(&rules);
    let Some(NsDirector { lab, control }) = scenario.start_with_udp_echo(any, PORT, v6) else {
        return;
    };
    let client_vip = if v6 {
        lab::VIP6.to_string()
    } else {
        vip.clone()
    };
    let listed = adm(&control, &["-L", "-n", "-u", &svc]);
    assert!(listed.contains(" rr ops\n"), "{listed}");

    let before = stats(&control);
    let answers = udp_client(&lab, "one", &client_vip, PORT, REQUESTS);
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
    let answers = udp_client(&lab, "one", &client_vip, PORT, REQUESTS);
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
