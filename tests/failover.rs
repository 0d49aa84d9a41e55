//! Issue 11, as root in namespaces: a real server killed under clients that
//! reuse a fixed pool of source ports (IPVS's `conn_reuse_mode`: a SYN that meets
//! the old connection of its ports is scheduled anew), and a port-0 service
//! with persistence (`ip_vs_service_find`'s catch-all, the client's port kept).
//! The in-memory tests of the same rules are in `tests/pipeline.rs`.

mod nslab;
use nslab::{
    NsDirector, Scenario, adm, http_bodies, kill_all_in, listed_weight, spawn_http_server, stats,
    total, wait_for,
};
use ringvs::lab;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// The client: new HTTP/1.0 connections one after the other, each bound to the
/// next source port of the pool (`SO_REUSEADDR`), read to the end and closed
/// with a RST (`SO_LINGER` 0, so no port waits in TIME_WAIT on the client). One
/// line per request: `START_EPOCH PORT ok BODY` or `START_EPOCH PORT error WHY`.
const REUSE_CLIENT: &str = r#"
import socket, struct, sys, time
vip, base, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end, i = time.time() + secs, 0
while time.time() < end:
    port, i = base + i % n, i + 1
    start = time.time()
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.settimeout(1.0)
        s.bind(('0.0.0.0', port))
        s.connect((vip, 80))
        s.sendall(b'GET / HTTP/1.0\r\n\r\n')
        data = b''
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        head, _, body = data.partition(b'\r\n\r\n')
        if not head.startswith(b'HTTP/1.') or b' 200 ' not in head.split(b'\r\n')[0]:
            raise RuntimeError('bad response %r' % head[:40])
        print('%.6f %d ok %s' % (start, port, body.decode().strip()), flush=True)
    except Exception as e:
        print('%.6f %d error %r' % (start, port, e), flush=True)
    finally:
        s.close()
    time.sleep(0.005)
"#;

/// (start of the request, seconds since the epoch; its line).
type Lines = nslab::StampedLines<f64>;

fn reuse_client(lab: &mut lab::Lab, vip: &str, ports: u16, secs: u32) -> Lines {
    let (ports, secs) = (ports.to_string(), secs.to_string());
    let cmd = lab::ns_command(
        &lab.ns_client(),
        Path::new("python3"),
        &["-c", REUSE_CLIENT, vip, "40000", &ports, &secs],
    );
    // Each line starts with the request's start time.
    nslab::spawn_collecting(lab, cmd, |line| {
        line.split(' ')
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0.0)
    })
}

/// Lines of requests started at or after `since` that `f` accepts.
fn count(lines: &Lines, since: f64, f: impl Fn(&str) -> bool) -> usize {
    lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|(t, l)| *t >= since && f(l))
        .count()
}

/// rs1's HTTP server is killed under a client that reuses 20 source ports for
/// new connections. Once the health check lists rs1 down (removed from the data
/// plane: no `--inhibit-on-failure`), no request fails: a SYN that meets the
/// ports' old connection to rs1 (CLOSE after the client's RST) expires it and is
/// scheduled to rs2 (`conn_reuse_mode` 1). Before issue 11 such a SYN went to
/// the dead rs1 as long as its port came back within CLOSE's 10 s.
#[test]
fn reused_source_ports_lose_no_request_once_a_killed_server_is_down() {
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1\n\
         -a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { mut lab, control }) = Scenario::new("reuse")
        .needs(&["python3"])
        .rules(&rules)
        .start()
    else {
        return;
    };
    let lines = reuse_client(&mut lab, &lab::VIP.to_string(), 20, 30);
    let warm = now_epoch();
    let both = wait_for(Duration::from_secs(10), || {
        count(&lines, warm, |l| l.ends_with(" ok i am rs1")) >= 20
            && count(&lines, warm, |l| l.ends_with(" ok i am rs2")) >= 20
    });
    assert!(
        both.is_some(),
        "both servers serve: {:?}",
        lines.lock().expect("lines")
    );
    assert_eq!(count(&lines, warm, |l| l.contains(" error ")), 0);
    let expired_before = total(&stats(&control), "conn_expired");
    assert!(expired_before > 0, "ports were reused: connections expired");

    assert!(kill_all_in(&lab.ns_rs(1)) >= 1, "a process to kill in rs1");
    let killed = now_epoch();
    let down = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &rs1) == Some(0)
    });
    let down = down.unwrap_or_else(|| panic!("rs1 not listed down within 6 s"));
    let down_at = now_epoch();
    // Three seconds of requests after that: each port comes back ~10 times.
    let until = down_at + 3.0;
    let done = wait_for(Duration::from_secs(6), || {
        count(&lines, until, |_| true) > 0
    });
    assert!(done.is_some(), "the client keeps going");
    let after = |f: &dyn Fn(&str) -> bool| {
        lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|(t, l)| *t >= down_at && *t < until && f(l))
            .count()
    };
    let (ok, failed, on_rs1) = (
        after(&|l| l.contains(" ok ")),
        after(&|l| l.contains(" error ")),
        after(&|l| l.ends_with("rs1")),
    );
    let failed_before = count(&lines, killed, |l| l.contains(" error ")) - failed;
    eprintln!(
        "reuse: rs1 listed down {down:?} after the kill ({failed_before} requests failed before); \
         after: {ok} ok, {failed} failed, {on_rs1} to rs1"
    );
    let errors: Vec<String> = lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|(t, l)| *t >= down_at && *t < until && l.contains(" error "))
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(
        failed, 0,
        "requests failed after rs1 was listed down: {errors:?}"
    );
    assert_eq!(on_rs1, 0);
    assert!(
        ok >= 100,
        "the client kept reusing its ports ({ok} requests)"
    );
    assert!(total(&stats(&control), "conn_expired") > expired_before);
}

/// `-A -t VIP:0 -p`: requests to two ports of the VIP, neither with a service
/// of its own, reach one real server (the port-0 service's template), each on
/// the port the client asked for (a real server of port 0 keeps it).
#[test]
fn port_0_persistent_service_takes_every_port_to_one_server() {
    let vip0 = format!("{}:0", lab::VIP);
    let (rs1, rs2) = (lab::rs_addr(1).to_string(), lab::rs_addr(2).to_string());
    let rules = format!(
        "-A -t {vip0} -s rr -p 60\n-a -t {vip0} -r {rs1} -m -w 1\n-a -t {vip0} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { lab, control }) = Scenario::new("port0")
        .rules(&rules)
        .before_director(|lab| {
            for n in 1..=2 {
                spawn_http_server(
                    lab,
                    n,
                    "0.0.0.0:8080",
                    &format!("i am rs{n} on 8080"),
                    "600",
                );
            }
            for n in 1..=2 {
                let ns = lab.ns_rs(n);
                let up = wait_for(Duration::from_secs(5), || {
                    lab::listens_on(&ns, 8080).unwrap_or(false)
                });
                assert!(up.is_some(), "rs{n} listens on 8080");
            }
        })
        .start()
    else {
        return;
    };
    let listing = adm(&control, &["-L", "-n"]);
    assert!(
        listing.contains(&format!("TCP  {vip0} rr persistent 60")),
        "{listing}"
    );
    let on80 = http_bodies(&lab, &format!("{}:80", lab::VIP), 4);
    let on8080 = http_bodies(&lab, &format!("{}:8080", lab::VIP), 4);
    assert_eq!(on80.len(), 4, "{on80:?}");
    assert_eq!(on8080.len(), 4, "{on8080:?}");
    // rr would alternate; the template holds the client on the first server.
    let first = on80[0].clone();
    assert!(first == "i am rs1" || first == "i am rs2", "{on80:?}");
    assert!(on80.iter().all(|b| *b == first), "{on80:?}");
    let want = format!("{first} on 8080");
    assert!(on8080.iter().all(|b| *b == want), "{on8080:?}");
    // One template, of the service (port 0), listed as ipvsadm lists it:
    // ASSURED, its connections were established.
    let conns = adm(&control, &["-L", "-n", "-c"]);
    let templates: Vec<&str> = conns.lines().filter(|l| l.contains(" ASSURED ")).collect();
    assert_eq!(templates.len(), 1, "{conns}");
    assert!(
        templates[0].contains(&format!("{vip0} ")),
        "the template is the port-0 service's: {conns}"
    );
    let s = stats(&control);
    assert_eq!(total(&s, "drop_no_service"), 0);
    assert_eq!(total(&s, "conn_new"), 8);
}
