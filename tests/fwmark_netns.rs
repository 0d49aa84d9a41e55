//! A firewall-mark service end to end, in namespaces: the LVS recipe of one
//! mark over two ports of a VIP, persistent, so a client's connections to
//! both ports go to one real server (`ipvsadm -A -f 1 -p`), with ringvs's
//! `--mark-dest` in place of the iptables MARK rule; the VIP known only
//! from the rule is answered for ARP and ping.
//!
//! Needs root and `ip netns`. Under `CI=true` a missing capability fails the
//! test; elsewhere the test says why it did not run.

mod nslab;
use nslab::{Scenario, adm, http_bodies, stats, total};
use ringvs::lab;

#[test]
fn one_mark_over_two_ports_keeps_a_client_on_one_server() {
    let Some(nslab::NsDirector { lab, control }) = Scenario::new("fwmark")
        .before_director(|lab| {
            for n in 1..=2 {
                let body = format!("i am rs{n}:8080");
                nslab::spawn_http_server(lab, n, "0.0.0.0:8080", &body, "300");
            }
        })
        .start()
    else {
        return;
    };
    let vip = lab::VIP.to_string();
    let mark_dest = format!("tcp:{vip}:80,8080");
    adm(
        &control,
        &[
            "-A",
            "-f",
            "1",
            "-s",
            "rr",
            "-p",
            "60",
            "--mark-dest",
            &mark_dest,
        ],
    );
    for rs in ["198.19.0.2", "198.19.0.3"] {
        adm(&control, &["-a", "-f", "1", "-r", rs, "-m"]);
    }
    // Persistent: every connection of the client, to either port, goes
    // where its first went.
    let on80 = http_bodies(&lab, &format!("{vip}:80"), 6);
    let on8080 = http_bodies(&lab, &format!("{vip}:8080"), 6);
    assert_eq!((on80.len(), on8080.len()), (6, 6), "{on80:?} {on8080:?}");
    let first = on80[0].clone();
    assert!(first == "i am rs1" || first == "i am rs2", "{first}");
    assert!(on80.iter().all(|b| *b == first), "{on80:?}");
    assert!(
        on8080.iter().all(|b| *b == format!("{first}:8080")),
        "{on80:?} {on8080:?}"
    );
    // Port 81 carries no mark: no service, nothing answers.
    let before = total(&stats(&control), "drop_no_service");
    let none = http_bodies(&lab, &format!("{vip}:81"), 1);
    assert_eq!(none, ["error: connection timed out"]);
    assert!(total(&stats(&control), "drop_no_service") > before);

    let list = adm(&control, &["-L", "-n"]);
    assert!(list.contains("\nFWM  1 rr persistent 60\n"), "{list}");
    let server = if first == "i am rs1" {
        "198.19.0.2:0"
    } else {
        "198.19.0.3:0"
    };
    let row = list
        .lines()
        .find(|l| l.contains(server))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.trim_end().ends_with(" 12"),
        "12 closed connections on {server}: {list}"
    );
    // The template: IPVS's `IP` entry, the mark as the address.
    let conns = adm(&control, &["-L", "-n", "-c"]);
    assert!(
        conns
            .lines()
            .any(|l| l.starts_with("IP ") && l.contains(" 0.0.0.1:0 ")),
        "{conns}"
    );
    let saved = adm(&control, &["-S", "-n"]);
    assert!(
        saved.starts_with(&format!("-A -f 1 -s rr -p 60 --mark-dest {mark_dest}\n")),
        "{saved}"
    );

    // The rule's address is a VIP: ARP (the requests above) and ping.
    let ping = nslab::ping(&lab.ns_client(), &vip);
    assert!(
        ping.status.success(),
        "{}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // Not persistent any more: rr per connection, each to the client's
    // port (the servers have none).
    adm(&control, &["-E", "-f", "1", "-s", "rr"]);
    let bodies = http_bodies(&lab, &format!("{vip}:8080"), 6);
    assert_eq!(bodies.len(), 6, "{bodies:?}");
    let rs1 = bodies.iter().filter(|b| *b == "i am rs1:8080").count();
    assert_eq!(rs1, 3, "alternates: {bodies:?}");
}
