//! keepalived's notify scripts and notify FIFO: `--notify-up`/`--notify-down`
//! of `-a`/`-e`, `--quorum-up`/`--quorum-down` of `-A`/`-E`, their `-S` form
//! and round trip, and (as root, in namespaces) the scripts run and the FIFO
//! written when health checks take servers out and bring them back.

#![allow(clippy::unwrap_used)]

mod nslab;
use nslab::{NsDirector, Scenario, adm, kill_all_in, serve_again, wait_for};
use ringvs::config::format::format_save;
use ringvs::config::ipvsadm::{self, AdmCommand, parse};
use ringvs::config::names::Names;
use ringvs::config::{AdmError, Config, Script, Scripts};
use std::io::BufRead;
use std::net::IpAddr;
use std::time::Duration;

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn restore(cfg: &mut Config, text: &str) -> Result<Vec<String>, AdmError> {
    ipvsadm::restore(cfg, text, &Names::none(), &mut |_, _, _| {})
}

fn script(s: &str) -> Option<Script> {
    Some(Script::parse(s).unwrap())
}

/// A script is one argument, quoted as a shell quotes it; `-a` and `-A`
/// take theirs.
#[test]
fn scripts_parse_from_one_argument_each() {
    let cmd = parse(&args(&[
        "-a",
        "-t",
        "198.18.0.110:80",
        "-r",
        "198.19.0.2:80",
        "--notify-down",
        "/usr/local/bin/alert down 'rs 1'",
        "--notify-up",
        "/usr/local/bin/alert up",
    ]))
    .unwrap();
    let AdmCommand::AddDest { opts, .. } = cmd else {
        panic!("{cmd:?}")
    };
    assert_eq!(
        opts.scripts,
        Scripts {
            up: script("/usr/local/bin/alert up"),
            down: script("/usr/local/bin/alert down 'rs 1'"),
            check: None,
            files: Vec::new(),
        }
    );
    let words = opts.scripts.down.unwrap().words();
    assert_eq!(words, ["/usr/local/bin/alert", "down", "rs 1"]);
    let cmd = parse(&args(&[
        "-A",
        "-t",
        "198.18.0.110:80",
        "--quorum-down",
        "pager-duty 'lost 80'",
    ]))
    .unwrap();
    let AdmCommand::AddService { opts, .. } = cmd else {
        panic!("{cmd:?}")
    };
    assert_eq!(opts.scripts.down, script("pager-duty 'lost 80'"));
    assert_eq!(opts.scripts.up, None);
}

#[test]
fn script_option_errors_are_ipvsadm_style() {
    let usage = |w: &[&str]| match parse(&args(w)) {
        Err(e @ AdmError::Usage(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        other => panic!("{w:?}: {other:?}"),
    };
    let a = ["-a", "-t", "198.18.0.110:80", "-r", "198.19.0.2"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        a.iter().copied().chain(extra.iter().copied()).collect()
    };
    for (line, msg) in [
        (
            with(&["--quorum-up", "/bin/x"]),
            "Illegal 'quorum-up' option with the 'add-server' command",
        ),
        (
            vec!["-A", "-t", "198.18.0.110:80", "--notify-down", "/bin/x"],
            "Illegal 'notify-down' option with the 'add-service' command",
        ),
        (
            vec![
                "-d",
                "-t",
                "198.18.0.110:80",
                "-r",
                "198.19.0.2",
                "--notify-up",
                "x",
            ],
            "Illegal 'notify-up' option with the 'delete-server' command",
        ),
        (
            with(&["--notify-up", "/bin/x 'open"]),
            "illegal notify-up specified: missing terminating '",
        ),
        (
            with(&["--notify-down", "  "]),
            "illegal notify-down specified: no command",
        ),
        (
            with(&["--notify-up", "/bin/x", "--notify-up", "/bin/y"]),
            "multiple 'notify-up' options specified",
        ),
        (
            with(&["--notify-up", "/bin/x", "--notify-down-user", "nobody"]),
            "notify-down-user needs --notify-down",
        ),
        (
            with(&["--misc-path-user", "nobody"]),
            "misc-path-user needs --misc-path",
        ),
        (
            vec![
                "-A",
                "-t",
                "198.18.0.110:80",
                "--quorum-up",
                "/bin/x",
                "--quorum-up-user",
                "nobody:",
            ],
            "illegal quorum-up-user specified: 'nobody:': not USER or USER:GROUP",
        ),
        (
            with(&[
                "--notify-up",
                "/bin/x",
                "--notify-up-user",
                "a",
                "--notify-up-user",
                "b",
            ]),
            "multiple 'notify-up-user' options specified",
        ),
    ] {
        assert_eq!(usage(&line), msg, "{line:?}");
    }
    let Err(AdmError::Help(text)) = parse(&args(&["-h"])) else {
        panic!("-h is help");
    };
    for o in [
        "--notify-up",
        "--notify-down",
        "--quorum-up",
        "--quorum-down",
        "--notify-up-user",
        "--misc-path-user",
    ] {
        assert!(text.contains(o), "{o} missing from help");
    }
}

/// `--NAME-user USER[:GROUP]` runs script `--NAME` as that user (keepalived's
/// `notify_up "CMD" USER [GROUP]` and `MISC_CHECK`'s `user`): each script
/// keeps its own, `-S` writes it after its script, `-R` reads it back, and
/// a script without one has none.
#[test]
fn script_users_save_and_restore_with_their_scripts() {
    let rules = "-A -t 198.18.0.110:80 -s rr --check misc --misc-path \"/bin/c\" --misc-path-user nobody \
                 --quorum-up \"/bin/q up\" --quorum-down \"/bin/q down\" --quorum-down-user root:root\n\
                 -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --notify-up \"/bin/n up\" --notify-up-user nobody:nogroup \
                 --notify-down \"/bin/n down\" --notify-down-user root --misc-path \"/bin/own\" --misc-path-user daemon\n";
    let mut cfg = Config::new();
    assert_eq!(restore(&mut cfg, rules).unwrap(), Vec::<String>::new());
    let key = ringvs::config::ServiceKey::new(
        ringvs::config::Proto::Tcp,
        "198.18.0.110".parse::<IpAddr>().unwrap(),
        80,
    );
    let s = cfg.service(&key).unwrap();
    let user = |x: &Option<Script>| x.as_ref().and_then(|s| s.user()).map(|u| u.to_string());
    assert_eq!(user(&s.quorum_scripts.up), None);
    assert_eq!(user(&s.quorum_scripts.down).as_deref(), Some("root:root"));
    let rs = s.server_scripts("198.19.0.2".parse().unwrap(), 80);
    assert_eq!(user(&rs.up).as_deref(), Some("nobody:nogroup"));
    assert_eq!(user(&rs.down).as_deref(), Some("root"));
    assert_eq!(user(&rs.check).as_deref(), Some("daemon"));
    let Some(ringvs::config::CheckKind::Misc(m)) = s.check.as_ref().map(|c| &c.kind) else {
        panic!("{:?}", s.check);
    };
    assert_eq!(
        m.path.user().map(|u| u.to_string()).as_deref(),
        Some("nobody")
    );
    let saved = format_save(&cfg, true, &Names::none());
    for part in [
        "--check misc --misc-path \"/bin/c\" --misc-path-user nobody ",
        "--quorum-up \"/bin/q up\" --quorum-down \"/bin/q down\" --quorum-down-user root:root",
        "--notify-up \"/bin/n up\" --notify-up-user nobody:nogroup --notify-down \"/bin/n down\" --notify-down-user root --misc-path \"/bin/own\" --misc-path-user daemon",
    ] {
        assert!(saved.contains(part), "{part} in {saved}");
    }
    let mut again = Config::new();
    assert_eq!(restore(&mut again, &saved).unwrap(), Vec::<String>::new());
    assert_eq!(again, cfg);
}

/// `-S` writes each script as one double-quoted word, with `"` and `\`
/// escaped, and `-R` reads the same scripts back; an `-e` or `-E` without
/// them clears them, as they replace the whole setup; `-d` forgets them.
#[test]
fn scripts_save_quoted_and_restore_exactly() {
    let rules = r#"-A -t 198.18.0.110:80 -s rr --quorum-up "/bin/q up" --quorum-down "/bin/sh -c \"echo 'a \\\"b\\\\' >> /tmp/x\""
-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --notify-up "/bin/n up 'rs 1'" --notify-down "/bin/n down"
-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 1
-a -t 198.18.0.110:80 -r 198.19.0.4:80 -m -w 1 --notify-down "/bin/n \\x41"
"#;
    let mut c = Config::new();
    assert_eq!(restore(&mut c, rules).unwrap(), Vec::<String>::new());
    let s = &c.services()[0];
    assert_eq!(
        s.quorum_scripts.down.as_ref().unwrap().as_str(),
        r#"/bin/sh -c "echo 'a \"b\\' >> /tmp/x""#
    );
    let words = s.quorum_scripts.down.as_ref().unwrap().words();
    assert_eq!(words[2], r#"echo 'a "b\' >> /tmp/x"#);
    let rs = |n: u8| -> IpAddr { format!("198.19.0.{n}").parse().unwrap() };
    assert_eq!(
        s.server_scripts(rs(2), 80).up.unwrap().as_str(),
        "/bin/n up 'rs 1'"
    );
    assert!(s.server_scripts(rs(3), 80).is_empty());
    assert_eq!(
        s.server_scripts(rs(4), 80).down.unwrap().words()[1],
        "A",
        "keepalived's \\x escape"
    );
    let saved = format_save(&c, true, &Names::none());
    assert_eq!(saved, rules);
    let mut again = Config::new();
    restore(&mut again, &saved).unwrap();
    assert_eq!(again, c);

    let run = |c: &mut Config, w: &[&str]| ipvsadm::apply(c, &parse(&args(w)).unwrap());
    run(
        &mut c,
        &[
            "-e",
            "-t",
            "198.18.0.110:80",
            "-r",
            "198.19.0.2:80",
            "-w",
            "2",
        ],
    )
    .unwrap();
    let s = &c.services()[0];
    assert!(s.server_scripts(rs(2), 80).is_empty(), "-e replaces them");
    run(
        &mut c,
        &["-d", "-t", "198.18.0.110:80", "-r", "198.19.0.4:80"],
    )
    .unwrap();
    assert!(c.services()[0].server_scripts.is_empty(), "-d forgets them");
    run(&mut c, &["-E", "-t", "198.18.0.110:80", "-s", "rr"]).unwrap();
    assert!(
        c.services()[0].quorum_scripts.is_empty(),
        "-E replaces them"
    );

    // A quote left open is that line's error, and nothing is restored.
    let mut d = Config::new();
    let e = restore(
        &mut d,
        "-A -t 198.18.0.110:80 -s rr\n-A -t 198.18.0.110:81 --quorum-up \"/bin/x\n",
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "line 2: a double quote left open");
    assert_eq!(d, Config::new());
}

/// The quotes `-S` writes around scripts leave the other options' values
/// alone: a value with a quote in it (a check's path, virtual host, HELO or
/// DNS name) saves and restores to itself, one that starts with a quote
/// saved in quotes.
#[test]
fn quotes_in_other_values_still_save_and_restore() {
    let mut c = Config::new();
    for line in [
        &[
            "-A",
            "-t",
            "198.18.0.110:25",
            "-s",
            "rr",
            "--check",
            "smtp",
            "--helo-name",
            "mal\"1",
        ][..],
        &[
            "-A",
            "-t",
            "198.18.0.110:53",
            "-s",
            "rr",
            "--check",
            "dns",
            "--dns-name",
            "\"x.test",
        ],
        &[
            "-A",
            "-t",
            "198.18.0.110:80",
            "-s",
            "rr",
            "--check",
            "http",
            "--check-path",
            "/q?x=\"1\"&y=\\2",
            "--check-virtualhost",
            "\"www\"",
        ],
        &[
            "-A",
            "-t",
            "198.18.0.110:81",
            "-s",
            "rr",
            "--check",
            "http",
            "--check-path",
            "/a\"b",
        ],
    ] {
        ipvsadm::apply(&mut c, &parse(&args(line)).unwrap()).unwrap();
    }
    let saved = format_save(&c, true, &Names::none());
    assert!(saved.contains(" --helo-name mal\"1 "), "{saved}");
    assert!(
        saved.contains(" --check-virtualhost \"\\\"www\\\"\""),
        "{saved}"
    );
    let mut again = Config::new();
    assert_eq!(restore(&mut again, &saved).unwrap(), Vec::<String>::new());
    assert_eq!(again, c, "{saved}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// Any script `-a` and `-A` take (a server's `--misc-path` too) comes
    /// back from `-S` then `-R` with the same text, so with the same words.
    #[test]
    fn any_script_survives_save_and_restore(
        texts in proptest::collection::vec("[ -~é€\t]{1,40}", 3)
    ) {
        let scripts: Vec<Option<Script>> =
            texts.iter().map(|t| Script::parse(t).ok()).collect();
        let mut c = Config::new();
        restore(
            &mut c,
            "-A -t 198.18.0.110:80 -s rr --check misc --misc-path /bin/c\n\
             -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m\n\
             -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m\n",
        )
        .unwrap();
        let key = c.services()[0].key;
        let rs: IpAddr = "198.19.0.2".parse().unwrap();
        let both = |up: &Option<Script>, down: &Option<Script>| Scripts {
            up: up.clone(),
            down: down.clone(),
            check: None,
            files: Vec::new(),
        };
        c.set_service_scripts(&key, both(&scripts[0], &scripts[1])).unwrap();
        // The second server's first: the table keeps one order.
        let rs3: IpAddr = "198.19.0.3".parse().unwrap();
        let own = Scripts {
            check: scripts[0].clone(),
            ..both(&scripts[1], &scripts[2])
        };
        c.set_dest_scripts(&key, rs3, 80, own).unwrap();
        c.set_dest_scripts(&key, rs, 80, both(&scripts[2], &scripts[0])).unwrap();
        let text = format_save(&c, true, &Names::none());
        let mut again = Config::new();
        let errors = restore(&mut again, &text).unwrap();
        proptest::prop_assert!(errors.is_empty(), "{errors:?}");
        proptest::prop_assert_eq!(&again, &c, "{}", text);
    }
}

/// What a script check refuses leaves the rules (`Config::retain_scripts`,
/// as a keepalived file loads): a notify script alone; a service's
/// `--misc-path` with its check (its servers' own commands too); a
/// server's own `--misc-path` becomes `true`, not the service's command.
#[test]
fn refused_scripts_leave_the_rules_one_line_each() {
    let mut cfg = Config::new();
    restore(
        &mut cfg,
        "-A -t 198.18.0.110:80 -s rr --check misc --misc-path /bin/good --quorum-down /bin/bad-q\n\
         -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m --notify-up /bin/good --notify-down /bin/bad-n\n\
         -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m --misc-path /bin/bad-own\n\
         -A -t 198.18.0.111:80 -s rr --check misc --misc-path /bin/bad-svc\n\
         -a -t 198.18.0.111:80 -r 198.19.0.2:80 -m --misc-path /bin/good-own\n",
    )
    .unwrap();
    let lines = cfg.retain_scripts(|s| {
        if s.as_str().contains("bad") {
            Err("refused".into())
        } else {
            Ok(())
        }
    });
    assert_eq!(
        lines,
        [
            "quorum-down of TCP 198.18.0.110:80: refused; not run",
            "notify-down of real server 198.19.0.2:80 of TCP 198.18.0.110:80: refused; not run",
            "misc-path of real server 198.19.0.3:80 of TCP 198.18.0.110:80: refused; not run, the server is checked with 'true' (always up)",
            "misc-path of TCP 198.18.0.111:80: refused; the check is not run, so its real servers are not checked",
        ]
    );
    let at = |vip: u8| {
        let a: IpAddr = format!("198.18.0.{vip}").parse().unwrap();
        cfg.service(&ringvs::config::ServiceKey::new(
            ringvs::config::Proto::Tcp,
            a,
            80,
        ))
        .unwrap()
    };
    let rs = |last: u8| format!("198.19.0.{last}").parse::<IpAddr>().unwrap();
    let s = at(110);
    assert!(s.check.is_some() && s.quorum_scripts.is_empty());
    assert_eq!(s.server_scripts(rs(2), 80).up, script("/bin/good"));
    assert_eq!(s.server_scripts(rs(2), 80).down, None);
    assert_eq!(s.server_scripts(rs(3), 80).check, script("true"));
    let s = at(111);
    assert!(s.check.is_none() && s.server_scripts.is_empty());
}

// ---------------------------------------------------------------------------
// Namespace test (root): scripts and FIFO through real health changes.
// ---------------------------------------------------------------------------

use ringvs::lab;

/// Polls `got` until its lines hold every one of `want` (in any order),
/// or panics after `limit`.
fn wait_lines(what: &str, limit: Duration, mut got: impl FnMut() -> Vec<String>, want: &[&str]) {
    let mut last = Vec::new();
    let all = wait_for(limit, || {
        last = got();
        want.iter().all(|w| last.iter().any(|l| l == w))
    });
    assert!(
        all.is_some(),
        "{what}: {want:?} not all within {limit:?}; got {last:?}"
    );
}

/// Two servers, each with a `--notify-down` and one with a `--notify-up`,
/// the service with both quorum scripts, the director with
/// `--notify-fifo`: a server killed runs its `notify_down` and writes its
/// `RS ... DOWN` line; the second one down loses the quorum (`VS ... DOWN`,
/// `quorum_down`); the first one back gains it again (`RS ... UP`, `VS ...
/// UP`, both up scripts); `-d` of it while up tells it down, and the
/// quorum with it. The FIFO the director made is gone once it stops.
#[test]
fn scripts_run_and_the_fifo_is_written_as_servers_go_and_come() {
    let dir = std::env::temp_dir().join(format!("ringvs-notify-ns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Removed on every way out (a failed assertion, no lab here).
    let _rm = RemoveDir(dir.clone());
    let out = dir.join("out");
    let fifo = dir.join("fifo");
    let o = out.display();
    let vip = format!("{}:80", lab::VIP);
    let (rs1, rs2) = (lab::rs_addr(1), lab::rs_addr(2));
    // `$0` is the word after the shell's script: the scripts' own words.
    let rules = format!(
        "-A -t {vip} -s rr --check tcp --delay-loop 1 --connect-timeout 1 --retry 0 --delay-before-retry 1 \
         --quorum-up \"/bin/sh -c 'echo quorum up >> {o}'\" --quorum-down \"/bin/sh -c 'echo $0 >> {o}' 'quorum down'\"\n\
         -a -t {vip} -r {rs1}:80 -m -w 1 --notify-down \"/bin/sh -c 'echo $0 down >> {o}' rs1\" \
         --notify-up \"/bin/sh -c 'echo $0 up >> {o}' rs1\"\n\
         -a -t {vip} -r {rs2}:80 -m -w 1 --notify-down \"/bin/sh -c 'echo $0 down >> {o}' rs2\"\n"
    );
    let fifo_arg = fifo.display().to_string();
    let Some(NsDirector { mut lab, control }) = Scenario::new("notify")
        .rules(&rules)
        .director_args(&["--notify-fifo", &fifo_arg])
        .start()
    else {
        return;
    };
    assert!(
        adm(&control, &["-S", "-n"]).contains(" --notify-down \"/bin/sh -c 'echo $0 down"),
        "the scripts are in the rules"
    );
    // The director made the FIFO and holds it open: this open does not wait.
    let reader = std::fs::File::open(&fifo).expect("the notify FIFO");
    let (tx, fifo_lines) = crossbeam_channel::unbounded::<String>();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(reader).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut fifo_now = || {
        seen.extend(fifo_lines.try_iter());
        seen.clone()
    };
    let ran = || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let limit = Duration::from_secs(8);
    let rs_line =
        |a: std::net::Ipv4Addr, s: &str| format!("RS [{a}]:tcp:80 [{}]:tcp:80 {s}", lab::VIP);
    let vs_line = |s: &str| format!("VS [{}]:tcp:80 {s}", lab::VIP);

    kill_all_in(&lab.ns_rs(1));
    wait_lines("FIFO", limit, &mut fifo_now, &[&rs_line(rs1, "DOWN")]);
    wait_lines("scripts", limit, ran, &["rs1 down"]);

    kill_all_in(&lab.ns_rs(2));
    let want = [rs_line(rs2, "DOWN"), vs_line("DOWN")];
    wait_lines("FIFO", limit, &mut fifo_now, &[&want[0], &want[1]]);
    wait_lines("scripts", limit, ran, &["rs2 down", "quorum down"]);
    // keepalived's order: the server's line, then the quorum it took.
    let lines = fifo_now();
    let at = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(at(&want[0]) < at(&want[1]), "{lines:?}");

    serve_again(&mut lab, 1);
    let want = [rs_line(rs1, "UP"), vs_line("UP")];
    wait_lines("FIFO", limit, &mut fifo_now, &[&want[0], &want[1]]);
    wait_lines("scripts", limit, ran, &["rs1 up", "quorum up"]);
    assert_eq!(
        fifo_now(),
        [
            rs_line(rs1, "DOWN"),
            rs_line(rs2, "DOWN"),
            vs_line("DOWN"),
            rs_line(rs1, "UP"),
            vs_line("UP"),
        ],
        "each change told once, in order"
    );
    let mut got = ran();
    got.sort();
    assert_eq!(
        got,
        ["quorum down", "quorum up", "rs1 down", "rs1 up", "rs2 down"],
        "each script ran once"
    );

    // `-d` of rs1 while up: told down, as keepalived tells a real server a
    // reload removes; with it goes the quorum (rs2 is still down).
    let lines = fifo_now();
    adm(&control, &["-d", "-t", &vip, "-r", &format!("{rs1}:80")]);
    let want = [rs_line(rs1, "DOWN"), vs_line("DOWN")];
    let two = wait_for(limit, || fifo_now().len() >= lines.len() + 2);
    assert!(two.is_some(), "after -d: {:?}", fifo_now());
    assert_eq!(fifo_now()[lines.len()..], want, "after -d");
    let ran_twice = |l: &str| ran().iter().filter(|x| *x == l).count() == 2;
    let again = wait_for(limit, || ran_twice("rs1 down") && ran_twice("quorum down"));
    assert!(again.is_some(), "the scripts ran again: {:?}", ran());

    drop(lab);
    assert!(!fifo.exists(), "the FIFO the director made is removed");
}

/// keepalived's script user and script security on a real director: the
/// file says `script_user root` and `enable_script_security`, and `ringvs
/// run --script-user nobody` wins over its user, so rs1's
/// `notify_down` runs as 65534:65534, and the `quorum_down`, which names
/// its own user (root), as 0:0 (checked: its path is root's); rs2's
/// `notify_down`, a file only root may execute, is dropped as the file
/// loads (it is not in the rules) and so never runs.
#[test]
fn scripts_run_as_the_script_user_and_the_ones_it_cannot_run_are_dropped() {
    let dir = std::env::temp_dir().join(format!("ringvs-script-user-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _rm = RemoveDir(dir.clone());
    let mode = |p: &std::path::Path, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    // The scripts' user may write here (sticky, as /tmp).
    mode(&dir, 0o1777);
    let out = dir.join("out");
    std::fs::write(&out, "").unwrap();
    mode(&out, 0o666);
    let said = dir.join("said.sh");
    let o = out.display();
    std::fs::write(
        &said,
        format!("#!/bin/sh\necho \"$(id -u):$(id -g) $1\" >> {o}\n"),
    )
    .unwrap();
    mode(&said, 0o755);
    let denied = dir.join("denied.sh");
    std::fs::write(&denied, format!("#!/bin/sh\necho denied >> {o}\n")).unwrap();
    mode(&denied, 0o700);
    let (s, d) = (said.display(), denied.display());
    let (vip, rs1, rs2) = (lab::VIP, lab::rs_addr(1), lab::rs_addr(2));
    let check = "    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n      delay_before_retry 1\n    }";
    let conf = format!(
        "global_defs {{\n  script_user root\n  enable_script_security\n}}\n\
         virtual_server {vip} 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 quorum_down \"{s} quorum-down\" root\n\
         \x20 real_server {rs1} 80 {{\n    notify_down \"{s} rs1-down\"\n{check}\n  }}\n\
         \x20 real_server {rs2} 80 {{\n    notify_down \"{d}\"\n{check}\n  }}\n}}\n"
    );
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, conf).unwrap();
    let p = path.display().to_string();
    let Some(NsDirector { lab, control }) = Scenario::new("scruser")
        .director_args(&["--keepalived", &p, "--script-user", "nobody"])
        .start()
    else {
        return;
    };
    let rules = adm(&control, &["-S", "-n"]);
    assert!(rules.contains(&format!("{s} rs1-down")), "{rules}");
    assert!(rules.contains(&format!("{s} quorum-down")), "{rules}");
    assert!(
        !rules.contains(&d.to_string()),
        "dropped as it loads: {rules}"
    );
    let ran = || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.lines().map(str::to_string).collect::<Vec<_>>()
    };
    let limit = Duration::from_secs(8);
    kill_all_in(&lab.ns_rs(1));
    wait_lines("scripts", limit, ran, &["65534:65534 rs1-down"]);
    kill_all_in(&lab.ns_rs(2));
    wait_lines("scripts", limit, ran, &["0:0 quorum-down"]);
    assert_eq!(
        ran(),
        ["65534:65534 rs1-down", "0:0 quorum-down"],
        "as the script user or the script's own, and nothing else"
    );
    drop(lab);
}

/// Removes a directory when dropped (also when the test fails).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
