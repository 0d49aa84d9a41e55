//! `ringvs adm` against a running director in network namespaces: a rules file
//! with every option ringvs accepts loads with `run --rules` and saves back
//! identically, and the commands that need the control thread (`--set`,
//! `--timeout`, `-Z`, `--stats`, `--rate`, `-c`, `-R`) answer as ipvsadm would.
//!
//! Needs root and `ip netns`; elsewhere (not under CI) it says why it did not run.

mod nslab;
use nslab::{EXE, NsDirector, Scenario, adm, call, http_bodies};
use ringvs::lab;
use ringvs::proto::{self, Command};
use std::process::Command as Process;

const RULES: &str = "\
-A -t 198.18.0.110:80 -s wlc
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1
-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 2 -x 1000 -y 800
-A -t 198.18.0.110:443 -s sh -p 360 -M 255.255.255.0 -b sh-fallback,sh-port
-a -t 198.18.0.110:443 -r 198.19.0.2:443 -m -w 1
-A -u 198.18.0.110:53 -s mh -b mh-port
-a -u 198.18.0.110:53 -r 198.19.0.3:53 -m -w 1
";

#[test]
fn adm_commands_on_a_running_director() {
    let Some(NsDirector { lab, control }) = Scenario::new("adm").rules(RULES).start() else {
        return;
    };

    assert_eq!(adm(&control, &["-S", "-n"]), RULES);

    // Traffic, so that counters and gauges have something to show.
    let vip = format!("{}:80", lab::VIP);
    let _ = http_bodies(&lab, &vip, 6);

    let stats = adm(&control, &["-L", "-n", "--stats"]);
    let lines: Vec<&str> = stats.lines().collect();
    assert_eq!(
        lines[1],
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
    );
    assert_eq!(lines.len(), 3 + 3 + 2 + 2, "{stats}");
    assert!(
        lines[3].starts_with("TCP  198.18.0.110:80          "),
        "{stats}"
    );
    let rate = adm(&control, &["-L", "-n", "--rate"]);
    assert!(
        rate.contains("CPS    InPPS   OutPPS    InBPS   OutBPS\n"),
        "{rate}"
    );
    assert_eq!(adm(&control, &["-Z"]), "");
    assert_eq!(adm(&control, &["-Z", "-t", &vip]), "");
    let r = call(&control, &["-Z", "-t", "198.18.0.110:81"]);
    assert_eq!((r.code, r.err.as_str()), (255, "No such service\n"));

    let conns = adm(&control, &["-L", "-n", "-c"]);
    assert!(
        conns.starts_with(
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        ),
        "{conns}"
    );
    let th = adm(&control, &["-L", "-n", "--thresholds", "-t", &vip]);
    assert!(
        th.contains("  -> 198.19.0.3:80                1000       800        "),
        "{th}"
    );

    assert_eq!(
        adm(&control, &["-L", "--timeout"]),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
    adm(&control, &["--set", "600", "0", "60"]);
    assert_eq!(
        adm(&control, &["-L", "--timeout"]),
        "Timeout (tcp tcpfin udp): 600 120 60\n"
    );

    // -S, -C, -R round trip through the socket.
    let saved = adm(&control, &["-S", "-n"]);
    adm(&control, &["-C"]);
    assert_eq!(adm(&control, &["-S", "-n"]), "");
    let r = proto::call(
        &control,
        Command::Restore {
            rules: saved.clone(),
        },
    )
    .expect("restore");
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(adm(&control, &["-S", "-n"]), saved);
    let r = proto::call(
        &control,
        Command::Restore {
            rules: saved.clone(),
        },
    )
    .expect("restore");
    assert_eq!(r.code, 255);
    assert!(
        r.err.starts_with("line 1: Service already exists\n"),
        "{}",
        r.err
    );

    // The client binary: -R from stdin, exit status and messages.
    let mut child = Process::new(EXE)
        .args(["adm", "--control", &control.display().to_string(), "-R"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ringvs adm -R");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"-A -t 198.18.0.111:80 -s rr\n-a -t 198.18.0.111:80 -r 198.19.0.2\n")
            .expect("write");
    }
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(adm(&control, &["-S", "-n"]).contains("-A -t 198.18.0.111:80 -s rr\n"));
}

/// The numbers behind the listings come from the workers: persistence, per-server
/// counters, the connection table and its templates, across two workers.
#[test]
fn live_counters_connections_and_persistence() {
    let Some(NsDirector { lab, control }) = Scenario::new("adm")
        .seed_service_with(&["-p", "60"])
        .start()
    else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);

    // Persistent: six connections (different source ports, spread over both
    // workers by the fanout) all reach the server the first one got.
    let bodies = http_bodies(&lab, &vip, 6);
    assert_eq!(bodies.len(), 6, "{bodies:?}");
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    let (used, idle) = if bodies[0] == "i am rs1" {
        (lab::rs_addr(1), lab::rs_addr(2))
    } else {
        (lab::rs_addr(2), lab::rs_addr(1))
    };

    // -c: the six connections, client to the used server. Each ends when the
    // director sees the client's FIN (the server closes first); http-get
    // returns once it has read the reply, before its FIN is acknowledged,
    // and a FIN the busy host delayed or dropped is resent later. So the six
    // entries are there at once, and their TIME_WAIT is waited for (bounded);
    // the counters below are read after it, with every packet counted.
    let client = format!("{}:", lab::CLIENT);
    // Connections only (not the template, state NONE or ASSURED).
    let template_line = |l: &str| l.contains(" NONE ") || l.contains(" ASSURED ");
    let theirs = |conns: &str, state: &str| {
        conns
            .lines()
            .skip(2)
            .filter(|l| l.starts_with("TCP ") && !template_line(l) && l.contains(state))
            .filter(|l| l.contains(&client) && l.contains(&format!("{used}:80")))
            .count()
    };
    let mut conns = adm(&control, &["-L", "-n", "-c"]);
    assert_eq!(theirs(&conns, ""), 6, "any state: {conns}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while theirs(&conns, "TIME_WAIT") < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        conns = adm(&control, &["-L", "-n", "-c"]);
    }
    assert_eq!(theirs(&conns, "TIME_WAIT"), 6, "{conns}");

    // --stats --exact: six connections, all on one server, packets both ways.
    let stats = adm(&control, &["-L", "-n", "--stats", "--exact"]);
    let row = |addr: &str| -> Vec<u64> {
        stats
            .lines()
            .find(|l| l.contains(&format!("{addr}:80 ")))
            .unwrap_or_else(|| panic!("no row for {addr}: {stats}"))
            .split_whitespace()
            .skip(2)
            .map(|v| v.parse().expect("number"))
            .collect()
    };
    let u = row(&used.to_string());
    assert_eq!(u[0], 6, "{stats}");
    assert!(u[1] >= 6 * 4 && u[2] >= 6 * 4, "{stats}");
    assert!(u[3] > u[1] * 40 && u[4] > u[2] * 40, "{stats}");
    assert_eq!(row(&idle.to_string()), [0, 0, 0, 0, 0], "{stats}");
    let svc = row(lab::VIP.to_string().as_str());
    assert_eq!(svc, u, "{stats}");

    // -c: the client's persistence template beside its connections,
    // ASSURED by them (`ip_vs_control_assure_ct`).
    let lines: Vec<&str> = conns.lines().skip(2).collect();
    let template = format!("{}:0", lab::CLIENT);
    assert!(
        lines.iter().any(|l| l.contains(" ASSURED ")
            && l.contains(&template)
            && l.contains(&format!("{used}:80"))),
        "no persistence template: {conns}"
    );
    let persist = adm(&control, &["-L", "-n", "--persistent-conn"]);
    assert!(persist.contains("PersistConn"), "{persist}");

    // -Z zeroes the counters; the connections stay.
    adm(&control, &["-Z"]);
    let stats = adm(&control, &["-L", "-n", "--stats", "--exact"]);
    assert!(
        stats
            .lines()
            .filter(|l| l.contains("198."))
            .all(|l| l.split_whitespace().skip(2).all(|v| v == "0")),
        "{stats}"
    );
}
