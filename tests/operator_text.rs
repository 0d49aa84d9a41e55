//! What the director reads as text from its operator (control-socket
//! requests, ipvsadm command lines and `-R` rules with their listings,
//! capture filters, keepalived configurations): the bounded, CI-run version
//! of the fuzz target `fuzz/fuzz_targets/control.rs` (same checks,
//! `fuzz/control.rs`). Every input must give a value or an error, never a
//! panic, and a table built by ipvsadm command lines (or a keepalived file
//! ipvsadm can say) must come back unchanged through `-Sn | -R`.

#[path = "../fuzz/control.rs"]
mod control;

use proptest::prelude::*;

#[path = "common/seed_files.rs"]
mod seed_files;

/// The seed corpus, `fuzz/seeds/control/`: (name, bytes).
fn seeds() -> Vec<(String, Vec<u8>)> {
    seed_files::seeds("control")
}

/// Each seed passes the checks, and the seeds cover every kind of input.
#[test]
fn the_seeds_pass() {
    let seeds = seeds();
    let mut kinds = [0usize; 5];
    for (name, bytes) in &seeds {
        let kind = usize::from(*bytes.first().unwrap_or_else(|| panic!("{name}: empty")) % 5);
        kinds[kind] += 1;
        control::check(bytes);
    }
    assert!(kinds.iter().all(|&n| n > 0), "seeds per kind: {kinds:?}");
}

/// The keepalived seeds are files the reader takes (mode byte 3, which
/// the harness eats), each with a service and no keyword it skips as
/// unknown: a seed whose first letter served as its mode lost that letter
/// and tested an empty table.
#[test]
fn the_keepalived_seeds_load() {
    use ringvs::config::keepalived;
    let dir = std::env::temp_dir().join(format!("ringvs-ka-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    for (name, bytes) in &seeds() {
        let ka = name.starts_with("ka-");
        assert_eq!(ka, bytes.first() == Some(&3), "{name}: its mode byte");
        if !ka {
            continue;
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes[1..]).unwrap();
        let loaded = keepalived::load(&path);
        let loaded = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!loaded.config.services().is_empty(), "{name}: no service");
        let unknown: Vec<_> = loaded
            .warnings
            .iter()
            .filter(|w| w.contains("unknown"))
            .collect();
        assert!(unknown.is_empty(), "{name}: {unknown:?}");
        n += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(n >= 14, "keepalived seeds: {n}");
}

/// The session seeds really build tables (so the round trip is not of an
/// empty one): `-Sn` of what they build has services and real servers. The
/// named session's every line applies with its names, and its save without
/// `-n` shows them.
#[test]
fn the_session_seeds_build_tables() {
    use ringvs::config::Config;
    use ringvs::config::format::format_save;
    use ringvs::config::ipvsadm::{AdmCommand, apply, parse_with};
    use ringvs::config::names::Names;
    for (name, bytes) in seeds()
        .iter()
        .filter(|(_, b)| matches!(b.first(), Some(1 | 4)))
    {
        let text = String::from_utf8_lossy(&bytes[1..]).into_owned();
        let (names, session) = if bytes[0] == 4 {
            assert_eq!(
                text.matches("\n%%\n").count(),
                2,
                "{name}: hosts, services, session"
            );
            control::names_and_session(&text)
        } else {
            (Names::none(), text.as_str())
        };
        let mut cfg = Config::new();
        for line in session.lines() {
            let argv: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            match parse_with(&argv, &names) {
                Ok(AdmCommand::List(_) | AdmCommand::Save { .. }) => {}
                Ok(cmd) => {
                    let applied = apply(&mut cfg, &cmd);
                    assert!(
                        bytes[0] == 1 || applied.is_ok(),
                        "{name}: {line}: {applied:?}"
                    );
                }
                Err(e) => assert_eq!(bytes[0], 1, "{name}: {line}: {e}"),
            }
        }
        let saved = format_save(&cfg, true, &Names::none());
        assert!(
            saved.lines().any(|l| l.starts_with("-A"))
                && saved.lines().any(|l| l.starts_with("-a")),
            "{name}: {saved}"
        );
        if bytes[0] == 4 {
            let named = format_save(&cfg, false, &names);
            assert!(
                named.contains("-A -t www:http -s rr -p 60"),
                "{name}: {named}"
            );
            assert!(named.contains("-r rs1:http-alt -m -w 2"), "{name}: {named}");
        }
    }
}

/// Bytes an edit puts in: the words and marks these inputs are made of, and
/// any byte.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            " ",
            "\n",
            "-",
            ":",
            ".",
            "[",
            "]",
            "{",
            "}",
            "\"",
            "$",
            "#",
            "!",
            "0",
            "1",
            "65535",
            "-A ",
            "-a ",
            "-E ",
            "-e ",
            "-D ",
            "-d ",
            "-C",
            "-L -n",
            "-S",
            "-t ",
            "-u ",
            "-f ",
            "-r ",
            "-m",
            "-g",
            "-i",
            "-w ",
            "-x ",
            "-y ",
            "-p ",
            "-M ",
            "-s ",
            "-b ",
            "--tun-type ",
            "--tun-port ",
            "198.18.0.110:80 ",
            "[2001:2:0:1::110]:80 ",
            "198.19.0.2 ",
            "mh ",
            "sh-port",
            "and ",
            "not ",
            "port ",
            "net ",
            "host ",
            "virtual_server ",
            "real_server ",
            "lb_kind ",
            "include ",
            "$X=",
            "\\",
            "'",
            "`",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ]
}

/// An edit of a seed: at `at` (a fraction of its length), take out up to
/// `cut` bytes and put `put` in.
fn edit() -> impl Strategy<Value = (f64, usize, Vec<u8>)> {
    (0.0..1.0f64, 0usize..8, piece())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Seeds with up to six edits each.
    #[test]
    fn edited_seeds_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[pick.index(seeds.len())].1.clone();
        for (at, cut, put) in edits {
            // Never the kind byte: an edit changes the input, not its kind.
            let at = 1 + ((bytes.len().saturating_sub(1)) as f64 * at) as usize;
            let at = at.min(bytes.len());
            let end = (at + cut).min(bytes.len());
            bytes.splice(at..end, put);
        }
        control::check(&bytes);
    }
}
