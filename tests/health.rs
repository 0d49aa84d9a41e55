//! Health checks: the `--check` options of `-A`/`-E`, their `-S` form and
//! round trip, and (as root, in namespaces) failover under HTTP load.

#![allow(clippy::unwrap_used)]

mod nslab;
use nslab::{
    EXE, NsDirector, Scenario, adm, kill_all_in, listed_weight, serve_again, stats, wait_for,
};
use ringvs::config::format::format_save;
use ringvs::config::ipvsadm::{self, AdmCommand, parse};
use ringvs::config::names::Names;
use ringvs::config::{
    AdmError, CheckKind, Config, DnsCheck, DnsType, HealthCheck, HttpCheck, HttpProtocol,
    SmtpCheck, UdpCheck, UdpReply,
};

fn argv(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn check_of(line: &str) -> Option<HealthCheck> {
    match parse(&argv(line)) {
        Ok(AdmCommand::AddService { opts, .. } | AdmCommand::EditService { opts, .. }) => {
            opts.check
        }
        other => panic!("{line}: {other:?}"),
    }
}

fn usage_err(line: &str) -> String {
    match parse(&argv(line)) {
        Err(e @ AdmError::Usage(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        other => panic!("{line}: expected a usage error, got {other:?}"),
    }
}

#[test]
fn check_options_parse_with_keepalived_defaults() {
    assert_eq!(check_of("-A -t 198.18.0.110:80 -s rr"), None);
    let tcp = check_of("-A -t 198.18.0.110:80 -s rr --check tcp").unwrap();
    assert_eq!(
        tcp,
        HealthCheck {
            kind: CheckKind::Tcp,
            delay_loop: 60,
            connect_timeout: 5,
            retry: 1,
            delay_before_retry: 1,
            inhibit_on_failure: false,
            alpha: false,
            port: None,
            warmup: 0,
        }
    );
    let http = check_of(
        "-E -t 198.18.0.110:80 --check http --check-path /health?x=1 --check-status 204 \
         --delay-loop 5 --connect-timeout 2 --retry 3 --delay-before-retry 0 --inhibit-on-failure \
         --alpha --warmup 30",
    )
    .unwrap();
    assert_eq!(
        http,
        HealthCheck {
            kind: CheckKind::Http(HttpCheck::get("/health?x=1", 204)),
            delay_loop: 5,
            connect_timeout: 2,
            retry: 3,
            delay_before_retry: 0,
            inhibit_on_failure: true,
            alpha: true,
            port: None,
            warmup: 30,
        }
    );
    // --opt=value works as for ipvsadm's own options; http defaults to GET / 200.
    let h = check_of("-A -t 198.18.0.110:80 --check=http --delay-loop=7").unwrap();
    assert_eq!(h.kind, CheckKind::Http(HttpCheck::get("/", 200)));
    assert_eq!(h.delay_loop, 7);
    // HTTP_GET's and SSL_GET's retries wait 3 s unless told, as
    // keepalived's `http_get_handler` (`check_http.c`) sets; the others 1 s.
    for kind in ["http", "https"] {
        let h = check_of(&format!("-A -t 198.18.0.110:80 --check {kind}")).unwrap();
        assert_eq!((h.retry, h.delay_before_retry), (1, 3), "{kind}");
    }
    // keepalived's SSL_GET and the rest of its url: status lists and
    // ranges, the body's digest, the virtual host and SNI.
    let h = check_of(
        "-A -t 198.18.0.110:443 --check https --check-status 302,200-204 \
         --check-digest 9E107D9D372BB6826BD81D3542A419D6 --check-virtualhost www.example:443 --check-sni",
    )
    .unwrap();
    assert_eq!(
        h.kind,
        CheckKind::Http(HttpCheck {
            tls: true,
            path: "/".into(),
            status: vec![(200, 204), (302, 302)],
            digest: ringvs::config::parse_digest("9e107d9d372bb6826bd81d3542a419d6"),
            vhost: Some("www.example:443".into()),
            sni: true,
            more: Vec::new(),
            client: None,
            proto: HttpProtocol::V10Close,
        })
    );
}

#[test]
fn check_options_errors() {
    let svc = "-A -t 198.18.0.110:80";
    assert_eq!(
        usage_err(&format!("{svc} --check file")),
        "illegal check `file' specified (tcp, http, https, udp, ping, dns, smtp or misc)"
    );
    for (opts, e) in [
        (
            "--check tcp --payload 00",
            "payload, require-reply, min-reply-length and max-reply-length need --check udp",
        ),
        (
            "--check ping --require-reply",
            "payload, require-reply, min-reply-length and max-reply-length need --check udp",
        ),
        ("--check udp --payload 0g", "illegal payload specified"),
        ("--check udp --payload 0x", "illegal payload specified"),
        (
            "--check udp --require-reply zz",
            "illegal require-reply specified",
        ),
        (
            "--check udp --max-reply-length 9",
            "min-reply-length and max-reply-length need --require-reply",
        ),
        (
            "--check udp --require-reply 01 --min-reply-length 10 --max-reply-length 9",
            "min-reply-length 10 > max-reply-length 9",
        ),
        (
            "--check udp --require-reply --max-reply-length 65536",
            "illegal max-reply-length specified",
        ),
        (
            "--check udp --check-path /x",
            "check-path, check-status, check-digest and check-virtualhost need --check http or https",
        ),
        (
            "--check tcp --check-digest 9e107d9d372bb6826bd81d3542a419d6",
            "check-path, check-status, check-digest and check-virtualhost need --check http or https",
        ),
        (
            "--check http --check-virtualhost a --check-sni",
            "check-sni needs --check https",
        ),
        (
            "--check https --check-sni",
            "check-sni needs check-virtualhost (the name it sends)",
        ),
        (
            "--check https --check-virtualhost 198.18.0.1:443 --check-sni",
            "check-sni needs a host name in check-virtualhost, not an address",
        ),
        (
            "--check https --check-digest 9e107d9d",
            "illegal check-digest specified",
        ),
        (
            "--check https --check-virtualhost a/b",
            "illegal check-virtualhost specified",
        ),
        (
            "--check https --check-status 200-100",
            "illegal check-status specified",
        ),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts}");
    }
    assert_eq!(
        usage_err(&format!("{svc} --delay-loop 5")),
        "the 'delay-loop' option needs the 'check' option"
    );
    assert_eq!(
        usage_err(&format!("{svc} --check tcp --check-path /x")),
        "check-path, check-status, check-digest and check-virtualhost need --check http or https"
    );
    for bad in [
        "--delay-loop 0",
        "--delay-loop x",
        "--connect-timeout 0",
        "--retry -1",
        "--retry 101",
        "--check-status 99",
        "--check-status 600",
        "--check-path health",
        "--delay-before-retry 86401",
    ] {
        let e = usage_err(&format!("{svc} --check http {bad}"));
        assert!(e.starts_with("illegal "), "{bad}: {e}");
    }
    assert_eq!(
        usage_err(&format!("{svc} --check tcp --retry 1 --retry 2")),
        "multiple 'retry' options specified"
    );
    assert_eq!(
        usage_err("-a -t 198.18.0.110:80 -r 198.19.0.2 --check tcp"),
        "Illegal 'check' option with the 'add-server' command"
    );
    assert_eq!(
        usage_err("-L -n --inhibit-on-failure"),
        "Illegal 'inhibit-on-failure' option with the 'list' command"
    );
    assert_eq!(
        usage_err(&format!("{svc} --alpha")),
        "the 'alpha' option needs the 'check' option"
    );
}

/// `--check udp` (keepalived's `UDP_CHECK`) with `--payload`,
/// `--require-reply[=HEX]`, `--min-reply-length`, `--max-reply-length`, and
/// `--check ping` (`PING_CHECK`): parsed, saved and restored exactly.
#[test]
fn udp_and_ping_checks_parse_save_and_restore() {
    let udp = check_of("-A -u 198.18.0.110:53 --check udp").unwrap();
    assert_eq!(udp.kind, CheckKind::Udp(UdpCheck::default()));
    assert_eq!(udp.delay_before_retry, 1, "queue_checker's default");
    let u = check_of("-A -u 198.18.0.110:53 --check udp --payload 6869 --require-reply").unwrap();
    assert_eq!(
        u.kind,
        CheckKind::Udp(UdpCheck {
            payload: b"hi".to_vec(),
            reply: Some(UdpReply::any()),
        })
    );
    let u = check_of(
        "-A -u 198.18.0.110:53 --check udp --require-reply=72x3 --min-reply-length 2 --max-reply-length 300",
    )
    .unwrap();
    assert_eq!(
        u.kind,
        CheckKind::Udp(UdpCheck {
            payload: Vec::new(),
            reply: Some(UdpReply {
                data: vec![0x72, 0x03],
                mask: vec![0, 0xf0],
                min_len: 2,
                max_len: 300,
            }),
        })
    );
    let p = check_of("-A -t 198.18.0.110:80 --check ping --retry 0").unwrap();
    assert_eq!((p.kind, p.retry), (CheckKind::Ping, 0));

    let rules = "\
-A -t 198.18.0.110:80 -s rr --check ping --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -u 198.18.0.110:53 -s rr --check udp --payload 6869 --require-reply 72x3 --min-reply-length 2 --max-reply-length 300 --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1
-A -u 198.18.0.110:54 -s rr --check udp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -u 198.18.0.110:55 -s rr --check udp --require-reply --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -u 198.18.0.110:56 -s rr --check udp --require-reply --min-reply-length 0 --max-reply-length 9 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    saved_as_given(rules);
}

/// `--check dns` (keepalived's `DNS_CHECK`) with `--dns-type` and
/// `--dns-name`, and its own defaults: SOA of `.`, 3 retries, retries
/// `delay_loop` apart; parsed, saved and restored exactly.
#[test]
fn dns_check_options_parse_save_and_restore() {
    let d = check_of("-A -u 198.18.0.110:53 --check dns").unwrap();
    assert_eq!(d.kind, CheckKind::Dns(DnsCheck::new()));
    assert_eq!((d.retry, d.delay_loop, d.delay_before_retry), (3, 60, 60));
    let d = check_of(
        "-A -u 198.18.0.110:53 --check dns --dns-type aaaa --dns-name ns1.example. --delay-loop 5",
    )
    .unwrap();
    assert_eq!(
        d.kind,
        CheckKind::Dns(DnsCheck {
            qtype: DnsType::Aaaa,
            name: "ns1.example.".into()
        })
    );
    assert_eq!(d.delay_before_retry, 5, "as delay_loop");
    let svc = "-A -u 198.18.0.110:53";
    for (opts, e) in [
        ("--check dns --dns-type PTR", "illegal dns-type specified"),
        ("--check dns --dns-name a..b", "illegal dns-name specified"),
        (
            "--check udp --dns-name a",
            "dns-type and dns-name need --check dns",
        ),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts}");
    }
    let rules = "\
-A -u 198.18.0.110:53 -s rr --check dns --dns-type SOA --dns-name . --delay-loop 60 --connect-timeout 5 --retry 3 --delay-before-retry 60
-A -u 198.18.0.110:54 -s rr --check dns --dns-type MX --dns-name example.com --delay-loop 2 --connect-timeout 1 --retry 0 --delay-before-retry 1 --alpha
";
    saved_as_given(rules);
}

/// `--check https` and the url options of `--check http` (keepalived's
/// `SSL_GET`, `status_code` lists, `digest`, `virtualhost`, `enable_sni`):
/// saved and restored exactly.
#[test]
fn http_url_options_save_and_restore() {
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check http --check-path / --check-status 200 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -t 198.18.0.110:443 -s rr --check https --check-path /h --check-status 200-299,404 --check-digest 9e107d9d372bb6826bd81d3542a419d6 --check-virtualhost www.example --check-sni --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 3
-A -t 198.18.0.110:8443 -s rr --check https --check-path / --check-status 200 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    saved_as_given(rules);
}

/// `--check-port` (keepalived's `connect_port`): every server of the
/// service is checked on that port, whatever its own; any check but `ping`
/// (an echo has no port) takes it, and a port-0 service's check needs it;
/// saved and restored exactly.
#[test]
fn check_port_parses_saves_and_restores() {
    let c = check_of("-A -t 198.18.0.110:80 --check http --check-port 8080").unwrap();
    assert_eq!(c.port, Some(8080));
    assert_eq!(c.kind, CheckKind::Http(HttpCheck::get("/", 200)));
    assert_eq!(
        check_of("-A -t 198.18.0.110:80 --check tcp").unwrap().port,
        None
    );
    let svc = "-A -t 198.18.0.110:80";
    for (opts, e) in [
        (
            "--check ping --check-port 80",
            "check-port needs a check with a port (not ping or misc)",
        ),
        (
            "--check misc --misc-path /bin/true --check-port 80",
            "check-port needs a check with a port (not ping or misc)",
        ),
        ("--check tcp --check-port 0", "illegal check-port specified"),
        (
            "--check tcp --check-port 65536",
            "illegal check-port specified",
        ),
        ("--check tcp --check-port x", "illegal check-port specified"),
        (
            "--check tcp --check-port 1 --check-port 2",
            "multiple 'check-port' options specified",
        ),
        (
            "--check-port 81",
            "the 'check-port' option needs the 'check' option",
        ),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts}");
    }
    // Every port (port 0, persistent): no server port to fall back on.
    assert_eq!(
        usage_err("-A -t 198.18.0.110:0 -p 60 --check tcp"),
        "a port-0 service's check needs --check-port (the port to check)"
    );
    assert_eq!(
        check_of("-A -t 198.18.0.110:0 -p 60 --check ping")
            .unwrap()
            .kind,
        CheckKind::Ping
    );
    assert_eq!(
        usage_err("-a -t 198.18.0.110:80 -r 198.19.0.2 --check-port 81"),
        "Illegal 'check-port' option with the 'add-server' command"
    );
    let rules = "\
-A -t 198.18.0.110:0 -s rr -p 300 --check tcp --check-port 22 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -t 198.18.0.110:80 -s rr --check http --check-path /h --check-status 200 --check-port 8080 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -u 198.18.0.110:53 -s rr --check udp --require-reply --check-port 5353 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    saved_as_given(rules);
}

/// `--warmup SECS` (keepalived's `warmup`): 0 to a day, any check, 0 by
/// default (a first check at once); `-S` writes it after the times where
/// it is not 0, and `-R` restores it.
#[test]
fn warmup_parses_saves_and_restores() {
    let svc = "-A -t 198.18.0.110:80";
    let w = |opts: &str| check_of(&format!("{svc} {opts}")).unwrap().warmup;
    assert_eq!(w("--check tcp"), 0);
    assert_eq!(w("--check tcp --warmup 0"), 0);
    assert_eq!(w("--check ping --warmup=86400"), 86400);
    assert_eq!(w("--check misc --misc-path /bin/true --warmup 5"), 5);
    for (opts, e) in [
        ("--check tcp --warmup 86401", "illegal warmup specified"),
        ("--check tcp --warmup -1", "illegal warmup specified"),
        ("--check tcp --warmup 1.5", "illegal warmup specified"),
        (
            "--check tcp --warmup 1 --warmup 2",
            "multiple 'warmup' options specified",
        ),
        ("--warmup 5", "the 'warmup' option needs the 'check' option"),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts}");
    }
    assert_eq!(
        usage_err("-e -t 198.18.0.110:80 -r 198.19.0.2 --warmup 5"),
        "Illegal 'warmup' option with the 'edit-server' command"
    );
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    assert!(text.contains("--warmup secs"), "{text}");
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --warmup 60 --inhibit-on-failure --alpha
-A -t 198.18.0.110:81 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    let c = saved_as_given(rules);
    let mut d = Config::new();
    restore(&mut d, &format_save(&c, true, &Names::none()));
    assert_eq!(d, c);
    // `--warmup 0` is the default: not written.
    let mut z = Config::new();
    restore(&mut z, "-A -t 198.18.0.110:82 --check tcp --warmup 0\n");
    assert!(!format_save(&z, true, &Names::none()).contains("warmup"));
}

/// `--check-ip ADDR` (keepalived's `connect_ip`) of a real server (`-a`,
/// `-e`): where its check goes; an address alone, unicast, of either
/// family; its own address is none; `-S` writes it on the `-a` line, `-R`
/// restores it, and an `-e` without it clears it (as `--notify-up`).
#[test]
fn check_ip_parses_saves_and_restores() {
    let add = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m";
    let check_ip = |line: &str| match parse(&argv(line)).unwrap() {
        AdmCommand::AddDest { opts, .. } | AdmCommand::EditDest { opts, .. } => opts.check_ip,
        other => panic!("{line}: {other:?}"),
    };
    let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(check_ip(add), None);
    assert_eq!(
        check_ip(&format!("{add} --check-ip 198.19.0.7")),
        ip("198.19.0.7")
    );
    assert_eq!(
        check_ip(&format!("{add} --check-ip=2001:2:0:2::7")),
        ip("2001:2:0:2::7")
    );
    assert_eq!(
        check_ip(&format!("{add} --check-ip [2001:2:0:2::7]")),
        ip("2001:2:0:2::7")
    );
    assert_eq!(
        check_ip("-e -t 198.18.0.110:80 -r 198.19.0.2 --check-ip 198.19.0.8"),
        ip("198.19.0.8")
    );
    for bad in [
        "224.0.0.5",
        "0.0.0.0",
        "255.255.255.255",
        "fe80::1",
        "198.19.0.7:80",
        "rs7",
    ] {
        assert_eq!(
            usage_err(&format!("{add} --check-ip {bad}")),
            "illegal check-ip specified",
            "{bad}"
        );
    }
    assert_eq!(
        usage_err(&format!(
            "{add} --check-ip 198.19.0.7 --check-ip 198.19.0.8"
        )),
        "multiple 'check-ip' options specified"
    );
    assert_eq!(
        usage_err("-A -t 198.18.0.110:80 --check tcp --check-ip 198.19.0.7"),
        "Illegal 'check-ip' option with the 'add-service' command"
    );
    assert_eq!(
        usage_err("-d -t 198.18.0.110:80 -r 198.19.0.2 --check-ip 198.19.0.7"),
        "Illegal 'check-ip' option with the 'delete-server' command"
    );
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    assert!(text.contains("--check-ip address"), "{text}");
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check http --check-path / --check-status 200 --check-port 8080 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --check-ip 198.19.0.7
-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1 -x 10 -y 5 --check-ip 2001:2:0:2::7 --notify-up \"/bin/up\"
-a -t 198.18.0.110:80 -r 198.19.0.4:80 -m -w 1
";
    let mut c = saved_as_given(rules);
    let mut d = Config::new();
    restore(&mut d, &format_save(&c, true, &Names::none()));
    assert_eq!(d, c);
    let run = |c: &mut Config, line: &str| ipvsadm::apply(c, &parse(&argv(line)).unwrap());
    let dest = |c: &Config, last: u8| {
        let s = &c.services()[0];
        s.dests
            .iter()
            .find(|d| d.addr == ip(&format!("198.19.0.{last}")).unwrap())
            .unwrap()
            .check_ip
    };
    // Its own address is none; an -e without it clears it.
    run(
        &mut c,
        "-e -t 198.18.0.110:80 -r 198.19.0.4:80 -m --check-ip 198.19.0.4",
    )
    .unwrap();
    assert_eq!(dest(&c, 4), None);
    run(&mut c, "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m").unwrap();
    assert_eq!(dest(&c, 2), None);
    run(
        &mut c,
        "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m --check-ip 198.19.0.9",
    )
    .unwrap();
    assert_eq!(dest(&c, 2), ip("198.19.0.9"));
}

/// `--check misc` (keepalived's `MISC_CHECK`): `--misc-path` (one word,
/// quoted in a shell, split as keepalived splits it), `--misc-timeout`,
/// `--misc-dynamic`, keepalived's default of no retry; a real server's own
/// `--misc-path` on `-a`/`-e`; parsed, saved and restored exactly.
#[test]
fn misc_check_options_parse_save_and_restore() {
    // As a shell splits the line (the test's quotes are the shell's).
    let sh = |line: &str| -> Vec<String> {
        let words = ringvs::config::split_words(line).unwrap();
        words
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    };
    let check_of = |line: &str| match parse(&sh(line)) {
        Ok(AdmCommand::AddService { opts, .. } | AdmCommand::EditService { opts, .. }) => {
            opts.check
        }
        other => panic!("{line}: {other:?}"),
    };
    let m =
        check_of("-A -t 198.18.0.110:80 --check misc --misc-path '/bin/check --vs 80'").unwrap();
    let CheckKind::Misc(misc) = &m.kind else {
        panic!("{m:?}");
    };
    assert_eq!(misc.path.words(), ["/bin/check", "--vs", "80"]);
    assert_eq!((misc.timeout, misc.dynamic), (None, false));
    assert_eq!(
        (m.retry, m.delay_before_retry),
        (0, 1),
        "keepalived's defaults"
    );
    let m = check_of(
        "-E -t 198.18.0.110:80 --check misc --misc-path /bin/c --misc-timeout 3 --misc-dynamic --retry 2",
    )
    .unwrap();
    let CheckKind::Misc(misc) = &m.kind else {
        panic!("{m:?}");
    };
    assert_eq!((misc.timeout, misc.dynamic, m.retry), (Some(3), true, 2));
    let svc = "-A -t 198.18.0.110:80";
    for (opts, e) in [
        ("--check misc", "check misc needs --misc-path (the command)"),
        (
            "--check tcp --misc-dynamic",
            "misc-path, misc-timeout and misc-dynamic need --check misc",
        ),
        (
            "--check misc --misc-path /bin/c --misc-timeout 0",
            "illegal misc-timeout specified",
        ),
        (
            "--check misc --misc-path ''",
            "illegal misc-path specified: no command",
        ),
        (
            "--check misc --misc-path '/bin/c \\'x'",
            "illegal misc-path specified: missing terminating '",
        ),
        (
            "--misc-path /bin/c",
            "the 'misc-path' option needs the 'check' option",
        ),
    ] {
        match parse(&sh(&format!("{svc} {opts}"))) {
            Err(err @ AdmError::Usage(_)) => assert_eq!(err.to_string(), e, "{opts}"),
            other => panic!("{opts}: {other:?}"),
        }
    }
    // A real server's own command; its other check options stay refused.
    let AdmCommand::AddDest { opts, .. } = parse(
        &[
            "-a",
            "-t",
            "198.18.0.110:80",
            "-r",
            "198.19.0.2",
            "--misc-path",
            "/bin/c 198.19.0.2",
        ]
        .map(String::from),
    )
    .unwrap() else {
        panic!("-a");
    };
    assert_eq!(
        opts.scripts.check.unwrap().words(),
        ["/bin/c", "198.19.0.2"]
    );
    assert_eq!(
        usage_err("-a -t 198.18.0.110:80 -r 198.19.0.2 --misc-path /bin/c --misc-dynamic"),
        "Illegal 'misc-path' option with the 'add-server' command"
    );
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check misc --misc-path \"/bin/check --vs 80\" --delay-loop 60 --connect-timeout 5 --retry 0 --delay-before-retry 1
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --misc-path \"/bin/check 'rs 2'\"
-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1
-A -t 198.18.0.110:81 -s rr --check misc --misc-path \"/bin/c\" --misc-timeout 3 --misc-dynamic --delay-loop 5 --connect-timeout 5 --retry 1 --delay-before-retry 1 --alpha
";
    let mut c = saved_as_given(rules);
    // A server's own command needs its service's --check misc (refused
    // before the server is added); another check drops them all.
    restore(&mut c, "-E -t 198.18.0.110:80 -s rr --check tcp\n");
    let saved = format_save(&c, true, &Names::none());
    assert!(!saved.contains("/bin/check 'rs 2'"), "{saved}");
    let mut t = Config::new();
    restore(
        &mut t,
        "-A -t 198.18.0.110:80 -s rr --check tcp\n-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m\n",
    );
    let before = t.clone();
    let errors = ipvsadm::restore(
        &mut t,
        "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m --misc-path /bin/c\n",
        &Names::none(),
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(
        errors[0].contains("misc-path on a real server needs its service's --check misc"),
        "{errors:?}"
    );
    assert_eq!(t, before, "nothing added");
}

/// Several urls (keepalived's `url` blocks of one `HTTP_GET`): each
/// `--check-path` after the first starts another, `--check-status` and
/// `--check-digest` belong to the last one before them; saved and restored
/// exactly.
#[test]
fn several_urls_parse_save_and_restore() {
    let c = check_of(
        "-A -t 198.18.0.110:80 --check http --check-status 204 --check-path /a --check-path /b \
         --check-digest 9e107d9d372bb6826bd81d3542a419d6 --check-path /c --check-status 200-299",
    )
    .unwrap();
    let CheckKind::Http(h) = &c.kind else {
        panic!("{c:?}");
    };
    assert_eq!(
        (h.path.as_str(), h.status.as_slice()),
        ("/a", &[(204, 204)][..])
    );
    let more: Vec<String> = h
        .more
        .iter()
        .map(|u| format!("{} {:?} {}", u.path, u.status, u.digest.is_some()))
        .collect();
    assert_eq!(more, ["/b [(200, 200)] true", "/c [(200, 299)] false"]);
    assert_eq!(h.urls(), 3);
    assert_eq!(h.url(2).unwrap().path, "/c");
    assert!(h.url(3).is_none());
    let svc = "-A -t 198.18.0.110:80 --check http";
    for (opts, e) in [
        (
            "--check-path /a --check-status 200 --check-status 201",
            "multiple 'check-status' options specified for one check-path",
        ),
        (
            "--check-path /a --check-path /b --check-digest 9e107d9d372bb6826bd81d3542a419d6 --check-digest 9e107d9d372bb6826bd81d3542a419d6",
            "multiple 'check-digest' options specified for one check-path",
        ),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts}");
    }
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check http --check-path /a --check-status 204 --check-path /b --check-status 200 --check-digest 9e107d9d372bb6826bd81d3542a419d6 --check-path /c --check-status 200-299 --check-virtualhost www.example --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    saved_as_given(rules);
}

/// `--check-http-protocol` (keepalived's `http_protocol`): `1.0`, `1.0C`
/// (or `1.0c`) and `1.1` with `--check http` or `https` only, once; 1.0C
/// when not given (today's request), which `-S` does not write, the others
/// written and restored exactly; an `-E` without it goes back to 1.0C.
#[test]
fn http_protocol_parses_saves_and_restores() {
    let proto = |line: &str| match check_of(line).map(|c| c.kind) {
        Some(CheckKind::Http(h)) => h.proto,
        other => panic!("{line}: {other:?}"),
    };
    let svc = "-A -t 198.18.0.110:80 -s rr --check http";
    assert_eq!(proto(svc), HttpProtocol::V10Close, "the default");
    for (v, want) in [
        ("1.0", HttpProtocol::V10),
        ("1.0C", HttpProtocol::V10Close),
        ("1.0c", HttpProtocol::V10Close),
        ("1.1", HttpProtocol::V11),
    ] {
        assert_eq!(proto(&format!("{svc} --check-http-protocol {v}")), want);
        let https = format!("-A -t 198.18.0.110:443 --check https --check-http-protocol {v}");
        assert_eq!(proto(&https), want, "https {v}");
    }
    for (opts, e) in [
        (
            "--check tcp --check-http-protocol 1.1",
            "check-http-protocol needs --check http or https",
        ),
        (
            "--check udp --check-http-protocol 1.0",
            "check-http-protocol needs --check http or https",
        ),
        (
            "--check-http-protocol 1.1",
            "the 'check-http-protocol' option needs the 'check' option",
        ),
        (
            "--check http --check-http-protocol 2",
            "illegal check-http-protocol specified",
        ),
        (
            "--check http --check-http-protocol 1.1K",
            "illegal check-http-protocol specified",
        ),
        (
            "--check http --check-http-protocol 1.0C --check-http-protocol 1.1",
            "multiple 'check-http-protocol' options specified",
        ),
    ] {
        let line = format!("-A -t 198.18.0.110:80 {opts}");
        assert_eq!(usage_err(&line), e, "{opts}");
    }
    assert_eq!(
        usage_err("-a -t 198.18.0.110:80 -r 198.19.0.2 --check-http-protocol 1.1"),
        "Illegal 'check-http-protocol' option with the 'add-server' command"
    );
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check http --check-path / --check-status 200 --check-http-protocol 1.1 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -t 198.18.0.110:81 -s rr --check http --check-path / --check-status 200 --check-http-protocol 1.0 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -t 198.18.0.110:443 -s rr --check https --check-path /h --check-status 200 --check-virtualhost www.example --check-sni --check-http-protocol 1.1 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
";
    let mut c = saved_as_given(rules);
    let mut again = Config::new();
    restore(&mut again, &format_save(&c, true, &Names::none()));
    assert_eq!(again, c);
    // 1.0C, given or not, is not written: the table saved before the
    // option existed restores as it was.
    let mut d = Config::new();
    restore(
        &mut d,
        "-A -t 198.18.0.110:80 -s rr --check http --check-http-protocol 1.0c\n",
    );
    assert_eq!(
        format_save(&d, true, &Names::none()),
        "-A -t 198.18.0.110:80 -s rr --check http --check-path / --check-status 200 --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 3\n"
    );
    // -E replaces the check: without the option, 1.0C again.
    let run = |c: &mut Config, line: &str| ipvsadm::apply(c, &parse(&argv(line)).unwrap());
    run(&mut c, "-E -t 198.18.0.110:80 -s rr --check http").unwrap();
    let k = c.services()[0].key;
    assert_eq!(
        c.service(&k).unwrap().check.as_ref().unwrap().kind,
        CheckKind::Http(HttpCheck::get("/", 200))
    );
}

#[test]
fn help_lists_the_check_options() {
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    for o in [
        "--check tcp|http|https|udp|ping|dns|smtp|misc",
        "--check-digest",
        "--check-virtualhost",
        "--check-sni",
        "--check-http-protocol 1.0|1.0C|1.1",
        "--check-port",
        "--misc-path",
        "--misc-timeout",
        "--misc-dynamic",
        "--helo-name",
        "--dns-type",
        "--dns-name",
        "--check-path",
        "--payload",
        "--require-reply",
        "--min-reply-length",
        "--max-reply-length",
        "--check-status",
        "--delay-loop",
        "--connect-timeout",
        "--retry",
        "--delay-before-retry",
        "--inhibit-on-failure",
    ] {
        assert!(text.contains(o), "{o} missing from help");
    }
}

/// The table `rules` (`-R` text) restore, whose `-S` is `rules` again.
fn saved_as_given(rules: &str) -> Config {
    let mut c = Config::new();
    restore(&mut c, rules);
    assert_eq!(format_save(&c, true, &Names::none()), rules);
    c
}

fn restore(cfg: &mut Config, text: &str) {
    let errors = ipvsadm::restore(cfg, text, &Names::none(), &mut |_, _, _| {}).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn save_writes_every_check_option_and_restores_exactly() {
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check http --check-path /health --check-status 200 --delay-loop 5 --connect-timeout 2 --retry 1 --delay-before-retry 1
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1
-A -t 198.18.0.110:443 -s wlc --check tcp --delay-loop 60 --connect-timeout 5 --retry 0 --delay-before-retry 3 --inhibit-on-failure
-a -t 198.18.0.110:443 -r 198.19.0.3:443 -m -w 2
-A -u 198.18.0.110:53 -s rr
";
    let mut c = Config::new();
    restore(&mut c, rules);
    let saved = format_save(&c, true, &Names::none());
    assert_eq!(saved, rules);
    // Defaults are written out too.
    let mut d = Config::new();
    restore(&mut d, "-A -t 198.18.0.110:81 --check tcp\n");
    assert_eq!(
        format_save(&d, true, &Names::none()),
        "-A -t 198.18.0.110:81 -s wlc --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1\n"
    );
    // -C, -R gives the same table.
    let mut e = Config::new();
    restore(&mut e, &saved);
    assert_eq!(e, c);
}

#[test]
fn edit_replaces_or_removes_the_check() {
    let mut c = Config::new();
    let run = |c: &mut Config, line: &str| ipvsadm::apply(c, &parse(&argv(line)).unwrap());
    run(
        &mut c,
        "-A -t 198.18.0.110:80 -s rr --check tcp --delay-loop 5",
    )
    .unwrap();
    let k = c.services()[0].key;
    assert_eq!(c.service(&k).unwrap().check.as_ref().unwrap().delay_loop, 5);
    run(
        &mut c,
        "-E -t 198.18.0.110:80 -s rr --check http --check-path /h",
    )
    .unwrap();
    assert_eq!(
        c.service(&k).unwrap().check.as_ref().unwrap().kind,
        CheckKind::Http(HttpCheck::get("/h", 200))
    );
    // -E replaces the whole service setup, as ipvsadm's -E does: no --check, no check.
    run(&mut c, "-E -t 198.18.0.110:80 -s rr").unwrap();
    assert_eq!(c.service(&k).unwrap().check, None);
}

/// `--sorry-server ADDR[:PORT]`, `--sorry-gatewaying`, `--sorry-inhibit`
/// (keepalived's `sorry_server`, `sorry_server_lvs_method DR`,
/// `sorry_server_inhibit`): with -A/-E only, saved after the check and
/// restored as saved; an -E without it removes it.
#[test]
fn sorry_server_options_parse_save_and_restore() {
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check tcp --delay-loop 5 --connect-timeout 5 --retry 1 --delay-before-retry 1 --sorry-server 198.19.0.9:8080 --sorry-inhibit
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1
-A -t 198.18.0.110:443 -s wlc --sorry-server 198.19.0.9:443 --sorry-gatewaying
";
    let mut c = Config::new();
    restore(&mut c, rules);
    let s = c.services()[0].sorry.expect("sorry server").opts();
    assert_eq!(
        (s.addr.to_string(), s.port, s.forward, s.inhibit),
        (
            "198.19.0.9".to_string(),
            8080,
            ringvs::config::Forward::Masq,
            true
        )
    );
    assert_eq!(format_save(&c, true, &Names::none()), rules);
    let mut again = Config::new();
    restore(&mut again, &format_save(&c, true, &Names::none()));
    assert_eq!(again, c);
    // Without a port: the service's, as -r.
    let run = |c: &mut Config, line: &str| ipvsadm::apply(c, &parse(&argv(line)).unwrap());
    run(&mut c, "-A -t 198.18.0.110:81 --sorry-server 198.19.0.9").unwrap();
    assert_eq!(c.services()[2].sorry.unwrap().port, 81);
    run(&mut c, "-E -t 198.18.0.110:81 -s rr").unwrap();
    assert_eq!(c.services()[2].sorry, None, "-E replaces the whole setup");
    for (line, msg) in [
        (
            "-a -t 198.18.0.110:80 -r 198.19.0.3 --sorry-server 198.19.0.9",
            "Illegal 'sorry-server' option with the 'add-server' command",
        ),
        (
            "-A -t 198.18.0.110:82 --sorry-inhibit",
            "the 'sorry-inhibit' option needs the 'sorry-server' option",
        ),
        (
            "-A -t 198.18.0.110:82 --sorry-server 198.19.0.9:99999",
            "illegal sorry-server address[:port] specified",
        ),
    ] {
        assert_eq!(usage_err(line), msg, "{line}");
    }
    // Of the other family: refused as a real server of it would be.
    let before = c.clone();
    let e = run(
        &mut c,
        "-A -t 198.18.0.110:83 --sorry-server [2001:2:0:2::9]:80",
    )
    .unwrap_err();
    assert_eq!(e, AdmError::MixedFamily);
    assert_eq!(c, before, "a refused -A adds nothing");
    let e = run(
        &mut c,
        "-E -t 198.18.0.110:80 -s wlc --sorry-server [2001:2:0:2::9]:80",
    )
    .unwrap_err();
    assert_eq!(e, AdmError::MixedFamily);
    assert_eq!(c, before, "a refused -E changes nothing");
    assert_eq!(
        usage_err("-A -t 198.18.0.110:84 --sorry-server 198.19.0.9 --sorry-server 198.19.0.8"),
        "multiple 'sorry-server' options specified"
    );
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    for o in ["--sorry-server", "--sorry-gatewaying", "--sorry-inhibit"] {
        assert!(text.contains(o), "{o} missing from help");
    }
}

/// `--quorum N`, `--hysteresis N` (keepalived's `quorum`, `hysteresis`) and
/// `--alpha` (its `alpha`, a setting of the check): with -A/-E only, the
/// quorum with or without a sorry server; saved where not keepalived's
/// defaults (1 and 0) and restored as saved; an -E without them resets
/// them.
#[test]
fn quorum_hysteresis_and_alpha_parse_save_and_restore() {
    let rules = "\
-A -t 198.18.0.110:80 -s rr --check tcp --delay-loop 5 --connect-timeout 5 --retry 1 --delay-before-retry 1 --alpha --sorry-server 198.19.0.9:8080 --quorum 3 --hysteresis 1
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 2
-A -t 198.18.0.110:443 -s wlc --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1 --quorum 2
-A -t 198.18.0.110:8080 -s wlc --hysteresis 1
";
    let mut c = Config::new();
    restore(&mut c, rules);
    let q = |c: &Config, i: usize| {
        let s = &c.services()[i];
        (s.quorum.quorum, s.quorum.hysteresis)
    };
    assert_eq!((q(&c, 0), q(&c, 1), q(&c, 2)), ((3, 1), (2, 0), (1, 1)));
    assert!(c.services()[0].check.as_ref().unwrap().alpha);
    assert!(!c.services()[1].check.as_ref().unwrap().alpha);
    assert_eq!(format_save(&c, true, &Names::none()), rules);
    let mut again = Config::new();
    restore(&mut again, &format_save(&c, true, &Names::none()));
    assert_eq!(again, c);
    let run = |c: &mut Config, line: &str| ipvsadm::apply(c, &parse(&argv(line)).unwrap());
    run(&mut c, "-E -t 198.18.0.110:80 -s rr").unwrap();
    assert_eq!(q(&c, 0), (1, 0), "-E replaces the whole setup");
    for (line, msg) in [
        (
            "-a -t 198.18.0.110:80 -r 198.19.0.3 --quorum 2",
            "Illegal 'quorum' option with the 'add-server' command",
        ),
        (
            "-A -t 198.18.0.110:82 --quorum 0",
            "illegal quorum specified",
        ),
        (
            "-A -t 198.18.0.110:82 --quorum 4294967296",
            "illegal quorum specified",
        ),
        (
            "-A -t 198.18.0.110:82 --hysteresis -1",
            "illegal hysteresis specified",
        ),
        (
            "-A -t 198.18.0.110:82 --quorum 2 --quorum 3",
            "multiple 'quorum' options specified",
        ),
        (
            "-A -t 198.18.0.110:82 --quorum 2 --sorry-inhibit",
            "the 'sorry-inhibit' option needs the 'sorry-server' option",
        ),
    ] {
        assert_eq!(usage_err(line), msg, "{line}");
    }
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    for o in ["--quorum", "--hysteresis", "--alpha"] {
        assert!(text.contains(o), "{o} missing from help");
    }
}

// ---------------------------------------------------------------------------
// Namespace tests (root): failover under load, passive checks.
// ---------------------------------------------------------------------------

use md5::Digest as _;
use ringvs::lab::{self, Lab};
use ringvs::proto::{self, Command};
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

/// Runs `nft SCRIPT` in namespace `ns`; panics with nft's words if it fails.
fn nft_in(ns: &str, script: &str) {
    let nft = Process::new("ip")
        .args(["netns", "exec", ns, "nft", script])
        .output()
        .expect("nft");
    assert!(
        nft.status.success(),
        "nft {script}: {}",
        String::from_utf8_lossy(&nft.stderr)
    );
}

/// Namespace `ns` drops every TCP segment to `port` (table `table`, deleted
/// with [`nft_in`] `delete table inet TABLE`, or with the lab).
fn drop_syns(ns: &str, table: &str, port: u16) {
    nft_in(
        ns,
        &format!(
            "add table inet {table}; \
             add chain inet {table} in {{ type filter hook input priority 0; policy accept; }}; \
             add rule inet {table} in tcp dport {port} drop"
        ),
    );
}

/// Lines the client loop printed, with when they arrived.
type Lines = nslab::StampedLines<Instant>;

/// A client loop in the client namespace: a new connection per request, every
/// 20 ms, each request retried once on failure.
fn client_loop(lab: &mut Lab, vip: &str) -> Lines {
    client_loop_with(lab, vip, 1000)
}

fn client_loop_with(lab: &mut Lab, vip: &str, timeout_ms: u64) -> Lines {
    let timeout = timeout_ms.to_string();
    let cmd = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &[
            "http-get",
            vip,
            "--count",
            "1000000",
            "--interval-ms",
            "20",
            "--timeout-ms",
            &timeout,
            "--retries",
            "1",
        ],
    );
    nslab::spawn_collecting(lab, cmd, |_| Instant::now())
}

fn count(lines: &Lines, since: Instant, f: impl Fn(&str) -> bool) -> usize {
    lines
        .lock()
        .expect("lines")
        .iter()
        .filter(|(t, l)| *t >= since && f(l))
        .count()
}

fn last(lines: &Lines, f: impl Fn(&str) -> bool) -> Option<Instant> {
    lines
        .lock()
        .expect("lines")
        .iter()
        .rev()
        .find(|(_, l)| f(l))
        .map(|(t, _)| *t)
}

/// Kill rs1's HTTP server under load: it is taken out within
/// `delay_loop + connect_timeout × (retry + 1) + delay_before_retry`, every
/// request (with its one retry) succeeds, and it returns once it serves again.
#[test]
fn failover_under_http_load() {
    let (delay_loop, connect_timeout, retry, before_retry) = (3u64, 1u64, 1u64, 1u64);
    let check = format!(
        "--check http --check-path /health --check-status 200 --delay-loop {delay_loop} \
         --connect-timeout {connect_timeout} --retry {retry} --delay-before-retry {before_retry}"
    );
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let rules = format!(
        "-A -t {vip} -s rr {check}\n-a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { mut lab, control }) = Scenario::new("health").rules(&rules).start()
    else {
        return;
    };
    let saved = adm(&control, &["-S", "-n"]);
    assert_eq!(saved, rules, "-S shows the rules with the check");

    let lines = client_loop(&mut lab, &vip);
    let warm = Instant::now();
    let both = wait_for(Duration::from_secs(10), || {
        count(&lines, warm, |l| l == "i am rs1") >= 5
            && count(&lines, warm, |l| l == "i am rs2") >= 5
    });
    assert!(
        both.is_some(),
        "both servers serve: {:?}",
        lines.lock().expect("lines")
    );
    assert_eq!(
        count(&lines, warm, |l| l.starts_with("retried")),
        0,
        "no failure before the kill"
    );

    // Kill rs1's server.
    let killed_at = Instant::now();
    assert!(kill_all_in(&lab.ns_rs(1)) >= 1, "a process to kill in rs1");
    let bound =
        Duration::from_secs(delay_loop + connect_timeout * (retry + 1) + before_retry * retry);
    let margin = Duration::from_secs(2);
    let down = wait_for(bound + margin, || listed_weight(&control, &rs1) == Some(0));
    let down = down.unwrap_or_else(|| panic!("rs1 not down within {:?}", bound + margin));
    // After that no new connection goes to rs1: a second of requests, no retries.
    let settled = Instant::now() + Duration::from_millis(200);
    let twenty = wait_for(Duration::from_secs(5), || {
        count(&lines, settled, |_| true) >= 20
    });
    assert!(twenty.is_some(), "the client loop keeps going");
    assert_eq!(count(&lines, settled, |l| l.starts_with("retried")), 0);
    assert_eq!(count(&lines, settled, |l| l == "i am rs1"), 0);
    let failed_first = count(&lines, killed_at, |l| l.starts_with("retried"));
    let errors = count(&lines, warm, |l| l.starts_with("error"));
    let last_fail = last(&lines, |l| l.starts_with("retried"));
    let outage = last_fail.map_or(Duration::ZERO, |t| t.saturating_duration_since(killed_at));
    eprintln!(
        "failover: rs1 listed down {down:?} after the kill (bound {bound:?}); first tries failed \
         for {outage:?}: {failed_first} retried, {errors} failed after the retry"
    );
    assert_eq!(errors, 0, "every request succeeds with its one retry");
    assert!(outage <= bound + margin);
    // The rules did not change.
    assert_eq!(adm(&control, &["-S", "-n"]), saved);

    // Serve again: back within delay_loop (+ margin).
    let restarted = Instant::now();
    serve_again(&mut lab, 1);
    let back = wait_for(Duration::from_secs(delay_loop) + margin + margin, || {
        count(&lines, restarted, |l| l == "i am rs1") >= 3
    });
    let back = back.unwrap_or_else(|| panic!("rs1 not back within {delay_loop}s + margin"));
    assert_eq!(listed_weight(&control, &rs1), Some(1));
    eprintln!("failover: rs1 serves again {back:?} after its restart");
    // The checks' replies came through the workers' diversion, none dropped.
    let r = proto::call(&control, Command::Stats { json: true }).expect("stats");
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("stats JSON");
    let diverted = v["health"]["diverted"].as_u64().expect("health.diverted");
    assert!(diverted >= 4, "diverted {diverted}");
    assert_eq!(v["health"]["dropped"].as_u64(), Some(0));
    assert_eq!(count(&lines, warm, |l| l.starts_with("error")), 0);
}

/// With `delay_loop` 60 a dead server is found at once: the client's SYN is
/// answered by RST, the worker marks the server suspect and it is checked now.
#[test]
fn passive_check_finds_a_dead_server_before_delay_loop() {
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 60 --connect-timeout 2 --retry 1 --delay-before-retry 1 --inhibit-on-failure\n\
         -a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { mut lab, control }) =
        counting_rs1(Scenario::new("health").rules(&rules)).start()
    else {
        return;
    };
    // The first round of checks (at start) has passed.
    first_check_reached_rs1(&lab);
    assert_eq!(listed_weight(&control, &rs1), Some(1));
    assert!(kill_all_in(&lab.ns_rs(1)) >= 1);
    let lines = client_loop(&mut lab, &vip);
    let start = Instant::now();
    let down = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &rs1) == Some(0)
    });
    let down = down.unwrap_or_else(|| panic!("rs1 not down within 6 s (delay_loop is 60)"));
    eprintln!("passive: rs1 down {down:?} after the first client connections");
    // Inhibited: weight 0, still listed; new connections all go to rs2.
    let settled = Instant::now() + Duration::from_millis(200);
    let ten = wait_for(Duration::from_secs(5), || {
        count(&lines, settled, |l| l == "i am rs2") >= 10
    });
    assert!(ten.is_some(), "ten answers from rs2 after rs1 went down");
    assert_eq!(count(&lines, settled, |l| l.starts_with("retried")), 0);
    assert_eq!(count(&lines, start, |l| l.starts_with("error")), 0);
    assert_eq!(adm(&control, &["-S", "-n"]), rules);
}

/// `n` new connections from the client to `vip`, each answered by rs2.
fn all_from_rs2(lab: &Lab, vip: &str, n: usize) {
    let count = n.to_string();
    let out = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &["http-get", vip, "--count", &count],
    )
    .output()
    .expect("http-get");
    let bodies = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        bodies.lines().filter(|l| *l == "i am rs2").count(),
        n,
        "{bodies}"
    );
}

/// Without client traffic (so without passive hints) the active check alone
/// takes a dead server out within `delay_loop + connect_timeout × (retry + 1)
/// + delay_before_retry × retry`, and the log says why; a check changed live
/// (`-E`) takes effect, `--check-port` included.
#[test]
fn active_check_alone_takes_a_dead_server_out() {
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let rules = format!(
        "-A -t {vip} -s wrr --check tcp --delay-loop 2 --connect-timeout 1 --retry 2 --delay-before-retry 1\n\
         -a -t {vip} -r {rs1} -m -w 3\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { mut lab, control }) =
        counting_rs1(Scenario::new("health").rules(&rules)).start()
    else {
        return;
    };
    first_check_reached_rs1(&lab);
    assert_eq!(listed_weight(&control, &rs1), Some(3));
    let killed = Instant::now();
    assert!(kill_all_in(&lab.ns_rs(1)) >= 1);
    // 2 + 1 × 3 + 1 × 2 = 7 s at most, and not before the two retries (2 s).
    let bound = Duration::from_secs(7);
    let down = wait_for(bound + Duration::from_secs(2), || {
        listed_weight(&control, &rs1) == Some(0)
    });
    let down = down.unwrap_or_else(|| panic!("rs1 not down within {bound:?} + 2 s"));
    eprintln!("active: rs1 down {down:?} after the kill, no traffic (bound {bound:?})");
    assert!(
        killed.elapsed() >= Duration::from_secs(2),
        "two retries, a second apart"
    );
    assert_eq!(listed_weight(&control, &rs2), Some(1));
    // Removed from the data plane: every new connection goes to rs2.
    all_from_rs2(&lab, &vip, 6);
    serve_again(&mut lab, 1);
    let back = wait_for(Duration::from_secs(5), || {
        listed_weight(&control, &rs1) == Some(3)
    });
    assert!(back.is_some(), "rs1 back with its weight");

    // Both servers' listed weights become `w` within 4 s.
    let both = |w: (u32, u32), what: &str| {
        let got = wait_for(Duration::from_secs(4), || {
            listed_weight(&control, &rs1) == Some(w.0) && listed_weight(&control, &rs2) == Some(w.1)
        });
        assert!(got.is_some(), "{what}");
    };
    // Changed live to an HTTP check that expects 404 (the servers answer 200):
    // both go down; back to 200, both come back.
    let edit = |status: u16| {
        let line = format!(
            "-E -t {vip} -s wrr --check http --check-path /health --check-status {status} \
             --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1"
        );
        adm(&control, &line.split_whitespace().collect::<Vec<_>>());
    };
    edit(404);
    both((0, 0), "a 200 where 404 is expected fails the check");
    assert!(adm(&control, &["-S", "-n"]).contains("--check-status 404"));
    edit(200);
    both((3, 1), "both pass the HTTP check again");

    // Two urls: the second expects 404 (the servers answer 200 to any
    // path), so both go down though the first passes; with 200, both back.
    let urls = |status: u16| {
        let line = format!(
            "-E -t {vip} -s wrr --check http --check-path /health --check-path /second \
             --check-status {status} --delay-loop 1 --retry 0"
        );
        adm(&control, &line.split_whitespace().collect::<Vec<_>>());
    };
    urls(404);
    both((0, 0), "the second url fails the check");
    urls(200);
    both((3, 1), "both urls pass");

    // `--check-port 81`, where nothing listens: both down, though their own
    // port 80 serves; checked on 80 by name, both come back.
    let on_port = |port: u16| {
        let line = format!(
            "-E -t {vip} -s wrr --check tcp --check-port {port} --delay-loop 1 --connect-timeout 1 --retry 0"
        );
        adm(&control, &line.split_whitespace().collect::<Vec<_>>());
    };
    on_port(81);
    both((0, 0), "checked on port 81, where none listens");
    assert!(adm(&control, &["-S", "-n"]).contains("--check tcp --check-port 81 "));
    on_port(80);
    both((3, 1), "both pass on port 80");
}

/// `--check misc` (keepalived's `MISC_CHECK`) through the data plane: one
/// command for every server, told which by its environment, reads the
/// exit status each server should have from a file named by its address.
/// Status 1 takes a server out (clients reach the other alone) and 0 brings
/// it back; with `--misc-dynamic` a status of 9 sets the weight `-L` shows
/// (and the workers run) to 7 while `-S` keeps the rules' own, and 0 gives
/// the rules' weight back; a server's own `--misc-path` runs in place of
/// the service's; a command past `--misc-timeout` fails its server.
#[test]
fn misc_check_runs_a_command_for_each_server() {
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    /// A directory removed when the test ends, also on failure.
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = Dir(std::env::temp_dir().join(format!("ringvs-misc-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let status = |n: usize, v: &str| {
        std::fs::write(dir.0.join(lab::rs_addr(n).to_string()), v).unwrap();
    };
    status(1, "1");
    status(2, "0");
    let cmd = format!(
        "/bin/sh -c 'exit $(cat {}/$RINGVS_RS_ADDR)'",
        dir.0.display()
    );
    let check =
        format!("--check misc --misc-path \"{cmd}\" --misc-dynamic --delay-loop 1 --retry 0");
    let rules = format!(
        "-A -t {vip} -s wrr {check}\n-a -t {vip} -r {rs1} -m -w 3\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { lab, control }) = Scenario::new("misc").rules(&rules).start() else {
        return;
    };
    let weights = |want: (Option<u32>, Option<u32>), secs: u64, what: &str| {
        let got = wait_for(Duration::from_secs(secs), || {
            (listed_weight(&control, &rs1), listed_weight(&control, &rs2)) == want
        });
        assert!(
            got.is_some(),
            "{what}: {want:?}, listed {}",
            adm(&control, &["-L", "-n"])
        );
    };
    // Servers start up: rs1's first run (status 1) takes it out.
    weights((Some(0), Some(1)), 4, "rs1 exits 1");
    all_from_rs2(&lab, &vip, 4);
    status(1, "0");
    weights((Some(3), Some(1)), 4, "rs1 back");
    // misc_dynamic: 9 is weight 7, in -L and the table, not in -S.
    status(2, "9");
    weights((Some(3), Some(7)), 4, "rs2 at weight 7");
    let saved = adm(&control, &["-S", "-n"]);
    assert!(saved.contains(&format!("-r {rs2} -m -w 1")), "{saved}");
    // A plain pass gives the rules' weight back; 9 again sets 7.
    status(2, "0");
    weights((Some(3), Some(1)), 4, "rs2 back at weight 1");
    status(2, "9");
    weights((Some(3), Some(7)), 4, "rs2 at weight 7 again");
    // A server's own command: rs1 runs /bin/false, the service's passes.
    adm(
        &control,
        &[
            "-e",
            "-t",
            &vip,
            "-r",
            &rs1,
            "-m",
            "-w",
            "3",
            "--misc-path",
            "/bin/false",
        ],
    );
    weights((Some(0), Some(7)), 4, "rs1's own command fails");
    // Past --misc-timeout: ended, and failed.
    let mut edit = vec!["-E", "-t", &vip, "-s", "wrr", "--check", "misc"];
    edit.extend(["--misc-path", "/bin/sleep 30", "--misc-timeout", "1"]);
    edit.extend(["--delay-loop", "1", "--retry", "0"]);
    adm(&control, &edit);
    weights((Some(0), Some(0)), 6, "rs2's command timed out");
}

/// With `delay_loop` 60, a server that silently drops SYNs is found by the
/// clients' SYN retransmissions: the worker marks it suspect, the check times
/// out, and it is out within seconds.
#[test]
fn passive_check_finds_a_server_that_drops_syns() {
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 60 --connect-timeout 1 --retry 0 --delay-before-retry 1\n\
         -a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n"
    );
    let Some(NsDirector { mut lab, control }) =
        counting_rs1(Scenario::new("health").rules(&rules)).start()
    else {
        return;
    };
    first_check_reached_rs1(&lab);
    assert_eq!(listed_weight(&control, &rs1), Some(1));
    // rs1 drops every SYN to port 80 (its namespace, deleted with the lab).
    drop_syns(&lab.ns_rs(1), "ringvs_test", 80);
    let lines = client_loop_with(&mut lab, &vip, 3000);
    let start = Instant::now();
    let down = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &rs1) == Some(0)
    });
    let down = down.unwrap_or_else(|| panic!("rs1 not down within 6 s (delay_loop is 60)"));
    eprintln!("passive (SYN dropped): rs1 down {down:?} after the client loop started");
    // Removed: once the request stuck on rs1 has timed out (3 s) and been
    // retried, the requests all go to rs2 at the first try.
    let settled = Instant::now() + Duration::from_millis(3200);
    let twenty = wait_for(Duration::from_secs(10), || {
        count(&lines, settled, |l| l == "i am rs2") >= 20
    });
    assert!(twenty.is_some(), "twenty answers from rs2 once settled");
    assert_eq!(count(&lines, settled, |l| l.starts_with("retried")), 0);
    assert_eq!(count(&lines, start, |l| l.starts_with("error")), 0);
}

/// The SYNs to port 80 that namespace `ns` has counted in table `table`
/// (made by [`count_syns`]).
fn syns_counted(ns: &str, table: &str) -> u64 {
    let out = Process::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "table", "inet", table])
        .output()
        .expect("nft list");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut packets = text.split_whitespace().skip_while(|w| *w != "packets");
    let n = packets.nth(1).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("no counter in {table}: {text}"))
}

/// Namespace `ns` counts the SYNs the DIP sends to port 80 (table `table`).
fn count_syns(ns: &str, table: &str) {
    nft_in(
        ns,
        &format!(
            "add table inet {table}; \
             add chain inet {table} in {{ type filter hook input priority 0; policy accept; }}; \
             add rule inet {table} in ip saddr {} tcp dport 80 tcp flags & (syn | ack) == syn counter",
            lab::DIP
        ),
    );
}

/// The table in which rs1 counts the DIP's SYNs from the director's start
/// ([`counting_rs1`]).
const FIRST: &str = "ringvs_first";

/// `s` with rs1 counting the DIP's SYNs to port 80 from before the
/// director starts, so that [`first_check_reached_rs1`] can see its first
/// check.
fn counting_rs1(s: Scenario) -> Scenario {
    s.before_director(|lab| count_syns(&lab.ns_rs(1), FIRST))
}

/// Wait (at most 5 s) until the first check has reached rs1: its SYN is
/// counted, which rs1's kernel answers at once, so a server killed after
/// this passed its first check (a fixed sleep let a slow start kill it
/// first, and the failing first check, not what the test names, take it
/// down).
fn first_check_reached_rs1(lab: &Lab) {
    let ns = lab.ns_rs(1);
    let reached = wait_for(Duration::from_secs(5), || syns_counted(&ns, FIRST) >= 1);
    assert!(reached.is_some(), "no check reached rs1 within 5 s");
}

/// Three services (as the members of a keepalived `virtual_server group`)
/// with the same real servers and the same check send one check a server
/// each `delay_loop`, not three, and take its verdict together.
#[test]
fn services_with_the_same_servers_and_check_check_them_once() {
    let ports = ["80", "81", "82"];
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let mut rules = String::new();
    for port in ports {
        let vip = format!("{}:{port}", lab::VIP);
        rules += &format!(
            "-A -t {vip} -s rr --check tcp --delay-loop 1 --connect-timeout 1 --retry 0\n\
             -a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n"
        );
    }
    let Some(NsDirector { lab, control }) = Scenario::new("hshare").rules(&rules).start() else {
        return;
    };
    let ns = lab.ns_rs(1);
    count_syns(&ns, "ringvs_syns");
    std::thread::sleep(Duration::from_millis(300));
    let (t0, c0) = (Instant::now(), syns_counted(&ns, "ringvs_syns"));
    std::thread::sleep(Duration::from_secs(4));
    let (secs, checks) = (
        t0.elapsed().as_secs(),
        syns_counted(&ns, "ringvs_syns") - c0,
    );
    // One check a second (at most one more for the seconds' edges); three
    // services checking apart would send three.
    eprintln!("{checks} checks of rs1 in {secs} s from 3 services");
    assert!(
        (1..=secs + 1).contains(&checks),
        "{checks} SYNs from the DIP to rs1 in {secs} s with delay_loop 1"
    );
    // The one check takes rs1 out of the three services, and back.
    let weights = |want: Option<u32>| {
        let all = || {
            ports.iter().all(|p| {
                let svc = format!("{}:{p}", lab::VIP);
                weight_in(&control, ("-t", &svc), &rs1) == want
            })
        };
        wait_for(Duration::from_secs(5), all).is_some()
    };
    drop_syns(&ns, "ringvs_drop", 80);
    assert!(weights(Some(0)), "{}", adm(&control, &["-L", "-n"]));
    nft_in(&ns, "delete table inet ringvs_drop");
    assert!(weights(Some(1)), "{}", adm(&control, &["-L", "-n"]));
}

/// keepalived's sorry server: a service whose one real server fails its
/// check gets the sorry server (rs2 on port 8080) in its place, listed with
/// weight 1, and the clients its page; when the real server passes again
/// the sorry server leaves and the clients get the real server again.
#[test]
fn a_sorry_server_serves_while_every_real_server_is_down() {
    let vip = format!("{}:80", lab::VIP);
    let rs1 = format!("{}:80", lab::rs_addr(1));
    let sorry = format!("{}:8080", lab::rs_addr(2));
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1 --sorry-server {sorry}\n\
         -a -t {vip} -r {rs1} -m -w 1\n"
    );
    let scenario = Scenario::new("sorry")
        .before_director(|lab| {
            nslab::spawn_http_server(lab, 2, "0.0.0.0:8080", "sorry, come back later", "600")
        })
        .rules(&rules);
    let Some(NsDirector { mut lab, control }) = scenario.start() else {
        return;
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(listed_weight(&control, &rs1), Some(1));
    assert_eq!(
        listed_weight(&control, &sorry),
        None,
        "not while rs1 serves"
    );
    assert_eq!(nslab::http_bodies(&lab, &vip, 3), ["i am rs1"; 3]);

    assert!(kill_all_in(&lab.ns_rs(1)) >= 1);
    let taken = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &sorry) == Some(1)
    });
    let taken = taken.expect("the sorry server in within 6 s");
    eprintln!("sorry: in {taken:?} after rs1 was killed");
    assert_eq!(listed_weight(&control, &rs1), Some(0), "rs1 down");
    assert_eq!(
        nslab::http_bodies(&lab, &vip, 3),
        ["sorry, come back later"; 3]
    );
    // The rules hold it as the service's option, never as a real server.
    let saved = adm(&control, &["-S", "-n"]);
    assert!(
        saved.contains(&format!("--sorry-server {sorry}\n")),
        "{saved}"
    );
    assert_eq!(saved.matches(" -r ").count(), 1, "{saved}");
    // Its traffic is its own in --stats, and -Z zeroes it.
    let stats = adm(&control, &["-L", "-n", "--stats"]);
    let conns = |stats: &str| -> Option<u64> {
        let line = stats.lines().find(|l| l.contains(&format!("-> {sorry}")))?;
        line.split_whitespace().nth(2)?.parse().ok()
    };
    assert_eq!(conns(&stats), Some(3), "{stats}");
    adm(&control, &["-Z"]);
    let zeroed = adm(&control, &["-L", "-n", "--stats"]);
    assert_eq!(conns(&zeroed), Some(0), "{zeroed}");

    serve_again(&mut lab, 1);
    let left = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &sorry).is_none()
    });
    assert!(left.is_some(), "the sorry server leaves once rs1 is back");
    assert_eq!(nslab::http_bodies(&lab, &vip, 3), ["i am rs1"; 3]);
}

/// keepalived's `alpha` and `quorum`, through the data plane:
/// * `--alpha` (VIP:80): rs1 drops the checks' SYNs from before the
///   director starts, so its check takes the 3 s connect timeout to fail;
///   the first listing already has it at weight 0 and the first requests
///   all go to rs2 (without `alpha` it would start up, and half of them
///   would hang on it). Once it answers, its first passed check puts it in.
/// * `--quorum 2` (VIP:81, two servers of weight 1 and a sorry server): one
///   server down is enough for the sorry server to take every new
///   connection, the other one (still up) at weight 0; with both up again
///   the sorry server leaves.
#[test]
fn alpha_and_quorum_through_the_data_plane() {
    let vip = format!("{}:80", lab::VIP);
    let vip81 = format!("{}:81", lab::VIP);
    let (rs1, rs2) = (
        format!("{}:80", lab::rs_addr(1)),
        format!("{}:80", lab::rs_addr(2)),
    );
    let (rs1_81, rs2_81) = (
        format!("{}:81", lab::rs_addr(1)),
        format!("{}:81", lab::rs_addr(2)),
    );
    let sorry = format!("{}:8080", lab::rs_addr(2));
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 1 --connect-timeout 3 --retry 0 --delay-before-retry 1 --alpha\n\
         -a -t {vip} -r {rs1} -m -w 1\n-a -t {vip} -r {rs2} -m -w 1\n\
         -A -t {vip81} -s rr --check tcp --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1 --sorry-server {sorry} --quorum 2\n\
         -a -t {vip81} -r {rs1_81} -m -w 1\n-a -t {vip81} -r {rs2_81} -m -w 1\n"
    );
    let scenario = Scenario::new("quorum")
        .needs(&["nft"])
        .before_director(|lab| {
            drop_syns(&lab.ns_rs(1), "ringvs_alpha", 80);
            for n in [1, 2] {
                let body = format!("i am rs{n} on 81");
                nslab::spawn_http_server(lab, n, "0.0.0.0:81", &body, "600");
            }
            nslab::spawn_http_server(lab, 2, "0.0.0.0:8080", "sorry", "600");
        })
        .rules(&rules);
    let Some(NsDirector { lab, control }) = scenario.start() else {
        return;
    };
    let started = Instant::now();
    assert_eq!(listed_weight(&control, &rs1), Some(0), "alpha: starts down");
    // rs2 too, until its first check passes (a moment): a request before
    // that is refused (port unreachable, as IPVS's `ip_vs_leave`).
    let rs2_up = wait_for(Duration::from_secs(3), || {
        listed_weight(&control, &rs2) == Some(1)
    });
    assert!(rs2_up.is_some(), "rs2's first check passes");
    assert_eq!(nslab::http_bodies(&lab, &vip, 4), ["i am rs2"; 4]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "all before rs1's first check could fail"
    );
    nft_in(&lab.ns_rs(1), "delete table inet ringvs_alpha");
    let up = wait_for(Duration::from_secs(8), || {
        listed_weight(&control, &rs1) == Some(1)
    });
    eprintln!("alpha: rs1 up {up:?} after it answered");
    assert!(up.is_some(), "rs1 in once its check passes");
    let mut bodies = nslab::http_bodies(&lab, &vip, 4);
    bodies.sort();
    assert_eq!(bodies, ["i am rs1", "i am rs1", "i am rs2", "i am rs2"]);

    // The quorum: both up, no sorry server.
    let served = wait_for(Duration::from_secs(4), || {
        listed_weight(&control, &rs1_81) == Some(1) && listed_weight(&control, &rs2_81) == Some(1)
    });
    assert!(served.is_some(), "both servers on 81 up");
    assert_eq!(listed_weight(&control, &sorry), None);
    drop_syns(&lab.ns_rs(1), "ringvs_quorum", 81);
    let lost = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &sorry) == Some(1)
    });
    eprintln!("quorum: lost {lost:?} after rs1 stopped answering on 81");
    assert!(lost.is_some(), "the sorry server in below the quorum");
    assert_eq!(
        listed_weight(&control, &rs2_81),
        Some(0),
        "up, out of the pool"
    );
    assert_eq!(nslab::http_bodies(&lab, &vip81, 4), ["sorry"; 4]);
    nft_in(&lab.ns_rs(1), "delete table inet ringvs_quorum");
    let back = wait_for(Duration::from_secs(6), || {
        listed_weight(&control, &sorry).is_none()
    });
    assert!(
        back.is_some(),
        "the sorry server leaves with the quorum back"
    );
    let mut bodies = nslab::http_bodies(&lab, &vip81, 4);
    bodies.sort();
    assert_eq!(
        bodies,
        [
            "i am rs1 on 81",
            "i am rs1 on 81",
            "i am rs2 on 81",
            "i am rs2 on 81"
        ]
    );
}

/// The weight `-L -n PROTO SERVICE` shows for `rs` (None: not listed).
fn weight_in(control: &Path, (proto, svc): (&str, &str), rs: &str) -> Option<u32> {
    adm(control, &["-L", "-n", proto, svc])
        .lines()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 4 && w[0] == "->" && w[1] == rs).then(|| w[3].parse().ok())?
        })
}

/// Runs `sysctl -qw ARGS...` in namespace `ns`.
fn sysctl_in(ns: &str, args: &[&str]) {
    let mut argv = vec!["netns", "exec", ns, "sysctl", "-qw"];
    argv.extend_from_slice(args);
    let ok = Process::new("ip").args(&argv).status().expect("sysctl");
    assert!(ok.success(), "sysctl {args:?} in {ns}");
}

/// The addresses of a check test of one family: the VIP and the two real
/// servers as `-t`/`-r` write them, the wildcard a server binds, and the VIP
/// as a client names it.
struct Family {
    v6: bool,
    vip: String,
    rs: [String; 2],
    any: &'static str,
    client_vip: String,
}

impl Family {
    fn new(v6: bool) -> Self {
        if v6 {
            let rs = [lab::rs_addr6(1), lab::rs_addr6(2)].map(|a| format!("[{a}]"));
            Family {
                v6,
                vip: format!("[{}]", lab::VIP6),
                rs,
                any: "::",
                client_vip: lab::VIP6.to_string(),
            }
        } else {
            let rs = [lab::rs_addr(1), lab::rs_addr(2)].map(|a| a.to_string());
            Family {
                v6,
                vip: lab::VIP.to_string(),
                rs,
                any: "0.0.0.0",
                client_vip: lab::VIP.to_string(),
            }
        }
    }

    /// The service at `port` of the VIP.
    fn svc(&self, port: u16) -> String {
        format!("{}:{port}", self.vip)
    }

    /// Real server `n` (1 or 2) at `port`.
    fn at(&self, n: usize, port: u16) -> String {
        format!("{}:{port}", self.rs[n - 1])
    }

    /// The rules of `services` (`-t` or `-u`, VIP port, the rest of its `-A`
    /// line, the real servers' port), both real servers in each.
    fn rules(&self, services: &[(&str, u16, String, u16)]) -> String {
        let mut rules = String::new();
        for (proto, port, opts, _) in services {
            rules += &format!("-A {proto} {} -s rr {opts}\n", self.svc(*port));
        }
        for n in [1, 2] {
            for (proto, port, _, rs_port) in services {
                let (svc, rs) = (self.svc(*port), self.at(n, *rs_port));
                rules += &format!("-a {proto} {svc} -r {rs} -m\n");
            }
        }
        rules
    }
}

/// Both real servers send every ICMP error a check asks for: their rate
/// limits (about one a second to one address) off.
fn no_icmp_rate_limits(lab: &Lab) {
    for n in [1, 2] {
        let limits = ["net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"];
        sysctl_in(&lab.ns_rs(n), &limits);
    }
}

/// keepalived's `UDP_CHECK` and `PING_CHECK`, from the DIP (or the IPv6
/// DIP) through the workers' diversion of their answers:
/// * a `--require-reply` the server's answer matches (`rs1 2` for the
///   2-byte payload: `72x3` is `r`, then any nibble and 3) keeps both up,
///   one it does not match (`7274`) takes both down;
/// * without `--require-reply`, the ICMP port unreachable of a server with
///   nothing on the port takes it down (the datagram of 700 bytes is quoted
///   in part only), and the other, which answers, stays up; clients reach
///   only that one;
/// * an echo request dropped by the server takes it down, answered again
///   it comes back.
///
/// Services whose servers must pass their checks to be up have `--alpha`
/// (they start down), the others not (they start up): each verdict the
/// test waits for is one a check made. The real servers' ICMP rate limits
/// are off, so that every check's datagram to the closed port gets its
/// error.
fn udp_and_ping_checks(v6: bool) {
    let f = Family::new(v6);
    let check = "--delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1";
    // 700 bytes: the server's port unreachable quotes only part of it
    // (Linux quotes up to 576 bytes of packet).
    let big = "ab".repeat(700);
    let (s53, s54, s55, s56, s80) = (f.svc(53), f.svc(54), f.svc(55), f.svc(56), f.svc(80));
    let udp = |reply: &str, alpha: &str| format!("--check udp {reply} {check} {alpha}");
    let rules = f.rules(&[
        (
            "-u",
            53,
            udp("--payload 6869 --require-reply 72x3", "--alpha"),
            53,
        ),
        ("-u", 55, udp("--payload 6869 --require-reply 7274", ""), 53),
        ("-u", 54, udp(&format!("--payload {big}"), ""), 54),
        ("-u", 56, udp(&format!("--payload {big}"), "--alpha"), 54),
        ("-t", 80, format!("--check ping {check} --alpha"), 80),
    ]);
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr/udp_echo.py");
    let tag = if v6 { "udpchk6" } else { "udpchk" };
    let any = f.any;
    let mut scenario = Scenario::new(tag)
        .needs(&["nft", "sysctl"])
        .before_director(move |lab| {
            no_icmp_rate_limits(lab);
            // Port 54: only rs2 answers.
            let ns = lab.ns_rs(2);
            let args = [echo, any, "54", "rs2", "60"];
            lab.spawn_in(&ns, Path::new("python3"), &args)
                .expect("udp_echo.py on 54");
        })
        .rules(&rules);
    if v6 {
        scenario = scenario.ipv6();
    }
    let Some(NsDirector { lab, control }) = scenario.start_with_udp_echo(any, 53, v6) else {
        return;
    };
    let weights = |proto: &str, svc: &str, port: u16| {
        [1, 2].map(|n| weight_in(&control, (proto, svc), &f.at(n, port)))
    };
    let settled = wait_for(Duration::from_secs(8), || {
        weights("-u", &s53, 53) == [Some(1); 2]
            && weights("-u", &s55, 53) == [Some(0); 2]
            && weights("-u", &s54, 54) == [Some(0), Some(1)]
            && weights("-u", &s56, 54) == [Some(0), Some(1)]
            && weights("-t", &s80, 80) == [Some(1); 2]
    });
    eprintln!(
        "{tag}: settled {settled:?}: 53 {:?}, 55 {:?}, 54 {:?}, 80 {:?}",
        weights("-u", &s53, 53),
        weights("-u", &s55, 53),
        weights("-u", &s54, 54),
        weights("-t", &s80, 80)
    );
    assert!(settled.is_some(), "every check's verdict");
    let answers = nslab::udp_client(&lab, "ask", &f.client_vip, 54, 4);
    assert_eq!(answers, ["rs2 32"; 4], "only the server that answers");
    let mut answers = nslab::udp_client(&lab, "ask", &f.client_vip, 53, 4);
    answers.sort();
    assert_eq!(answers, ["rs1 32", "rs1 32", "rs2 32", "rs2 32"]);
    let s = stats(&control);
    assert!(
        s["health"]["diverted"].as_u64() > Some(0),
        "the answers went to the health thread: {}",
        s["health"]
    );

    let no_echo = "add table inet ringvs_ping; \
         add chain inet ringvs_ping in { type filter hook input priority 0; policy accept; }; \
         add rule inet ringvs_ping in icmp type echo-request drop; \
         add rule inet ringvs_ping in icmpv6 type echo-request drop";
    nft_in(&lab.ns_rs(1), no_echo);
    let down = wait_for(Duration::from_secs(6), || {
        weights("-t", &s80, 80) == [Some(0), Some(1)]
    });
    eprintln!("{tag}: ping: rs1 down {down:?} after it stopped answering");
    assert!(down.is_some(), "no echo reply, down");
    nft_in(&lab.ns_rs(1), "delete table inet ringvs_ping");
    let up = wait_for(Duration::from_secs(6), || {
        weights("-t", &s80, 80) == [Some(1); 2]
    });
    assert!(up.is_some(), "echo replies again, up");
}

#[test]
fn udp_and_ping_checks_through_the_data_plane() {
    udp_and_ping_checks(false);
}

#[test]
fn udp_and_ping_checks_through_the_data_plane_ipv6() {
    udp_and_ping_checks(true);
}

/// keepalived's `DNS_CHECK` from the DIP (or the IPv6 DIP): `dns_server.py`
/// on both real servers answers `ok.test` with RCODE 0 and `servfail.test`
/// with SERVFAIL. A service asking for the first keeps both servers up, one
/// asking for the second takes both down; a third whose servers' port has
/// nothing on it takes them down too (the port unreachable fails the query,
/// as on keepalived's connected socket). The first has `--alpha`: its
/// servers are up only once a check passed.
fn dns_checks(v6: bool) {
    let f = Family::new(v6);
    let check = "--delay-loop 1 --connect-timeout 1 --retry 0";
    let (s53, s54, s55) = (f.svc(53), f.svc(54), f.svc(55));
    let dns = |opts: &str| format!("--check dns {opts} {check}");
    let rules = f.rules(&[
        ("-u", 53, dns("--dns-type A --dns-name ok.test --alpha"), 53),
        ("-u", 55, dns("--dns-name servfail.test"), 53),
        ("-u", 54, dns(""), 54),
    ]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dr/dns_server.py");
    let tag = if v6 { "dnschk6" } else { "dnschk" };
    let any = f.any;
    let mut scenario = Scenario::new(tag)
        .needs(&["python3", "ss", "sysctl"])
        .before_director(move |lab| {
            no_icmp_rate_limits(lab);
            for n in [1, 2] {
                let ns = lab.ns_rs(n);
                lab.spawn_in(&ns, Path::new("python3"), &[script, any, "53", "60"])
                    .expect("dns_server.py");
            }
        })
        .rules(&rules);
    if v6 {
        scenario = scenario.ipv6();
    }
    let Some(NsDirector { lab, control }) = scenario.start() else {
        return;
    };
    nslab::wait_udp_bound(&lab, 53);
    let weights =
        |svc: &str, port: u16| [1, 2].map(|n| weight_in(&control, ("-u", svc), &f.at(n, port)));
    let settled = wait_for(Duration::from_secs(8), || {
        weights(&s53, 53) == [Some(1); 2]
            && weights(&s55, 53) == [Some(0); 2]
            && weights(&s54, 54) == [Some(0); 2]
    });
    eprintln!(
        "{tag}: settled {settled:?}: ok {:?}, servfail {:?}, closed {:?}",
        weights(&s53, 53),
        weights(&s55, 53),
        weights(&s54, 54)
    );
    assert!(settled.is_some(), "every DNS check's verdict");
}

#[test]
fn dns_checks_through_the_data_plane() {
    dns_checks(false);
}

#[test]
fn dns_checks_through_the_data_plane_ipv6() {
    dns_checks(true);
}

/// A check test's director (of `f`'s family) with `rules`, and `script`
/// (`tests/data/dr`) on both real servers once per `(port, mode)` of
/// `servers`, each listening before the director starts: a down verdict is
/// the server's answer, not a refused connection.
fn tcp_servers(
    f: &Family,
    tag: &'static str,
    script: &str,
    servers: [(u16, &'static str); 2],
    rules: &str,
) -> Option<NsDirector> {
    let script = format!("{}/tests/data/dr/{script}", env!("CARGO_MANIFEST_DIR"));
    let any = f.any;
    let scenario = Scenario::new(tag)
        .needs(&["python3", "ss"])
        .before_director(move |lab| {
            for n in [1, 2] {
                let ns = lab.ns_rs(n);
                for (port, mode) in servers {
                    let args = [script.as_str(), any, &port.to_string(), mode, "60"];
                    lab.spawn_in(&ns, Path::new("python3"), &args)
                        .expect("a real server's script");
                }
            }
            for (port, _) in servers {
                nslab::wait_tcp_bound(lab, port);
            }
        })
        .rules(rules);
    if f.v6 {
        scenario.ipv6().start()
    } else {
        scenario.start()
    }
}

/// Waits (10 s at most) until each TCP service `(port, servers' port)`
/// lists both real servers with the weights of `want`; asserts it.
fn settle(control: &Path, f: &Family, tag: &str, want: &[(u16, u16, [Option<u32>; 2])]) {
    let weights = |port: u16, rs_port: u16| {
        [1, 2].map(|n| weight_in(control, ("-t", &f.svc(port)), &f.at(n, rs_port)))
    };
    let settled = wait_for(Duration::from_secs(10), || {
        want.iter().all(|&(p, rp, w)| weights(p, rp) == w)
    });
    let got: Vec<_> = want.iter().map(|&(p, rp, _)| (p, weights(p, rp))).collect();
    eprintln!("{tag}: settled {settled:?}: {got:?}");
    assert!(settled.is_some(), "{tag}: every check's verdict: {got:?}");
}

/// `ringvs genhash ARGS` in the client's namespace: its stdout's line, or
/// its stderr when it fails.
fn genhash(lab: &Lab, args: &[&str]) -> Result<String, String> {
    let mut argv = vec!["genhash"];
    argv.extend_from_slice(args);
    let out = lab::ns_command(&lab.ns_client(), Path::new(EXE), &argv)
        .output()
        .expect("run genhash");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// The MD5 of `/fox`'s body (the RFC 1321 pangram) in `https_server.py`.
const FOX_MD5: &str = "9e107d9d372bb6826bd81d3542a419d6";

/// keepalived's `SSL_GET` and `HTTP_GET` urls from the DIP (or the IPv6
/// DIP): `https_server.py` on both real servers, over TLS on 443 and in
/// the clear on 8080. Each verdict has a twin that differs in one setting:
/// * the body's digest matches (up) or not (down);
/// * `/sni` answers 200 only when the handshake named `www.test` and the
///   `Host` is `www.test`: with `--check-sni` up, without it down;
/// * the digest of a body without `Content-Length`, ended by the close, in
///   the clear: up; TLS to the plain server: down (no handshake);
/// * `/gone`'s 404 passes with `--check-status 200,404`.
///
/// Those that must pass have `--alpha` (they start down), the others not.
fn http_checks(v6: bool) {
    let f = Family::new(v6);
    let check = "--delay-loop 1 --connect-timeout 2 --retry 0 --delay-before-retry 1";
    let other = "00112233445566778899aabbccddeeff";
    let https = |opts: String| format!("--check https {opts} {check}");
    let rules = f.rules(&[
        (
            "-t",
            443,
            https(format!(
                "--check-path /fox --check-digest {FOX_MD5} --alpha"
            )),
            443,
        ),
        (
            "-t",
            444,
            https(format!("--check-path /fox --check-digest {other}")),
            443,
        ),
        (
            "-t",
            445,
            https("--check-path /sni --check-virtualhost www.test --check-sni --alpha".into()),
            443,
        ),
        (
            "-t",
            446,
            https("--check-path /sni --check-virtualhost www.test".into()),
            443,
        ),
        (
            "-t",
            448,
            https("--check-path /gone --check-status 200,404 --alpha".into()),
            443,
        ),
        (
            "-t",
            8080,
            format!("--check http --check-path /nolen --check-digest {FOX_MD5} --alpha {check}"),
            8080,
        ),
        ("-t", 447, https("--check-path /fox".into()), 8080),
    ]);
    let tag = if v6 { "httpschk6" } else { "httpschk" };
    let servers = [(443, "tls"), (8080, "plain")];
    let Some(NsDirector { lab, control }) =
        tcp_servers(&f, tag, "https_server.py", servers, &rules)
    else {
        return;
    };
    let (up, down) = ([Some(1); 2], [Some(0); 2]);
    let want = [
        (443, 443, up),
        (444, 443, down),
        (445, 443, up),
        (446, 443, down),
        (448, 443, up),
        (8080, 8080, up),
        (447, 8080, down),
    ];
    settle(&control, &f, tag, &want);
    // `ringvs genhash` from the client, through the VIP: the digests the
    // checks compare with.
    let vip = f.client_vip.as_str();
    let fox = genhash(&lab, &["-s", vip, "-p", "443", "-u", "/fox", "-S"]);
    assert_eq!(fox, Ok(FOX_MD5.to_string()), "over TLS, Content-Length");
    let nolen = genhash(&lab, &["-s", vip, "-p", "8080", "-u", "/nolen"]);
    assert_eq!(nolen, Ok(FOX_MD5.to_string()), "in the clear, to the close");
    let sni = [
        "-s", vip, "-p", "443", "-u", "/sni", "-S", "-V", "www.test", "--sni",
    ];
    let body = "sni=www.test host=www.test\n";
    let want: [u8; 16] = md5::Md5::digest(body.as_bytes()).into();
    assert_eq!(genhash(&lab, &sni), Ok(ringvs::config::digest_hex(&want)));
    let e = genhash(
        &lab,
        &["-s", vip, "-p", "8080", "-u", "/fox", "-S", "-t", "2"],
    );
    assert!(
        e.as_ref().is_err_and(|e| e.starts_with("ringvs genhash: ")),
        "TLS to a plain server: {e:?}"
    );
    let saved = adm(&control, &["-S", "-n"]);
    for line in [
        format!(
            "-A -t {} -s rr --check https --check-path /sni --check-status 200 --check-virtualhost www.test --check-sni --delay-loop 1 --connect-timeout 2 --retry 0 --delay-before-retry 1 --alpha",
            f.svc(445)
        ),
        format!(
            "-A -t {} -s rr --check http --check-path /nolen --check-status 200 --check-digest {FOX_MD5} --delay-loop 1 --connect-timeout 2 --retry 0 --delay-before-retry 1 --alpha",
            f.svc(8080)
        ),
    ] {
        assert!(
            saved.lines().any(|l| l == line),
            "-S writes {line}:\n{saved}"
        );
    }
}

#[test]
fn http_and_ssl_checks_through_the_data_plane() {
    http_checks(false);
}

#[test]
fn http_and_ssl_checks_through_the_data_plane_ipv6() {
    http_checks(true);
}

/// `--check smtp` (keepalived's `SMTP_CHECK`) with `--helo-name`: parsed,
/// saved and restored exactly, with keepalived's default name.
#[test]
fn smtp_check_options_parse_save_and_restore() {
    let s = check_of("-A -t 198.18.0.110:25 --check smtp").unwrap();
    assert_eq!(
        (s.kind, s.retry, s.delay_before_retry),
        (CheckKind::Smtp(SmtpCheck::new()), 1, 1)
    );
    let s = check_of("-A -t 198.18.0.110:25 --check smtp --helo-name mx.example").unwrap();
    assert_eq!(
        s.kind,
        CheckKind::Smtp(SmtpCheck {
            helo: "mx.example".into()
        })
    );
    let svc = "-A -t 198.18.0.110:25";
    for (opts, e) in [
        ("--check tcp --helo-name a", "helo-name needs --check smtp"),
        (
            "--check smtp --helo-name mx.é",
            "illegal helo-name specified",
        ),
    ] {
        assert_eq!(usage_err(&format!("{svc} {opts}")), e, "{opts:?}");
    }
    let rules = "\
-A -t 198.18.0.110:25 -s rr --check smtp --helo-name smtpchecker.keepalived.org --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1
-A -t 198.18.0.110:587 -s rr --check smtp --helo-name mx.example --delay-loop 2 --connect-timeout 1 --retry 0 --delay-before-retry 1 --alpha
";
    saved_as_given(rules);
}

/// keepalived's `SMTP_CHECK` from the DIP (or the IPv6 DIP):
/// `smtp_server.py` on both real servers greets with 220 on port 25 and
/// with 554 on 2525, and answers `HELO mx.test` with 250, any other name
/// with 550. Twins: `--helo-name mx.test` up, keepalived's default name
/// down; the same name against the busy greeting, down.
fn smtp_checks(v6: bool) {
    let f = Family::new(v6);
    let check = "--delay-loop 1 --connect-timeout 2 --retry 0";
    let rules = f.rules(&[
        (
            "-t",
            25,
            format!("--check smtp --helo-name mx.test --alpha {check}"),
            25,
        ),
        ("-t", 26, format!("--check smtp {check}"), 25),
        (
            "-t",
            27,
            format!("--check smtp --helo-name mx.test {check}"),
            2525,
        ),
    ]);
    let tag = if v6 { "smtpchk6" } else { "smtpchk" };
    let servers = [(25, "ok"), (2525, "busy")];
    let Some(NsDirector { lab: _lab, control }) =
        tcp_servers(&f, tag, "smtp_server.py", servers, &rules)
    else {
        return;
    };
    let want = [
        (25, 25, [Some(1); 2]),
        (26, 25, [Some(0); 2]),
        (27, 2525, [Some(0); 2]),
    ];
    settle(&control, &f, tag, &want);
}

#[test]
fn smtp_checks_through_the_data_plane() {
    smtp_checks(false);
}

#[test]
fn smtp_checks_through_the_data_plane_ipv6() {
    smtp_checks(true);
}

/// nginx's configuration for real server `n` under `root`, in the
/// foreground as one process, on port 8080 of every address; with
/// `v11_only` it answers 505 to a request line that is not `HTTP/1.1`
/// (nginx's `$server_protocol`), else `i am rsN on 8080` with 200.
fn nginx_v11_conf(root: &Path, n: usize, v11_only: bool) -> String {
    let r = root.display();
    let gate = if v11_only {
        "if ($server_protocol != \"HTTP/1.1\") { return 505; }\n    "
    } else {
        ""
    };
    format!(
        "daemon off;\nmaster_process off;\npid {r}/nginx.pid;\nerror_log {r}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n\
         \x20 client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
         \x20 fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n\
         \x20 scgi_temp_path {r}/scgi;\n\
         \x20 server {{\n    listen 0.0.0.0:8080;\n    default_type text/plain;\n\
         \x20   {gate}location / {{ return 200 \"i am rs{n} on 8080\\n\"; }}\n  }}\n}}\n"
    )
}

/// `n` new connections from the client to `http://ADDR/` with curl over
/// HTTP/1.1 (`Connection: close`): each answer's body, or its status when
/// not 200.
fn curl_bodies(lab: &Lab, addr: &str, n: usize) -> Vec<String> {
    let url = format!("http://{addr}/");
    (0..n)
        .map(|_| {
            let out = lab::ns_command(
                &lab.ns_client(),
                Path::new("curl"),
                &[
                    "-s",
                    "--http1.1",
                    "-H",
                    "Connection: close",
                    "--max-time",
                    "3",
                    "-w",
                    "%{http_code}",
                    &url,
                ],
            )
            .output()
            .expect("run curl");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            match text.strip_suffix("200") {
                Some(body) => body.trim_end().to_string(),
                None => format!("status {text} ({})", out.status),
            }
        })
        .collect()
}

/// `--check-http-protocol` against real nginx servers: rs1's answers 200
/// only to an `HTTP/1.1` request line (505 to `HTTP/1.0`), rs2's to any.
/// Both services send their requests to the servers' port 8080:
/// * on VIP:8080 the check asks in `HTTP/1.1` (with `--alpha`, so that up
///   is a check's verdict): both servers stay in, and curl through the VIP
///   reaches both;
/// * on VIP:8081 the check asks in the default 1.0C (`HTTP/1.0` with
///   `Connection: close`): rs1 is taken out (weight 0, rs2 kept: the check
///   itself works), and curl through the VIP reaches rs2 alone;
/// * `-E` to 1.1 on VIP:8081 brings rs1 back; `-S` writes the option.
#[test]
fn http_protocol_reaches_an_http11_only_nginx() {
    // `nginx -v`: nginx has no `--version`, which `needs` runs.
    let nginx = Process::new("nginx").arg("-v").output();
    if !nginx.is_ok_and(|o| o.status.success()) {
        let why = "needs nginx (apt-get install nginx-light)";
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{why}");
        eprintln!("SKIPPED (not CI): {why}");
        return;
    }
    let f = Family::new(false);
    let check = "--check http --check-path / --check-status 200 \
                 --delay-loop 1 --connect-timeout 2 --retry 0 --delay-before-retry 1";
    let rules = f.rules(&[
        (
            "-t",
            8080,
            format!("{check} --check-http-protocol 1.1 --alpha"),
            8080,
        ),
        ("-t", 8081, check.to_string(), 8080),
    ]);
    /// A directory removed when the test ends, also on failure.
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = Dir(std::env::temp_dir().join(format!("ringvs-nginx11-{}", std::process::id())));
    let root = dir.0.clone();
    let scenario = Scenario::new("httpver")
        .needs(&["curl", "ss"])
        .before_director(move |lab| {
            for n in [1, 2] {
                let r = root.join(format!("rs{n}"));
                std::fs::create_dir_all(&r).expect("nginx's directory");
                let conf = r.join("nginx.conf");
                std::fs::write(&conf, nginx_v11_conf(&r, n, n == 1)).expect("nginx.conf");
                let (p, c) = (r.display().to_string(), conf.display().to_string());
                let e = r.join("startup.log").display().to_string();
                let args = ["-p", p.as_str(), "-e", e.as_str(), "-c", c.as_str()];
                let ns = lab.ns_rs(n);
                // Checked first, so that a bad configuration fails with nginx's words.
                let test = [&["-t", "-q"][..], &args].concat();
                if let Err(e) = lab::ns_run(&ns, "nginx", &test) {
                    panic!("nginx -t on rs{n}: {e}");
                }
                lab.spawn_in(&ns, Path::new("nginx"), &args).expect("nginx");
            }
            nslab::wait_tcp_bound(lab, 8080);
        })
        .rules(&rules);
    let Some(NsDirector { lab, control }) = scenario.start() else {
        return;
    };
    let tag = "httpver";
    let (up, rs2_only) = ([Some(1); 2], [Some(0), Some(1)]);
    settle(
        &control,
        &f,
        tag,
        &[(8080, 8080, up), (8081, 8080, rs2_only)],
    );
    let mut both = curl_bodies(&lab, &f.svc(8080), 4);
    both.sort();
    assert_eq!(
        both,
        [
            "i am rs1 on 8080",
            "i am rs1 on 8080",
            "i am rs2 on 8080",
            "i am rs2 on 8080"
        ],
        "HTTP/1.1 check: both servers serve through the VIP"
    );
    assert_eq!(
        curl_bodies(&lab, &f.svc(8081), 4),
        ["i am rs2 on 8080"; 4],
        "HTTP/1.0 check: rs1 out, every connection to rs2"
    );
    let s = stats(&control);
    assert!(
        s["health"]["diverted"].as_u64() > Some(0),
        "the checks' answers came through the workers: {}",
        s["health"]
    );
    let saved_line = |port: u16, proto: &str, alpha: &str| {
        format!(
            "-A -t {} -s rr --check http --check-path / --check-status 200{proto} --delay-loop 1 \
             --connect-timeout 2 --retry 0 --delay-before-retry 1{alpha}",
            f.svc(port)
        )
    };
    let saved = adm(&control, &["-S", "-n"]);
    for line in [
        saved_line(8080, " --check-http-protocol 1.1", " --alpha"),
        saved_line(8081, "", ""),
    ] {
        assert!(
            saved.lines().any(|l| l == line),
            "-S writes {line}:\n{saved}"
        );
    }
    // Live to 1.1 on VIP:8081: rs1 passes and comes back.
    let edit = format!(
        "-E -t {} -s rr {check} --check-http-protocol 1.1",
        f.svc(8081)
    );
    adm(&control, &edit.split_whitespace().collect::<Vec<_>>());
    settle(&control, &f, tag, &[(8080, 8080, up), (8081, 8080, up)]);
    let saved = adm(&control, &["-S", "-n"]);
    let line = saved_line(8081, " --check-http-protocol 1.1", "");
    assert!(
        saved.lines().any(|l| l == line),
        "-S writes {line}:\n{saved}"
    );
}
