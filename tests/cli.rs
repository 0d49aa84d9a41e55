//! The command line as a user meets it: errors are clear and exit non-zero.
//! (No root needed: everything here fails before a socket is opened.)

use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

fn ringvs(args: &[&str]) -> Output {
    Command::new(EXE).args(args).output().expect("run ringvs")
}

/// `ringvs run` with the internal NIC `lo` (which fails discovery: no MAC) and
/// `extra` options; every case here fails before that or at it.
fn run_director(ext: &str, ext_addr: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--ext",
        ext,
        "--ext-addr",
        ext_addr,
        "--int",
        "lo",
        "--int-addr",
        "198.19.0.1/24",
    ];
    args.extend_from_slice(extra);
    ringvs(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_interface_is_a_clear_error() {
    let o = run_director("rvsnosuch0", "198.18.0.2/24", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ringvs: interface rvsnosuch0 does not exist (see `ip link`)\n"
    );
}

#[test]
fn bad_prefix_is_rejected_by_the_parser() {
    let o = run_director("lo", "198.18.0.2/33", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("prefix length must be 0..32"),
        "{}",
        stderr(&o)
    );
}

/// The V3 block timeout goes to the kernel's 16-bit `retire_blk_tov`
/// (net/packet/internal.h; `init_prb_bdqc` takes 0 as "compute a
/// default"): 0 and anything past 65535 are refused by the parser.
#[test]
fn v3_timeout_outside_16_bits_or_zero_is_refused() {
    for bad in ["0", "65536", "4294967295"] {
        let o = run_director("rvsnosuch0", "198.18.0.2/24", &["--v3-timeout-ms", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--v3-timeout-ms"), "{}", stderr(&o));
    }
    // 1 and 65535 pass the parser: the run fails later, at the NIC.
    for good in ["1", "65535"] {
        let o = run_director("rvsnosuch0", "198.18.0.2/24", &["--v3-timeout-ms", good]);
        assert_eq!(o.status.code(), Some(1), "{good}: {}", stderr(&o));
    }
}

#[test]
fn adm_reports_ipvsadm_errors_without_a_director() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["-A", "-t", "198.18.0.110", "-s", "rr"],
            2,
            "Zero port specified for non-persistent service\n",
        ),
        (
            &[
                "-a",
                "-t",
                "198.18.0.110:80",
                "-r",
                "198.19.0.2:80",
                "-w",
                "70000",
            ],
            2,
            "illegal weight specified\n",
        ),
        (
            &[
                "-a",
                "-t",
                "198.18.0.110:80",
                "-r",
                "198.19.0.2:80",
                "-g",
                "--tun-type",
                "gue",
            ],
            2,
            "Tunnel options conflict with forward method\n",
        ),
        (
            &["-L", "-c", "--stats"],
            2,
            "options conflicts in the list command\n",
        ),
        (&["-L", "--bogus"], 255, "--bogus: unknown option\n"),
        (
            &["-n"],
            255,
            "Try `ringvs adm -h' or 'ringvs adm --help' for more information.\n",
        ),
        (
            &["--set", "1", "2"],
            2,
            "--set option requires 3 timeout values\n",
        ),
        (
            &["-A", "-t", "198.18.0.110:80", "-s", "sh", "-b", "mh-port"],
            2,
            "incompatible scheduler flag `mh-port'\n",
        ),
        (
            &["-A", "-f", "1", "--mark-dest", "dccp:198.18.0.110"],
            2,
            "illegal --mark-dest `dccp:198.18.0.110': the protocol is tcp, udp or sctp (PROTO:ADDR[/LEN][:PORT[-PORT][,...]], PROTO tcp, udp or sctp, an IPv6 address in brackets)\n",
        ),
        // IPv6: ipvsadm's words for each mistake.
        (
            &[
                "-a",
                "-t",
                "[2001:2:0:1::110]:80",
                "-r",
                "198.19.0.2:80",
                "-m",
            ],
            2,
            "Different address family is allowed only for tunneling servers\n",
        ),
        (
            &["-A", "-t", "[2001:2:0:1::110]", "-s", "rr"],
            2,
            "illegal virtual server address[:port] specified\n",
        ),
        (
            &["-A", "-t", "[2001:2:0:1::110]:80", "-p", "-M", "129"],
            2,
            "illegal ipv6 netmask specified\n",
        ),
    ];
    for (args, code, msg) in cases {
        let mut a = vec!["adm", "--control", "/nonexistent/ringvs.sock"];
        a.extend_from_slice(args);
        let o = ringvs(&a);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), *msg, "{args:?}");
    }
    // ipvsadm knows no scheduler or engine names: the kernel refuses an
    // unknown one, so with no director to ask there is no answer to it, only
    // that there is no director (ipvsadm's "Can't initialize ipvs", exit 2).
    for args in [
        &["-A", "-t", "198.18.0.110:80", "-s", "nosuch"][..],
        &["-A", "-u", "198.18.0.110:5060", "-p", "--pe", "nosuch"],
    ] {
        let mut a = vec!["adm", "--control", "/nonexistent/ringvs.sock"];
        a.extend_from_slice(args);
        let o = ringvs(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("ringvs adm: cannot reach the director"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// `-R` reads the rules from standard input and checks them before it
/// reaches for the director.
#[test]
fn restore_checks_stdin_first() {
    use std::io::Write;
    use std::process::Stdio;
    let run = |input: &str| {
        let mut child = Command::new(EXE)
            .args(["adm", "--control", "/nonexistent/ringvs.sock", "-R"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ringvs");
        if let Some(mut i) = child.stdin.take() {
            i.write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("wait")
    };
    let o = run("-A -t 198.18.0.110:80 -s rr\n-a -t 198.18.0.110:80 -r 198.19.0.2 -w x\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "line 2: illegal weight specified\n");
    let o =
        run("-A -t [2001:2:0:1::110]:80 -s rr\n-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2:80\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "line 2: illegal real server address[:port] specified\n"
    );
    let o = run("-A -t 198.18.0.110:80 -s rr\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("ringvs adm: cannot reach the director"),
        "{}",
        stderr(&o)
    );
    // No more than a control request holds is read, whatever comes.
    let o = Command::new(EXE)
        .args(["adm", "--control", "/nonexistent/ringvs.sock", "-R"])
        .stdin(std::fs::File::open("/dev/zero").expect("open /dev/zero"))
        .output()
        .expect("run ringvs");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!(
            "ringvs adm -R: standard input: larger than {} bytes\n",
            ringvs::proto::MAX_REQUEST
        )
    );
    // The limit is the request's: JSON writes each newline in two bytes, so
    // 6 MB of comment lines make a request of 9 MB, which the client
    // refuses itself rather than send for the director to refuse.
    let lines = 3_000_000;
    let o = run(&"#\n".repeat(lines));
    assert_eq!(o.status.code(), Some(2));
    let size = r#"{"v":1,"cmd":"restore","rules":""}"#.len() + 3 * lines + 1;
    assert_eq!(
        stderr(&o),
        format!(
            "ringvs adm -R: standard input makes a request of {size} bytes, more than the \
             director reads ({} bytes; each newline, tab, quote or backslash counts twice)\n",
            ringvs::proto::MAX_REQUEST
        )
    );
}

#[test]
fn adm_help_and_version_exit_zero() {
    let o = ringvs(&["adm", "-h"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("  ringvs adm -Z [virtual-service]\n"), "{out}");
    // Every option ringvs takes of ipvsadm's is in the help, in the lines
    // ipvsadm's `usage_exit` has for them.
    for line in [
        "  ringvs adm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n",
        "  ringvs adm --start-daemon {master|backup} [daemon-options]\n",
        "  ringvs adm --stop-daemon {master|backup}\n",
        "  ringvs adm --ha {active|standby}\n",
        "\n  --start-daemon              start connection sync daemon\n",
        "\n  --stop-daemon               stop connection sync daemon\n",
        "\n  --ha active|standby ",
        "\n  --sctp-service    service-address   service-address is host[:port]\n",
        "\n  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n",
        "\n  --ipv6         -6                   fwmark entry uses IPv6\n",
        "\n  --pe            engine              alternate persistence engine may be sip,\n",
        "\n  --ops          -o                   one-packet scheduling\n",
        "\nDaemon Options:\n",
        "\n  --syncid sid ",
        "\n  --sync-maxlen length ",
        "\n  --mcast-interface interface ",
        "\n  --mcast-group address ",
        "\n  --mcast-port port ",
        "\n  --mcast-ttl ttl ",
        // The check defaults, as HealthCheck::new gives them.
        "\n  --retry n                           retries before a server is down (default 1; dns 3, misc 0)\n",
        "\n  --delay-before-retry secs           seconds before a retry (default 1; http/https 3, dns: delay-loop)\n",
    ] {
        assert!(out.contains(line), "{line:?} not in:\n{out}");
    }
    let o = ringvs(&["adm", "--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("ringvs "));
}

#[test]
fn adm_without_a_director_says_where_it_looked() {
    let o = ringvs(&["adm", "--control", "/nonexistent/ringvs.sock", "-L", "-n"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("ringvs adm: cannot reach the director at /nonexistent/ringvs.sock"),
        "{}",
        stderr(&o)
    );
}

/// `trace` and `capture` exit alike when there is no director (or it
/// refuses them): 2, as `adm`, `stats` and `top` (docs/debugging.md).
#[test]
fn trace_and_capture_without_a_director_exit_2() {
    let sock = "/nonexistent/ringvs.sock";
    let cases: [&[&str]; 3] = [
        &["trace", "--control", sock],
        &["trace", "--control", sock, "-c", "1", "tcp"],
        &["capture", "--control", sock, "-w", "-"],
    ];
    for args in cases {
        let o = ringvs(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let name = format!("ringvs {}: cannot reach the director at {sock}", args[0]);
        assert!(stderr(&o).starts_with(&name), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn help_lists_the_subcommands() {
    let o = ringvs(&["--help"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for sub in ["run", "adm", "stats", "demo"] {
        assert!(
            out.contains(&format!("  {sub} ")),
            "{sub} missing from:\n{out}"
        );
    }
    assert!(!out.contains("serve-http"), "lab helpers stay hidden");
}

#[test]
fn unusable_cpu_list_is_rejected() {
    let o = run_director("lo", "198.18.0.2/24", &["--cpus", "9999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--cpus: CPU 9999 is not one this process may use"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn oversized_connection_table_is_rejected() {
    let o = run_director("lo", "198.18.0.2/24", &["--max-conns", "4000000000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--max-conns must be 1..="),
        "{}",
        stderr(&o)
    );
}

/// `--io xdp --workers 2` is no longer refused by the option checks (one
/// worker per NIC RX queue): it goes on to look for the NICs. The refusal of a
/// queue count that differs from `--workers` needs real NICs: see
/// `tests/xdp_mq_netns.rs`.
#[test]
fn af_xdp_with_several_workers_gets_past_the_options() {
    let o = run_director(
        "rvsnosuch0",
        "198.18.0.2/24",
        &["--io", "xdp", "--workers", "2", "--cpus", "0"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ringvs: interface rvsnosuch0 does not exist (see `ip link`)\n"
    );
}

#[test]
fn steering_by_rss_needs_af_xdp() {
    // Checked before any NIC is looked at: AF_PACKET's fanout picks the worker.
    let o = run_director(
        "rvsnosuch0",
        "198.18.0.2/24",
        &["--workers", "2", "--cpus", "0", "--steer", "rss"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--steer rss needs --io xdp"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_umem_per_worker_needs_af_xdp() {
    let o = run_director(
        "rvsnosuch0",
        "198.18.0.2/24",
        &["--workers", "2", "--cpus", "0", "--umem", "per-worker"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--umem per-worker needs --io xdp"),
        "{}",
        stderr(&o)
    );
    let o = run_director("rvsnosuch0", "198.18.0.2/24", &["--umem", "private"]);
    assert_eq!(o.status.code(), Some(2), "clap refuses an unknown value");
}

#[test]
fn rt_priority_is_checked() {
    for args in [
        &["--rt-priority", "0"][..],
        &["--rt-priority", "100"][..],
        &["--rt-priority", "5", "--busy-poll"][..],
    ] {
        let o = run_director("rvsnosuch0", "198.18.0.2/24", args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}
