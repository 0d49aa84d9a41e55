//! keepalived.conf as a config source: the LVS part of a real two-director
//! configuration (with includes, checks and persistence) into a `Config`;
//! VRRP blocks skipped; warnings for what ringvs does not carry out; errors
//! naming file and line; a reload that changes only what differs.
//!
//! Fixtures are in `tests/data/keepalived/`; error cases write small files
//! into a temporary directory removed when the test ends.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use ringvs::config::keepalived::{
    LoadOptions, Loaded, ScriptSettings, apply_differences, load, load_with,
};
use ringvs::config::names::Names;
use ringvs::config::{
    CheckKind, Config, DnsCheck, DnsType, Forward, HealthCheck, HttpCheck, HttpProtocol, HttpUrl,
    Proto, Quorum, SchedFlags, Scheduler, ServiceKey, SmtpCheck, TunCsum, TunKind, Tunnel,
    UdpCheck, UdpReply,
};

/// Reloads `running` from the file at `p` as SIGHUP does (only what
/// changed); the changes, as the ipvsadm commands the log shows.
fn reload(running: &mut Config, p: &Path) -> Vec<String> {
    let changes = apply_differences(running, &load_as(p, None).unwrap().config).unwrap();
    changes.iter().map(ToString::to_string).collect()
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keepalived")
        .join(rel)
}

fn load_as(path: &Path, id: Option<&str>) -> Result<Loaded, String> {
    let opts = LoadOptions {
        config_id: id.map(str::to_string),
        ..LoadOptions::default()
    };
    load_with(path, &opts).map_err(|e| e.to_string())
}

/// The last byte of an address of either family.
fn last_octet(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    }
}

fn vip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, last)
}

fn rip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, last)
}

/// A directory of test files, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("ringvs-ka-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `pair/` describes, built with the rule model's own calls.
fn pair_config() -> Config {
    let mut c = Config::new();
    let http = ServiceKey::new(Proto::Tcp, vip(110), 80);
    c.add_service(http, Scheduler::Wrr, Some(300)).unwrap();
    c.set_service_options(
        &http,
        SchedFlags::default(),
        Ipv4Addr::new(255, 255, 255, 0),
    )
    .unwrap();
    let check = HealthCheck {
        kind: CheckKind::Http(HttpCheck::get("/health", 200)),
        delay_loop: 5,
        connect_timeout: 2,
        retry: 2,
        delay_before_retry: 1,
        inhibit_on_failure: true,
        alpha: false,
        port: None,
        warmup: 0,
    };
    c.set_service_check(&http, Some(check)).unwrap();
    c.add_dest(&http, rip(2), 80, 3).unwrap();
    c.add_dest(&http, rip(3), 8080, 1).unwrap();
    c.set_dest_thresholds(&http, rip(3), 8080, 1000, 800)
        .unwrap();
    let https = ServiceKey::new(Proto::Tcp, vip(110), 443);
    c.add_service(https, Scheduler::Sh, None).unwrap();
    let flags = SchedFlags {
        fallback: false,
        port: true,
    };
    c.set_service_options(&https, flags, Ipv4Addr::BROADCAST)
        .unwrap();
    let tcp = HealthCheck {
        connect_timeout: 3,
        ..HealthCheck::new(CheckKind::Tcp)
    };
    c.set_service_check(&https, Some(tcp)).unwrap();
    c.add_dest(&https, rip(2), 443, 1).unwrap();
    c.add_dest(&https, rip(3), 443, 1).unwrap();
    c
}

#[test]
fn a_two_director_pair_config_loads_with_includes_checks_and_persistence() {
    let l = load_as(&fixture("pair/keepalived.conf"), Some("lb1")).unwrap();
    assert_eq!(
        l.warnings,
        Vec::<String>::new(),
        "a clean file warns of nothing"
    );
    assert_eq!(l.config, pair_config());
    // keepalived's defaults where the file says nothing: HTTP_GET's own
    // delay_before_retry is 3 s, TCP_CHECK's 1 s; delay_loop 60 s; retry 1.
    let https = l
        .config
        .service(&ServiceKey::new(Proto::Tcp, vip(110), 443))
        .unwrap();
    let c = https.check.as_ref().unwrap();
    assert_eq!((c.delay_loop, c.retry, c.delay_before_retry), (60, 1, 1));
    // The real server without a port took the service's.
    assert_eq!(https.dests[1].port, 443);
}

#[test]
fn the_lvs_part_does_not_depend_on_the_config_id() {
    let lb1 = load_as(&fixture("pair/keepalived.conf"), Some("lb1")).unwrap();
    let lb2 = load_as(&fixture("pair/keepalived.conf"), Some("lb2")).unwrap();
    let none = load_as(&fixture("pair/keepalived.conf"), None).unwrap();
    assert_eq!(lb1, lb2);
    assert_eq!(lb1, none);
    // The host's own id works too (whatever the host is called).
    assert_eq!(load(&fixture("pair/keepalived.conf")).unwrap(), lb1);
}

/// keepalived's `sorry_server`, `sorry_server_lvs_method` and
/// `sorry_server_inhibit`: kept beside the real servers (never one of
/// them), changed in place by a reload, and refused by TUN.
#[test]
fn sorry_servers_are_read_and_reloaded() {
    let t = TempDir::new("sorry");
    let conf = |sorry: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n\
             {sorry}\n  real_server 198.19.0.2 80 {{\n    weight 1\n  }}\n}}\n"
        )
    };
    let p = t.write("keepalived.conf", &conf("  sorry_server 198.19.0.9 8080"));
    let mut running = load_as(&p, None).unwrap().config;
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let s = running
        .service(&web)
        .unwrap()
        .sorry
        .expect("a sorry server");
    assert_eq!(
        (s.addr, s.port, s.forward, s.inhibit),
        (IpAddr::V4(rip(9)), 8080, Forward::Route, false),
        "the virtual server's method"
    );
    assert_eq!(running.service(&web).unwrap().dests.len(), 1);
    // A reload that makes it NAT and inhibited edits the service.
    let edited =
        "  sorry_server 198.19.0.9 8080\n  sorry_server_lvs_method NAT\n  sorry_server_inhibit";
    t.write("keepalived.conf", &conf(edited));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        ["-E -t 198.18.0.110:80 -s rr --sorry-server 198.19.0.9:8080 --sorry-inhibit"]
    );
    let s = running.service(&web).unwrap().sorry.unwrap();
    assert_eq!((s.forward, s.inhibit), (Forward::Masq, true));
    // Gone from the file, gone from the rules.
    t.write("keepalived.conf", &conf(""));
    apply_differences(&mut running, &load_as(&p, None).unwrap().config).unwrap();
    assert_eq!(running.service(&web).unwrap().sorry, None);
    // By TUN: an error that names the line.
    t.write(
        "keepalived.conf",
        &conf("  sorry_server 198.19.0.9 80\n  sorry_server_lvs_method TUN"),
    );
    let e = load_as(&p, None).unwrap_err();
    assert!(
        e.contains(":6: sorry server by TUN: ringvs takes NAT or DR"),
        "{e}"
    );
    // keepalived takes the sorry server's settings after it only.
    t.write(
        "keepalived.conf",
        &conf("  sorry_server_inhibit\n  sorry_server 198.19.0.9 80"),
    );
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [format!(
            "{f}:5: sorry_server_inhibit: before sorry_server, ignored (as keepalived does)"
        )]
    );
    assert!(!l.config.service(&web).unwrap().sorry.unwrap().inhibit);
}

/// A checker's own `alpha [BOOL]` (keepalived's `check_api.c` common
/// checker keywords) is the check's `--alpha`, before the virtual server's:
/// such a server starts down, where it was warned about and started up;
/// a real server whose checker says otherwise than the first has a check
/// that differs, warned about as any.
#[test]
fn a_checkers_alpha_is_its_checks() {
    let t = TempDir::new("checker-alpha");
    // The first server's checker block (`TCP_CHECK {...}`), the second's
    // TCP_CHECK lines.
    let conf = |vs: &str, a: &str, b: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{vs}\n\
             \x20 real_server 198.19.0.2 80 {{\n{a}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    TCP_CHECK {{\n{b}\n    }}\n  }}\n}}\n"
        )
    };
    let tcp = |lines: &str| format!("    TCP_CHECK {{\n{lines}\n    }}");
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let alpha = |vs: &str, a: &str, b: &str| {
        let p = t.write("keepalived.conf", &conf(vs, a, b));
        let l = load_as(&p, None).unwrap();
        let s = l.config.service(&web).unwrap();
        (s.check.as_ref().unwrap().alpha, l.warnings)
    };
    let (on, w) = alpha("", &tcp("      alpha"), "      alpha yes");
    assert!(on);
    assert!(w.is_empty(), "{w:?}");
    // The checker's `alpha no` before the virtual server's `alpha`.
    let (on, w) = alpha("  alpha", &tcp("      alpha no"), "      alpha off");
    assert!(!on);
    assert!(w.is_empty(), "{w:?}");
    assert!(alpha("  alpha", &tcp(""), "").0);
    // A MISC_CHECK's too (`install_checker_common_keywords`).
    let misc = "    MISC_CHECK {\n      misc_path /bin/true\n      alpha\n    }";
    assert!(alpha("", misc, "").0);
    let (on, w) = alpha("", &tcp("      alpha on"), "");
    assert!(on);
    let p = t.0.join("keepalived.conf");
    let f = p.display();
    assert_eq!(
        w,
        [format!(
            "{f}:11: real_server 198.19.0.3:80: its check differs (alpha) from the one of {f}:7; ringvs runs one check per virtual_server and uses that one"
        )]
    );
    t.write("keepalived.conf", &conf("", &tcp("      alpha maybe"), ""));
    let e = load_as(&p, None).unwrap_err();
    assert_eq!(
        e,
        format!("{f}:8: alpha maybe: not one of on|off|true|false|yes|no")
    );
}

/// A real server's own `alpha [BOOL]` (keepalived's `rs_alpha_handler`)
/// comes between its checker's and the virtual server's, as
/// `validate_check_config` fills a checker's unset `alpha` from its real
/// server's and that from the virtual server's: it was warned about as
/// unsupported and the server started up.
#[test]
fn a_real_servers_alpha_is_between_its_checkers_and_the_virtual_servers() {
    let t = TempDir::new("rs-alpha");
    let conf = |vs: &str, rs: &str, tcp: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{vs}\n\
             \x20 real_server 198.19.0.2 80 {{\n{rs}\n    TCP_CHECK {{\n{tcp}\n    }}\n  }}\n}}\n"
        )
    };
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let alpha = |vs: &str, rs: &str, tcp: &str| {
        let p = t.write("keepalived.conf", &conf(vs, rs, tcp));
        let l = load_as(&p, None).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        l.config
            .service(&web)
            .unwrap()
            .check
            .as_ref()
            .unwrap()
            .alpha
    };
    // The real server's, no value being on.
    assert!(alpha("", "    alpha", ""));
    assert!(alpha("", "    alpha yes", ""));
    // Before the virtual server's.
    assert!(!alpha("  alpha", "    alpha off", ""));
    assert!(alpha("  alpha", "", ""));
    // After the checker's.
    assert!(alpha("", "    alpha no", "      alpha"));
    assert!(!alpha("  alpha", "    alpha", "      alpha off"));
    // keepalived -t: "Invalid alpha parameter maybe", a configuration error.
    let p = t.write("keepalived.conf", &conf("", "    alpha maybe", ""));
    let f = p.display();
    assert_eq!(
        load_as(&p, None).unwrap_err(),
        format!("{f}:7: alpha maybe: not one of on|off|true|false|yes|no")
    );
}

/// `quorum`, `hysteresis` and `alpha` (keepalived's virtual server
/// keywords): the service's `--quorum`, `--hysteresis` and its check's
/// `--alpha`, shown in a reload's edit; values keepalived would lower are
/// kept as written, with keepalived's warnings.
#[test]
fn quorum_hysteresis_and_alpha_are_read_and_reloaded() {
    let t = TempDir::new("quorum");
    let conf = |vs: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             {vs}\n  real_server 198.19.0.2 80 {{\n    weight 2\n    TCP_CHECK {{\n    }}\n  }}\n\
             real_server 198.19.0.3 80 {{\n    weight 1\n    TCP_CHECK {{\n    }}\n  }}\n}}\n"
        )
    };
    let p = t.write(
        "keepalived.conf",
        &conf("  quorum 2\n  hysteresis 1\n  alpha"),
    );
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let mut running = l.config;
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let s = running.service(&web).unwrap();
    assert_eq!(
        s.quorum,
        Quorum {
            quorum: 2,
            hysteresis: 1
        }
    );
    assert!(s.check.as_ref().unwrap().alpha);
    // A reload to the defaults edits the service.
    t.write("keepalived.conf", &conf(""));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        [
            "-E -t 198.18.0.110:80 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1"
        ]
    );
    let s = running.service(&web).unwrap();
    assert_eq!(s.quorum, Quorum::default());
    assert!(!s.check.as_ref().unwrap().alpha);
    // keepalived's `alpha` takes no value: `alpha off` is alpha too.
    t.write("keepalived.conf", &conf("  quorum 3\n  alpha off"));
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [format!("{f}:6: alpha: extra words 'off' ignored")]
    );
    let changes = apply_differences(&mut running, &l.config).unwrap();
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "-E -t 198.18.0.110:80 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --alpha --quorum 3"
        ]
    );
    // Above the total weight (3), a hysteresis as large as the quorum.
    t.write("keepalived.conf", &conf("  quorum 5\n  hysteresis 4"));
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{f}:1: quorum 5 exceeds the real servers' total weight 3: taken as 3 (as keepalived does)"
            ),
            format!("{f}:1: hysteresis 4 not below the quorum 3: taken as 2 (as keepalived does)"),
            format!(
                "{f}:1: quorum 3 + hysteresis 2 exceeds the real servers' total weight 3: the quorum is gained only while a check or a file raises the weights"
            ),
        ]
    );
    assert_eq!(
        l.config.service(&web).unwrap().quorum.quorum,
        5,
        "as written"
    );
    // keepalived's ranges.
    t.write("keepalived.conf", &conf("  quorum 0"));
    let e = load_as(&p, None).unwrap_err();
    assert!(e.contains(":5: quorum 0"), "{e}");
}

/// `UDP_CHECK` (`payload`, `require_reply` with or without a hex string,
/// `min_reply_length`, `max_reply_length`; a hex string is all the words
/// after its keyword; `connect_port`, the check's `--check-port`) and
/// `PING_CHECK` (no port: `connect_port` is ignored unwarned) are the
/// services' checks, shown in a reload's edit; a hex
/// string that is not one, and bounds that would always fail, are errors.
#[test]
fn udp_and_ping_checkers_are_read_and_reloaded() {
    let t = TempDir::new("udpcheck");
    let conf = |udp: &str, ping: &str| {
        format!(
            "virtual_server 198.18.0.110 53 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n\
             \x20 real_server 198.19.0.2 53 {{\n    UDP_CHECK {{\n{udp}\n    }}\n  }}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    PING_CHECK {{\n{ping}\n    }}\n  }}\n}}\n"
        )
    };
    let p = t.write(
        "keepalived.conf",
        &conf(
            "      payload 68 69\n      require_reply 72 x3\n      min_reply_length 2\n      max_reply_length 300\n      connect_timeout 2\n      connect_port 5353",
            "      connect_port 9\n      retry 0\n      delay_before_retry 3",
        ),
    );
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let mut running = l.config;
    let dns = ServiceKey::new(Proto::Udp, vip(110), 53);
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let c = running.service(&dns).unwrap().check.clone().unwrap();
    assert_eq!(
        c.kind,
        CheckKind::Udp(UdpCheck {
            payload: b"hi".to_vec(),
            reply: Some(UdpReply {
                data: vec![0x72, 0x03],
                mask: vec![0, 0xf0],
                min_len: 2,
                max_len: 300,
            }),
        })
    );
    assert_eq!((c.connect_timeout, c.delay_before_retry), (2, 1));
    assert_eq!(c.port, Some(5353), "connect_port is --check-port");
    let c = running.service(&web).unwrap().check.clone().unwrap();
    assert_eq!(c.port, None, "PING_CHECK has no port");
    assert_eq!(
        (c.kind, c.retry, c.delay_before_retry),
        (CheckKind::Ping, 0, 3)
    );
    // `require_reply` alone: any answer; no `payload`: an empty datagram.
    t.write("keepalived.conf", &conf("      require_reply", ""));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        [
            "-E -u 198.18.0.110:53 -s rr --check udp --require-reply --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1",
            "-E -t 198.18.0.110:80 -s rr --check ping --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1"
        ]
    );
    assert_eq!(
        running.service(&dns).unwrap().check.as_ref().unwrap().kind,
        CheckKind::Udp(UdpCheck {
            payload: Vec::new(),
            reply: Some(UdpReply::any()),
        })
    );
    for (udp, err) in [
        ("      payload 6g", ":7: payload 6g: not a hex string"),
        ("      payload", ":7: payload : not a hex string"),
        (
            "      require_reply 01 zz",
            ":7: require_reply 01 zz: not a hex string",
        ),
        (
            "      require_reply\n      min_reply_length 9\n      max_reply_length 8",
            ":6: UDP_CHECK: min_reply_length 9 > max_reply_length 8",
        ),
        (
            "      max_reply_length 65536",
            ":7: max_reply_length 65536: not a number",
        ),
    ] {
        t.write("keepalived.conf", &conf(udp, ""));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.contains(err), "{udp}: {e}");
    }
}

/// `virtual_server_group` and `virtual_server group NAME`: one service per
/// address and port of the group (a range by its last byte, an entry
/// without a port is port 0), each with the virtual server's settings, real
/// servers and check, the block's warnings once; a reload that changes the
/// group adds and removes those services only.
#[test]
fn a_virtual_server_group_is_a_service_per_address_and_port() {
    let t = TempDir::new("vsg");
    let conf = |entries: &str| {
        format!(
            "virtual_server_group web {{\n{entries}\n}}\n\
             virtual_server group web {{\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  ha_suspend\n\
             \x20 real_server 198.19.0.2 {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 8080 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n}}\n"
        )
    };
    let p = t.write(
        "keepalived.conf",
        &conf("  198.18.0.110 80\n  198.18.0.111-112 443"),
    );
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [format!(
            "{f}:9: ha_suspend (in virtual_server): not supported by ringvs, ignored"
        )],
        "once"
    );
    let mut running = l.config;
    let keys: Vec<ServiceKey> = running.services().iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        [
            ServiceKey::new(Proto::Tcp, vip(110), 80),
            ServiceKey::new(Proto::Tcp, vip(111), 443),
            ServiceKey::new(Proto::Tcp, vip(112), 443),
        ]
    );
    for s in running.services() {
        assert_eq!(s.sched, Scheduler::Wrr);
        let dests: Vec<(IpAddr, u16, u32)> =
            s.dests.iter().map(|d| (d.addr, d.port, d.weight)).collect();
        assert_eq!(
            dests,
            [
                (IpAddr::V4(rip(2)), s.key.port, 2),
                (IpAddr::V4(rip(3)), 8080, 1)
            ],
            "{}: a real server without a port takes the entry's",
            s.key
        );
        assert_eq!(s.check.as_ref().unwrap().connect_timeout, 2);
    }
    // The group shrinks and grows: only those services change.
    t.write(
        "keepalived.conf",
        &conf("  198.18.0.110 80\n  198.18.0.112-113 443"),
    );
    let shown = reload(&mut running, &p);
    assert_eq!(shown.len(), 1 + 3, "{shown:?}");
    assert!(
        shown
            .iter()
            .any(|c| c.starts_with("-D -t 198.18.0.111:443")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|c| c.starts_with("-A -t 198.18.0.113:443")),
        "{shown:?}"
    );
    assert_eq!(running.services().len(), 3);
    // An entry without a port is port 0, which needs persistence: keepalived
    // gives the whole virtual server 360 s.
    t.write(
        "keepalived.conf",
        &conf("  198.18.0.110\n  198.18.0.111 80"),
    );
    let l = load_as(&p, None).unwrap();
    let got: Vec<(u16, Option<u32>)> = l
        .config
        .services()
        .iter()
        .map(|s| (s.key.port, s.persistent))
        .collect();
    assert_eq!(got, [(0, Some(360)), (80, Some(360))]);
    // An address and port given twice is taken once; a prefix and a range
    // of whole addresses.
    t.write(
        "keepalived.conf",
        &conf("  198.18.0.108/30 80\n  198.18.0.110 80\n  198.18.0.254-198.18.1.0 80"),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.warnings[0],
        format!("{f}:3: virtual_server_group web: 1 address(es) and port given before, taken once")
    );
    assert_eq!(l.config.services().len(), 4 + 3);
    // No entry: no service, and the virtual server says so.
    t.write("keepalived.conf", &conf(""));
    let l = load_as(&p, None).unwrap();
    assert!(l.config.services().is_empty());
    assert!(
        l.warnings.contains(&format!(
            "{f}:4: virtual_server group web: the group has no address, no service"
        )),
        "{:?}",
        l.warnings
    );
    // keepalived ignores a group of both families (unless every real server
    // is tunnelled); ringvs refuses it.
    t.write(
        "keepalived.conf",
        &conf("  198.18.0.110 80\n  2001:2:0:1::110 80"),
    );
    let e = load_as(&p, None).unwrap_err();
    assert!(
        e.contains(":5: virtual_server group web: the group mixes IPv4 and IPv6"),
        "{e}"
    );
}

/// What a load may make of real servers is bounded by what ringvs holds
/// (65536 over all the services): a group's block is refused before its
/// servers are copied to each of its services when their product is past
/// it (a /21 by 33 `~SEQ` real servers and a sorry server: 69632), and a
/// load whose services together pass it is refused naming why, where it
/// said "Memory allocation problem".
#[test]
fn a_load_makes_no_more_real_servers_than_ringvs_holds() {
    let t = TempDir::new("vsg-bound");
    let block = |name: &str, port: u16, n: usize, sorry: bool| {
        let sorry = if sorry {
            "  sorry_server 198.19.1.1 80\n"
        } else {
            ""
        };
        format!(
            "virtual_server_group {name} {{\n  198.18.8.0/21 {port}\n}}\n\
             virtual_server group {name} {{\n  lb_kind NAT\n  protocol TCP\n{sorry}\
             \x20 ~SEQ(n, 1, {n}) real_server 198.19.0.$n 80\n}}\n"
        )
    };
    let p = t.write("keepalived.conf", &block("web", 80, 33, false));
    let e = load_as(&p, None).unwrap_err();
    let f = p.display();
    assert_eq!(
        e,
        format!(
            "{f}:4: virtual_server group web: 2048 services (addresses and ports, and marks) of 33 real and sorry servers each: more than 65536 real and sorry servers over all the services, the most ringvs holds"
        )
    );
    t.write("keepalived.conf", &block("web", 80, 31, true));
    assert_eq!(load_as(&p, None).unwrap().config.services().len(), 2048);
    // Two such blocks, each under the bound, pass it together.
    let two = format!("{}{}", block("a", 80, 20, false), block("b", 81, 20, false));
    t.write("keepalived.conf", &two);
    let e = load_as(&p, None).unwrap_err();
    assert!(
        e.ends_with(
            ": more than 65536 real and sorry servers over all the services, the most ringvs holds"
        ),
        "{e}"
    );
}

/// A group's block is copied to each of its services with all its
/// statements, not only its servers: a /20 (4096 services) used by a block
/// of a real server and 10000 `~SEQ` `delay_loop` lines, a file of a few
/// lines, is refused at once, naming the numbers, where it made 41M
/// statements (GBs) before the first was read. The copies of all the
/// group blocks of a load count together; a block of the same /20 with 16
/// real servers, each with a check, loads.
#[test]
fn a_group_block_is_not_copied_past_what_a_load_may_make() {
    let t = TempDir::new("vsg-copies");
    let f = |body: &str| {
        format!(
            "virtual_server_group big {{\n  198.18.16.0/20 80\n}}\n\
             virtual_server group big {{\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.1 80\n{body}}}\n"
        )
    };
    let p = t.write("keepalived.conf", &f("  ~SEQ(i, 1, 10000) delay_loop 1\n"));
    let start = std::time::Instant::now();
    let e = load_as(&p, None).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    let path = p.display();
    assert_eq!(
        e,
        format!(
            "{path}:4: virtual_server group big: 4096 services (addresses and ports, and marks) of 10004 statements each make 40976384 statements, more than the 1048576 a load's virtual_server group blocks may make"
        )
    );
    // Two blocks, each under the bound, pass it together.
    let half: String = (1..=3)
        .map(|g| {
            format!(
                "virtual_server_group g{g} {{\n  198.18.16.0/22 8{g}\n}}\n\
                 virtual_server group g{g} {{\n  ~SEQ(i, 1, 400) delay_loop 1\n}}\n"
            )
        })
        .collect();
    t.write("keepalived.conf", &half);
    let e = load_as(&p, None).unwrap_err();
    assert_eq!(
        e,
        format!(
            "{path}:16: virtual_server group g3: 1024 services (addresses and ports, and marks) of 401 statements each make 410624 statements (and 821248 made by the blocks before), more than the 1048576 a load's virtual_server group blocks may make"
        )
    );
    // A large group of real servers with checks loads.
    let servers: String = (2..=16)
        .map(|i| {
            format!(
                "  real_server 198.19.0.{i} 80 {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 3\n      retry 2\n    }}\n  }}\n"
            )
        })
        .collect();
    t.write("keepalived.conf", &f(&format!("  delay_loop 5\n{servers}")));
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.config.services().len(), 4096);
}

/// A `virtual_server_group`'s `fwmark N` entries are firewall-mark
/// services of its virtual server, beside its addresses' (keepalived's
/// `ipvs_group_cmd`), with the block's settings, real servers and check;
/// each takes the packets of the block's `mark_dest` lines for it
/// (`mark_dest N RULE`, or `mark_dest RULE` for a group's one mark), which
/// the address services do not take. Its family is the entry's, else the
/// group's, else the block's; a reload that adds a mark adds its service.
#[test]
fn a_virtual_server_groups_fwmarks_are_fwmark_services() {
    let t = TempDir::new("vsg-fwmark");
    let conf = |entries: &str, dests: &str| {
        format!(
            "virtual_server_group web {{\n  198.18.0.110 80\n{entries}}}\n\
             virtual_server group web {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{dests}\
             \x20 real_server 198.19.0.2 80 {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n}}\n"
        )
    };
    let both = "  mark_dest 1 tcp:198.18.0.120:443\n  mark_dest 2 udp:198.18.0.121:53\n";
    let (saved, warnings) = saved_and_warnings(&t, &conf("  fwmark 1\n  fwmark 2 inet\n", both));
    assert_eq!(warnings, Vec::<String>::new());
    let check = "--check tcp --delay-loop 60 --connect-timeout 2 --retry 1 --delay-before-retry 1";
    // A mark's service is of port 0: its check is on the servers' port.
    let mcheck = "--check tcp --check-port 80 --delay-loop 60 --connect-timeout 2 --retry 1 --delay-before-retry 1";
    assert_eq!(
        saved,
        format!(
            "-A -t 198.18.0.110:80 -s rr {check}\n\
             -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 2\n\
             -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1\n\
             -A -f 1 -s rr {mcheck} --mark-dest tcp:198.18.0.120:443\n\
             -a -f 1 -r 198.19.0.2:80 -m -w 2\n\
             -a -f 1 -r 198.19.0.3:80 -m -w 1\n\
             -A -f 2 -s rr {mcheck} --mark-dest udp:198.18.0.121:53\n\
             -a -f 2 -r 198.19.0.2:80 -m -w 2\n\
             -a -f 2 -r 198.19.0.3:80 -m -w 1\n"
        )
    );
    // One mark: its `mark_dest` needs no number.
    let (saved, warnings) = saved_and_warnings(
        &t,
        &conf("  fwmark 1\n", "  mark_dest tcp:198.18.0.120:443\n"),
    );
    assert_eq!(warnings, Vec::<String>::new());
    assert!(
        saved.contains(&format!(
            "-A -f 1 -s rr {mcheck} --mark-dest tcp:198.18.0.120:443\n"
        )),
        "{saved}"
    );
    // The group's family: an IPv6 group's unmarked entry is IPv6.
    let (saved, _) = saved_and_warnings(
        &t,
        "virtual_server_group web6 {\n  2001:2:0:1::110 80\n  fwmark 4\n}\n\
         virtual_server group web6 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 mark_dest tcp:[2001:2:0:1::120]:443\n  real_server 2001:2:0:2::2 443 {\n  }\n}\n",
    );
    assert!(
        saved.contains("-A -f 4 -6 -s rr --mark-dest tcp:[2001:2:0:1::120]:443\n"),
        "{saved}"
    );
    // A group of marks alone: the block's family (its non-tunnelled
    // server's), else IPv4 with a warning, as keepalived.
    let marks_only = |servers: &str| {
        saved_and_warnings(
            &t,
            &format!(
                "virtual_server_group m {{\n  fwmark 5\n}}\n\
                 virtual_server group m {{\n  lb_algo rr\n  lb_kind TUN\n{servers}}}\n"
            ),
        )
    };
    let (saved, warnings) = marks_only("  real_server 2001:2:0:2::2 0 {\n    lvs_method DR\n  }\n");
    assert!(saved.starts_with("-A -f 5 -6 -s rr"), "{saved}");
    assert_eq!(warnings.len(), 1, "no mark_dest: {warnings:?}");
    let (saved, warnings) = marks_only("  real_server 2001:2:0:2::2 0 {\n  }\n");
    assert!(saved.starts_with("-A -f 5 -s rr"), "{saved}");
    assert_eq!(
        warnings
            .iter()
            .map(|w| w.split_once(": ").unwrap().1)
            .collect::<Vec<_>>(),
        [
            "virtual_server group m: the family of fwmark 5 cannot be determined (no ip_family or persistence_granularity, and every server of the block tunnelled), IPv4 (as keepalived does)",
            "virtual_server group m: fwmark 5 without mark_dest: it takes no packet (ringvs cannot see netfilter's marks; give the MARK rule's destinations as `mark_dest PROTO:ADDR[/LEN][:PORTS]`)",
        ]
    );
    // No real server (a tunnelled sorry server alone): the block is
    // ignored, which is all it is told.
    for servers in ["", "  sorry_server 2001:2:0:2::9 53\n"] {
        let (saved, warnings) = marks_only(servers);
        assert_eq!(saved, "");
        assert_eq!(
            warnings
                .iter()
                .map(|w| w.split_once(": ").unwrap().1)
                .collect::<Vec<_>>(),
            ["virtual_server fwmark 5 has no real_server: ignored (as keepalived does)"],
            "{servers}"
        );
    }
    // A reload that adds a mark adds its service alone; one that removes
    // a mark removes its service alone.
    let p = t.write(
        "keepalived.conf",
        &conf("  fwmark 1\n", "  mark_dest 1 tcp:198.18.0.120:443\n"),
    );
    let mut running = load_as(&p, None).unwrap().config;
    t.write("keepalived.conf", &conf("  fwmark 1\n  fwmark 2\n", both));
    let shown = reload(&mut running, &p);
    assert_eq!(shown.len(), 1 + 2, "{shown:?}");
    assert!(shown[0].starts_with("-A -f 2 -s rr"), "{shown:?}");
    assert_eq!(running.services().len(), 3);
    t.write(
        "keepalived.conf",
        &conf("  fwmark 2\n", "  mark_dest 2 udp:198.18.0.121:53\n"),
    );
    assert_eq!(reload(&mut running, &p), ["-D -f 1"]);
    t.write("keepalived.conf", &conf("", ""));
    assert_eq!(reload(&mut running, &p), ["-D -f 2"]);
    assert_eq!(running.services().len(), 1, "its address's alone");
    // A mark whose family changes is another service: the old one goes,
    // the new one comes with its servers of that family.
    let family = |entry: &str| {
        format!(
            "virtual_server_group m {{\n  fwmark 1{entry}\n}}\n\
             virtual_server group m {{\n  lb_algo rr\n  lb_kind NAT\n\
             \x20 real_server 198.19.0.2 80 {{\n  }}\n  real_server 2001:2:0:2::2 80 {{\n  }}\n}}\n"
        )
    };
    t.write("keepalived.conf", &family(""));
    let mut running = load_as(&p, None).unwrap().config;
    assert_eq!(running.services()[0].key, ServiceKey::fwmark(1, false));
    t.write("keepalived.conf", &family(" inet6"));
    assert_eq!(
        reload(&mut running, &p),
        [
            "-D -f 1",
            "-A -f 1 -6 -s rr",
            "-a -f 1 -6 -r [2001:2:0:2::2]:80 -m -w 1"
        ]
    );
    // Errors: a mark_dest that names no mark of the group, or none of
    // several; a mark of the other family than the addresses; a bad mark.
    for (entries, dests, err) in [
        (
            "  fwmark 1\n  fwmark 2\n",
            "  mark_dest tcp:198.18.0.120:443\n",
            ":10: mark_dest tcp:198.18.0.120:443: virtual_server_group web has 2 fwmarks, say which (mark_dest MARK tcp:198.18.0.120:443)",
        ),
        (
            "  fwmark 1\n",
            "  mark_dest 3 tcp:198.18.0.120:443\n",
            ":9: mark_dest 3: virtual_server_group web has no fwmark 3",
        ),
        (
            "  fwmark 1 inet6\n",
            "",
            ":5: virtual_server group web: the group mixes IPv4 and IPv6 addresses",
        ),
        (
            "  fwmark 0\n",
            "",
            ":3: virtual_server_group entry fwmark 0: not a mark (1..4294967295)",
        ),
        (
            "  fwmark 1 inet7\n",
            "",
            ":3: virtual_server_group entry fwmark 1 inet7: the family is inet or inet6",
        ),
    ] {
        t.write("keepalived.conf", &conf(entries, dests));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.ends_with(err), "{entries}{dests}: {e}");
    }
}

/// A group with a `fwmark` entry used by a TCP and a UDP `virtual_server
/// group` (DNS's usual layout): one service per mark and family, as
/// keepalived's `ipvs_group_cmd` adds it for the first virtual server
/// alone (the entry's `fwm4_alive` count) and every one's real servers to
/// it. The first block's settings stay (a later block's that differ are
/// warned about), a later block's servers join (one both have once), its
/// `mark_dest` rules add to the service's. The file was refused
/// ("defined twice").
#[test]
fn a_groups_mark_is_one_service_for_its_virtual_servers() {
    let t = TempDir::new("vsg-shared-mark");
    let block = |proto: &str, settings: &str, dest: &str, other: u8| {
        format!(
            "virtual_server group dns {{\n  lb_algo rr\n  lb_kind NAT\n  protocol {proto}\n{settings}{dest}\
             \x20 real_server 198.19.0.2 53 {{\n    weight 2\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n\
             \x20 real_server 198.19.0.{other} 53 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n}}\n"
        )
    };
    let group = "virtual_server_group dns {\n  198.18.0.53 53\n  fwmark 7\n}\n";
    let (tcp_rule, udp_rule) = (
        "  mark_dest tcp:198.18.0.54:53\n",
        "  mark_dest udp:198.18.0.54:53\n",
    );
    let conf = |udp_settings: &str, tcp_dest: &str| {
        format!(
            "{group}{}{}",
            block("TCP", "", tcp_dest, 3),
            block("UDP", udp_settings, udp_rule, 4)
        )
    };
    let (saved, warnings) = saved_and_warnings(&t, &conf("", tcp_rule));
    assert_eq!(warnings, Vec::<String>::new());
    let check = "--check tcp --delay-loop 60 --connect-timeout 2 --retry 1 --delay-before-retry 1";
    let mcheck = "--check tcp --check-port 53 --delay-loop 60 --connect-timeout 2 --retry 1 --delay-before-retry 1";
    assert_eq!(
        saved,
        format!(
            "-A -t 198.18.0.53:53 -s rr {check}\n\
             -a -t 198.18.0.53:53 -r 198.19.0.2:53 -m -w 2\n\
             -a -t 198.18.0.53:53 -r 198.19.0.3:53 -m -w 1\n\
             -A -u 198.18.0.53:53 -s rr {check}\n\
             -a -u 198.18.0.53:53 -r 198.19.0.2:53 -m -w 2\n\
             -a -u 198.18.0.53:53 -r 198.19.0.4:53 -m -w 1\n\
             -A -f 7 -s rr {mcheck} --mark-dest tcp:198.18.0.54:53 --mark-dest udp:198.18.0.54:53\n\
             -a -f 7 -r 198.19.0.2:53 -m -w 2\n\
             -a -f 7 -r 198.19.0.3:53 -m -w 1\n\
             -a -f 7 -r 198.19.0.4:53 -m -w 1\n"
        )
    );
    // The later block's scheduler and persistence are its address
    // services'; the mark's service keeps the first's, and says so. Its
    // rules alone are the service's when the first gives none.
    let p = t.write(
        "keepalived.conf",
        &conf("  lb_algo wrr\n  persistence_timeout 60\n", ""),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.warnings,
        [format!(
            "{}:21: virtual_server group dns: fwmark 7 is the service the block at {}:5 set up (one per mark and family, as keepalived's ipvs_group_cmd), with its lb_algo, persistence_timeout: this block's differ and are not taken; its real servers join the service",
            p.display(),
            p.display()
        )]
    );
    let saved = ringvs::config::format::format_save(&l.config, true, &Names::none());
    assert!(
        saved.contains(&format!(
            "-A -f 7 -s rr {mcheck} --mark-dest udp:198.18.0.54:53\n"
        )),
        "{saved}"
    );
    assert!(
        saved.contains(&format!("-A -u 198.18.0.53:53 -s wrr -p 60 {check}\n")),
        "{saved}"
    );
    // A reload without the UDP block: its address service goes, and its
    // server and rules leave the mark's.
    t.write("keepalived.conf", &conf("", tcp_rule));
    let mut running = load_as(&p, None).unwrap().config;
    t.write(
        "keepalived.conf",
        &format!("{group}{}", block("TCP", "", tcp_rule, 3)),
    );
    assert_eq!(
        reload(&mut running, &p),
        [
            "-D -u 198.18.0.53:53".to_string(),
            format!("-E -f 7 -s rr {mcheck} --mark-dest tcp:198.18.0.54:53"),
            "-d -f 7 -r 198.19.0.4:53".to_string(),
        ]
    );
    // A later block's server notify scripts run for its own first service,
    // not again for the mark's it joins.
    let notify = conf("", tcp_rule).replace(
        "real_server 198.19.0.4 53 {\n",
        "real_server 198.19.0.4 53 {\n    notify_up /bin/true\n",
    );
    let (saved, warnings) = saved_and_warnings(&t, &notify);
    assert!(
        saved.contains("-a -u 198.18.0.53:53 -r 198.19.0.4:53 -m -w 1 --notify-up"),
        "{saved}"
    );
    assert!(
        saved.contains("-a -f 7 -r 198.19.0.4:53 -m -w 1\n"),
        "{saved}"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].ends_with(
            ":22: virtual_server group: its notify scripts run for its first member UDP 198.18.0.53:53 alone (keepalived runs them once for the group; ringvs tells each member apart)"
        ),
        "{warnings:?}"
    );
    // Another group's, or a virtual_server's, mark is still one defined
    // twice.
    t.write(
        "keepalived.conf",
        &format!(
            "{group}{}virtual_server fwmark 7 {{\n  lb_algo rr\n  lb_kind NAT\n{tcp_rule}\
             \x20 real_server 198.19.0.5 53 {{\n  }}\n}}\n",
            block("TCP", "", tcp_rule, 3)
        ),
    );
    let e = load_as(&p, None).unwrap_err();
    assert!(
        e.contains(":22: virtual_server FWM 7: defined twice"),
        "{e}"
    );
}

/// A real server's `weight` is keepalived's 0..2147483647 (its
/// `IPVS_WEIGHT_LIMIT`; a virtual server's, the default, 1..), past
/// `ipvsadm -w`'s 65535, which the schedulers weigh with; `-S` writes it
/// as it is and `-R` refuses it as `ipvsadm -R` does (`ringvs adm -w`
/// keeps ipvsadm's range); past the limit the file is refused, naming it.
#[test]
fn weights_are_keepalived_s_up_to_2147483647() {
    let t = TempDir::new("weights");
    let conf = |vs: &str, rs: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n  weight {vs}\n\
             \x20 real_server 198.19.0.2 80 {{\n    weight {rs}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n  }}\n}}\n"
        )
    };
    let (saved, warnings) = saved_and_warnings(&t, &conf("70000", "2147483647"));
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(
        saved,
        "-A -t 198.18.0.110:80 -s wrr\n\
         -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 2147483647\n\
         -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 70000\n"
    );
    let mut back = Config::new();
    let e = ringvs::config::ipvsadm::restore(&mut back, &saved, &Names::none(), &mut |_, _, _| {})
        .unwrap_err();
    assert_eq!(e.to_string(), "line 2: illegal weight specified");
    assert!(
        back.services().is_empty(),
        "a line that does not parse changes nothing"
    );
    for (vs, rs, err) in [
        (
            "1",
            "2147483648",
            ":7: weight 2147483648: not a number in 0..2147483647",
        ),
        (
            "2147483648",
            "1",
            ":5: weight 2147483648: not a number in 1..2147483647",
        ),
        ("0", "1", ":5: weight 0: not a number in 1..2147483647"),
    ] {
        let p = t.write("keepalived.conf", &conf(vs, rs));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.ends_with(err), "{vs} {rs}: {e}");
    }
}

/// `DNS_CHECK` (`type`, `name`) with its own defaults: SOA of `.`, 3
/// retries, `delay_before_retry` as the `delay_loop` it ends up with; an
/// unknown type or an empty label is an error.
#[test]
fn dns_checkers_are_read_with_their_defaults() {
    let t = TempDir::new("dnscheck");
    let conf = |vs: &str, dns: &str| {
        format!(
            "virtual_server 198.18.0.110 53 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n{vs}\n\
             \x20 real_server 198.19.0.2 53 {{\n    DNS_CHECK {{\n{dns}\n    }}\n  }}\n}}\n"
        )
    };
    let dns = ServiceKey::new(Proto::Udp, vip(110), 53);
    let p = t.write("keepalived.conf", &conf("  delay_loop 7", ""));
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config.service(&dns).unwrap().check.clone().unwrap();
    assert_eq!(c.kind, CheckKind::Dns(DnsCheck::new()));
    assert_eq!((c.retry, c.delay_loop, c.delay_before_retry), (3, 7, 7));
    t.write(
        "keepalived.conf",
        &conf(
            "",
            "      type mx\n      name example.com\n      retry 1\n      delay_before_retry 2",
        ),
    );
    let c = load_as(&p, None)
        .unwrap()
        .config
        .service(&dns)
        .unwrap()
        .check
        .clone()
        .unwrap();
    assert_eq!(
        c.kind,
        CheckKind::Dns(DnsCheck {
            qtype: DnsType::Mx,
            name: "example.com".into()
        })
    );
    assert_eq!((c.retry, c.delay_before_retry), (1, 2));
    for (dns, err) in [
        ("      type PTR", ":8: type PTR: not a DNS_CHECK type"),
        (
            "      name .example",
            ":8: name .example: not a domain name",
        ),
    ] {
        t.write("keepalived.conf", &conf("", dns));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.contains(err), "{dns}: {e}");
    }
}

/// A url's `regex` and `regex_no_match` (keepalived's body match, not done
/// by ringvs), and the keywords that tune it (`regex_options`,
/// `regex_stack`, `regex_min_offset`, `regex_max_offset`), are each named
/// in a warning that says the url passes on its status code and digest
/// alone, and the check is the url without them.
#[test]
fn a_urls_regex_is_warned_about_as_not_checked() {
    let t = TempDir::new("regex");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 real_server 198.19.0.2 80 {\n    HTTP_GET {\n      url {\n        path /health\n\
         \x20       regex \"^ok\"\n        regex_no_match\n        regex_options caseless\n\
         \x20       regex_stack 65536\n        regex_min_offset 2\n        regex_max_offset 64\n\
         \x20     }\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let f = p.display().to_string();
    let words = [
        "regex",
        "regex_no_match",
        "regex_options",
        "regex_stack",
        "regex_min_offset",
        "regex_max_offset",
    ];
    let want: Vec<String> = (words.iter().zip(9..))
        .map(|(w, line)| {
            format!(
                "{f}:{line}: {w} (in url): not supported by ringvs, ignored: the url passes on its status code and digest alone"
            )
        })
        .collect();
    assert_eq!(l.warnings, want);
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let check = l.config.service(&key).unwrap().check.clone().unwrap();
    let want = HttpCheck {
        status: vec![(200, 299)],
        ..HttpCheck::get("/health", 200)
    };
    assert_eq!(check.kind, CheckKind::Http(want));
}

/// `HTTP_GET` and `SSL_GET` urls as keepalived reads them: status codes
/// (200-299 without any), the digest, the virtual host of the url, else of
/// the checker, the real server, the virtual server; `enable_sni` names it
/// (or nothing without one); the `-S` line and its reading back.
#[test]
fn http_and_ssl_get_urls_are_read_as_keepalived_reads_them() {
    let t = TempDir::new("sslget");
    let conf = |vs: &str, rs: &str, checker: &str, url: &str| {
        format!(
            "virtual_server 198.18.0.110 443 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{vs}\n\
             \x20 real_server 198.19.0.2 443 {{\n{rs}\n    {checker} {{\n      url {{\n        path /health\n{url}\n      }}\n    }}\n  }}\n}}\n"
        )
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 443);
    let p = t.write("keepalived.conf", &conf("", "", "SSL_GET", ""));
    let check_of = |p: &Path| -> HttpCheck {
        let l = load_as(p, None).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        match l.config.service(&key).unwrap().check.clone().unwrap().kind {
            CheckKind::Http(h) => h,
            k => panic!("{k:?}"),
        }
    };
    let h = check_of(&p);
    assert_eq!(
        h,
        HttpCheck {
            tls: true,
            status: vec![(200, 299)],
            ..HttpCheck::get("/health", 200)
        },
        "keepalived's default status codes"
    );
    let url =
        "        status_code 200 301-302 204\n        digest 9E107D9D372BB6826BD81D3542A419D6";
    t.write(
        "keepalived.conf",
        &conf(
            "  virtualhost vs.example",
            "    virtualhost rs.example",
            "SSL_GET",
            url,
        ),
    );
    let h = check_of(&p);
    assert_eq!(h.status, vec![(200, 200), (204, 204), (301, 302)]);
    assert_eq!(
        h.digest.map(|d| ringvs::config::digest_hex(&d)),
        Some("9e107d9d372bb6826bd81d3542a419d6".into())
    );
    assert_eq!(
        h.vhost.as_deref(),
        Some("rs.example"),
        "the real server's over the virtual server's"
    );
    assert!(!h.sni);
    t.write(
        "keepalived.conf",
        &conf("  virtualhost vs.example", "", "SSL_GET", ""),
    );
    assert_eq!(check_of(&p).vhost.as_deref(), Some("vs.example"));
    // The checker's virtual host over the others, the url's over the checker's.
    let text = conf(
        "  virtualhost vs.example",
        "",
        "SSL_GET",
        "        virtualhost url.example",
    )
    .replace(
        "SSL_GET {\n",
        "SSL_GET {\n      virtualhost ck.example\n      enable_sni on\n",
    );
    t.write("keepalived.conf", &text);
    let h = check_of(&p);
    assert_eq!((h.vhost.as_deref(), h.sni), (Some("url.example"), true));
    let text = conf("", "", "SSL_GET", "").replace("SSL_GET {\n", "SSL_GET {\n      enable_sni\n");
    t.write("keepalived.conf", &text);
    assert!(!check_of(&p).sni, "SNI without a name to send sends none");
    // -S writes it all, and reads back the same.
    let text = conf("", "", "SSL_GET", url).replace(
        "SSL_GET {\n",
        "SSL_GET {\n      virtualhost ck.example\n      enable_sni\n",
    );
    t.write("keepalived.conf", &text);
    let l = load_as(&p, None).unwrap();
    let saved =
        ringvs::config::format::format_save(&l.config, true, &ringvs::config::names::Names::none());
    assert!(
        saved.contains(
            "--check https --check-path /health --check-status 200,204,301-302 --check-digest 9e107d9d372bb6826bd81d3542a419d6 --check-virtualhost ck.example --check-sni"
        ),
        "{saved}"
    );
    for (checker, url, err) in [
        (
            "SSL_GET",
            "        digest 9e107d9d",
            ":11: digest 9e107d9d: not 32 hex digits",
        ),
        (
            "HTTP_GET",
            "        status_code 600",
            ":11: status_code 600: not a status in 100..599",
        ),
        (
            "HTTP_GET",
            "        virtualhost a/b",
            ":11: virtualhost a/b: not a host name",
        ),
    ] {
        t.write("keepalived.conf", &conf("", "", checker, url));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.contains(err), "{url}: {e}");
    }
    // `http_protocol` (keepalived's `http_protocol_handler`): the check's
    // request version, without a warning; `-S` writes it unless it is
    // ringvs's default 1.0C, which a checker without it gets.
    t.write("keepalived.conf", &conf("", "", "HTTP_GET", ""));
    assert_eq!(check_of(&p).proto, HttpProtocol::V10Close, "not given");
    for checker in ["HTTP_GET", "SSL_GET"] {
        for (v, want, saved) in [
            ("1.0", HttpProtocol::V10, Some("1.0")),
            ("1.0C", HttpProtocol::V10Close, None),
            ("1.0c", HttpProtocol::V10Close, None),
            ("1.1", HttpProtocol::V11, Some("1.1")),
        ] {
            let text = conf("", "", checker, "").replace(
                &format!("{checker} {{\n"),
                &format!("{checker} {{\n      http_protocol {v}\n"),
            );
            t.write("keepalived.conf", &text);
            assert_eq!(check_of(&p).proto, want, "{checker} {v}");
            let l = load_as(&p, None).unwrap();
            let s = ringvs::config::format::format_save(&l.config, true, &Names::none());
            let option = saved.map(|v| format!(" --check-http-protocol {v} "));
            assert_eq!(
                option.as_ref().map(|o| s.contains(o.as_str())),
                saved.map(|_| true),
                "{checker} {v}: {s}"
            );
            if saved.is_none() {
                assert!(!s.contains("--check-http-protocol"), "{checker} {v}: {s}");
            }
            // `-R` of what `-S` wrote gives the same table.
            let mut back = Config::new();
            let errors =
                ringvs::config::ipvsadm::restore(&mut back, &s, &Names::none(), &mut |_, _, _| {})
                    .unwrap();
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(
                back.service(&key).unwrap().check,
                l.config.service(&key).unwrap().check
            );
        }
    }
    // A reload that changes it changes the check, and says so.
    t.write("keepalived.conf", &conf("", "", "HTTP_GET", ""));
    let mut running = load_as(&p, None).unwrap().config;
    let text = conf("", "", "HTTP_GET", "")
        .replace("HTTP_GET {\n", "HTTP_GET {\n      http_protocol 1.1\n");
    t.write("keepalived.conf", &text);
    assert_eq!(
        reload(&mut running, &p),
        [
            "-E -t 198.18.0.110:443 -s rr --check http --check-path /health --check-status 200-299 --check-http-protocol 1.1 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 3"
        ]
    );
    t.write("keepalived.conf", &conf("", "", "HTTP_GET", ""));
    assert_eq!(
        reload(&mut running, &p),
        [
            "-E -t 198.18.0.110:443 -s rr --check http --check-path /health --check-status 200-299 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 3"
        ]
    );
    for bad in ["2", "1.1K", "1.0K", "1.1c"] {
        let text = conf("", "", "HTTP_GET", "").replace(
            "HTTP_GET {\n",
            &format!("HTTP_GET {{\n      http_protocol {bad}\n"),
        );
        t.write("keepalived.conf", &text);
        let e = load_as(&p, None).unwrap_err();
        assert!(
            e.contains(&format!(":9: http_protocol {bad}: not 1.0, 1.0C or 1.1")),
            "{e}"
        );
    }
    // SNI sends no address: warned about, off.
    let text = conf("", "    virtualhost 198.18.0.1", "SSL_GET", "")
        .replace("SSL_GET {\n", "SSL_GET {\n      enable_sni\n");
    t.write("keepalived.conf", &text);
    let l = load_as(&p, None).unwrap();
    assert!(
        l.warnings.iter().any(|w| w.ends_with(
            ":8: enable_sni (in SSL_GET): virtualhost 198.18.0.1 is not a host name SNI can send, none is sent"
        )),
        "{:?}",
        l.warnings
    );
    // enable_sni means nothing without TLS: warned about.
    let text =
        conf("", "", "HTTP_GET", "").replace("HTTP_GET {\n", "HTTP_GET {\n      enable_sni\n");
    t.write("keepalived.conf", &text);
    let l = load_as(&p, None).unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.ends_with(":9: enable_sni (in HTTP_GET): no TLS there, ignored")),
        "{:?}",
        l.warnings
    );
}

/// `SMTP_CHECK` with `helo_name` (keepalived's default name without it);
/// its deprecated `host` blocks are warned about, and so is a name with a
/// blank (the default is sent instead).
#[test]
fn smtp_checkers_are_read() {
    let t = TempDir::new("smtpcheck");
    let conf = |smtp: &str| {
        format!(
            "virtual_server 198.18.0.110 25 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 25 {{\n    SMTP_CHECK {{\n{smtp}\n    }}\n  }}\n}}\n"
        )
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 25);
    let p = t.write("keepalived.conf", &conf("      connect_timeout 3"));
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(c.kind, CheckKind::Smtp(SmtpCheck::new()));
    assert_eq!(
        (c.connect_timeout, c.retry, c.delay_before_retry),
        (3, 1, 1)
    );
    t.write(
        "keepalived.conf",
        &conf("      helo_name mx.example\n      host {\n        connect_ip 198.19.0.9\n      }"),
    );
    let l = load_as(&p, None).unwrap();
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(
        c.kind,
        CheckKind::Smtp(SmtpCheck {
            helo: "mx.example".into()
        })
    );
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].ends_with(":8: host (in SMTP_CHECK): deprecated by keepalived, not supported by ringvs (give the SMTP_CHECK connect_ip and connect_port); ignored"),
        "{:?}",
        l.warnings
    );
    t.write("keepalived.conf", &conf("      helo_name \"mx example\""));
    let l = load_as(&p, None).unwrap();
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(
        c.kind,
        CheckKind::Smtp(SmtpCheck::new()),
        "the default name"
    );
    assert!(
        l.warnings[0].ends_with(
            ":7: helo_name mx example: not a name HELO can give (printable, no blanks), using smtpchecker.keepalived.org"
        ),
        "{:?}",
        l.warnings
    );
}

/// `connect_port` is the check's `--check-port`, compared between the real
/// servers as it is carried out: one that is its server's own port is none,
/// and it equals another server's lack of one where that is the other's own
/// port; a port-0 service (every port, persistent) checks its servers on it.
#[test]
fn connect_port_is_the_checks_port() {
    let t = TempDir::new("connectport");
    let conf = |port: u16, rs: [(u16, &str); 2]| {
        let rs = [(2, rs[0]), (3, rs[1])].map(|(last, (p, c))| {
            format!(
                "  real_server 198.19.0.{last} {p} {{\n    TCP_CHECK {{\n      {c}\n    }}\n  }}\n"
            )
        });
        format!(
            "virtual_server 198.18.0.110 {port} {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  persistence_timeout 60\n{}{}}}\n",
            rs[0], rs[1]
        )
    };
    for (port, rs, want, warned) in [
        // Another port for both: the first's, unwarned.
        (
            80,
            [(80, "connect_port 8080"), (8081, "connect_port 8080")],
            Some(8080),
            false,
        ),
        // The second server's own port is the first's connect_port.
        (
            80,
            [(80, "connect_port 8080"), (8080, "retry 1")],
            Some(8080),
            false,
        ),
        // The first's connect_port is its own port: no port of the check's.
        (80, [(80, "connect_port 80"), (81, "retry 1")], None, false),
        (80, [(81, "retry 1"), (80, "connect_port 80")], None, false),
        // Both on 80, one of them its own: 80 is the check's.
        (
            80,
            [(80, "connect_port 80"), (81, "connect_port 80")],
            Some(80),
            false,
        ),
        // The second is checked on its own port 81 by keepalived, on 8080 here.
        (
            80,
            [(80, "connect_port 8080"), (81, "retry 1")],
            Some(8080),
            true,
        ),
        // Every port: the servers' ports are 0, the check's is given.
        (
            0,
            [(0, "connect_port 22"), (0, "connect_port 22")],
            Some(22),
            false,
        ),
    ] {
        let p = t.write("keepalived.conf", &conf(port, rs));
        let l = load_as(&p, None).unwrap();
        let key = ServiceKey::new(Proto::Tcp, vip(110), port);
        let c = l.config.service(&key).unwrap().check.clone().unwrap();
        assert_eq!(c.port, want, "{rs:?}");
        if warned {
            assert_eq!(l.warnings.len(), 1, "{rs:?}: {:?}", l.warnings);
            assert!(
                l.warnings[0].contains("its check differs (connect_port)"),
                "{:?}",
                l.warnings
            );
        } else {
            assert_eq!(l.warnings, Vec::<String>::new(), "{rs:?}");
        }
    }
    // A server without a checker is checked on its own port (81): the
    // first's connect_port 80, its own, is then no port of the check's.
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 real_server 198.19.0.2 80 {\n    TCP_CHECK {\n      connect_port 80\n    }\n  }\n\
         \x20 real_server 198.19.0.3 81 {\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(c.port, None, "{:?}", l.warnings);

    // Every port, no connect_port: the servers' common port, else no check.
    let p = t.write(
        "keepalived.conf",
        &conf(0, [(22, "retry 1"), (22, "retry 1")]),
    );
    let l = load_as(&p, None).unwrap();
    let key = ServiceKey::new(Proto::Tcp, vip(110), 0);
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(
        (c.port, l.warnings.len()),
        (Some(22), 0),
        "{:?}",
        l.warnings
    );
    t.write(
        "keepalived.conf",
        &conf(0, [(0, "retry 1"), (22, "retry 1")]),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.config.service(&key).unwrap().check, None);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].ends_with(":1: virtual_server port 0: its check (of {}:7) has no connect_port and its real servers no common port to check; not checked by ringvs".replace("{}", &p.display().to_string()).as_str()),
        "{:?}",
        l.warnings
    );
    // A reload that changes the port edits the service's check.
    t.write(
        "keepalived.conf",
        &conf(0, [(0, "connect_port 22"), (0, "connect_port 22")]),
    );
    let mut running = load_as(&p, None).unwrap().config;
    t.write(
        "keepalived.conf",
        &conf(0, [(0, "connect_port 23"), (0, "connect_port 23")]),
    );
    assert_eq!(
        reload(&mut running, &p),
        [
            "-E -t 198.18.0.110:0 -s rr -p 60 --check tcp --check-port 23 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1"
        ]
    );
}

/// `warmup` (keepalived's `warmup_handler`, `vs_warmup_handler`,
/// `rs_warmup_handler`): the checker's, else its real server's, else its
/// virtual server's (`validate_check_config`); none: 0 here (keepalived's
/// default is the `delay_loop`); compared between servers as the other
/// times; a reload that changes it edits the service's check.
#[test]
fn warmup_is_read_at_every_level_and_reloaded() {
    let t = TempDir::new("warmup");
    let conf = |vs: &str, rs: [(&str, &str); 2]| {
        let rs = [(2, rs[0]), (3, rs[1])].map(|(last, (r, c))| {
            format!(
                "  real_server 198.19.0.{last} 80 {{\n    {r}\n    TCP_CHECK {{\n      {c}\n    }}\n  }}\n"
            )
        });
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  {vs}\n{}{}}}\n",
            rs[0], rs[1]
        )
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    for (vs, rs, want, differs) in [
        ("", [("", ""), ("", "")], 0, false),
        ("warmup 30", [("", ""), ("", "")], 30, false),
        ("warmup 30", [("warmup 10", ""), ("", "")], 10, true),
        (
            "warmup 30",
            [("warmup 10", "warmup 5"), ("", "warmup 5")],
            5,
            false,
        ),
        ("warmup 30", [("", "warmup 0"), ("", "warmup 0")], 0, false),
        ("delay_loop 6", [("", ""), ("", "")], 0, false),
    ] {
        let p = t.write("keepalived.conf", &conf(vs, rs));
        let l = load_as(&p, None).unwrap();
        let c = l.config.service(&key).unwrap().check.clone().unwrap();
        assert_eq!(c.warmup, want, "{vs} {rs:?}");
        if differs {
            assert_eq!(l.warnings.len(), 1, "{rs:?}: {:?}", l.warnings);
            assert!(
                l.warnings[0].contains("its check differs (warmup)"),
                "{:?}",
                l.warnings
            );
        } else {
            assert_eq!(l.warnings, Vec::<String>::new(), "{vs} {rs:?}");
        }
    }
    // Whole seconds, as the other times.
    let p = t.write("keepalived.conf", &conf("warmup 2.5", [("", ""), ("", "")]));
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.config
            .service(&key)
            .unwrap()
            .check
            .as_ref()
            .unwrap()
            .warmup,
        3
    );
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].ends_with("warmup 2.5: ringvs counts whole seconds, using 3"));
    t.write(
        "keepalived.conf",
        &conf("warmup soon", [("", ""), ("", "")]),
    );
    assert!(
        load_as(&p, None)
            .unwrap_err()
            .contains("warmup soon: not a time")
    );
    // A reload that changes it edits the check, and its log line shows
    // the whole check as `-S` writes it (the new warmup too).
    t.write("keepalived.conf", &conf("warmup 30", [("", ""), ("", "")]));
    let mut running = load_as(&p, None).unwrap().config;
    t.write("keepalived.conf", &conf("warmup 20", [("", ""), ("", "")]));
    assert_eq!(
        reload(&mut running, &p),
        [
            "-E -t 198.18.0.110:80 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --warmup 20"
        ]
    );
    let c = running.service(&key).unwrap().check.as_ref().unwrap();
    assert_eq!(c.warmup, 20);
}

/// `connect_ip` (keepalived's `co_ip_handler`): where that real server is
/// checked, its `--check-ip` (none where it is its own address, and for a
/// checker without connection keywords); a reload that changes it edits
/// the server. `bindto` naming the DIP of the checked address's family
/// (`LoadOptions::dips`) is what ringvs does anyway; another address is
/// warned about and ignored, as are `bind_port` and `bind_if`.
#[test]
fn connect_ip_and_bindto_are_read_and_reloaded() {
    let t = TempDir::new("connectip");
    let conf = |rs2: &str, rs3: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    HTTP_GET {{\n      url {{\n        path /\n      }}\n{rs2}\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    HTTP_GET {{\n      url {{\n        path /\n      }}\n{rs3}\n    }}\n  }}\n}}\n"
        )
    };
    let dips = vec![
        IpAddr::from(rip(1)),
        "2001:2:0:2::1".parse::<IpAddr>().unwrap(),
    ];
    let load = |p: &Path| {
        let opts = LoadOptions {
            dips: dips.clone(),
            ..LoadOptions::default()
        };
        load_with(p, &opts).unwrap()
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let check_ips = |c: &Config| -> Vec<Option<IpAddr>> {
        c.service(&key)
            .unwrap()
            .dests
            .iter()
            .map(|d| d.check_ip)
            .collect()
    };
    let p = t.write(
        "keepalived.conf",
        &conf(
            "      connect_ip 198.19.0.7\n      bindto 198.19.0.1",
            "      connect_ip 198.19.0.3\n      connect_ip 2001:2:0:2::8\n      bindto 2001:2:0:2::1",
        ),
    );
    let l = load(&p);
    assert_eq!(l.warnings, Vec::<String>::new());
    assert_eq!(
        check_ips(&l.config),
        [Some(rip(7).into()), Some("2001:2:0:2::8".parse().unwrap())]
    );
    // Other sources: warned about, ignored.
    t.write(
        "keepalived.conf",
        &conf(
            "      connect_ip 198.19.0.3\n      bindto 198.19.0.5\n      bind_port 5000\n      bind_if eth1",
            "      bindto 2001:2:0:2::1",
        ),
    );
    let l = load(&p);
    assert_eq!(check_ips(&l.config), [Some(rip(3).into()), None]);
    let f = p.display();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{f}:11: bindto 198.19.0.5 (in HTTP_GET): ringvs checks 198.19.0.3 from its DIP 198.19.0.1, the only address it holds on the internal NIC; ignored"
            ),
            format!(
                "{f}:12: bind_port (in HTTP_GET): ringvs's checks take their source ports from its own range (61000-61999), whose answers the workers hand to the health thread; ignored"
            ),
            format!(
                "{f}:13: bind_if (in HTTP_GET): ringvs's checks leave by the internal NIC; ignored"
            ),
            format!(
                "{f}:21: bindto 2001:2:0:2::1 (in HTTP_GET): ringvs checks 198.19.0.3 from its DIP 198.19.0.1, the only address it holds on the internal NIC; ignored"
            ),
        ]
    );
    for bad in ["224.0.0.7", "0.0.0.0", "fe80::7", "rs7"] {
        t.write(
            "keepalived.conf",
            &conf(&format!("      connect_ip {bad}"), ""),
        );
        let e = load_as(&p, None).unwrap_err();
        assert!(
            e.ends_with(&format!(":10: connect_ip {bad}: not a unicast IP address")),
            "{e}"
        );
    }
    // A reload that changes it edits that server alone.
    t.write("keepalived.conf", &conf("      connect_ip 198.19.0.7", ""));
    let mut running = load(&p).config;
    t.write("keepalived.conf", &conf("      connect_ip 198.19.0.8", ""));
    assert_eq!(
        reload(&mut running, &p),
        ["-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --check-ip 198.19.0.8"]
    );
    assert_eq!(check_ips(&running), [Some(rip(8).into()), None]);
    t.write("keepalived.conf", &conf("", ""));
    assert_eq!(
        reload(&mut running, &p),
        ["-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1"]
    );
    assert_eq!(check_ips(&running), [None, None]);
}

/// `protocol SCTP` (keepalived's `proto_handler`): an SCTP service, saved
/// as ipvsadm saves it (`--sctp-service`, no short option).
#[test]
fn sctp_virtual_servers_load() {
    let t = TempDir::new("sctp");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 5000 {\n  lb_algo rr\n  lb_kind NAT\n  protocol sctp\n\
         \x20 real_server 198.19.0.2 5001 {\n  }\n\
         \x20 real_server 198.19.0.3 5001 {\n    weight 2\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    assert_eq!(
        ringvs::config::format::format_save(&l.config, true, &Names::none()),
        "-A --sctp-service 198.18.0.110:5000 -s rr\n\
         -a --sctp-service 198.18.0.110:5000 -r 198.19.0.2:5001 -m -w 1\n\
         -a --sctp-service 198.18.0.110:5000 -r 198.19.0.3:5001 -m -w 2\n"
    );
}

/// `conf` loaded from a keepalived.conf in `t`: its `-S -n` and warnings.
fn saved_and_warnings(t: &TempDir, conf: &str) -> (String, Vec<String>) {
    let p = t.write("keepalived.conf", conf);
    let l = load_as(&p, None).unwrap();
    (
        ringvs::config::format::format_save(&l.config, true, &Names::none()),
        l.warnings,
    )
}

/// A `virtual_server fwmark`'s family, as keepalived's parser decides it:
/// the first in the block of `ip_family`, `persistence_granularity` (IPv4
/// with a dot) and a real server that is not tunnelled (a tunnel may cross
/// families), then a sorry server that is not, then the family all the
/// tunnelled servers share, else IPv4.
#[test]
fn a_fwmark_virtual_servers_family_is_keepalived_s() {
    let t = TempDir::new("fwmark-family");
    let load = |body: &str| {
        saved_and_warnings(
            &t,
            &format!("virtual_server fwmark 3 {{\n  lb_algo rr\n  lb_kind NAT\n{body}}}\n"),
        )
    };
    // An IPv4 tunnelled server first: the IPv6 NAT one decides.
    let (saved, warnings) = load(
        "  mark_dest tcp:[2001:2:0:1::110]:80\n\
         \x20 real_server 198.19.0.4 80 {\n    lvs_method TUN\n  }\n\
         \x20 real_server 2001:2:0:2::2 80 {\n  }\n",
    );
    assert_eq!(warnings, Vec::<String>::new());
    assert!(saved.starts_with("-A -f 3 -6 "), "{saved}");
    assert!(saved.contains("-r 198.19.0.4:80 -i"), "{saved}");
    assert!(saved.contains("-r [2001:2:0:2::2]:80 -m"), "{saved}");
    // persistence_granularity without a dot, before any server: IPv6; the
    // IPv4 NAT server after it is of the other family.
    let (saved, warnings) = load(
        "  persistence_timeout 60\n  persistence_granularity 64\n  mark_dest tcp:[2001:2:0:1::110]:80\n\
         \x20 real_server 198.19.0.2 80 {\n  }\n\
         \x20 real_server 2001:2:0:2::3 80 {\n  }\n",
    );
    assert!(saved.starts_with("-A -f 3 -6 "), "{saved}");
    assert!(!saved.contains("198.19.0.2"), "{saved}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    // Every server tunnelled, of both families: IPv4.
    let (saved, _) = load(
        "  lb_kind TUN\n  mark_dest tcp:198.18.0.110:80\n\
         \x20 real_server 2001:2:0:2::2 80 {\n  }\n\
         \x20 real_server 198.19.0.4 80 {\n  }\n",
    );
    assert!(saved.starts_with("-A -f 3 -s rr"), "{saved}");
    // Every server tunnelled, all IPv6: IPv6.
    let (saved, _) = load(
        "  lb_kind TUN\n  mark_dest tcp:[2001:2:0:1::110]:80\n\
         \x20 real_server 2001:2:0:2::2 80 {\n  }\n",
    );
    assert!(saved.starts_with("-A -f 3 -6 "), "{saved}");
}

/// A real server takes the virtual server's method as it stands when the
/// server is read (`alloc_rs`); one read before any `lb_kind` takes the
/// block's last but counts as not tunnelled for its family
/// (`rs_end_handler`). A sorry server of the other family, not tunnelled,
/// is skipped with a warning (`vs_end_handler`).
#[test]
fn a_servers_method_is_the_one_in_force_where_it_is_read() {
    let t = TempDir::new("method-order");
    let load = |body: &str| {
        saved_and_warnings(
            &t,
            &format!("virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  protocol TCP\n{body}}}\n"),
        )
    };
    // An IPv6 server read before `lb_kind TUN`: not tunnelled when its
    // family is checked, so skipped; the IPv4 one after it tunnelled.
    let (saved, warnings) = load(
        "  real_server 2001:2:0:2::2 80 {\n  }\n  lb_kind TUN\n  real_server 198.19.0.4 80 {\n  }\n",
    );
    assert!(!saved.contains("2001:2:0:2::2"), "{saved}");
    assert!(saved.contains("-r 198.19.0.4:80 -i"), "{saved}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("2001:2:0:2::2") && w.contains("skipped")),
        "{warnings:?}"
    );
    // `lb_kind TUN`, an IPv6 server (tunnelled: kept), `lb_kind NAT`, an
    // IPv4 server (NAT): each keeps the method it was read under.
    let (saved, warnings) = load(
        "  lb_kind TUN\n  real_server 2001:2:0:2::2 80 {\n  }\n  lb_kind NAT\n  real_server 198.19.0.2 80 {\n  }\n",
    );
    assert_eq!(warnings, Vec::<String>::new());
    assert!(saved.contains("-r [2001:2:0:2::2]:80 -i"), "{saved}");
    assert!(saved.contains("-r 198.19.0.2:80 -m"), "{saved}");
    // A server read before any `lb_kind` takes the last one (DR here).
    let (saved, _) = load("  real_server 198.19.0.2 80 {\n  }\n  lb_kind DR\n");
    assert!(saved.contains("-r 198.19.0.2:80 -g"), "{saved}");
    // A NAT sorry server of the other family: skipped, not an error.
    let (saved, warnings) = load(
        "  lb_kind NAT\n  sorry_server 2001:2:0:2::9 80\n  real_server 198.19.0.2 80 {\n  }\n",
    );
    assert!(!saved.contains("2001:2:0:2::9"), "{saved}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("sorry_server 2001:2:0:2::9") && w.contains("skipped")),
        "{warnings:?}"
    );
}

/// A `virtual_server fwmark` is a firewall-mark service that takes the
/// packets of its `mark_dest` lines (ringvs's stand-in for the netfilter
/// MARK rule), the same as `ringvs adm -A -f ... --mark-dest` makes; its
/// family as `a_fwmark_virtual_servers_family_is_keepalived_s` shows; a
/// reload edits its rules.
#[test]
fn fwmark_virtual_servers_take_their_mark_dest() {
    let t = TempDir::new("fwmark");
    let conf = |dests: &str| {
        format!(
            "virtual_server fwmark 1 {{\n  lb_algo rr\n  lb_kind NAT\n  persistence_timeout 300\n{dests}\
             \x20 real_server 198.19.0.2 0 {{\n    TCP_CHECK {{\n      connect_port 80\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 0 {{\n    TCP_CHECK {{\n      connect_port 80\n    }}\n  }}\n}}\n\
             virtual_server fwmark 2 {{\n  lb_algo wlc\n  lb_kind NAT\n  mark_dest udp:[2001:2:0:1::]/64:53\n\
             \x20 real_server 2001:2:0:2::2 53 {{\n  }}\n}}\n"
        )
    };
    let p = t.write(
        "keepalived.conf",
        &conf("  mark_dest tcp:198.18.0.110:80,443\n"),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    let saved = ringvs::config::format::format_save(&l.config, true, &Names::none());
    assert_eq!(
        saved,
        "-A -f 1 -s rr -p 300 --check tcp --check-port 80 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --mark-dest tcp:198.18.0.110:80,443\n\
         -a -f 1 -r 198.19.0.2:0 -m -w 1\n\
         -a -f 1 -r 198.19.0.3:0 -m -w 1\n\
         -A -f 2 -6 -s wlc --mark-dest udp:[2001:2:0:1::]/64:53\n\
         -a -f 2 -6 -r [2001:2:0:2::2]:53 -m -w 1\n"
    );
    // A reload that changes the rules edits the service.
    let mut running = l.config;
    t.write(
        "keepalived.conf",
        &conf("  mark_dest tcp:198.18.0.110:443\n"),
    );
    assert_eq!(
        reload(&mut running, &p),
        [
            "-E -f 1 -s rr -p 300 --check tcp --check-port 80 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --mark-dest tcp:198.18.0.110:443"
        ]
    );
    // Without mark_dest it takes no packet, and says so; mark_dest outside
    // a fwmark virtual server is ignored with a warning.
    t.write("keepalived.conf", &conf(""));
    let l = load_as(&p, None).unwrap();
    assert!(
        l.warnings.len() == 1 && l.warnings[0].contains("without mark_dest: it takes no packet"),
        "{:?}",
        l.warnings
    );
    t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_kind NAT\n  protocol TCP\n  lb_algo rr\n  mark_dest tcp:198.18.0.110:80\n  real_server 198.19.0.2 80 {\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.ends_with(":5: mark_dest: only in a virtual_server fwmark, ignored")),
        "{:?}",
        l.warnings
    );
}

/// Every `url` of an `HTTP_GET` is checked; one `Host` per check: a later
/// url whose `virtualhost` would differ from the first's (its own, or none
/// where the first has one) is warned about.
#[test]
fn later_urls_share_the_first_urls_host() {
    let t = TempDir::new("urls");
    let conf = |urls: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    HTTP_GET {{\n{urls}\n    }}\n  }}\n}}\n"
        )
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    for (urls, warned) in [
        (
            "      url {\n        path /a\n      }\n      url {\n        path /b\n      }",
            None,
        ),
        (
            "      url {\n        path /a\n        virtualhost a.example\n      }\n      url {\n        path /b\n      }",
            Some(
                ":11: virtualhost (none: the server's) (of a url of HTTP_GET after the first): ringvs sends the first url's Host, a.example, for every url",
            ),
        ),
        (
            "      virtualhost c.example\n      url {\n        path /a\n      }\n      url {\n        path /b\n        virtualhost b.example\n      }",
            Some(
                ":11: virtualhost b.example (of a url of HTTP_GET after the first): ringvs sends the first url's Host, c.example, for every url",
            ),
        ),
    ] {
        let p = t.write("keepalived.conf", &conf(urls));
        let l = load_as(&p, None).unwrap();
        let c = l.config.service(&key).unwrap().check.clone().unwrap();
        let CheckKind::Http(h) = &c.kind else {
            panic!("{c:?}");
        };
        assert_eq!((h.path.as_str(), h.urls()), ("/a", 2), "{urls}");
        assert_eq!(h.more[0].path, "/b");
        match warned {
            None => assert_eq!(l.warnings, Vec::<String>::new(), "{urls}"),
            Some(w) => {
                assert_eq!(l.warnings.len(), 1, "{urls}: {:?}", l.warnings);
                assert!(l.warnings[0].ends_with(w), "{:?}", l.warnings);
            }
        }
    }
}

/// `MISC_CHECK` (`misc_path`, `misc_timeout`, `misc_dynamic`, its default
/// of no retry): each real server's `misc_path` is its own `--misc-path`,
/// the service's check that of the first; one quoted word or several make
/// the command alike; a missing `misc_path` leaves it unrun, with a
/// warning; a `user` runs it as that user, a global `script_user` is the
/// file's for the director to run it as; a changed `misc_timeout` between
/// servers is named.
#[test]
fn misc_checks_are_read() {
    let t = TempDir::new("misccheck");
    let conf = |global: &str, rs2: &str, rs3: &str| {
        format!(
            "global_defs {{\n  {global}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    MISC_CHECK {{\n{rs2}\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    MISC_CHECK {{\n{rs3}\n    }}\n  }}\n}}\n"
        )
    };
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let p = t.write(
        "keepalived.conf",
        &conf(
            "router_id lb1",
            "      misc_path \"/usr/local/bin/chk 198.19.0.2\"\n      misc_timeout 3\n      misc_dynamic",
            "      misc_path /usr/local/bin/chk \"198.19.0.3 b\" c\n      misc_timeout 3\n      misc_dynamic",
        ),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    let svc = l.config.service(&key).unwrap();
    let c = svc.check.clone().unwrap();
    let CheckKind::Misc(m) = &c.kind else {
        panic!("{c:?}");
    };
    assert_eq!(m.path.words(), ["/usr/local/bin/chk", "198.19.0.2"]);
    assert_eq!((m.timeout, m.dynamic, c.retry), (Some(3), true, 0));
    let own = |last: u8| {
        let s = svc.server_scripts(IpAddr::V4(rip(last)), 80);
        s.check.map(|s| s.words()).unwrap_or_default()
    };
    assert!(own(2).is_empty(), "the service's command");
    assert_eq!(own(3), ["/usr/local/bin/chk", "198.19.0.3 b", "c"]);
    // Saved, each server with its own command, and read back equal.
    let saved =
        ringvs::config::format::format_save(&l.config, true, &ringvs::config::names::Names::none());
    assert!(
        saved.contains("-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1 --misc-path \"/usr/local/bin/chk \\\"198.19.0.3 b\\\" c\""),
        "{saved}"
    );
    let mut again = Config::new();
    let errors = ringvs::config::ipvsadm::restore(
        &mut again,
        &saved,
        &ringvs::config::names::Names::none(),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(again, l.config);

    // A server without a MISC_CHECK run: `true`, never another's command.
    for (global, rs3, check, warning) in [
        (
            "router_id lb1",
            "      misc_timeout 3",
            true,
            ":16: MISC_CHECK without misc_path: skipped (as keepalived does)",
        ),
        (
            "router_id lb1",
            "      misc_path /bin/c\n      misc_timeout 4\n      misc_dynamic",
            true,
            ":15: real_server 198.19.0.3:80: its check differs (misc_timeout) from the one of",
        ),
    ] {
        let rs2 = "      misc_path /bin/c\n      misc_timeout 3\n      misc_dynamic";
        t.write("keepalived.conf", &conf(global, rs2, rs3));
        let l = load_as(&p, None).unwrap();
        let svc = l.config.service(&key).unwrap();
        assert_eq!(svc.check.is_some(), check, "{rs3}");
        assert!(
            l.warnings.iter().any(|w| w.contains(warning)),
            "{rs3}: {:?}",
            l.warnings
        );
        let own3 = svc.server_scripts(IpAddr::V4(rip(3)), 80).check;
        match (check, rs3.contains("misc_timeout 4")) {
            (false, _) => {
                assert_eq!(
                    svc.server_scripts(IpAddr::V4(rip(2)), 80),
                    Default::default()
                );
            }
            // Its own command is the service's.
            (true, true) => assert_eq!(own3, None),
            (true, false) => assert_eq!(own3.map(|s| s.words()), Some(vec!["true".into()])),
        }
    }
    // `user USER [GROUP]` runs the command as that user: the service's
    // (the first server's) and a server's own, each saved with its
    // `--misc-path-user` and read back equal.
    let rs = |user: &str| format!("      misc_path /bin/c\n      {user}");
    t.write(
        "keepalived.conf",
        &conf(
            "router_id lb1",
            &rs("user nobody"),
            &rs("user nobody nogroup"),
        ),
    );
    let l = load_as(&p, None).unwrap();
    let svc = l.config.service(&key).unwrap();
    let Some(CheckKind::Misc(m)) = svc.check.as_ref().map(|c| &c.kind) else {
        panic!("{:?}", svc.check);
    };
    assert_eq!(m.path.user(), Some(&"nobody".parse().unwrap()));
    let own3 = svc.server_scripts(IpAddr::V4(rip(3)), 80).check.unwrap();
    assert_eq!(own3.user(), Some(&"nobody:nogroup".parse().unwrap()));
    let saved =
        ringvs::config::format::format_save(&l.config, true, &ringvs::config::names::Names::none());
    assert!(
        saved.contains("--check misc --misc-path \"/bin/c\" --misc-path-user nobody "),
        "{saved}"
    );
    assert!(
        saved.contains("--misc-path \"/bin/c\" --misc-path-user nobody:nogroup\n"),
        "{saved}"
    );
    let mut again = Config::new();
    let names = ringvs::config::names::Names::none();
    let errors = ringvs::config::ipvsadm::restore(&mut again, &saved, &names, &mut |_, _, _| {});
    assert_eq!(errors.unwrap(), Vec::<String>::new());
    assert_eq!(again, l.config);
    // `connect_timeout` is no MISC_CHECK keyword (keepalived's
    // `install_misc_check_keyword` leaves the connection ones out): warned
    // about as an unknown one, and the check keeps its default.
    let rs2 = "      misc_path /bin/c\n      connect_timeout 3";
    t.write(
        "keepalived.conf",
        &conf("router_id lb1", rs2, "      misc_path /bin/c"),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0]
            .ends_with(":11: connect_timeout (in MISC_CHECK): not supported by ringvs, ignored"),
        "{:?}",
        l.warnings
    );
    let c = l.config.service(&key).unwrap().check.clone().unwrap();
    assert_eq!(c.connect_timeout, ringvs::config::DEFAULT_CONNECT_TIMEOUT);
    // Nor does a real server's or the virtual server's reach it:
    // keepalived's `validate_check_config` (`check/check_data.c`) gives it
    // only to a checker's connection, which a MISC_CHECK has none of. No
    // warning, no difference between the servers, and `-S` writes the
    // default.
    for (vs_level, rs_level) in [
        ("", "connect_timeout 3\n    "),
        ("  connect_timeout 3\n", ""),
    ] {
        let conf = format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{vs_level}\
             \x20 real_server 198.19.0.2 80 {{\n    {rs_level}MISC_CHECK {{\n      misc_path /bin/c\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    MISC_CHECK {{\n      misc_path /bin/c\n    }}\n  }}\n}}\n"
        );
        t.write("keepalived.conf", &conf);
        let l = load_as(&p, None).unwrap();
        assert_eq!(l.warnings, Vec::<String>::new(), "{conf}");
        let c = l.config.service(&key).unwrap().check.clone().unwrap();
        assert_eq!(c.connect_timeout, ringvs::config::DEFAULT_CONNECT_TIMEOUT);
        let saved = ringvs::config::format::format_save(&l.config, true, &names);
        assert!(saved.contains(" --connect-timeout 5 "), "{saved}");
    }
}

/// A script quoted with escaped quotes inside (`notify_down "/usr/bin/logger
/// -t lvs \"rs down\""`, `misc_path "/bin/check \"a b\" c"`), as keepalived
/// reads them (`alloc_strvec_quoted_escaped`, `lib/parser.c`): one word whose
/// inner quotes group "rs down", not a file refused or a script dropped.
#[test]
fn escaped_quotes_inside_a_quoted_script_are_read() {
    let t = TempDir::new("escaped");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n\
         \x20real_server 198.19.0.2 80 {\n  notify_down \"/usr/bin/logger -t lvs \\\"rs down\\\"\"\n\
         \x20 MISC_CHECK {\n   misc_path \"/bin/check \\\"a b\\\" c\"\n  }\n }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(l.warnings, Vec::<String>::new());
    let s = l
        .config
        .service(&ServiceKey::new(Proto::Tcp, vip(110), 80))
        .unwrap();
    let down = s.server_scripts(rip(2).into(), 80).down.unwrap();
    assert_eq!(down.words(), ["/usr/bin/logger", "-t", "lvs", "rs down"]);
    let saved =
        ringvs::config::format::format_save(&l.config, true, &ringvs::config::names::Names::none());
    assert!(saved.contains("a b"), "{saved}");
}

/// `notify_up`/`notify_down` of a real server and `quorum_up`/`quorum_down`
/// of a virtual server (keepalived's notify scripts): read as the same
/// scripts `-a`/`-A` take; one that names a user runs as that user; the
/// notify FIFO settings of `global_defs` are named as `ringvs run`'s; a
/// reload that changes a script edits that server or service alone.
#[test]
fn notify_scripts_are_read_and_reloaded() {
    let t = TempDir::new("notify");
    let conf = |down2: &str, user: &str| {
        format!(
            "global_defs {{\n  lvs_notify_fifo /run/ka.fifo\n  {user}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 quorum_up \"/bin/q up\"\n  quorum_down \"/bin/sh -c 'echo x' down\"\n\
             \x20 real_server 198.19.0.2 80 {{\n    notify_up \"/bin/n 'rs 2' up\"\n    notify_down {down2}\n\
             \x20   TCP_CHECK {{\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    notify_down \"/bin/n 3\" nobody\n    TCP_CHECK {{\n    }}\n  }}\n}}\n"
        )
    };
    let fifo_script = "lvs_notify_fifo_script /bin/reader";
    let p = t.write("keepalived.conf", &conf("\"/bin/n 2 down\"", fifo_script));
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{f}:2: lvs_notify_fifo (in global_defs): not applied by ringvs, give it to 'ringvs run --notify-fifo'"
            ),
            format!(
                "{f}:3: lvs_notify_fifo_script (in global_defs): not applied by ringvs, give it to 'ringvs run --notify-fifo-script'"
            ),
        ]
    );
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let s = l.config.service(&key).unwrap();
    let text = |x: &Option<ringvs::config::Script>| x.as_ref().map(|s| s.as_str().to_string());
    assert_eq!(text(&s.quorum_scripts.up).as_deref(), Some("/bin/q up"));
    assert_eq!(
        s.quorum_scripts.down.as_ref().unwrap().words(),
        ["/bin/sh", "-c", "echo x", "down"]
    );
    let rs2 = s.server_scripts(rip(2).into(), 80);
    assert_eq!(rs2.up.as_ref().unwrap().words(), ["/bin/n", "rs 2", "up"]);
    assert_eq!(text(&rs2.down).as_deref(), Some("/bin/n 2 down"));
    // Its own user (`set_script_uid_gid`), saved as `--notify-down-user`.
    let rs3 = s.server_scripts(rip(3).into(), 80).down.unwrap();
    assert_eq!(rs3.user(), Some(&"nobody".parse().unwrap()));
    // The same text as `ringvs adm` takes it.
    let saved =
        ringvs::config::format::format_save(&l.config, true, &ringvs::config::names::Names::none());
    assert!(
        saved.contains(
            "-r 198.19.0.3:80 -m -w 1 --notify-down \"/bin/n 3\" --notify-down-user nobody\n"
        ),
        "{saved}"
    );
    assert!(
        saved.contains("-r 198.19.0.2:80 -m -w 1 --notify-up \"/bin/n 'rs 2' up\" --notify-down \"/bin/n 2 down\"\n"),
        "{saved}"
    );
    // A reload with another notify_down edits that real server only.
    let mut running = l.config.clone();
    t.write("keepalived.conf", &conf("\"/bin/n 2 gone\"", fifo_script));
    assert_eq!(
        reload(&mut running, &p),
        [
            "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --notify-up \"/bin/n 'rs 2' up\" --notify-down \"/bin/n 2 gone\""
        ]
    );
    let s = running.service(&key).unwrap();
    assert_eq!(
        text(&s.server_scripts(rip(2).into(), 80).down).as_deref(),
        Some("/bin/n 2 gone")
    );
    // A script keepalived cannot split is an error naming its line.
    t.write("keepalived.conf", &conf("\"/bin/n 'open\"", fifo_script));
    assert_eq!(
        load_as(&p, None).unwrap_err(),
        format!("{f}:13: notify_down /bin/n 'open: missing terminating '")
    );
    // Escapes are read twice, as keepalived reads them (the line, then the
    // script): `\ ` joins nothing, `\\t` is a tab.
    t.write(
        "keepalived.conf",
        &conf("\"/bin/echo a\\ b\\\\tc\"", fifo_script),
    );
    let l = load_as(&p, None).unwrap();
    let s = l.config.service(&key).unwrap();
    assert_eq!(
        s.server_scripts(rip(2).into(), 80).down.unwrap().words(),
        ["/bin/echo", "a", "b\tc"]
    );
    // keepalived's script user and script security are the file's, for the
    // director to run its scripts under (`health::scripts`); the scripts
    // stay. A later `script_user` wins; one without a user is skipped.
    for (user, want) in [
        (
            "script_user nobody",
            ScriptSettings {
                user: Some("nobody".parse().unwrap()),
                security: false,
            },
        ),
        (
            "enable_script_security\n  script_user root\n  script_user nobody nogroup",
            ScriptSettings {
                user: Some("nobody:nogroup".parse().unwrap()),
                security: true,
            },
        ),
        (
            "script_user\n  enable_script_security",
            ScriptSettings {
                user: None,
                security: true,
            },
        ),
    ] {
        t.write("keepalived.conf", &conf("\"/bin/n 2 down\"", user));
        let l = load_as(&p, None).unwrap();
        let s = l.config.service(&key).unwrap();
        assert!(s.quorum_scripts.notifies() && !s.server_scripts.is_empty());
        assert_eq!(l.scripts, want, "{user}");
        let skipped = format!("{f}:3: script_user: needs USER [GROUP], skipped");
        assert_eq!(
            l.warnings.contains(&skipped),
            user.starts_with("script_user\n")
        );
    }
}

/// A `virtual_server group` with notify scripts: they run for its first
/// member alone (keepalived runs them once for the group), warned.
#[test]
fn a_groups_notify_scripts_run_for_its_first_member() {
    let t = TempDir::new("vsg-notify");
    let p = t.write(
        "keepalived.conf",
        "virtual_server_group web {\n  198.18.0.110 80\n  198.18.0.111 80\n}\n\
         virtual_server group web {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 quorum_down \"/bin/q down\"\n\
         \x20 real_server 198.19.0.2 80 {\n    notify_down \"/bin/n 2\"\n    TCP_CHECK {\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.warnings,
        [format!(
            "{}:5: virtual_server group: its notify scripts run for its first member TCP 198.18.0.110:80 alone (keepalived runs them once for the group; ringvs tells each member apart)",
            p.display()
        )]
    );
    let s = |a: u8| {
        l.config
            .service(&ServiceKey::new(Proto::Tcp, vip(a), 80))
            .unwrap()
    };
    assert!(!s(110).quorum_scripts.is_empty() && s(110).server_scripts.len() == 1);
    assert!(s(111).quorum_scripts.is_empty() && s(111).server_scripts.is_empty());
}

/// `persistence_engine sip` (keepalived passes the name to the kernel):
/// the service's `--pe sip`, shown in a reload's edit; another name is what
/// the kernel refuses.
#[test]
fn a_persistence_engine_is_the_services() {
    let t = TempDir::new("pe");
    let conf = |pe: &str| {
        format!(
            "virtual_server 198.18.0.110 5060 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n\
             persistence_timeout 60\n  ops\n{pe}\n  real_server 198.19.0.2 5060 {{\n    weight 1\n  }}\n}}\n"
        )
    };
    let p = t.write("keepalived.conf", &conf("  persistence_engine sip"));
    let mut running = load_as(&p, None).unwrap().config;
    let sip = ServiceKey::new(Proto::Udp, vip(110), 5060);
    assert_eq!(
        running.service(&sip).unwrap().pe,
        Some(ringvs::config::PersistEngine::Sip)
    );
    t.write("keepalived.conf", &conf(""));
    let shown = reload(&mut running, &p);
    assert_eq!(shown, ["-E -u 198.18.0.110:5060 -s rr -p 60 -o"]);
    assert_eq!(running.service(&sip).unwrap().pe, None);
    t.write("keepalived.conf", &conf("  persistence_engine sipp"));
    let e = load_as(&p, None).unwrap_err();
    assert!(e.contains(":7: persistence_engine sipp: not found"), "{e}");
}

#[test]
fn vrrp_and_global_blocks_are_skipped_silently() {
    let t = TempDir::new("vrrp");
    // Words that would be errors inside a virtual_server (IPv6, FULLNAT, braces
    // on their own lines) are nobody's business here.
    let p = t.write(
        "keepalived.conf",
        "global_defs {\n  router_id lb1\n  vrrp_garp_master_delay 1\n}\n\
         vrrp_script chk { script \"/bin/true\"\n interval 2 }\n\
         vrrp_sync_group G {\n  group {\n    V1\n  }\n}\n\
         vrrp_instance V1\n{\n  state MASTER\n  lb_kind FULLNAT\n  virtual_ipaddress {\n    2001:2:0:1::110/64\n  }\n}\n\
         static_ipaddress {\n  198.19.255.1/24 dev sync0\n}\n\
         static_routes {\n  0.0.0.0/0 via 198.18.0.254\n}\n\
         vrrp_track_process p { process ringvs }\n\
         bfd_instance b { neighbor_ip 198.19.255.2 }\n",
    );
    let l = load_as(&p, None).unwrap();
    assert!(l.config.services().is_empty());
    assert_eq!(l.warnings, Vec::<String>::new());
}

#[test]
fn keywords_ringvs_does_not_carry_out_are_named_in_warnings() {
    let path = fixture("unsupported/keepalived.conf");
    let l = load_as(&path, None).unwrap();
    let f = path.display().to_string();
    let expected: Vec<String> = [
        "3: lvs_timeouts (in global_defs): not applied by ringvs, set them with 'ringvs adm --set'",
        "4: lvs_sync_daemon (in global_defs): not applied by ringvs, start it with 'ringvs adm --start-daemon'",
        "18: no_such_block: unknown top-level keyword, skipped",
        "22: delay_loop 2.5: ringvs counts whole seconds, using 3",
        "26: sh-port: applies to the sh scheduler only, ignored with rr (as keepalived does)",
        "27: ops: ignored, the virtual_server is not UDP (as keepalived does)",
        "28: ha_suspend (in virtual_server): not supported by ringvs, ignored",
        "29: omega (in virtual_server): not supported by ringvs, ignored",
        "33: smtp_alert (in real_server): not supported by ringvs, ignored",
        "43: bindto 198.19.0.1 (in HTTP_GET): ringvs checks 198.19.0.2 from its DIP, the only address it holds on the internal NIC; ignored",
        "45: BFD_CHECK (in real_server): checker not supported by ringvs, ignored (the real server is not checked by it)",
        &format!(
            "49: real_server 198.19.0.3:80: its check differs (checker, delay_before_retry) from the one of {f}:34; ringvs runs one check per virtual_server and uses that one"
        ),
        &format!(
            "54: real_server 198.19.0.4:80 has no checker ringvs runs (TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, PING_CHECK, DNS_CHECK, SMTP_CHECK, MISC_CHECK): ringvs checks every real server of a virtual_server, this one with the check of {f}:34"
        ),
        &format!(
            "56: real_server 198.19.0.2:80: duplicate of {f}:31, removed (as keepalived does)"
        ),
        "60: virtual_server without protocol: UDP (keepalived's default)",
        "60: virtual_server without lb_algo: wlc (keepalived's default)",
        "60: virtual_server without lb_kind: NAT (keepalived's default)",
        "66: virtual_server 198.18.0.113 80 has no real_server: ignored (as keepalived does)",
    ]
    .iter()
    .map(|w| format!("{f}:{w}"))
    .collect();
    assert_eq!(l.warnings, expected);
    // What was carried out: the HTTP_GET's urls (the first's status range
    // and digest), with keepalived's HTTP default delay_before_retry, the
    // rounded delay_loop, the duplicate gone;
    // the bare UDP service with keepalived's defaults; the empty one ignored.
    let keys: Vec<ServiceKey> = l.config.services().iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        vec![
            ServiceKey::new(Proto::Tcp, vip(110), 80),
            ServiceKey::new(Proto::Udp, vip(112), 53),
        ]
    );
    let web = &l.config.services()[0];
    assert_eq!(web.sched_flags, SchedFlags::default());
    // `ops` is for UDP services only (keepalived's `ipvs_set_srule`).
    let dns = &l.config.services()[1];
    assert_eq!((web.ops, dns.ops), (false, true));
    // keepalived's sorry server, with the virtual server's method and port.
    let sorry = web.sorry.expect("sorry_server").opts();
    assert_eq!(
        (sorry.addr, sorry.port, sorry.forward, sorry.inhibit),
        (
            IpAddr::V4(Ipv4Addr::new(198, 19, 0, 9)),
            80,
            Forward::Masq,
            false
        )
    );
    let weights: Vec<(u8, u32)> = web
        .dests
        .iter()
        .map(|d| (last_octet(d.addr), d.weight))
        .collect();
    assert_eq!(weights, vec![(2, 2), (3, 1), (4, 1)]);
    // .3's TCP_CHECK connect_ip: where that server is checked.
    let check_ips: Vec<Option<IpAddr>> = web.dests.iter().map(|d| d.check_ip).collect();
    assert_eq!(check_ips, [None, Some(rip(7).into()), None]);
    assert_eq!(
        web.check,
        Some(HealthCheck {
            kind: CheckKind::Http(HttpCheck {
                status: vec![(200, 299)],
                digest: ringvs::config::parse_digest("9b3a0c85a887a256d6939da88aabd8cd"),
                more: vec![HttpUrl {
                    path: "/b".into(),
                    status: vec![(200, 299)],
                    digest: None,
                }],
                ..HttpCheck::get("/a", 200)
            }),
            delay_loop: 3,
            delay_before_retry: 3,
            ..HealthCheck::new(CheckKind::Tcp)
        })
    );
    let dns = &l.config.services()[1];
    assert_eq!((dns.sched, dns.check.is_none()), (Scheduler::Wlc, true));
}

/// Each case: a keepalived.conf and the error it gives (after `FILE:`).
const ERRORS: &[(&str, &str)] = &[
    (
        "virtual_server 198.18.0.300 80 {\n}\n",
        "1: virtual_server 198.18.0.300: not an IPv4 address",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_algo roundrobin\n}\n",
        "2: lb_algo roundrobin: unknown scheduler (ringvs has rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  real_server 198.19.0.2 80 {\n    weight 1\n}\n",
        "1: missing '}': the block of 'virtual_server' is not closed",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n}\n}\n",
        "3: unexpected '}' (no block is open)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    weight 2147483648\n  }\n}\n",
        "3: weight 2147483648: not a number in 0..2147483647",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    weight\n  }\n}\n",
        "3: weight: a value is missing",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  delay_loop soon\n}\n",
        "2: delay_loop soon: not a time in 1..86400 seconds",
    ),
    // The forwarding method and its tunnel, with keepalived's checks
    // (svr_forwarding_handler) and, where it has them, its words.
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind FULLNAT\n}\n",
        "2: lb_kind FULLNAT: not NAT, DR or TUN",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind tun\n}\n",
        "2: lb_kind tun: not NAT, DR or TUN",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lvs_method\n}\n",
        "2: lvs_method: a value is missing",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    lvs_method TUN type gue\n  }\n}\n",
        "3: lvs_method TUN type gue: gue tunnels require port, otherwise cannot have port",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN port 6080\n}\n",
        "2: lb_kind TUN port 6080: gue tunnels require port, otherwise cannot have port",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gre port 6080\n}\n",
        "2: lb_kind TUN type gre port 6080: gue tunnels require port, otherwise cannot have port",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN csum\n}\n",
        "2: lb_kind TUN csum: ipip tunnels do not support checksum option",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gre remcsum\n}\n",
        "2: lb_kind TUN type gre remcsum: gre tunnels do not support remote checksum option",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type vxlan\n}\n",
        "2: lb_kind TUN type vxlan: unknown tunnel type vxlan (ipip, gue or gre)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type\n}\n",
        "2: lb_kind TUN type: the tunnel type is missing after 'type'",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gue port\n}\n",
        "2: lb_kind TUN type gue port: the gue tunnel port is missing after 'port'",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gue port 0\n}\n",
        "2: lb_kind TUN type gue port 0: invalid gue tunnel port 0 (1..65535)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gue port 65536\n}\n",
        "2: lb_kind TUN type gue port 65536: invalid gue tunnel port 65536 (1..65535)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind TUN type gue port 6080 checksum\n}\n",
        "2: lb_kind TUN type gue port 6080 checksum: invalid tunnel option checksum (type, port, nocsum, csum or remcsum)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  lb_kind DR port 6080\n}\n",
        "2: lb_kind DR port 6080: gue tunnels require port, otherwise cannot have port",
    ),
    (
        "virtual_server fwmark 0 {\n}\n",
        "1: virtual_server fwmark 0: not a mark (1..4294967295)",
    ),
    (
        "virtual_server fwmark 7 {\n  mark_dest tcp:198.18.0.110:0\n}\n",
        "2: illegal --mark-dest `tcp:198.18.0.110:0': bad ports (PROTO:ADDR[/LEN][:PORT[-PORT][,...]], PROTO tcp, udp or sctp, an IPv6 address in brackets)",
    ),
    (
        "virtual_server group nope {\n}\n",
        "1: virtual_server group nope: no virtual_server_group nope",
    ),
    (
        "virtual_server_group g {\n  198.18.0.110-100 80\n}\n",
        "2: virtual_server_group entry 198.18.0.110-100: the range does not end above its start",
    ),
    (
        "virtual_server_group g {\n  198.18.0.110 80\n}\nvirtual_server_group g {\n}\n",
        "4: virtual_server_group g: defined twice (first at FILE:1)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 2001:2:0:2::2::9 80 {\n  }\n}\n",
        "2: real_server 2001:2:0:2::2::9: not an IPv6 address",
    ),
    (
        "virtual_server [2001:2:0:1::110]:80 {\n}\n",
        "1: virtual_server [2001:2:0:1::110]:80: not an IPv6 address",
    ),
    (
        "virtual_server 2001:2:0:1::110 80 {\n  persistence_granularity 255.255.255.0\n}\n",
        "2: persistence_granularity 255.255.255.0: not an IPv6 prefix length (1..128)",
    ),
    (
        "virtual_server 2001:2:0:1::110 80 {\n  persistence_granularity 129\n}\n",
        "2: persistence_granularity 129: not an IPv6 prefix length (1..128)",
    ),
    (
        "virtual_server 2001:2:0:1::110 80 {\n  ip_family inet\n}\n",
        "2: ip_family inet: conflicts with the virtual server's address 2001:2:0:1::110",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  ip_family inet6\n}\n",
        "2: ip_family inet6: conflicts with the virtual server's address 198.18.0.110",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  protocol DCCP\n}\n",
        "2: protocol DCCP: not TCP, UDP or SCTP",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  protocol TCP\n  real_server 198.19.0.2 80\n}\nvirtual_server 198.18.0.110 80 {\n  protocol TCP\n  real_server 198.19.0.3 80\n}\n",
        "5: virtual_server TCP 198.18.0.110:80: defined twice (first at FILE:1)",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    uthreshold 10\n    lthreshold 20\n  }\n}\n",
        "2: lthreshold 20 is above uthreshold 10",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    HTTP_GET {\n      url {\n        path health\n      }\n    }\n  }\n}\n",
        "5: path health: ringvs needs a path that starts with '/', without blanks, at most 255 bytes",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    TCP_CHECK {\n      retry 4294967296\n    }\n  }\n}\n",
        "4: retry 4294967296: not a number in 0..4294967295",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  persistence_granularity 24\n}\n",
        "2: persistence_granularity 24: not an IPv4 netmask",
    ),
    (
        "virtual_server 198.18.0.110 80 {\n  real_server 198.19.0.2 80 {\n    inhibit_on_failure maybe\n  }\n}\n",
        "3: inhibit_on_failure maybe: not one of on|off|true|false|yes|no",
    ),
    ("include \"missing\n", "1: unterminated quote"),
];

#[test]
fn errors_name_file_and_line() {
    let t = TempDir::new("errors");
    for (i, (text, want)) in ERRORS.iter().enumerate() {
        let p = t.write(&format!("case{i}.conf"), text);
        let f = p.display().to_string();
        let got = load_as(&p, None).unwrap_err();
        assert_eq!(got, format!("{f}:{}", want.replace("FILE", &f)), "{text}");
    }
}

#[test]
fn an_error_in_an_included_file_names_that_file() {
    let got = load_as(&fixture("bad_include/keepalived.conf"), None).unwrap_err();
    let f = fixture("bad_include/lvs/tun.conf");
    assert_eq!(
        got,
        format!(
            "{}:3: lb_kind TUN type gue: gue tunnels require port, otherwise cannot have port",
            f.display()
        )
    );
}

#[test]
fn include_loops_are_refused() {
    let got = load_as(&fixture("loop/a.conf"), None).unwrap_err();
    let b = fixture("loop/b.conf");
    let a = fixture("loop/a.conf");
    assert_eq!(
        got,
        format!(
            "{}:2: include {}: include loop: the file is already being read",
            b.display(),
            a.display()
        )
    );
}

/// A file whose size the file system does not tell (a device such as
/// `/dev/zero`, which reports 0 bytes and never ends) is read only up to the
/// limit. (`include` takes regular files only, as keepalived's glob does.)
#[test]
fn an_endless_file_is_an_error() {
    let got = load_as(Path::new("/dev/zero"), None).unwrap_err();
    assert_eq!(got, format!("/dev/zero: larger than {} bytes", 16 << 20));
}

/// Bytes that are not UTF-8: in a comment they are left alone, elsewhere
/// (a Latin-1 path, which would silently become another path) the file is
/// refused naming the line; an include pattern matches a file whose name
/// is not UTF-8 and reads it, as glob(3) matches bytes.
#[test]
fn bytes_that_are_not_utf8_are_refused_outside_comments() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("latin1");
    let vs = "virtual_server 198.18.0.110 80 {\n  protocol TCP\n  lb_kind NAT\n  lb_algo rr\n\
              \x20 real_server 198.19.0.2 80 {\n    MISC_CHECK {\n      misc_path /bin/true\n    }\n  }\n}\n";
    let mut comment = b"# caf\xe9\n".to_vec();
    comment.extend_from_slice(vs.as_bytes());
    let p = t.0.join("comment.conf");
    std::fs::write(&p, &comment).unwrap();
    assert_eq!(load_as(&p, None).unwrap().config.services().len(), 1);
    let path = vs.replace("/bin/true", "/bin/caf\u{fffd}.sh");
    let mut bytes = path
        .split('\u{fffd}')
        .collect::<Vec<_>>()
        .join("\x00")
        .into_bytes();
    bytes
        .iter_mut()
        .filter(|b| **b == 0)
        .for_each(|b| *b = 0xe9);
    let p = t.0.join("path.conf");
    std::fs::write(&p, &bytes).unwrap();
    assert_eq!(
        load_as(&p, None).unwrap_err(),
        format!(
            "{}:7: bytes that are not UTF-8 outside a comment (ringvs reads keepalived.conf as UTF-8)",
            p.display()
        )
    );
    let main = t.write("main.conf", "include conf.d/*.conf\n");
    std::fs::create_dir_all(t.0.join("conf.d")).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.conf");
    std::fs::write(t.0.join("conf.d").join(name), vs).unwrap();
    let l = load_as(&main, None).unwrap();
    assert_eq!(l.config.services().len(), 1, "{:?}", l.warnings);
}

/// keepalived's ranges where ringvs can hold them: `retry` up to
/// 4294967295 (`vs_retry_handler`, `rs_retry_handler`: `UINT32_MAX`),
/// `uthreshold`/`lthreshold` up to 4294967295 (`UINT_MAX`), past what
/// ringvs took (100, 2147483647) and refused the whole file for.
#[test]
fn keepalived_ranges_of_retry_and_thresholds_are_taken() {
    let t = TempDir::new("ranges");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  protocol TCP\n  lb_kind NAT\n  lb_algo rr\n  retry 1000\n\
         \x20 real_server 198.19.0.2 80 {\n    uthreshold 4294967295\n    lthreshold 3000000000\n\
         \x20   TCP_CHECK {\n      retry 4294967295\n    }\n  }\n\
         \x20 real_server 198.19.0.3 80 {\n    TCP_CHECK {\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let s = &l.config.services()[0];
    let d = s.dest(rip(2), 80).unwrap();
    assert_eq!((d.u_threshold, d.l_threshold), (4294967295, 3000000000));
    // The service takes its first server's check; the second's (the
    // virtual server's retry 1000) differs, warned.
    assert_eq!(s.check.as_ref().unwrap().retry, 4294967295);
    assert!(
        l.warnings.iter().any(|w| w.contains("retry")),
        "{:?}",
        l.warnings
    );
}

/// A virtual server's `inhibit_on_failure` is on whatever value follows
/// it, as keepalived's `check_parser.c` `vs_inhibit_handler` ignores the
/// value (warned); a real server's reads its boolean (`rs_inhibit_handler`).
#[test]
fn a_virtual_servers_inhibit_on_failure_ignores_its_value() {
    let t = TempDir::new("inhibit");
    let file = |vs: &str, rs: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  protocol TCP\n  lb_kind NAT\n  lb_algo rr\n{vs}\
             \x20 real_server 198.19.0.2 80 {{\n{rs}    TCP_CHECK {{\n    }}\n  }}\n}}\n"
        )
    };
    let inhibit = |l: &Loaded| {
        l.config.services()[0]
            .check
            .as_ref()
            .unwrap()
            .inhibit_on_failure
    };
    for v in ["off", "no", "false"] {
        let p = t.write("vs.conf", &file(&format!("  inhibit_on_failure {v}\n"), ""));
        let l = load_as(&p, None).unwrap();
        assert!(inhibit(&l), "virtual_server inhibit_on_failure {v}");
        assert_eq!(
            l.warnings,
            [format!(
                "{}:5: inhibit_on_failure {v}: keepalived ignores the value in a virtual_server, inhibit is on",
                p.display()
            )]
        );
    }
    let p = t.write(
        "rs.conf",
        &file("  inhibit_on_failure\n", "    inhibit_on_failure off\n"),
    );
    assert!(!inhibit(&load_as(&p, None).unwrap()));
    let p = t.write("none.conf", &file("", ""));
    assert!(!inhibit(&load_as(&p, None).unwrap()));
}

/// What one load reads is bounded over all its files: a main file that
/// includes a 1 MiB file 100 times (100 MiB) is refused at the include
/// that passes 64 MiB, naming the bound.
#[test]
fn the_bytes_read_over_all_includes_are_bounded() {
    let t = TempDir::new("total");
    let line = format!("# {}\n", "x".repeat(1022));
    t.write("big.conf", &line.repeat(1024));
    let main = t.write("keepalived.conf", &"include big.conf\n".repeat(100));
    let got = load_as(&main, None).unwrap_err();
    assert_eq!(
        got,
        format!(
            "{}:64: include {}: more than 64 MiB read for one load (its files and what they include)",
            main.display(),
            t.0.join("big.conf").display()
        )
    );
}

/// Blocks nested 100 000 deep (a 1.2 MB file), and an include pattern of
/// 20 000 nested braces, are errors naming the line, not a stack overflow
/// that aborts the director: read on a thread with the default stack
/// (2 MiB), as SIGHUP's reload thread reads the file.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let t = TempDir::new("deep");
    let n = 100_000;
    let deep = t.write("deep.conf", &("a {\n".repeat(n) + &"}\n".repeat(n)));
    let braces = t.write(
        "braces.conf",
        &format!("include {}x{}\n", "{".repeat(20_000), "}".repeat(20_000)),
    );
    let load = |p: PathBuf| std::thread::spawn(move || load_as(&p, None)).join();
    let got = load(deep.clone()).expect("no crash").unwrap_err();
    assert_eq!(
        got,
        format!("{}:65: blocks nested deeper than 64", deep.display())
    );
    let got = load(braces.clone()).expect("no crash").unwrap_err();
    let b = braces.display();
    assert!(got.starts_with(&format!("{b}:1: include {{")), "{got:.200}");
    assert!(
        got.ends_with(": braces nested or repeated more than 64 times"),
        "{got:.200}"
    );
    // 64 deep is read: an unknown block, skipped with a warning.
    let ok = t.write("ok.conf", &("a {\n".repeat(64) + &"}\n".repeat(64)));
    let l = load_as(&ok, None).unwrap();
    assert_eq!(
        l.warnings,
        [format!(
            "{}:1: a: unknown top-level keyword, skipped",
            ok.display()
        )]
    );
}

#[test]
fn includes_are_relative_to_the_including_file_and_may_match_nothing() {
    let t = TempDir::new("include");
    let main = t.write(
        "etc/keepalived.conf",
        "include lvs/*.conf\ninclude nothing-here/*.conf\n",
    );
    t.write("etc/lvs/web.conf", "include ../svc/web-servers.inc\n");
    t.write(
        "etc/svc/web-servers.inc",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 198.19.0.2 80\n}\n",
    );
    // An executable file is skipped, as keepalived does.
    let exe = t.write("etc/lvs/zz.conf", "this would not parse {\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let l = load_as(&main, None).unwrap();
    assert_eq!(l.config.services().len(), 1);
    let m = main.display();
    assert_eq!(
        l.warnings,
        vec![
            format!(
                "{m}:1: include {}: skipped, an executable file (as keepalived does)",
                exe.display()
            ),
            format!("{m}:2: include nothing-here/*.conf: no file matches"),
        ]
    );
    // Missing files are errors that name them.
    let missing = t.0.join("nope.conf");
    let e = load_as(&missing, None).unwrap_err();
    assert!(e.starts_with(&format!("{}: ", missing.display())), "{e}");
}

/// keepalived's include variants (keepalived.conf(5), `include_check`):
/// which patterns each refuses, as keepalived 2.2.7's `--config-test`
/// exits 6 for them (`sp/c.conf` exists, `zz`, `yy`, `none`, `missing` do
/// not); every other case loads, a pattern that matches nothing warned
/// about. `include` takes the rest of its line as the pattern, blanks and
/// all, as keepalived 2.2.7 does; a `~LST` line is warned about as not
/// supported and skipped.
#[test]
fn include_variants_refuse_what_keepalived_s_include_checks_refuse() {
    let t = TempDir::new("include-variants");
    t.write("etc/sp/c.conf", "! nothing\n");
    let main = t.0.join("etc/keepalived.conf");
    let cases = [
        ("includem sp/missing.conf", true),
        ("includem sp/none*.conf", false),
        ("includem sp/{zz,yy}.conf", false),
        ("includew sp/none*.conf", true),
        ("includew sp/missing.conf", true),
        ("includew sp/{zz,yy}.conf", false),
        ("includew sp/{zz*,yy*}.conf", true),
        ("includew sp/{zz*,yy}.conf", false),
        ("includeb sp/{c,zz}.conf", true),
        ("includeb sp/{zz,yy}.conf", true),
        ("includeb sp/{zz*,yy*}.conf", false),
        ("includeb sp/{zz*,c}.conf", false),
        ("includeb sp/missing.conf", false),
        ("includea sp/{c*,zz*}.conf", false),
        ("includea sp/{zz*,yy}.conf", true),
        ("includea sp/none*.conf", true),
        ("includea sp/c.conf", false),
        ("includer sp/missing.conf", false),
        ("include sp/{zz,yy}.conf", false),
    ];
    for (line, refused) in cases {
        t.write("etc/keepalived.conf", &format!("{line}\n"));
        let got = load_as(&main, None);
        match (refused, got) {
            (true, Err(e)) => assert!(
                e.starts_with(&format!("{}:1: {line}: no file matches", main.display())),
                "{line}: {e}"
            ),
            (false, Ok(_)) => {}
            (r, got) => panic!("{line}: refused {r}: {:?}", got.map(|l| l.warnings)),
        }
    }
    t.write(
        "etc/sp/a b.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 198.19.0.2 80\n}\n",
    );
    t.write(
        "etc/keepalived.conf",
        "global_defs {\n  include_check match\n}\ninclude sp/a b.conf\n~LST(v, 1, 2) x $v\n",
    );
    let l = load_as(&main, None).unwrap();
    assert_eq!(l.config.services().len(), 1);
    let m = main.display();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{m}:2: include_check (in global_defs): not applied by ringvs, write includem, includew, includeb or includea instead of include"
            ),
            format!(
                "{m}:5: ~LST: not supported by ringvs, line skipped (write a ~SEQ or one line for each value)"
            ),
        ]
    );
}

/// `lb_kind`/`lvs_method` DR and TUN with keepalived's tunnel words: one
/// service mixing methods per real server, a real server's own method over
/// the virtual server's (wherever that is written), ports kept as written.
#[test]
fn dr_and_tun_real_servers_load_with_their_tunnels() {
    let path = fixture("methods/keepalived.conf");
    let l = load_as(&path, None).unwrap();
    let f = path.display().to_string();
    let expected: Vec<String> = [
        "29: virtual_server without lb_algo: wlc (keepalived's default)",
        "35: lvs_method DR type ipip: tunnel options apply to TUN only, ignored",
        "36: tun_type: not a keepalived keyword, ignored (keepalived writes the tunnel after the method: lvs_method TUN type ipip|gue|gre [port N] [nocsum|csum|remcsum])",
    ]
    .iter()
    .map(|w| format!("{f}:{w}"))
    .collect();
    assert_eq!(l.warnings, expected);

    let tun = |kind, port, csum| Forward::Tunnel(Tunnel { kind, port, csum });
    let got = |proto, last: u8, port: u16| -> Vec<(u8, u16, u32, Forward)> {
        l.config
            .service(&ServiceKey::new(proto, vip(last), port))
            .unwrap()
            .dests
            .iter()
            .map(|d| (last_octet(d.addr), d.port, d.weight, d.forward))
            .collect()
    };
    assert_eq!(
        got(Proto::Tcp, 140, 80),
        vec![
            (11, 80, 2, Forward::Route),
            (12, 80, 1, Forward::Tunnel(Tunnel::IPIP)),
            (13, 8080, 1, tun(TunKind::Gue, 6080, TunCsum::Csum)),
            (14, 80, 1, tun(TunKind::Gre, 0, TunCsum::Csum)),
            (15, 80, 1, Forward::Masq),
            (16, 80, 1, tun(TunKind::Gue, 65535, TunCsum::RemCsum)),
        ]
    );
    assert_eq!(
        got(Proto::Udp, 141, 53),
        vec![
            (21, 53, 1, tun(TunKind::Gre, 0, TunCsum::NoCsum)),
            (22, 53, 1, Forward::Route),
        ]
    );
}

#[test]
fn a_reload_edits_a_real_server_whose_method_changed() {
    let t = TempDir::new("reload-method");
    let conf = |method: &str| {
        format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    lvs_method {method}\n  }}\n\
             \x20 real_server 198.19.0.3 80\n}}\n"
        )
    };
    let p = t.write("keepalived.conf", &conf("NAT"));
    let mut running = load_as(&p, None).unwrap().config;
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let ids = |c: &Config| -> Vec<_> {
        c.service(&web)
            .unwrap()
            .dests
            .iter()
            .map(|d| d.id)
            .collect()
    };
    let before = ids(&running);
    t.write("keepalived.conf", &conf("TUN type gue port 6080"));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        vec![
            "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum"
        ]
    );
    assert_eq!(ids(&running), before, "an edited server keeps its id");
    let fwd: Vec<Forward> = running
        .service(&web)
        .unwrap()
        .dests
        .iter()
        .map(|d| d.forward)
        .collect();
    assert_eq!(
        fwd,
        vec![
            Forward::Tunnel(Tunnel {
                kind: TunKind::Gue,
                port: 6080,
                csum: TunCsum::NoCsum
            }),
            Forward::Route
        ]
    );
}

#[test]
fn a_reload_applies_only_the_differences() {
    let t = TempDir::new("reload");
    let conf = |w2: u32, third: bool, sched: &str| {
        let mut s = format!(
            "virtual_server 198.18.0.110 80 {{\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    weight {w2}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    weight 1\n  }}\n"
        );
        if third {
            s.push_str("  real_server 198.19.0.4 80 {\n    weight 1\n  }\n");
        }
        s.push_str(&format!(
            "}}\nvirtual_server 198.18.0.110 443 {{\n  lb_algo {sched}\n  lb_kind NAT\n  protocol TCP\n  real_server 198.19.0.2 443\n}}\n"
        ));
        s
    };
    let p = t.write("keepalived.conf", &conf(1, true, "rr"));
    let mut running = load_as(&p, None).unwrap().config;
    let web = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let tls = ServiceKey::new(Proto::Tcp, vip(110), 443);
    let id = |c: &Config, k: &ServiceKey, last: u8, port: u16| {
        c.service(k).unwrap().dest(rip(last), port).map(|d| d.id)
    };
    let (id2, id3, id4) = (
        id(&running, &web, 2, 80),
        id(&running, &web, 3, 80),
        id(&running, &web, 4, 80),
    );
    let tls_before = running.service(&tls).cloned();

    // SIGHUP after editing the file: .2 weighted 5, .4 removed; 443 unchanged.
    t.write("keepalived.conf", &conf(5, false, "rr"));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        vec![
            "-d -t 198.18.0.110:80 -r 198.19.0.4:80",
            "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 5",
        ]
    );
    assert_eq!(id(&running, &web, 2, 80), id2, "edited server keeps its id");
    assert_eq!(
        id(&running, &web, 3, 80),
        id3,
        "unchanged server keeps its id"
    );
    assert_eq!(id(&running, &web, 4, 80), None, "removed server is gone");
    assert!(id4.is_some());
    assert_eq!(running.service(&tls).cloned(), tls_before, "untouched");

    // A scheduler change edits the service in place.
    t.write("keepalived.conf", &conf(5, false, "wlc"));
    let changes = apply_differences(&mut running, &load_as(&p, None).unwrap().config).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(running.service(&tls).unwrap().sched, Scheduler::Wlc);
    assert_eq!(
        running.service(&tls).unwrap().dests,
        tls_before.unwrap().dests
    );

    // A file that no longer loads is refused, naming its line, and changes
    // nothing: once it is fixed, the reload finds the running table as the
    // last good file made it (no change to make).
    t.write("keepalived.conf", "virtual_server 198.18.0.110 80 {\n");
    assert_eq!(
        load_as(&p, None).unwrap_err(),
        format!(
            "{}:1: missing '}}': the block of 'virtual_server' is not closed",
            p.display()
        )
    );
    t.write("keepalived.conf", &conf(5, false, "wlc"));
    assert_eq!(reload(&mut running, &p), Vec::<String>::new());
    assert_eq!(running.service(&tls).unwrap().sched, Scheduler::Wlc);
}

/// keepalived's IPv6: bare addresses (`virtual_server 2001:2:0:1::110 80`),
/// `persistence_granularity` as a prefix length, `ip_family inet6`, a real
/// server of the other family skipped unless TUN (`rs_end_handler`).
const DUAL_STACK: &str = "\
virtual_server 2001:2:0:1::110 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    persistence_timeout 600
    persistence_granularity GRAN
    real_server 2001:2:0:2::2 8080 {
        weight W2
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 2001:2:0:2::3 8080 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 198.19.0.2 8080 {
        weight 1
    }
    real_server 198.19.0.3 80 {
        lvs_method TUN type gue port 6080
        weight 2
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
virtual_server 198.18.0.110 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.19.0.4 80
    real_server 2001:2:0:2::4 80
}
virtual_server 2001:2:0:1::110 53 {
    ip_family inet6
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 2001:2:0:2::2 5353
}
";

fn dual_stack(gran: u8, w2: u32, third: bool) -> String {
    let mut s = DUAL_STACK
        .replace("GRAN", &gran.to_string())
        .replace("W2", &w2.to_string());
    if !third {
        s = s.replace(
            "    real_server 2001:2:0:2::3 8080 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n",
            "",
        );
    }
    s
}

#[test]
fn ipv6_virtual_and_real_servers_load() {
    use ringvs::config::format::format_save;
    use ringvs::config::names::Names;
    let t = TempDir::new("ipv6");
    let p = t.write("keepalived.conf", &dual_stack(64, 3, true));
    let l = load_as(&p, None).unwrap();
    let f = p.display().to_string();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{f}:19: real_server 198.19.0.2: address family of virtual server and real server don't match, skipped (as keepalived does; only a TUN real server may differ)"
            ),
            format!(
                "{f}:35: real_server 2001:2:0:2::4: address family of virtual server and real server don't match, skipped (as keepalived does; only a TUN real server may differ)"
            ),
        ]
    );
    assert_eq!(
        format_save(&l.config, true, &Names::none()),
        "-A -t 198.18.0.110:80 -s rr\n\
         -a -t 198.18.0.110:80 -r 198.19.0.4:80 -g -w 1\n\
         -A -t [2001:2:0:1::110]:80 -s wrr -p 600 -M 64 --check tcp --delay-loop 6 --connect-timeout 3 --retry 1 --delay-before-retry 1\n\
         -a -t [2001:2:0:1::110]:80 -r 198.19.0.3:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-nocsum\n\
         -a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m -w 3\n\
         -a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:8080 -m -w 1\n\
         -A -u [2001:2:0:1::110]:53 -s rr\n\
         -a -u [2001:2:0:1::110]:53 -r [2001:2:0:2::2]:5353 -m -w 1\n"
    );
}

#[test]
fn an_ipv6_reload_applies_only_the_differences() {
    let t = TempDir::new("ipv6-reload");
    let p = t.write("keepalived.conf", &dual_stack(64, 3, true));
    let mut running = load_as(&p, None).unwrap().config;
    let vip6: IpAddr = "2001:2:0:1::110".parse().unwrap();
    let web = ServiceKey::new(Proto::Tcp, vip6, 80);
    let rs2: IpAddr = "2001:2:0:2::2".parse().unwrap();
    let id2 = running.service(&web).unwrap().dest(rs2, 8080).unwrap().id;

    // ::2 weighted 5, ::3 removed, the prefix 48: an edit of each.
    t.write("keepalived.conf", &dual_stack(48, 5, false));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        [
            "-E -t [2001:2:0:1::110]:80 -s wrr -p 600 -M 48 --check tcp --delay-loop 6 --connect-timeout 3 --retry 1 --delay-before-retry 1",
            "-d -t [2001:2:0:1::110]:80 -r [2001:2:0:2::3]:8080",
            "-e -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m -w 5",
        ]
    );
    let svc = running.service(&web).unwrap();
    assert_eq!(svc.netmask, ringvs::config::Netmask::V6(48));
    let d = svc.dest(rs2, 8080).unwrap();
    assert_eq!((d.id, d.weight), (id2, 5), "edited in place, same id");
    assert_eq!(svc.dests.len(), 2);
}

/// A reload that moves a `mark_dest` from one fwmark virtual server to
/// another (each file valid as a whole) applies: the services edited give
/// up their old rules before any is checked against the rest.
#[test]
fn a_reload_moves_a_mark_dest_between_fwmarks() {
    let t = TempDir::new("fwmark-move");
    let conf = |a: &str, b: &str| {
        format!(
            "virtual_server fwmark 1 {{\n  lb_algo rr\n  lb_kind NAT\n  mark_dest {a}\n\
             \x20 real_server 198.19.0.2 0 {{\n  }}\n}}\n\
             virtual_server fwmark 2 {{\n  lb_algo rr\n  lb_kind NAT\n  mark_dest {b}\n\
             \x20 real_server 198.19.0.3 0 {{\n  }}\n}}\n"
        )
    };
    let p = t.write(
        "keepalived.conf",
        &conf("tcp:198.18.0.110:80", "tcp:198.18.0.111:80"),
    );
    let mut running = load_as(&p, None).unwrap().config;
    // Swap them: each file is valid, the running table goes from one to the other.
    t.write(
        "keepalived.conf",
        &conf("tcp:198.18.0.111:80", "tcp:198.18.0.110:80"),
    );
    let new = load_as(&p, None).unwrap().config;
    let r = apply_differences(&mut running, &new);
    assert!(r.is_ok(), "{:?}", r.err().map(|e| e.to_string()));
    let save = |c: &Config| ringvs::config::format::format_save(c, true, &Names::none());
    assert_eq!(save(&running), save(&new));
}

/// A script's user that is no user or group name (keepalived: "Invalid
/// user/group for … script - ignoring"; `MISC_CHECK`: "Failed to set
/// uid/gid … - removing") leaves that script or check out, warned, and
/// never reaches a rules line.
#[test]
fn a_script_user_that_is_no_name_leaves_its_script_out() {
    let t = TempDir::new("badscriptuser");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 quorum_up /\"bin/q up\"\n\
         \x20 real_server 198.19.0.2 80 {\n    notify_down \"/bin/n\" nobody \"no group\"\n\
         \x20   MISC_CHECK {\n      misc_path /bin/c\n      user \"a b\"\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [
            format!(
                "{f}:5: quorum_up: 'bin/q up': not a user or group name; this script is not run"
            ),
            format!(
                "{f}:7: notify_down: 'no group': not a user or group name; this script is not run"
            ),
            format!(
                "{f}:10: user (in MISC_CHECK): 'a b': not a user or group name; this check is not run"
            ),
        ]
    );
    let s = l
        .config
        .service(&ServiceKey::new(Proto::Tcp, vip(110), 80))
        .unwrap();
    assert!(s.quorum_scripts.is_empty() && s.server_scripts.is_empty() && s.check.is_none());
}

/// keepalived's leniencies with a script's user: a `MISC_CHECK` `user`
/// without a name is skipped and the check stays ("No user specified");
/// words after `USER GROUP` are ignored; both warned. A name a directory
/// service may give (`svc@corp.example`) is taken.
#[test]
fn a_script_users_missing_name_and_extra_words_are_keepaliveds() {
    let t = TempDir::new("lenientuser");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 quorum_up \"/bin/q\" svc@corp.example users extra\n\
         \x20 real_server 198.19.0.2 80 {\n\
         \x20   MISC_CHECK {\n      misc_path /bin/c\n      user\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [
            format!("{f}:5: quorum_up: the words after USER GROUP are ignored"),
            format!("{f}:9: user (in MISC_CHECK): no user given, skipped"),
        ]
    );
    let s = l
        .config
        .service(&ServiceKey::new(Proto::Tcp, vip(110), 80))
        .unwrap();
    let up = s.quorum_scripts.up.as_ref().unwrap();
    assert_eq!(up.user(), Some(&"svc@corp.example:users".parse().unwrap()));
    let Some(CheckKind::Misc(m)) = s.check.as_ref().map(|c| &c.kind) else {
        panic!("{:?}", s.check);
    };
    assert_eq!((m.path.as_str(), m.path.user()), ("/bin/c", None));
}

/// keepalived's `~SEQ` over a multi-line definition makes the real servers
/// of a virtual server, as keepalived itself reads them (`lib/parser.c`,
/// `read_line`): the saved rules name each one with its weight and check.
#[test]
fn seq_and_multi_line_definitions_make_real_servers() {
    let t = TempDir::new("seq");
    let p = t.write(
        "keepalived.conf",
        "$RS=real_server 198.19.0.$n 80 { \\\n  weight $n \\\n  TCP_CHECK { connect_timeout 2 } \\\n}\n\
         virtual_server 198.18.0.110 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
         ~SEQ(n, 2, 4) $RS\n}\n",
    );
    let l = load_as(&p, None).unwrap_or_else(|e| panic!("{e}"));
    let saved = ringvs::config::format::format_save(&l.config, true, &Names::none());
    for n in 2..=4 {
        let line = format!("-a -t 198.18.0.110:80 -r 198.19.0.{n}:80 -m -w {n}");
        assert!(saved.contains(&line), "{line} in {saved}");
    }
    // The servers' one check is the service's (`--check`, as ringvs keeps it).
    assert!(
        saved.contains("--check tcp --delay-loop 60 --connect-timeout 2"),
        "{saved}"
    );
}

/// A multi-line definition still open at the end of an included file ends
/// there, as keepalived's ends at the file's end: the including file's next
/// line is its own.
#[test]
fn a_multi_line_definition_ends_with_its_file() {
    let t = TempDir::new("mlinc");
    t.write(
        "inc.conf",
        "$RS=real_server 198.19.0.2 80 { \\\n  weight 3 \\\n}\\\n",
    );
    let p = t.write(
        "keepalived.conf",
        "include inc.conf\nvirtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n$RS\n}\n",
    );
    let l = load_as(&p, None).unwrap_or_else(|e| panic!("{e}"));
    let saved = ringvs::config::format::format_save(&l.config, true, &Names::none());
    assert!(
        saved.contains("-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 3"),
        "{saved}"
    );
}

/// keepalived's pre-defined parameters (`lib/parser.c`,
/// `set_std_definitions`): `${_RANDOM MIN MAX}` draws a weight in its
/// range at each load, `$_HASH` and `$_BANG` put `#` and `!` in a script's
/// line where they would start a comment; MIN above MAX refuses the file,
/// naming the line.
#[test]
fn pre_defined_parameters_load() {
    let t = TempDir::new("builtin");
    let conf = "virtual_server 198.18.0.110 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
                \x20 real_server 198.19.0.2 80 {\n    weight ${_RANDOM 3 5}\n\
                \x20   MISC_CHECK {\n      misc_path /bin/c${_HASH}1${_BANG}\n    }\n  }\n}\n";
    let mut weights = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (saved, warnings) = saved_and_warnings(&t, conf);
        assert!(warnings.is_empty(), "{warnings:?}");
        let w: u32 = saved
            .split("-r 198.19.0.2:80 -m -w ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{saved}"));
        assert!((3..=5).contains(&w), "{saved}");
        assert!(saved.contains("--misc-path \"/bin/c#1!\""), "{saved}");
        weights.insert(w);
    }
    assert!(weights.len() > 1, "40 loads drew {weights:?}");
    let p = t.write(
        "keepalived.conf",
        &conf.replace("${_RANDOM 3 5}", "${_RANDOM 6 5}"),
    );
    let e = load_as(&p, None).expect_err("refused");
    assert!(
        e.ends_with("keepalived.conf:6: ${_RANDOM 6 5}: MIN 6 is above MAX 5"),
        "{e}"
    );
}

/// `global_defs { random_seed N }` (keepalived's `global_parser.c`
/// `random_seed_handler`): the same seed gives the same `$_RANDOM` weights
/// at each load and each reload, all through the file (a use before
/// `global_defs` too), and another seed others; without one, loads draw
/// anew. A seed that is not a number in 0..2^32-1 is warned about, naming
/// its line, and the draws are random.
#[test]
fn random_seed_makes_random_weights_reproducible() {
    let t = TempDir::new("random_seed");
    let conf = |seed: &str| {
        let mut c = String::from(
            "virtual_server 198.18.0.110 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.1 80 {\n    weight ${_RANDOM 1 60000}\n  }\n}\n",
        );
        if !seed.is_empty() {
            c.push_str(&format!("global_defs {{\n  random_seed {seed}\n}}\n"));
        }
        c.push_str(
            "virtual_server 198.18.0.111 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n",
        );
        for last in 2..6 {
            c.push_str(&format!(
                "  real_server 198.19.0.{last} 80 {{\n    weight ${{_RANDOM 1 60000}}\n  }}\n"
            ));
        }
        c + "}\n"
    };
    let weights = |text: &str| {
        let p = t.write("keepalived.conf", text);
        let l = load_as(&p, None).unwrap_or_else(|e| panic!("{e}"));
        let w: Vec<u32> = l
            .config
            .services()
            .iter()
            .flat_map(|s| s.dests.iter().map(|d| d.weight))
            .collect();
        assert_eq!(w.len(), 5);
        assert!(w.iter().all(|w| (1..=60000).contains(w)), "{w:?}");
        (w, l.warnings)
    };
    let (w42, warnings) = weights(&conf("42"));
    assert!(warnings.is_empty(), "{warnings:?}");
    for _ in 0..3 {
        assert_eq!(weights(&conf("42")).0, w42);
    }
    assert_ne!(weights(&conf("43")).0, w42);
    assert_ne!(weights(&conf("0")).0, w42);
    assert_eq!(
        weights(&conf("4294967295")).0,
        weights(&conf("4294967295")).0
    );
    // A reload of the seeded file draws the same weights: nothing changes.
    let p = t.write("keepalived.conf", &conf("42"));
    let mut running = load_as(&p, None).unwrap().config;
    assert_eq!(reload(&mut running, &p), Vec::<String>::new());
    // Unseeded, five weights in 1..60000 drawn the same twice over would
    // be a chance of 1 in 60000^5.
    assert_ne!(weights(&conf("")).0, weights(&conf("")).0);
    // As keepalived's strtoul reads its first word: a `+`, blanks before
    // it (quoted) and a second word change nothing.
    for same in ["+42", "\" 42\"", "42 7"] {
        let (w, warnings) = weights(&conf(same));
        assert_eq!((w, warnings), (w42.clone(), vec![]), "{same}");
    }
    // An empty word is 0, as strtoul reads it.
    assert_eq!(weights(&conf("\"\"")), weights(&conf("0")));
    for bad in ["4294967296", "-1", "x", "4x", "+"] {
        let (a, warnings) = weights(&conf(bad));
        assert_eq!(
            warnings,
            [format!(
                "{}:10: random_seed {bad}: not a number in 0..4294967295, ignored",
                p.display()
            )]
        );
        assert_ne!(a, weights(&conf(bad)).0, "{bad}: unseeded");
    }
}

/// A `track_file` a server checks whose name or file has a control
/// character, or is empty, is refused:
/// `-S` writes a FILE_CHECK as `--file-check NAME --file-path PATH`, which
/// `-R` refuses with one (found by the control fuzz harness's round trip).
#[test]
fn a_track_file_that_no_saved_line_could_hold_is_refused() {
    let t = TempDir::new("trackctl");
    // Empty too: `-S` would write `--file-check ""` (no check to `-R`) or
    // an empty `--file-path` (refused).
    let cases = [
        ("load", "/tmp/a\x01b", "a control character in it"),
        ("lo\x7fad", "/tmp/ab", "a control character in it"),
        ("\"\"", "/tmp/ab", ": empty"),
        ("load", "\"\"", ": empty"),
    ];
    for (name, file, why) in cases {
        let conf = format!(
            "track_file {name} {{\n  file {file}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    FILE_CHECK {{\n      track_file {name}\n    }}\n  }}\n}}\n"
        );
        let p = t.write("keepalived.conf", &conf);
        let e = load_as(&p, None).expect_err("refused");
        assert!(e.contains(why), "{name} {file}: {e}");
    }
    let p = t.write("keepalived.conf", "track_file load {\n  file /tmp/ab\n}\n");
    assert!(load_as(&p, None).is_ok(), "a plain one loads");
    // One no server uses (VRRP's alone) is not said by `-S`: it loads.
    let p = t.write(
        "keepalived.conf",
        "track_file lo\x7fad {\n  file /tmp/a\x01b\n}\n",
    );
    assert!(load_as(&p, None).is_ok(), "an unused one loads");
}

/// keepalived's `track_file` blocks and `FILE_CHECK`s (`check_file.c`,
/// `track_file.c`): each real server's own, beside its service's check,
/// with the `track_file`'s weight unless the `FILE_CHECK` gives one, and
/// the server's `inhibit_on_failure`; `init_file` writes the file (a
/// missing one always, an existing one with `overwrite` at start only); a
/// reload that changes a `FILE_CHECK` edits its server alone, and the log
/// line says how.
#[test]
fn file_checks_are_read() {
    use ringvs::config::FileCheck;
    use ringvs::config::keepalived::init_files;
    let t = TempDir::new("filecheck");
    let (ready, load) = (t.0.join("ready"), t.0.join("load"));
    let conf = |w: &str| {
        format!(
            "track_file ready {{\n  file {}\n  weight 0\n}}\n\
             vrrp_track_file load {{\n  file {}\n  weight -3 reverse\n  init_file 4 overwrite\n}}\n\
             vrrp_instance VI_1 {{\n  track_file {{\n    ready weight 10\n  }}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    inhibit_on_failure\n    TCP_CHECK {{\n    }}\n\
             \x20   FILE_CHECK {{\n      track_file ready\n    }}\n\
             \x20   FILE_CHECK {{\n      track_file load\n      weight {w}\n    }}\n  }}\n\
             \x20 real_server 198.19.0.3 80 {{\n    FILE_CHECK {{\n      track_file load\n    }}\n  }}\n}}\n",
            ready.display(),
            load.display()
        )
    };
    let p = t.write("keepalived.conf", &conf("2"));
    let l = load_as(&p, None).unwrap();
    let f = p.display();
    assert_eq!(
        l.warnings,
        [format!(
            "{f}:31: real_server 198.19.0.3:80 has no checker ringvs runs (TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, PING_CHECK, DNS_CHECK, SMTP_CHECK, MISC_CHECK): ringvs checks every real server of a virtual_server, this one with the check of {f}:21"
        )]
    );
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let svc = l.config.service(&key).unwrap();
    assert_eq!(svc.check.as_ref().unwrap().kind, CheckKind::Tcp);
    let files = |last: u8| svc.server_scripts(IpAddr::V4(rip(last)), 80).files;
    let fc = |name: &str, path: &Path, weight, reverse, inhibit| FileCheck {
        name: name.into(),
        path: path.to_path_buf(),
        weight,
        reverse,
        inhibit,
    };
    assert_eq!(
        files(2),
        [
            fc("ready", &ready, 0, false, true),
            fc("load", &load, 2, false, true)
        ]
    );
    assert_eq!(files(3), [fc("load", &load, -3, true, false)]);
    // init_file: written at start; a reload leaves an existing file.
    assert_eq!(l.track_inits.len(), 1);
    assert!(init_files(&l.track_inits, false).is_empty());
    assert_eq!(std::fs::read_to_string(&load).unwrap(), "4\n");
    std::fs::write(&load, "9\n").unwrap();
    assert!(init_files(&l.track_inits, true).is_empty());
    assert_eq!(std::fs::read_to_string(&load).unwrap(), "9\n");
    assert!(init_files(&l.track_inits, false).is_empty());
    assert_eq!(std::fs::read_to_string(&load).unwrap(), "4\n", "overwrite");
    assert!(!ready.exists(), "no init_file: not written");
    // No symbolic link at the path is followed (keepalived's `fopen_safe`):
    // with `overwrite` a link there is refused, dangling (no file made) or
    // not (no other file truncated); a reload leaves it, as any file there.
    let other = t.0.join("other");
    std::fs::remove_file(&load).unwrap();
    std::os::unix::fs::symlink(&other, &load).unwrap();
    for made in [false, true] {
        if made {
            std::fs::write(&other, "precious\n").unwrap();
        }
        let refused = init_files(&l.track_inits, false);
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].ends_with("not a regular file"), "{refused:?}");
        assert!(init_files(&l.track_inits, true).is_empty());
        let left = std::fs::read_to_string(&other).ok();
        assert_eq!(left.as_deref(), made.then_some("precious\n"));
    }
    std::fs::remove_file(&load).unwrap();
    assert!(init_files(&l.track_inits, false).is_empty());
    assert_eq!(std::fs::read_to_string(&load).unwrap(), "4\n", "made again");

    // A reload with another weight edits that server alone.
    let mut running = l.config.clone();
    let id = |c: &Config| c.service(&key).unwrap().dest(rip(2), 80).unwrap().id;
    let before = id(&running);
    t.write("keepalived.conf", &conf("5 reverse"));
    let shown = reload(&mut running, &p);
    assert_eq!(
        shown,
        [format!(
            "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --file-check ready --file-path {} --file-weight 0 --file-check load --file-path {} --file-weight 5 --file-reverse --file-inhibit",
            ready.display(),
            load.display()
        )]
    );
    assert_eq!(id(&running), before);
    let now = running.service(&key).unwrap();
    let ours = now.server_scripts(IpAddr::V4(rip(2)), 80).files;
    assert_eq!(ours[1], fc("load", &load, 5, true, true));
}

/// A real server's `FILE_CHECK`s in ipvsadm's syntax: `-S` writes them
/// (`--file-check NAME --file-path PATH --file-weight W [--file-reverse]`,
/// then `--file-inhibit`), `-R` restores them byte for byte, an `-e` of
/// its other fields keeps them and an `-e` with `--file-check` replaces
/// them; the options are refused where they mean nothing.
#[test]
fn file_checks_are_saved_restored_and_kept_by_an_edit() {
    const NOT_ALONE: &str = "an empty file-check (none) takes no other file option";
    use ringvs::config::ipvsadm::{self, parse};
    let t = TempDir::new("filecheck-save");
    let p = t.write(
        "keepalived.conf",
        "track_file ready {\n  file /run/lvs/rs2.ready\n  weight 0\n}\n\
         track_file load {\n  file /run/lvs/rs3.load\n  weight -3 reverse\n}\n\
         virtual_server 198.18.0.110 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 real_server 198.19.0.2 80 {\n    inhibit_on_failure\n    TCP_CHECK {\n    }\n\
         \x20   notify_up /bin/up\n\
         \x20   FILE_CHECK {\n      track_file ready\n    }\n\
         \x20   FILE_CHECK {\n      track_file load\n      weight 2\n    }\n  }\n\
         \x20 real_server 198.19.0.3 80 {\n    TCP_CHECK {\n    }\n\
         \x20   FILE_CHECK {\n      track_file load\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    let save = |c: &Config| ringvs::config::format::format_save(c, true, &Names::none());
    let saved = save(&l.config);
    let want = "\
-A -t 198.18.0.110:80 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --inhibit-on-failure
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --notify-up \"/bin/up\" --file-check ready --file-path /run/lvs/rs2.ready --file-weight 0 --file-check load --file-path /run/lvs/rs3.load --file-weight 2 --file-inhibit
-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1 --file-check load --file-path /run/lvs/rs3.load --file-weight -3 --file-reverse
";
    assert_eq!(saved, want);
    let restore = |text: &str| {
        let mut c = Config::new();
        let e = ipvsadm::restore(&mut c, text, &Names::none(), &mut |_, _, _| {}).unwrap();
        assert!(e.is_empty(), "{e:?}");
        c
    };
    let back = restore(&saved);
    assert_eq!(save(&back), want, "-S of -R of -S");
    let key = ServiceKey::new(Proto::Tcp, vip(110), 80);
    let files = |c: &Config, last| {
        let s = c.service(&key).unwrap();
        s.server_scripts(IpAddr::V4(rip(last)), 80).files
    };
    for last in [2, 3] {
        assert_eq!(files(&back, last), files(&l.config, last), "{last}");
    }
    // An -e of the weight keeps them (its notify script goes, as always).
    let mut c = l.config.clone();
    let run = |c: &mut Config, args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        ipvsadm::apply(c, &parse(&args).unwrap())
    };
    let edit = ["-e", "-t", "198.18.0.110:80", "-r", "198.19.0.2:80", "-m"];
    run(&mut c, &[&edit[..], &["-w", "5"]].concat()).unwrap();
    assert_eq!(files(&c, 2), files(&l.config, 2));
    assert!(
        save(&c).contains("\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 5 --file-check ready --file-path /run/lvs/rs2.ready --file-weight 0 --file-check load --file-path /run/lvs/rs3.load --file-weight 2 --file-inhibit\n"),
        "{}",
        save(&c)
    );
    // With --file-check, an -e replaces them; a path with a blank is
    // written in double quotes, and read back.
    let new = ["--file-check", "drain", "--file-path", "/run/lvs/rs 2"];
    run(&mut c, &[&edit[..], &new[..]].concat()).unwrap();
    let line = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --file-check drain --file-path \"/run/lvs/rs 2\" --file-weight 1\n";
    assert!(save(&c).contains(line), "{}", save(&c));
    assert_eq!(save(&restore(&save(&c))), save(&c));
    // An empty --file-check is none: the -e leaves the server no
    // FILE_CHECK, and the other server keeps its own.
    run(
        &mut c,
        &[&edit[..], &["-w", "2", "--file-check", ""]].concat(),
    )
    .unwrap();
    assert_eq!(files(&c, 2), []);
    assert_eq!(files(&c, 3), files(&l.config, 3));
    let line = "\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 2\n";
    assert!(save(&c).contains(line), "{}", save(&c));
    // Where they mean nothing, or are incomplete, they are refused.
    let refused = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse(&args).unwrap_err().to_string()
    };
    let add = ["-a", "-t", "198.18.0.110:80", "-r", "198.19.0.4:80"];
    for (more, e) in [
        (
            &["--file-path", "/x"][..],
            "file-path needs a --file-check before it",
        ),
        (&["--file-check", "a"][..], "file-check a needs --file-path"),
        (&["--file-inhibit"][..], "file-inhibit needs --file-check"),
        (
            &[
                "--file-check",
                "a",
                "--file-path",
                "/x",
                "--file-check",
                "a",
            ][..],
            "file-check a given twice",
        ),
        (
            &[
                "--file-check",
                "a",
                "--file-path",
                "/x",
                "--file-weight",
                "-2147483648",
            ][..],
            "illegal file-weight specified: not a number in -2147483647..2147483647",
        ),
        // A line break would end the saved line: -R could read nothing.
        (
            &["--file-check", "a", "--file-path", "/x\ny"][..],
            "illegal file-path specified: a control character in it",
        ),
        (
            &["--file-check", "a\nb", "--file-path", "/x"][..],
            "illegal file-check specified: a control character in it",
        ),
        // None goes alone.
        (&["--file-check", "", "--file-path", "/x"][..], NOT_ALONE),
        (&["--file-check", "", "--file-inhibit"][..], NOT_ALONE),
        (&["--file-check", "", "--file-check", "a"][..], NOT_ALONE),
        (&["--file-check", "", "--file-check", ""][..], NOT_ALONE),
        (
            &["--file-check", "a", "--file-path", "/x", "--file-check", ""][..],
            NOT_ALONE,
        ),
    ] {
        assert!(refused(&[&add[..], more].concat()).contains(e), "{more:?}");
    }
    let e = refused(&["-A", "-t", "198.18.0.110:80", "--file-check", "a"]);
    assert!(
        e.contains("Illegal 'file-check' option with the 'add-service' command"),
        "{e}"
    );
}

/// What keepalived reports and skips in `track_file` and `FILE_CHECK` is
/// an error naming the line; a repeated keyword or file is a warning.
#[test]
fn file_check_errors_name_the_line() {
    let t = TempDir::new("filecheck-errors");
    let conf = |track: &str, check: &str| {
        format!(
            "track_file ready {{\n{track}\n}}\n\
             virtual_server 198.18.0.110 80 {{\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {{\n    FILE_CHECK {{\n{check}\n    }}\n  }}\n}}\n"
        )
    };
    let cases = [
        (
            "  weight 1",
            "track_file ready",
            1,
            "track_file ready: no file (file PATH) given",
        ),
        (
            "  file /x\n  weight 255",
            "track_file ready",
            3,
            "weight 255: not a number in -254..254",
        ),
        (
            "  file /x\n  weight 2 up",
            "track_file ready",
            3,
            "weight 2 up: the word after the weight is reverse",
        ),
        (
            "  file /x\n  init_file x",
            "track_file ready",
            3,
            "init_file x: neither a number (a 32-bit integer) nor overwrite",
        ),
        (
            "  file /x",
            "track_file nope",
            8,
            "track_file nope: no such track_file block",
        ),
        (
            "  file /x",
            "weight 2",
            7,
            "FILE_CHECK: no track_file NAME given (keepalived ignores it)",
        ),
        (
            "  file /x",
            "track_file ready\nweight -2147483648",
            9,
            "weight -2147483648: not a number in -2147483647..2147483647",
        ),
        (
            "  file /x",
            "track_file ready\nweight 1 sideways",
            9,
            "weight 1 sideways: the word after the weight is reverse or noreverse",
        ),
    ];
    for (track, check, line, message) in cases {
        let p = t.write("keepalived.conf", &conf(track, check));
        let e = load_as(&p, None).unwrap_err();
        assert_eq!(
            e,
            format!("{}:{line}: {message}", p.display()),
            "{track} / {check}"
        );
    }
    let p = t.write(
        "keepalived.conf",
        &conf(
            "  file /x\n  file /y\n  weight 1 reverse",
            "track_file ready\nweight 1 noreverse",
        ),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(
        l.warnings[..1],
        [format!(
            "{}:3: file (in track_file ready): given twice, the first is kept",
            p.display()
        )]
    );
    let svc = l.config.services()[0].clone();
    let files = svc.server_scripts(IpAddr::V4(rip(2)), 80).files;
    assert_eq!(
        (files[0].path.to_str(), files[0].weight, files[0].reverse),
        (Some("/x"), 1, false)
    );
}

/// A `connect_ip` whose check ringvs does not run (a port-0 virtual
/// server's, with no common port to check) is dropped with it: the file
/// loads and applies (`-a` refuses a `--check-ip` without a check).
#[test]
fn a_connect_ip_without_a_check_run_is_dropped() {
    let t = TempDir::new("connect-ip-nocheck");
    let p = t.write(
        "keepalived.conf",
        "virtual_server 198.18.0.110 0 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  persistence_timeout 60\n\
         \x20 real_server 198.19.0.2 80 {\n    TCP_CHECK {\n      connect_ip 198.19.0.7\n    }\n  }\n\
         \x20 real_server 198.19.0.3 81 {\n    TCP_CHECK {\n      connect_ip 198.19.0.8\n    }\n  }\n}\n",
    );
    let l = load_as(&p, None).unwrap();
    assert!(
        l.warnings
            .iter()
            .any(|w| w.ends_with("its real servers no common port to check; not checked by ringvs")),
        "{:?}",
        l.warnings
    );
    let svc = &l.config.services()[0];
    assert!(svc.check.is_none());
    assert!(svc.dests.iter().all(|d| d.check_ip.is_none()));
    let mut running = Config::new();
    apply_differences(&mut running, &l.config).unwrap();
    assert_eq!(running.services()[0].dests.len(), 2);
}

/// keepalived's top-level `SSL` block: the client certificate of every
/// `SSL_GET` (`--check-cert`, `--check-key`), its files read only when an
/// `SSL_GET` runs, errors naming the keyword's line, `-S` writing it, and
/// reloads that change it (or the files under the same names) taking
/// effect.
#[test]
fn the_ssl_block_is_every_ssl_gets_client_certificate() {
    let t = TempDir::new("sslblock");
    let data = |n: &str| format!("{}/tests/data/{n}", env!("CARGO_MANIFEST_DIR"));
    let (cert, key) = (data("tls/client.crt"), data("tls/client.key"));
    let vs = |port: u16, checker: &str| {
        format!(
            "virtual_server 198.18.0.110 {port} {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 {port} {{\n    {checker} {{\n      url {{\n        path /\n      }}\n    }}\n  }}\n}}\n"
        )
    };
    let ssl = |body: &str| format!("SSL {{\n{body}}}\n");
    let both = format!("{}{}", vs(443, "SSL_GET"), vs(80, "HTTP_GET"));
    let client_of = |c: &Config, port: u16| {
        let k = ServiceKey::new(Proto::Tcp, vip(110), port);
        match c.service(&k).unwrap().check.clone().unwrap().kind {
            CheckKind::Http(h) => h.client,
            k => panic!("{k:?}"),
        }
    };
    let full = ssl(&format!(
        "  password secret\n  ca {cert}\n  certificate {cert}\n  key {key}\n"
    ));
    let p = t.write("keepalived.conf", &format!("{full}{both}"));
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = client_of(&l.config, 443).unwrap();
    assert_eq!((c.cert.as_str(), c.key.as_str()), (&cert[..], &key[..]));
    assert!(c.resolver().is_some());
    assert_eq!(client_of(&l.config, 80), None, "HTTP_GET has no TLS");
    let saved = ringvs::config::format::format_save(&l.config, true, &Names::none());
    assert!(
        saved.contains(&format!(
            "-A -t 198.18.0.110:443 -s rr --check https --check-path / --check-status 200-299 --check-cert {cert} --check-key {key} "
        )),
        "{saved}"
    );
    assert_eq!(saved.matches("--check-cert").count(), 1, "{saved}");
    // Without an SSL_GET the files are not read (keepalived's `ssl_required`).
    let missing = data("tls/missing.pem");
    let none = ssl(&format!("  certificate {missing}\n  key {missing}\n"));
    t.write("keepalived.conf", &format!("{none}{}", vs(80, "HTTP_GET")));
    let l = load_as(&p, None).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // With one, a file that does not load stops keepalived's checker: an
    // error here, naming the line.
    let enc = data("tls/client_encrypted.key");
    let other = data("dr/https_test.key");
    for (body, want) in [
        (
            format!("  certificate {missing}\n  key {key}\n"),
            format!(":2: certificate (in SSL): {missing}: No such file or directory"),
        ),
        (
            format!("  certificate {cert}\n  key {key}\n  ca {key}\n"),
            format!(":4: ca (in SSL): {key}: no certificate in it (PEM CERTIFICATE)"),
        ),
        (
            format!("  certificate {cert}\n  password x\n  key {enc}\n"),
            format!(":4: key (in SSL): {enc}: an encrypted private key"),
        ),
        (
            format!("  certificate {cert}\n  key {other}\n"),
            format!(":3: key (in SSL): {other}: not the key of the certificate in {cert}"),
        ),
        (
            "  certificate certs/client.crt\n".to_string(),
            ":2: certificate certs/client.crt: not an absolute path".to_string(),
        ),
        (
            "  key\n".to_string(),
            ":2: key: a value is missing".to_string(),
        ),
    ] {
        t.write("keepalived.conf", &format!("{}{both}", ssl(&body)));
        let e = load_as(&p, None).unwrap_err();
        assert!(e.contains(&want), "{body}: {e}");
    }
    t.write(
        "keepalived.conf",
        &format!(
            "{}{both}",
            ssl(&format!(
                "  password x\n  key {enc}\n  certificate {cert}\n"
            ))
        ),
    );
    let e = load_as(&p, None).unwrap_err();
    assert!(e.ends_with("(its password is not used)"), "{e}");
    // One without the other is read, and sends nothing (as OpenSSL).
    t.write(
        "keepalived.conf",
        &format!(
            "{}{both}",
            ssl(&format!("  certificate {cert}\n  bogus 1\n"))
        ),
    );
    let l = load_as(&p, None).unwrap();
    assert_eq!(client_of(&l.config, 443), None);
    let w = l.warnings.join("\n");
    assert!(
        w.contains(":2: certificate (in SSL): no key, so no client certificate is sent")
            && w.contains(":3: bogus (in SSL): not supported by ringvs, ignored"),
        "{w}"
    );
    // A second block replaces the first, a second keyword its value.
    let twice = format!(
        "{}{}",
        ssl(&format!("  certificate {missing}\n  key {missing}\n")),
        ssl(&format!(
            "  certificate {missing}\n  certificate {cert}\n  key {key}\n"
        ))
    );
    t.write("keepalived.conf", &format!("{twice}{both}"));
    let l = load_as(&p, None).unwrap();
    assert_eq!(client_of(&l.config, 443).unwrap().cert, cert);
    let w = l.warnings.join("\n");
    assert!(
        w.contains(&format!(
            ":5: SSL: given again, replaces the block at {}:1",
            p.display()
        )) && w.contains(&format!(
            ":7: certificate (in SSL): given again, replaces the one at {}:6",
            p.display()
        )),
        "{w}"
    );

    // Reloads: the block added, its files changed under the same names,
    // the block removed.
    t.write("keepalived.conf", &both);
    let mut running = load_as(&p, None).unwrap().config;
    let mine = t.write("client.crt", &std::fs::read_to_string(&cert).unwrap());
    let mine = mine.to_string_lossy().into_owned();
    let block = ssl(&format!("  certificate {mine}\n  key {key}\n"));
    t.write("keepalived.conf", &format!("{block}{both}"));
    let changes = reload(&mut running, &p);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].starts_with("-E -t 198.18.0.110:443 ")
            && changes[0].contains(&format!("--check-cert {mine} --check-key {key}")),
        "{changes:?}"
    );
    let first = client_of(&running, 443).unwrap();
    assert!(reload(&mut running, &p).is_empty(), "nothing changed");
    let chain = [cert.as_str(), &data("dr/https_test.crt")]
        .map(|f| std::fs::read_to_string(f).unwrap())
        .concat();
    t.write("client.crt", &chain);
    let changes = reload(&mut running, &p);
    assert_eq!(changes.len(), 1, "the file's content changed: {changes:?}");
    let second = client_of(&running, 443).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        second
            .resolver()
            .unwrap()
            .resolve(&[], &[])
            .unwrap()
            .cert
            .len(),
        2,
        "the new chain is presented"
    );
    t.write("keepalived.conf", &both);
    let changes = reload(&mut running, &p);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(!changes[0].contains("--check-cert"), "{changes:?}");
    assert_eq!(client_of(&running, 443), None);
}
