//! Health checks: the `--check` options of `-A`/`-E`, their `-S` form and
//! round trip, and (as root, in namespaces) failover under HTTP load.

use ringvs::config::format::format_save;
use ringvs::config::ipvsadm::{self, AdmCommand, parse};
use ringvs::config::names::Names;
use ringvs::config::{AdmError, CheckKind, Config, HealthCheck};

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
        }
    );
    let http = check_of(
        "-E -t 198.18.0.110:80 --check http --check-path /health?x=1 --check-status 204 \
         --delay-loop 5 --connect-timeout 2 --retry 3 --delay-before-retry 0 --inhibit-on-failure",
    )
    .unwrap();
    assert_eq!(
        http,
        HealthCheck {
            kind: CheckKind::Http {
                path: "/health?x=1".into(),
                status: 204,
            },
            delay_loop: 5,
            connect_timeout: 2,
            retry: 3,
            delay_before_retry: 0,
            inhibit_on_failure: true,
        }
    );
    // --opt=value works as for ipvsadm's own options; http defaults to GET / 200.
    let h = check_of("-A -t 198.18.0.110:80 --check=http --delay-loop=7").unwrap();
    assert_eq!(
        h.kind,
        CheckKind::Http {
            path: "/".into(),
            status: 200
        }
    );
    assert_eq!(h.delay_loop, 7);
}

#[test]
fn check_options_errors() {
    let svc = "-A -t 198.18.0.110:80";
    assert_eq!(
        usage_err(&format!("{svc} --check udp")),
        "illegal check `udp' specified (tcp or http)"
    );
    assert_eq!(
        usage_err(&format!("{svc} --delay-loop 5")),
        "the 'delay-loop' option needs the 'check' option"
    );
    assert_eq!(
        usage_err(&format!("{svc} --check tcp --check-path /x")),
        "check-path and check-status need --check http"
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
}

#[test]
fn help_lists_the_check_options() {
    let Err(AdmError::Help(text)) = parse(&argv("-h")) else {
        panic!("-h is help");
    };
    for o in [
        "--check tcp|http",
        "--check-path",
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
        CheckKind::Http {
            path: "/h".into(),
            status: 200
        }
    );
    // -E replaces the whole service setup, as ipvsadm's -E does: no --check, no check.
    run(&mut c, "-E -t 198.18.0.110:80 -s rr").unwrap();
    assert_eq!(c.service(&k).unwrap().check, None);
}
