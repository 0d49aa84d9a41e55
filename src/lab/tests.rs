//! Lab tests. Those that build namespaces need root and `ip netns`: under
//! `CI=true` they fail without them, elsewhere they skip with a message.

use super::*;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1)) // effective uid
            == Some("0")
    })
}

/// Whether namespace tests can run; panics under CI when they cannot.
fn lab_possible(test: &str) -> bool {
    let why = if !is_root() {
        "not root".to_owned()
    } else if let Err(e) = list_namespaces() {
        format!("`ip netns` unavailable: {e}")
    } else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root and `ip netns` under CI: {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Whether `ns` reaches `ip`: a TCP connect to a closed port must be refused
/// (the peer answered with RST), not time out or be unroutable. Uses bash's
/// /dev/tcp so it needs no ping.
fn tcp_reaches(ns: &str, ip: impl Into<std::net::IpAddr>) -> bool {
    let ip = ip.into();
    let script = format!("exec 3<>/dev/tcp/{ip}/9");
    let out = ns_command(ns, Path::new("timeout"), &["3", "bash", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    err.contains("Connection refused")
}

#[test]
fn tags_and_addresses() {
    assert!(check_tag("a1b2c").is_ok());
    assert!(check_tag("").is_err());
    assert!(check_tag("bad-tag").is_err());
    assert!(check_tag("toolongtag").is_err());
    let t = Lab::unique_tag();
    assert_eq!(t.len(), 5);
    assert_ne!(t, Lab::unique_tag());
    assert_eq!(rs_addr(1), Ipv4Addr::new(198, 19, 0, 2));
    assert_eq!(rs_addr(2), Ipv4Addr::new(198, 19, 0, 3));
}

#[test]
fn ns_command_shape() {
    let c = ns_command("rvx-cli", Path::new("/bin/true"), &["a", "b"]);
    assert_eq!(describe(&c), "ip netns exec rvx-cli /bin/true a b");
}

#[test]
fn bad_options_make_nothing() {
    let opts = LabOptions {
        n_real_servers: 0,
        ..LabOptions::default()
    };
    assert!(matches!(
        Lab::build_with("zz0", opts),
        Err(LabError::InvalidOptions(_))
    ));
}

#[test]
fn lab_build_and_drop() {
    if !lab_possible("lab_build_and_drop") {
        return;
    }
    let tag = Lab::unique_tag();
    Lab::cleanup_stale(&tag).unwrap();
    let lab = Lab::build(&tag).unwrap();
    let names = lab.namespaces().to_vec();
    assert_eq!(names.len(), 5);
    let existing = list_namespaces().unwrap();
    for ns in &names {
        assert!(existing.contains(ns), "{ns} missing from {existing:?}");
    }

    // rs1 reaches rs2 through the bridge.
    if on_path("ping") {
        ns_run(&lab.ns_rs(1), "ping", &["-c1", "-W1", "198.19.0.3"]).unwrap();
    }
    assert!(
        tcp_reaches(&lab.ns_rs(1), rs_addr(2)),
        "rs1 cannot reach rs2"
    );

    // Offloads: GRO off everywhere, TX checksum kept on c0 by default.
    let k = ns_run(&lab.ns_client(), "ethtool", &["-k", "c0"]).unwrap();
    assert!(k.contains("generic-receive-offload: off"), "{k}");
    assert!(k.contains("tx-checksumming: on"), "{k}");
    let k = ns_run(&lab.ns_director(), "ethtool", &["-k", "ext0"]).unwrap();
    assert!(k.contains("generic-segmentation-offload: off"), "{k}");

    // The director's kernel has no IPv4 (nor IPv6) address on its NICs.
    let dir = lab.ns_director();
    for nic in [lab.ext_if(), lab.int_if()] {
        let a = ip(&["-n", &dir, "addr", "show", "dev", nic]).unwrap();
        assert!(!a.contains("inet"), "{nic} has an address: {a}");
        assert!(a.contains("state UP"), "{nic} is not up: {a}");
    }

    drop(lab);
    let existing = list_namespaces().unwrap();
    for ns in &names {
        assert!(!existing.contains(ns), "{ns} survived drop");
    }
}

#[test]
fn lab_options_and_spawned_children() {
    if !lab_possible("lab_options_and_spawned_children") {
        return;
    }
    let tag = Lab::unique_tag();
    Lab::cleanup_stale(&tag).unwrap();
    let opts = LabOptions {
        client_tx_csum: false,
        rs_tx_csum: false,
        n_real_servers: 3,
        ..LabOptions::default()
    };
    let mut lab = Lab::build_with(&tag, opts).unwrap();
    assert_eq!(lab.namespaces().len(), 6);
    let k = ns_run(&lab.ns_client(), "ethtool", &["-k", "c0"]).unwrap();
    assert!(k.contains("tx-checksumming: off"), "{k}");
    let k = ns_run(&lab.ns_rs(3), "ethtool", &["-k", "eth0"]).unwrap();
    assert!(k.contains("tx-checksumming: off"), "{k}");
    assert!(tcp_reaches(&lab.ns_rs(3), rs_addr(1)));

    let rs1 = lab.ns_rs(1);
    lab.spawn_in(&rs1, Path::new("sleep"), &["30"]).unwrap();
    // `ip netns exec` enters the namespace shortly after the spawn returns.
    let start = Instant::now();
    while ip(&["netns", "pids", &rs1]).unwrap().trim().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "sleep never ran in {rs1}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    drop(lab);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(!list_namespaces().unwrap().contains(&rs1));
}

#[test]
fn failed_build_cleans_up() {
    if !lab_possible("failed_build_cleans_up") {
        return;
    }
    let tag = Lab::unique_tag();
    Lab::cleanup_stale(&tag).unwrap();
    // Whatever the test made goes on every way out, a failed assertion too.
    struct Stale(String);
    impl Drop for Stale {
        fn drop(&mut self) {
            let _ = Lab::cleanup_stale(&self.0);
        }
    }
    let _stale = Stale(tag.clone());
    // A leftover switch namespace makes the build fail half-way.
    let sw = format!("rv{tag}-sw");
    ip(&["netns", "add", &sw]).unwrap();
    let err = Lab::build(&tag).unwrap_err();
    assert!(err.to_string().contains("netns add"), "{err}");
    let existing = list_namespaces().unwrap();
    assert!(!existing.contains(&format!("rv{tag}-cli")));
    assert!(!existing.contains(&format!("rv{tag}-dir")));
    assert!(existing.contains(&sw));
    Lab::cleanup_stale(&tag).unwrap();
    assert!(!list_namespaces().unwrap().contains(&sw));
}

#[test]
fn rs_addr6_plan() {
    assert_eq!(rs_addr6(1).to_string(), "2001:2:0:2::2");
    assert_eq!(rs_addr6(2).to_string(), "2001:2:0:2::3");
    assert_eq!(rs_addr6(9).to_string(), "2001:2:0:2::a");
    assert_eq!(rs_addr6(0), rs_addr6(1));
    assert_eq!(format!("{VIP6}"), "2001:2:0:1::110");
    assert_eq!(format!("{CLIENT6}/{PREFIX6_LEN}"), CLIENT6_CIDR);
    assert_eq!(format!("{EXT_ADDR6}/{PREFIX6_LEN}"), EXT_ADDR6_CIDR);
    assert_eq!(format!("{DIP6}/{PREFIX6_LEN}"), INT_ADDR6_CIDR);
    assert!(quiet_ipv6_sysctls("c0").contains(&"net.ipv6.conf.c0.accept_ra=0".to_owned()));
}

/// `sysctl -n KEY` in `ns`.
fn sysctl(ns: &str, key: &str) -> String {
    ns_run(ns, "sysctl", &["-n", key])
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn dual_stack_lab_build_and_drop() {
    if !lab_possible("dual_stack_lab_build_and_drop") {
        return;
    }
    let tag = Lab::unique_tag();
    Lab::cleanup_stale(&tag).unwrap();
    let opts = LabOptions {
        ipv6: true,
        ..LabOptions::default()
    };
    let lab = Lab::build_with(&tag, opts).unwrap();
    assert!(lab.ipv6());
    let names = lab.namespaces().to_vec();
    assert_eq!(names.len(), 5);
    let (cli, dir, rs1) = (lab.ns_client(), lab.ns_director(), lab.ns_rs(1));

    // Addresses without DAD (never tentative), routes, quiet sysctls.
    let a = ip(&["-n", &cli, "-6", "addr", "show", "dev", "c0"]).unwrap();
    assert!(a.contains("inet6 2001:2:0:1::1/64"), "{a}");
    assert!(!a.contains("tentative"), "{a}");
    let a = ip(&["-n", &rs1, "-6", "addr", "show", "dev", "eth0"]).unwrap();
    assert!(a.contains("inet6 2001:2:0:2::2/64"), "{a}");
    let r = ip(&["-n", &rs1, "-6", "route", "show", "default"]).unwrap();
    assert!(r.contains("via 2001:2:0:2::1 dev eth0"), "{r}");
    let r = ip(&["-n", &cli, "-6", "route", "get", &VIP6.to_string()]).unwrap();
    assert!(
        r.contains("dev c0") && !r.contains("via"),
        "VIP6 not on-link: {r}"
    );
    for (ns, nic) in [(&cli, "c0"), (&rs1, "eth0")] {
        for (key, want) in [
            ("accept_ra", "0"),
            ("dad_transmits", "0"),
            ("disable_ipv6", "0"),
        ] {
            let k = format!("net.ipv6.conf.{nic}.{key}");
            assert_eq!(sysctl(ns, &k), want, "{k} in {ns}");
        }
    }

    // The director's kernel stays out of IPv6: disabled, no address.
    for nic in [lab.ext_if(), lab.int_if()] {
        let k = format!("net.ipv6.conf.{nic}.disable_ipv6");
        assert_eq!(sysctl(&dir, &k), "1", "{k}");
        let a = ip(&["-n", &dir, "addr", "show", "dev", nic]).unwrap();
        assert!(!a.contains("inet"), "{nic} has an address: {a}");
    }

    // Real servers reach each other over both families through the bridge.
    assert!(
        tcp_reaches(&rs1, rs_addr6(2)),
        "rs1 cannot reach rs2 over IPv6"
    );
    assert!(
        tcp_reaches(&rs1, rs_addr(2)),
        "rs1 cannot reach rs2 over IPv4"
    );
    if on_path("ping") {
        ns_run(&rs1, "ping", &["-6", "-c1", "-W1", "2001:2:0:2::3"]).unwrap();
    }

    drop(lab);
    let existing = list_namespaces().unwrap();
    for ns in &names {
        assert!(!existing.contains(ns), "{ns} survived drop");
    }
}

/// A child that `try_wait` already reaped (a start that exited early) is
/// not signalled when it drops: its pid may be another process's by now.
/// A live one is asked, then killed and reaped.
#[test]
fn a_reaped_child_is_not_signalled_a_live_one_is_stopped() {
    let child = std::process::Command::new("true").spawn().unwrap();
    let mut done = Spawned(child);
    let reaped = wait_for(Duration::from_secs(10), || done.0.try_wait().ok().flatten());
    assert!(reaped.is_some(), "`true` never ended");
    let mut asked = Vec::new();
    done.stop(|pid| {
        asked.push(pid);
        true
    });
    assert!(asked.is_empty(), "signalled reaped pid(s) {asked:?}");

    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mut live = Spawned(child);
    let pid = live.id();
    live.stop(|p| {
        asked.push(p);
        false
    });
    assert_eq!(asked, [pid]);
    assert!(live.0.try_wait().unwrap().is_some(), "not reaped");
}

/// The lab's commands (`ip`, `kill`) run in a process group of their own,
/// out of reach of a terminal's Ctrl-C or hangup: a second Ctrl-C while
/// `ringvs demo` deletes its namespaces left them behind.
#[test]
fn lab_commands_run_in_a_process_group_of_their_own() {
    let mut cat = std::process::Command::new("cat");
    cat.arg("/proc/self/stat");
    let out = cmd::run_cmd(cat).unwrap();
    let stat = String::from_utf8_lossy(&out.stdout).into_owned();
    // "pid (comm) state ppid pgrp ...": `cat` has no space in its name.
    let f: Vec<&str> = stat.split_whitespace().collect();
    assert_eq!(f[1], "(cat)", "{stat}");
    assert_eq!(f[0], f[4], "pid and process group differ: {stat}");
}
