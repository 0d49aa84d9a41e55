//! `ringvs run --keepalived FILE`: the `virtual_server` blocks of keepalived's
//! own configuration as a rule source (`config::keepalived`), loaded at start
//! and re-read on SIGHUP, which applies only the differences between the file
//! as it was last loaded and as it is now. Services and real servers the file
//! did not change keep their identity (so their established connections carry
//! on), and rules added with `ringvs adm` that the file never named are left
//! alone, as keepalived leaves alone what it did not configure.

use super::adm::vips;
use super::{Ctl, RunError};
use crate::config::keepalived::{
    self, LoadOptions, Loaded, ScriptSettings, apply_changes, apply_reload, diff,
};
use crate::config::{Config, ScriptUser};
use crate::health::scripts::{self, Policy, RunAs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The file and the rules it gave at its last (re)load.
pub(super) struct KaSource {
    path: PathBuf,
    last: Config,
    /// `ringvs run --script-user` and `--script-security`.
    flags: ScriptSettings,
    /// How it is read: the host's config-id, the director's DIPs.
    opts: LoadOptions,
}

/// What SIGHUP did since start: re-reads applied and refused, and why the
/// last refused one was (`ringvs stats`: an operator sees a SIGHUP that
/// changed nothing because the file did not load).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(super) struct ReloadCounts {
    pub applied: u64,
    pub refused: u64,
    pub last_error: Option<String>,
}

/// The scripts' policy of `ringvs run`'s `flags` and the file's settings
/// (a user named on the command line wins over the file's; security is on
/// if either says so).
pub(super) fn script_policy(flags: &ScriptSettings, file: &ScriptSettings) -> Policy {
    let user: Option<&ScriptUser> = flags.user.as_ref().or(file.user.as_ref());
    Policy::resolve(user, flags.security || file.security)
}

/// Makes `p` the director's policy (printed when it is not the default);
/// an error if it refuses every script because of a user the command line
/// named.
pub(super) fn set_script_policy(flags: &ScriptSettings, p: Policy) -> Result<(), RunError> {
    if let (Some(u), RunAs::Refused(why)) = (&flags.user, &p.run_as) {
        return Err(RunError::Invalid(format!("--script-user {u}: {why}")));
    }
    if p != Policy::default() {
        crate::log!("ringvs: {}", p.describe());
    }
    scripts::set_policy(p);
    Ok(())
}

/// The file's scripts checked against the policy they will run under, as
/// keepalived checks them as it reads its configuration
/// (`check_script_secure`): a script that may not run is dropped from the
/// rules (a `MISC_CHECK` with its check), one line each; with script
/// security off, scripts that run are named in a warning, as keepalived's
/// `SECURITY VIOLATION` line.
fn vet_scripts(l: &mut Loaded, flags: &ScriptSettings, path: &Path) -> Policy {
    let p = script_policy(flags, &l.scripts);
    let (mut any, mut insecure) = (0, 0);
    let dropped = l.config.retain_scripts(|s| {
        let r = scripts::vet(s, &p)?;
        any += 1;
        insecure += usize::from(r.insecure.is_some());
        Ok(())
    });
    let file = path.display();
    l.warnings
        .extend(dropped.into_iter().map(|d| format!("{file}: {d}")));
    if any > 0 && !p.security {
        let more = if insecure > 0 {
            format!(", {insecure} of them insecure")
        } else {
            String::new()
        };
        l.warnings.push(format!(
            "{file}: {any} script(s) run but script security is not on (enable_script_security or ringvs run --script-security){more}"
        ));
    }
    p
}

/// Most warnings one load logs: a file of a million unknown keywords would
/// otherwise log a million lines at each SIGHUP.
const MAX_LOGGED_WARNINGS: usize = 100;

/// The log lines of a load's `warnings`: the first [`MAX_LOGGED_WARNINGS`],
/// then how many more there are.
fn warning_lines(warnings: &[String]) -> Vec<String> {
    let mut out: Vec<String> = warnings
        .iter()
        .take(MAX_LOGGED_WARNINGS)
        .map(|w| format!("ringvs: warning: {w}"))
        .collect();
    if let Some(more) = warnings.len().checked_sub(MAX_LOGGED_WARNINGS)
        && more > 0
    {
        out.push(format!("ringvs: warning: ... and {more} more"));
    }
    out
}

fn log_warnings(warnings: &[String]) {
    for l in warning_lines(warnings) {
        crate::log!("{l}");
    }
}

/// Load `path` at start into `cfg`; its warnings are printed. `dips`: the
/// director's DIPs, which a checker's `bindto` may name.
pub(super) fn load_at_start(
    cfg: &mut Config,
    path: &Path,
    flags: ScriptSettings,
    dips: Vec<std::net::IpAddr>,
) -> Result<KaSource, RunError> {
    let opts = LoadOptions {
        dips,
        ..LoadOptions::from_host()
    };
    let mut l = keepalived::load_with(path, &opts).map_err(|e| RunError::Invalid(e.to_string()))?;
    let policy = vet_scripts(&mut l, &flags, path);
    l.warnings
        .extend(keepalived::init_files(&l.track_inits, false));
    log_warnings(&l.warnings);
    let changes = diff(&Config::new(), &l.config);
    apply_changes(cfg, &changes).map_err(|e| RunError::Invalid(e.to_string()))?;
    set_script_policy(&flags, policy)?;
    Ok(KaSource {
        path: path.to_path_buf(),
        last: l.config,
        flags,
        opts,
    })
}

impl Ctl {
    /// Remember the keepalived file the rules came from (at start).
    pub(super) fn set_ka_source(&self, src: KaSource) {
        *self.ka.lock().unwrap_or_else(|e| e.into_inner()) = Some(src);
        *self.ka_reloads.lock().unwrap_or_else(|e| e.into_inner()) = Some(ReloadCounts::default());
    }

    /// SIGHUP: re-read the keepalived file and apply what changed in it. A
    /// file that does not load changes nothing (the error is printed).
    /// Returns the changes applied, as ipvsadm commands.
    pub(super) fn reload_keepalived(&self) -> Result<Vec<String>, String> {
        let mut ka = self.ka.lock().unwrap_or_else(|e| e.into_inner());
        let Some(src) = ka.as_mut() else {
            return Err("nothing to re-read: ringvs runs without --keepalived".into());
        };
        let r = self.reload_from(src);
        let mut counts = self.ka_reloads.lock().unwrap_or_else(|e| e.into_inner());
        let c = counts.get_or_insert_with(ReloadCounts::default);
        match &r {
            Ok(_) => c.applied += 1,
            Err(e) => {
                c.refused += 1;
                c.last_error = Some(e.clone());
            }
        }
        r
    }

    /// The re-reads of `--keepalived FILE` so far; `None` without it. Never
    /// waits for a reload in progress (which holds `ka` while it parses).
    pub(super) fn reload_counts(&self) -> Option<ReloadCounts> {
        self.ka_reloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// [`Ctl::reload_keepalived`] of `src`.
    fn reload_from(&self, src: &mut KaSource) -> Result<Vec<String>, String> {
        let mut l = keepalived::load_with(&src.path, &src.opts).map_err(|e| e.to_string())?;
        let policy = vet_scripts(&mut l, &src.flags, &src.path);
        // keepalived's `init_file` creates a missing file on a reload too,
        // but overwrites none.
        l.warnings
            .extend(keepalived::init_files(&l.track_inits, true));
        log_warnings(&l.warnings);
        let changes = diff(&src.last, &l.config);
        let Ok(mut st) = self.adm.lock() else {
            return Err("internal error: configuration lock poisoned".into());
        };
        let before = vips(&st.cfg);
        let mut next = st.cfg.clone();
        // What `ringvs adm` changed since (a real server it deleted that the
        // file drops or edits) is fitted to, not refused: else every later
        // SIGHUP would be refused too, the last load never catching up.
        let fitted = apply_reload(&mut next, &changes).map_err(|e| e.to_string())?;
        for n in &fitted.notes {
            crate::log!("ringvs: SIGHUP: {n}");
        }
        st.cfg = next;
        // The file's script settings with the rules they were checked by.
        if scripts::policy().as_ref() != &policy {
            crate::log!("ringvs: SIGHUP: {}", policy.describe());
            scripts::set_policy(policy);
        }
        self.changed(&mut st, &before);
        src.last = l.config;
        Ok(fitted.applied.iter().map(ToString::to_string).collect())
    }
}

/// Catch SIGHUP from here on, into the flag returned, which
/// [`watch_sighup`] later honours. `ringvs run` calls this first thing:
/// loading the rules, allocating the connection tables and opening the
/// rings can take seconds, and a SIGHUP meanwhile (a supervisor's reload)
/// must not take SIGHUP's default action and kill the director. A SIGHUP
/// caught before the reload thread runs is kept, and re-reads the file
/// once the director is up (it may have changed since it was read).
pub(super) fn catch_sighup() -> Result<Arc<AtomicBool>, RunError> {
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))
        .map_err(|e| RunError::Invalid(format!("installing the SIGHUP handler: {e}")))?;
    Ok(hup)
}

/// Re-read the keepalived file on each SIGHUP caught into `hup`
/// ([`catch_sighup`]) until the director stops.
pub(super) fn watch_sighup(ctl: &Arc<Ctl>, hup: Arc<AtomicBool>) -> Result<(), RunError> {
    let ctl = Arc::clone(ctl);
    std::thread::Builder::new()
        .name("ringvs-reload".into())
        .spawn(move || {
            while !ctl.shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if !hup.swap(false, Ordering::AcqRel) {
                    continue;
                }
                match ctl.reload_keepalived() {
                    Ok(changes) => {
                        crate::log!("ringvs: SIGHUP: {} change(s)", changes.len());
                        for c in changes {
                            crate::log!("ringvs: SIGHUP: {c}");
                        }
                    }
                    Err(e) => crate::log!("ringvs: SIGHUP: {e}; the rules are unchanged"),
                }
            }
        })
        .map_err(|e| RunError::Invalid(format!("spawning the reload thread: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A control thread with the keepalived.conf at `path` loaded, as
    /// `ringvs run --keepalived` starts.
    fn loaded_ctl(
        path: &std::path::Path,
    ) -> (
        std::sync::Arc<crate::control::Ctl>,
        crossbeam_channel::Receiver<std::net::IpAddr>,
    ) {
        use super::{KaSource, keepalived};
        use crate::config::keepalived::{LoadOptions, apply_changes, diff};
        let (c, garp) = crate::control::test_ctl(1);
        let opts = LoadOptions::default();
        let l = keepalived::load_with(path, &opts).unwrap();
        apply_changes(
            &mut c.adm.lock().unwrap().cfg,
            &diff(&crate::config::Config::new(), &l.config),
        )
        .unwrap();
        c.set_ka_source(KaSource {
            path: path.to_path_buf(),
            last: l.config,
            flags: Default::default(),
            opts,
        });
        (c, garp)
    }

    /// A load's warnings are logged up to 100, then counted.
    #[test]
    fn a_load_logs_its_first_100_warnings_then_how_many_more() {
        let ws: Vec<String> = (1..=250).map(|i| format!("/k.conf:{i}: x")).collect();
        let lines = super::warning_lines(&ws);
        assert_eq!(lines.len(), 101);
        assert_eq!(lines[0], "ringvs: warning: /k.conf:1: x");
        assert_eq!(lines[99], "ringvs: warning: /k.conf:100: x");
        assert_eq!(lines[100], "ringvs: warning: ... and 150 more");
        assert_eq!(super::warning_lines(&ws[..100]).len(), 100);
    }

    /// A director run without `--keepalived` has nothing to re-read: a
    /// SIGHUP is answered with that, not taken as a reload.
    #[test]
    fn without_keepalived_a_reload_says_there_is_nothing_to_re_read() {
        let (c, _garp) = crate::control::test_ctl(1);
        let e = c.reload_keepalived().expect_err("nothing to re-read");
        assert!(e.contains("without --keepalived"), "{e}");
        assert_eq!(c.reload_counts(), None);
    }

    /// SIGHUP reads the file again, so a `${_RANDOM MIN MAX}` weight is
    /// drawn again at each reload, as keepalived's `init_data` re-reads
    /// the file and `get_random` draws anew (`lib/parser.c`): the running
    /// rules get each new draw, as a `-e` of the real server with its
    /// weight, and an unchanged draw changes nothing.
    #[test]
    fn a_reload_draws_a_random_weight_again() {
        let dir = std::env::temp_dir().join(format!("ringvs-reload-random-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keepalived.conf");
        std::fs::write(
            &path,
            "virtual_server 198.18.0.110 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n\
             \x20 real_server 198.19.0.2 80 {\n    weight ${_RANDOM 1 60000}\n  }\n}\n",
        )
        .unwrap();
        let (c, _garp) = loaded_ctl(&path);
        let weight = || c.adm.lock().unwrap().cfg.services()[0].dests[0].weight;
        let mut seen = std::collections::BTreeSet::from([weight()]);
        for _ in 0..10 {
            let before = weight();
            let changes = c.reload_keepalived().unwrap();
            let now = weight();
            assert!((1..=60000).contains(&now), "{now}");
            if now == before {
                assert_eq!(changes, Vec::<String>::new());
            } else {
                assert_eq!(
                    changes,
                    [format!(
                        "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w {now}"
                    )]
                );
            }
            seen.insert(now);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(seen.len() > 1, "11 loads drew {seen:?}");
        assert_eq!(c.reload_counts().map(|r| r.applied), Some(10));
    }

    /// A reload after `ringvs adm` changed the table: the file drops a real
    /// server the operator deleted (RS3) and reweights another (RS2). The
    /// reload is applied, the delete of what is gone skipped, as keepalived's
    /// `ipvs_talk` takes `ENOENT` on `DELDEST`; the last load is the new
    /// file, so the next reload works too, and an edit of a server deleted
    /// meanwhile (RS4) adds it, as keepalived retries `EDITDEST` as `ADDDEST`.
    #[test]
    fn a_reload_fits_what_ringvs_adm_changed_since_the_last_load() {
        use crate::config::{Proto, ServiceKey};
        use std::net::{IpAddr, Ipv4Addr};
        let dir = std::env::temp_dir().join(format!("ringvs-reload-adm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keepalived.conf");
        let conf = |servers: &[(u8, u32)]| {
            let mut t = String::from(
                "virtual_server 198.18.0.110 80 {\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n",
            );
            for (last, w) in servers {
                t += &format!("  real_server 198.19.0.{last} 80 {{\n    weight {w}\n  }}\n");
            }
            t + "}\n"
        };
        std::fs::write(&path, conf(&[(2, 1), (3, 1), (4, 1)])).unwrap();
        let (c, _garp) = loaded_ctl(&path);
        let key = ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), 80);
        let rs = |last: u8| IpAddr::V4(Ipv4Addr::new(198, 19, 0, last));
        let weights = || -> Vec<(IpAddr, u32)> {
            let st = c.adm.lock().unwrap();
            let s = st.cfg.service(&key).unwrap();
            s.dests.iter().map(|d| (d.addr, d.weight)).collect()
        };
        // `ringvs adm -d` of RS3, then the file drops it and reweights RS2.
        c.adm.lock().unwrap().cfg.del_dest(&key, rs(3), 80).unwrap();
        std::fs::write(&path, conf(&[(2, 7), (4, 1)])).unwrap();
        let changes = c.reload_keepalived().expect("a reload fits the table");
        // The -d of the gone RS3 was skipped: not among the changes made.
        assert_eq!(changes, ["-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 7"]);
        assert_eq!(weights(), [(rs(2), 7), (rs(4), 1)]);
        // `ringvs adm -d` of RS4, then the file reweights it: added back.
        c.adm.lock().unwrap().cfg.del_dest(&key, rs(4), 80).unwrap();
        std::fs::write(&path, conf(&[(2, 7), (4, 9)])).unwrap();
        let changes = c.reload_keepalived().expect("the next reload works too");
        assert_eq!(
            changes,
            ["-a -t 198.18.0.110:80 -r 198.19.0.4:80 -m -w 9"],
            "the edit of the gone RS4 made an add"
        );
        let mut got = weights();
        got.sort();
        assert_eq!(got, [(rs(2), 7), (rs(4), 9)]);
        // And one with nothing out of step.
        std::fs::write(&path, conf(&[(2, 8), (4, 9)])).unwrap();
        let changes = c.reload_keepalived().unwrap();
        assert_eq!(changes, ["-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 8"]);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            c.reload_counts().map(|r| (r.applied, r.refused)),
            Some((3, 0))
        );
    }

    /// `ringvs stats` reads the reload counts while a reload holds the
    /// file (a big file takes a while to parse): it must not wait for it.
    #[test]
    fn the_reload_counts_are_read_while_a_reload_holds_the_file() {
        let (c, _garp) = crate::control::test_ctl(1);
        *c.ka_reloads.lock().unwrap() = Some(super::ReloadCounts {
            applied: 2,
            refused: 1,
            last_error: Some("x".into()),
        });
        let busy = c.ka.lock().unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let reader = std::sync::Arc::clone(&c);
        let t = std::thread::spawn(move || tx.send(reader.reload_counts()));
        let got = rx.recv_timeout(std::time::Duration::from_secs(10));
        drop(busy);
        t.join().unwrap().ok();
        let got = got.expect("reload_counts waited for the reload's lock");
        assert_eq!(got.map(|r| (r.applied, r.refused)), Some((2, 1)));
    }
}
