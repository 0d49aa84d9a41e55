//! Rules files in `ipvsadm -S` format: splitting them into command lines,
//! parsing them, and `-R` (restoring them into a [`Config`]).

use super::super::names::Names;
use super::super::{AdmError, Config};
use super::apply::apply;
use super::command::{AdmCommand, DestOpts};
use super::messages::try_help;
use super::parse::parse_with;

/// Splits a rules file in `ipvsadm -S` format into command lines: words
/// separated by blanks; empty lines and lines starting with `#` are skipped,
/// and a line's first word `ipvsadm` is dropped (ipvsadm's man page: lines
/// "can optionally begin with ipvsadm").
/// Each line comes with its 1-based number. A word that starts with a double
/// quote is read up to the next one, blanks included, `\"` and `\\` in it
/// standing for `"` and `\` (how `-S` writes a notify script, or a value
/// that starts with a quote); a quote anywhere else is a character like any
/// other, as in ipvsadm's own files. A quote left open is an error of its
/// line.
pub fn rule_lines(text: &str) -> Result<Vec<(usize, Vec<String>)>, AdmError> {
    numbered_lines(text).collect()
}

/// [`rule_lines`] one line at a time: each line's words are built when it
/// is reached, and dropped with it.
fn numbered_lines(text: &str) -> impl Iterator<Item = Result<(usize, Vec<String>), AdmError>> + '_ {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let Some(mut words) = line_words(line) else {
            return Some(Err(AdmError::Line {
                line: i + 1,
                error: Box::new(AdmError::Usage("a double quote left open".into())),
            }));
        };
        if words.first().is_some_and(|w| w == "ipvsadm") {
            words.remove(0);
        }
        (!words.is_empty()).then_some(Ok((i + 1, words)))
    })
}

/// The words of one line of a rules file (see [`rule_lines`]); `None` if a
/// quote is left open.
fn line_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars();
    let (mut word, mut in_word, mut quoted) = (String::new(), false, false);
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => quoted = false,
            '"' if !in_word => (quoted, in_word) = (true, true),
            '\\' if quoted => match chars.next()? {
                e @ ('"' | '\\') => word.push(e),
                e => word.extend(['\\', e]),
            },
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// Parses a rules file (see [`rule_lines`]) with host and service names from
/// `names`.  Errors carry the line number.  `-R` inside a rules file is an
/// error, as in ipvsadm.
pub fn parse_rules_with(text: &str, names: &Names) -> Result<Vec<AdmCommand>, AdmError> {
    Ok(parse_numbered(text, names)?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
}

/// [`parse_rules_with`], each command with the number of its line (what a
/// refusal of it is reported with).
pub fn parse_numbered(text: &str, names: &Names) -> Result<Vec<(usize, AdmCommand)>, AdmError> {
    rule_commands(text, names).collect()
}

/// The commands of a rules file (see [`parse_numbered`]) one line at a time,
/// each parsed when it is reached: what they cost at once is one line's,
/// whatever the file's size. A line that does not parse is an error of its
/// own (the lines after it are still read).
pub fn rule_commands<'a>(
    text: &'a str,
    names: &'a Names,
) -> impl Iterator<Item = Result<(usize, AdmCommand), AdmError>> + 'a {
    numbered_lines(text).map(move |l| {
        let (line, words) = l?;
        let at = |e| AdmError::Line {
            line,
            error: Box::new(e),
        };
        let cmd = parse_with(&words, names).map_err(at)?;
        match cmd {
            AdmCommand::Restore => Err(at(try_help())),
            AdmCommand::StartDaemon(_)
            | AdmCommand::StopDaemon { .. }
            | AdmCommand::SetRole { .. } => Err(at(AdmError::Unsupported(NOT_RULES.into()))),
            cmd => Ok((line, cmd)),
        }
    })
}

/// Checks that every line of a rules file parses ([`rule_commands`]), and
/// shows each command to `each`, keeping none of them: the syntax pass of
/// a restore costs one line's memory, where [`parse_numbered`] keeps a
/// command for every line. Returns the first line's error.
pub fn check_rules(
    text: &str,
    names: &Names,
    each: &mut dyn FnMut(&AdmCommand),
) -> Result<(), AdmError> {
    for c in rule_commands(text, names) {
        each(&c?.1);
    }
    Ok(())
}

/// The refusal of a sync daemon or `--ha` line in a rules file: ipvsadm's
/// `restore_table` runs them as any line; ringvs's restore changes the
/// rules only, so a file holding one is refused whole, as one that does not
/// parse (exit 2, nothing applied), before a line of it is applied.
pub const NOT_RULES: &str = "ringvs does not support --start-daemon, --stop-daemon or --ha \
     in a rules file (-R): give each to `ringvs adm` on its own";

/// [`parse_rules_with`] with no names known.
pub fn parse_rules(text: &str) -> Result<Vec<AdmCommand>, AdmError> {
    parse_rules_with(text, &Names::none())
}

/// `-R`: applies the rules in `text` to `cfg` the way `ipvsadm -R` does, but
/// all or nothing for syntax: a line that does not parse changes nothing and
/// is the error.  Otherwise every line is applied in turn; a line the table
/// refuses (say "Service already exists") is reported, with its number, and
/// the rest still apply, as ipvsadm does.  Returns the messages of the
/// refused lines.  `--set` lines call `set_timeout`; listing lines print
/// nothing here (the control plane prints them, `control/adm.rs`).
pub fn restore(
    cfg: &mut Config,
    text: &str,
    names: &Names,
    set_timeout: &mut dyn FnMut(u32, u32, u32),
) -> Result<Vec<String>, AdmError> {
    restore_checked(cfg, text, names, set_timeout, &mut |_, _| Ok(()))
}

/// [`restore`], each line first put to `permit` (with the rules as the
/// lines before it left them): a refusal is that line's error, as a
/// refusal of the table's is (the control plane's own checks, such as
/// `control/ha.rs`'s while a sync daemon runs).
pub fn restore_checked(
    cfg: &mut Config,
    text: &str,
    names: &Names,
    set_timeout: &mut dyn FnMut(u32, u32, u32),
    permit: &mut dyn FnMut(&Config, &AdmCommand) -> Result<(), AdmError>,
) -> Result<Vec<String>, AdmError> {
    check_rules(text, names, &mut |_| {})?;
    let restored = restore_parsed(cfg, text, names, set_timeout, permit);
    match restored.stopped {
        Some(e) => Err(e),
        None => Ok(restored.errors),
    }
}

/// What [`restore_parsed`] did.
#[derive(Debug, Default)]
pub struct Restored {
    /// The messages of the lines refused (`line N: …`); the others applied.
    pub errors: Vec<String>,
    /// The error of a line that parsed when the text was checked but not
    /// as it was applied: a `--check-cert` or `--check-key` file is read
    /// at each parse, and one changed between the two no longer loads.
    /// The restore stopped at that line, a syntax error (exit 2): the
    /// lines before it are applied, none after it.
    pub stopped: Option<AdmError>,
}

/// The applying half of [`restore_checked`], of a text checked already
/// ([`check_rules`]): the control plane checks before it takes the
/// configuration's lock, and parses each line again as it applies it, so
/// that no more than one line's command is held at a time (the same text
/// with the same names parses the same way, but for the files a line
/// reads: one that no longer parses stops the restore there,
/// [`Restored::stopped`]).
pub fn restore_parsed(
    cfg: &mut Config,
    text: &str,
    names: &Names,
    set_timeout: &mut dyn FnMut(u32, u32, u32),
    permit: &mut dyn FnMut(&Config, &AdmCommand) -> Result<(), AdmError>,
) -> Restored {
    let mut errors = Vec::new();
    for c in rule_commands(text, names) {
        let (line, cmd) = match c {
            Ok(c) => c,
            Err(e) => {
                return Restored {
                    errors,
                    stopped: Some(e),
                };
            }
        };
        let cmd = &cmd;
        if let AdmCommand::SetTimeout { tcp, tcpfin, udp } = *cmd {
            set_timeout(tcp, tcpfin, udp);
        }
        if let Err(e) = permit(cfg, cmd).and_then(|()| apply_line(cfg, cmd)) {
            errors.push(format!("line {line}: {e}"));
        }
    }
    Restored {
        errors,
        stopped: None,
    }
}

/// Applies one line of a rules file (`-R`, `ringvs run --rules`): as
/// [`apply`], but an `-a` whose `--check-ip` names a service without
/// `--check` adds the server without it, where a command line is refused.
/// `-S` wrote such lines before a check address needed a check (a service
/// whose check an `-E` dropped kept its servers' addresses): they sent
/// nothing, as a server without one sends nothing now, so the file keeps
/// its meaning and still loads. An address that is not one a server may
/// have is still `illegal check-ip specified`, as [`apply`] says of it:
/// the line is refused, not cleaned.
pub fn apply_line(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match cmd {
        AdmCommand::AddDest { opts, .. }
            if opts.check_ip.is_some_and(|ip| !super::super::unicast(ip)) =>
        {
            Err(AdmError::Usage("illegal check-ip specified".into()))
        }
        AdmCommand::AddDest {
            key,
            addr,
            port,
            opts,
        } if opts.check_ip.is_some() && cfg.service(key).is_some_and(|s| s.check.is_none()) => {
            let opts = DestOpts {
                check_ip: None,
                ..opts.clone()
            };
            let cmd = AdmCommand::AddDest {
                key: *key,
                addr: *addr,
                port: *port,
                opts,
            };
            apply(cfg, &cmd)
        }
        _ => apply(cfg, cmd),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::super::format::format_save;
    use super::super::parse;
    use super::*;

    /// A rules file `-S` wrote while a check address could outlive its
    /// service's check (before `--check-ip` needed `--check`): `-R` adds
    /// the server, without the address, which sent nothing then and would
    /// send nothing now; a command line is still refused.
    #[test]
    fn an_older_saved_check_address_without_a_check_restores() {
        let old = "-A -t 198.18.0.110:80 -s rr\n\
                   -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --check-ip 198.19.0.102\n\
                   -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 2\n";
        let mut cfg = Config::new();
        let errors = restore(&mut cfg, old, &Names::none(), &mut |_, _, _| {}).unwrap();
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            format_save(&cfg, true, &Names::none()),
            "-A -t 198.18.0.110:80 -s rr\n\
             -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1\n\
             -a -t 198.18.0.110:80 -r 198.19.0.3:80 -m -w 2\n"
        );
        // Under a service with a check, the address is the server's.
        let with = "-A -t 198.18.0.110:80 -s rr --check tcp\n\
                    -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 --check-ip 198.19.0.102\n";
        let mut cfg = Config::new();
        restore(&mut cfg, with, &Names::none(), &mut |_, _, _| {}).unwrap();
        let ip = cfg.services()[0].dests[0].check_ip;
        assert_eq!(ip, Some("198.19.0.102".parse().unwrap()));
        // `ringvs adm -a` still says the address would send nothing.
        let mut cfg = Config::new();
        restore(
            &mut cfg,
            "-A -t 198.18.0.110:80 -s rr\n",
            &Names::none(),
            &mut |_, _, _| {},
        )
        .unwrap();
        let line: Vec<String> = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m --check-ip 198.19.0.102"
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let e = apply(&mut cfg, &parse(&line).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "check-ip on a real server needs its service's --check"
        );
    }

    /// A line that parsed when the rules were checked but not as it is
    /// applied (its `--check-cert` file changed between the passes) stops
    /// the restore at it, a syntax error (exit 2): the lines before it
    /// stay applied, none after it is, rather than it becoming a refused
    /// line of a restore that goes on (exit 255).
    #[test]
    fn a_line_that_no_longer_parses_stops_the_restore() {
        let tls = |f: &str| format!("{}/tests/data/tls/{f}", env!("CARGO_MANIFEST_DIR"));
        let cert = std::env::temp_dir().join(format!("ringvs-reparse-{}.crt", std::process::id()));
        std::fs::copy(tls("client.crt"), &cert).unwrap();
        let text = format!(
            "-A -t 198.18.0.110:443 -s rr\n\
             -A -t 198.18.0.111:443 -s rr --check https --check-cert {} --check-key {}\n\
             -A -t 198.18.0.112:443 -s rr\n",
            cert.display(),
            tls("client.key")
        );
        let names = Names::none();
        let checked = check_rules(&text, &names, &mut |_| {});
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let mut cfg = Config::new();
        let r = restore_parsed(&mut cfg, &text, &names, &mut |_, _, _| {}, &mut |_, _| {
            Ok(())
        });
        let _ = std::fs::remove_file(&cert);
        checked.unwrap();
        assert_eq!(r.errors, Vec::<String>::new());
        let e = r.stopped.unwrap();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        let saved = format_save(&cfg, true, &Names::none());
        assert_eq!(saved, "-A -t 198.18.0.110:443 -s rr\n");
    }

    /// A sync daemon or `--ha` line in a rules file refuses the whole file
    /// in the documented form of what ringvs does not support (exit 2,
    /// `ringvs does not support …`), before any line applies.
    #[test]
    fn daemon_and_role_lines_refuse_a_rules_file_whole() {
        for line in [
            "--start-daemon master",
            "--stop-daemon backup",
            "--ha standby",
        ] {
            let text = format!("-A -t 198.18.0.110:80 -s rr\n{line}\n");
            let mut cfg = Config::new();
            let e = restore(&mut cfg, &text, &Names::none(), &mut |_, _, _| {}).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{line}");
            assert_eq!(e.to_string(), format!("line 2: {NOT_RULES}"), "{line}");
            assert!(NOT_RULES.starts_with("ringvs does not support "));
            assert!(cfg.services().is_empty(), "{line}");
        }
    }

    /// A check address no server may have is refused by a rules line as by
    /// a command line, with or without the service's check: it is not
    /// dropped as an older file's harmless one is. (The text of such a line
    /// is refused by the parser already; a command built otherwise reaches
    /// [`apply_line`] as it is.)
    #[test]
    fn a_rules_line_with_an_illegal_check_address_is_refused() {
        for service in [
            "-A -t 198.18.0.110:80 -s rr\n",
            "-A -t 198.18.0.110:80 -s rr --check tcp\n",
        ] {
            let mut cfg = Config::new();
            restore(&mut cfg, service, &Names::none(), &mut |_, _, _| {}).unwrap();
            let line: Vec<String> = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m"
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let mut cmd = parse(&line).unwrap();
            if let AdmCommand::AddDest { opts, .. } = &mut cmd {
                opts.check_ip = Some("224.0.0.1".parse().unwrap());
            }
            let e = apply_line(&mut cfg, &cmd).unwrap_err();
            assert_eq!(e.to_string(), "illegal check-ip specified", "{service}");
            assert!(cfg.services()[0].dests.is_empty(), "{service}");
        }
        // As a rules file's text: refused when read.
        let text = "-A -t 198.18.0.110:80 -s rr\n\
                    -a -t 198.18.0.110:80 -r 198.19.0.2:80 -m --check-ip 224.0.0.1\n";
        let e = restore(&mut Config::new(), text, &Names::none(), &mut |_, _, _| {});
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("illegal check-ip specified"),
            "refused"
        );
    }
}
