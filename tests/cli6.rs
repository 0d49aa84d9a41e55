//! `ringvs run`'s addresses of both families (issue 15, item 1): `--ext-addr`,
//! `--int-addr` and `--gateway` once per family, IPv4 required, IPv6 on both
//! NICs or on neither; every mistake a clear error and a non-zero exit. (No
//! root needed: everything here fails before a socket is opened.)

use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_ringvs");

/// `ringvs run` on the NIC `rvsnosuch0` (which does not exist, so a command
/// line that passes every check fails at discovery) with these addresses.
fn run(addrs: &[&str]) -> Output {
    let mut args = vec!["run", "--ext", "rvsnosuch0", "--int", "lo"];
    args.extend_from_slice(addrs);
    Command::new(EXE).args(&args).output().expect("run ringvs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const EXT4: &str = "198.18.0.2/24";
const INT4: &str = "198.19.0.1/24";
const EXT6: &str = "2001:2:0:1::2/64";
const INT6: &str = "2001:2:0:2::1/64";

#[test]
fn both_families_on_both_nics_are_accepted() {
    let gw = ["--gateway", "198.18.0.254", "--gateway", "2001:2:0:1::fe"];
    for order in [
        [
            "--ext-addr",
            EXT4,
            "--ext-addr",
            EXT6,
            "--int-addr",
            INT4,
            "--int-addr",
            INT6,
        ],
        // The order of the families does not matter.
        [
            "--ext-addr",
            EXT6,
            "--int-addr",
            INT6,
            "--ext-addr",
            EXT4,
            "--int-addr",
            INT4,
        ],
    ] {
        let mut args = order.to_vec();
        args.extend_from_slice(&gw);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "ringvs: interface rvsnosuch0 does not exist (see `ip link`)\n"
        );
    }
}

#[test]
fn one_address_per_family_and_option() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--ext-addr",
                EXT4,
                "--ext-addr",
                "198.18.0.3/24",
                "--int-addr",
                INT4,
            ],
            "--ext-addr given twice for IPv4 (198.18.0.2/24 and 198.18.0.3/24): once per family",
        ),
        (
            &[
                "--ext-addr",
                EXT4,
                "--int-addr",
                INT4,
                "--int-addr",
                INT6,
                "--int-addr",
                "2001:2:0:2::9/64",
                "--ext-addr",
                EXT6,
            ],
            "--int-addr given twice for IPv6 (2001:2:0:2::1/64 and 2001:2:0:2::9/64): once per \
             family",
        ),
        (
            &[
                "--ext-addr",
                EXT4,
                "--int-addr",
                INT4,
                "--gateway",
                "2001:2:0:1::fe",
                "--gateway",
                "2001:2:0:1::fd",
            ],
            "--gateway given twice for IPv6 (2001:2:0:1::fe and 2001:2:0:1::fd): once per family",
        ),
        (
            &["--ext-addr", EXT6, "--int-addr", INT4, "--int-addr", INT6],
            "--ext-addr needs an IPv4 prefix (an IPv6 one comes in addition, not instead)",
        ),
    ];
    for (args, want) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: {want}\n")),
            "{args:?}: {err}"
        );
        assert!(err.contains("Usage: ringvs run"), "{err}");
    }
}

#[test]
fn ipv6_needs_an_address_on_both_nics() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--ext-addr", EXT4, "--ext-addr", EXT6, "--int-addr", INT4],
            "ringvs: --ext-addr 2001:2:0:1::2/64 needs an IPv6 --int-addr too (the DIP of the \
             real servers' segment): IPv6 runs on both NICs or on neither\n",
        ),
        (
            &["--ext-addr", EXT4, "--int-addr", INT4, "--int-addr", INT6],
            "ringvs: --int-addr 2001:2:0:2::1/64 needs an IPv6 --ext-addr too (the director's \
             address on the clients' segment): IPv6 runs on both NICs or on neither\n",
        ),
        (
            &[
                "--ext-addr",
                EXT4,
                "--int-addr",
                INT4,
                "--gateway",
                "2001:2:0:1::fe",
            ],
            "ringvs: an IPv6 --gateway needs IPv6 --ext-addr and --int-addr\n",
        ),
    ];
    for (args, want) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), *want, "{args:?}");
    }
}

#[test]
fn bad_ipv6_prefixes_are_rejected_by_the_parser() {
    let o = run(&["--ext-addr", EXT4, "--ext-addr", "2001:2::1/129"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("prefix length must be 0..128"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--ext-addr", EXT4, "--ext-addr", "2001:2::zz/64"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("2001:2::zz is not an IPv6 address"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_says_ipv4_is_required() {
    let o = Command::new(EXE)
        .args(["run", "--help"])
        .output()
        .expect("run ringvs");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for flag in ["--ext-addr", "--int-addr"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("no {flag} in {text}"));
        assert!(line.contains("Once per family: IPv4 is required"), "{line}");
    }
}
