//! What changed between two configs, and applying only that (a reload).
//!
//! keepalived reloads the same way (`check_daemon.c` reload →
//! `ipwrapper.c` `clear_diff_services`: services and real servers that are
//! gone are removed, changed ones edited, the rest left alone). Here a real
//! server is its service plus address and port; only its weight, thresholds,
//! forwarding method and check address (`connect_ip`) can be edited
//! (keepalived's `clear_diff_rs` edits a server whose method or tunnel
//! changed, too), so it keeps its [`DestId`](super::super::DestId)
//! as long as it stays in the file, and connections that refer to it carry
//! on. A service whose settings (scheduler, persistence, netmask, scheduler
//! flags, one-packet scheduling, check, sorry server, quorum, quorum scripts)
//! changed is edited in place, never removed and added again; so is a real
//! server whose notify scripts changed.

use std::fmt;
use std::net::IpAddr;

use super::super::format::sorry_options;
use super::super::names::Names;
use super::super::{
    AdmError, Config, Dest, Forward, HealthCheck, Netmask, Quorum, SchedFlags, Scheduler, Scripts,
    Service, ServiceKey, SorryOpts,
};
use super::KaError;
use crate::config::format::{NOTIFY_OPTIONS, QUORUM_OPTIONS};

/// The settings of a service that an edit can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSettings {
    pub sched: Scheduler,
    pub persistent: Option<u32>,
    pub sched_flags: SchedFlags,
    pub netmask: Netmask,
    pub ops: bool,
    pub pe: Option<super::super::PersistEngine>,
    pub check: Option<HealthCheck>,
    pub sorry: Option<SorryOpts>,
    pub quorum: Quorum,
    pub scripts: Scripts,
    /// A firewall-mark service's `mark_dest` rules.
    pub marks: Vec<super::super::MarkDest>,
}

impl ServiceSettings {
    fn of(s: &Service) -> Self {
        ServiceSettings {
            sched: s.sched,
            persistent: s.persistent,
            sched_flags: s.sched_flags,
            netmask: s.netmask,
            ops: s.ops,
            pe: s.pe,
            check: s.check.clone(),
            sorry: s.sorry.map(|s| s.opts()),
            quorum: s.quorum,
            scripts: s.quorum_scripts.clone(),
            marks: s.marks.clone(),
        }
    }
}

/// The settings of a real server that an edit can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DestSettings {
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub forward: Forward,
    pub scripts: Scripts,
    /// Where its check goes (`connect_ip`), if not its own address.
    pub check_ip: Option<IpAddr>,
}

impl DestSettings {
    /// Real server `d` of service `s`.
    fn of(s: &Service, d: &Dest) -> Self {
        DestSettings {
            weight: d.weight,
            u_threshold: d.u_threshold,
            l_threshold: d.l_threshold,
            forward: d.forward,
            scripts: s.server_scripts(d.addr, d.port),
            check_ip: d.check_ip,
        }
    }
}

/// One change to the table, in ipvsadm's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `-A` (its real servers follow as [`Change::AddDest`]).
    AddService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    /// `-E`: the service's new settings, all of them.
    EditService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    /// `-D`
    DelService { key: ServiceKey },
    /// `-a`
    AddDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
        settings: DestSettings,
    },
    /// `-e`
    EditDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
        settings: DestSettings,
    },
    /// `-d`
    DelDest {
        key: ServiceKey,
        addr: IpAddr,
        port: u16,
    },
}

/// Prints a change as the ipvsadm command that would make it (for logs).
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses as ipvsadm takes them back: `[IPV6]:PORT`.
        let at = |a: IpAddr, p: u16| Names::none().addr_port(a, p, None, true);
        let svc = |f: &mut fmt::Formatter<'_>, cmd: &str, k: &ServiceKey| match k.mark {
            0 => write!(f, "{cmd} {} {}", k.proto.option(), at(k.addr, k.port)),
            m if k.addr.is_ipv6() => write!(f, "{cmd} -f {m} -6"),
            m => write!(f, "{cmd} -f {m}"),
        };
        let dest = |f: &mut fmt::Formatter<'_>, a: &IpAddr, p: &u16, s: Option<&DestSettings>| {
            write!(f, " -r {}", at(*a, *p))?;
            if let Some(s) = s {
                write!(
                    f,
                    " {} -w {}{}",
                    s.forward.option(),
                    s.weight,
                    s.forward.save_options()
                )?;
                if s.u_threshold != 0 || s.l_threshold != 0 {
                    write!(f, " -x {} -y {}", s.u_threshold, s.l_threshold)?;
                }
                if let Some(ip) = s.check_ip {
                    write!(f, " --check-ip {ip}")?;
                }
                f.write_str(&s.scripts.options(NOTIFY_OPTIONS))?;
            }
            Ok(())
        };
        match self {
            Change::AddService { key, settings } | Change::EditService { key, settings } => {
                let cmd = if matches!(self, Change::AddService { .. }) {
                    "-A"
                } else {
                    "-E"
                };
                svc(f, cmd, key)?;
                write!(f, " -s {}", settings.sched)?;
                if let Some(p) = settings.persistent {
                    write!(f, " -p {p}")?;
                }
                if !settings.netmask.is_host() {
                    write!(f, " -M {}", settings.netmask)?;
                }
                if let Some(pe) = settings.pe {
                    write!(f, " --pe {}", pe.name())?;
                }
                if settings.ops {
                    f.write_str(" -o")?;
                }
                // The whole check, as `-S` writes it: a reload that changes
                // only its times says so.
                if let Some(c) = &settings.check {
                    f.write_str(&super::super::format::check_options(c))?;
                }
                let sorry = settings.sorry.as_ref();
                f.write_str(&sorry_options(sorry, settings.quorum, at))?;
                f.write_str(&settings.scripts.options(QUORUM_OPTIONS))?;
                for m in &settings.marks {
                    write!(f, " --mark-dest {m}")?;
                }
                Ok(())
            }
            Change::DelService { key } => svc(f, "-D", key),
            Change::AddDest {
                key,
                addr,
                port,
                settings,
            } => {
                svc(f, "-a", key)?;
                dest(f, addr, port, Some(settings))
            }
            Change::EditDest {
                key,
                addr,
                port,
                settings,
            } => {
                svc(f, "-e", key)?;
                dest(f, addr, port, Some(settings))
            }
            Change::DelDest { key, addr, port } => {
                svc(f, "-d", key)?;
                dest(f, addr, port, None)
            }
        }
    }
}

/// The changes that turn `old` into `new`: removed services first, then, for
/// each service of `new` in its order, its addition or edit and those of its
/// real servers (removals first).
pub fn diff(old: &Config, new: &Config) -> Vec<Change> {
    let mut out = Vec::new();
    for s in old.services() {
        if new.service(&s.key).is_none() {
            out.push(Change::DelService { key: s.key });
        }
    }
    for n in new.services() {
        let key = n.key;
        let settings = ServiceSettings::of(n);
        let o = old.service(&key);
        match o {
            None => out.push(Change::AddService { key, settings }),
            Some(o) if ServiceSettings::of(o) != settings => {
                out.push(Change::EditService { key, settings });
            }
            Some(_) => {}
        }
        if let Some(o) = o {
            for d in &o.dests {
                if n.dest(d.addr, d.port).is_none() {
                    out.push(Change::DelDest {
                        key,
                        addr: d.addr,
                        port: d.port,
                    });
                }
            }
        }
        for d in &n.dests {
            let (addr, port, settings) = (d.addr, d.port, DestSettings::of(n, d));
            let od = o.and_then(|o| o.dest(addr, port).map(|d| (o, d)));
            match od {
                None => out.push(Change::AddDest {
                    key,
                    addr,
                    port,
                    settings,
                }),
                Some((o, od)) if DestSettings::of(o, od) != settings => {
                    out.push(Change::EditDest {
                        key,
                        addr,
                        port,
                        settings,
                    })
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// Applies `changes` to `cfg`, all or nothing: if the table refuses one (say
/// a real server to edit is not there), `cfg` is left as it was.
pub fn apply_changes(cfg: &mut Config, changes: &[Change]) -> Result<(), KaError> {
    apply_with(cfg, changes, false).map(drop)
}

/// [`apply_changes`] as a reload (SIGHUP) applies the changes between the
/// file as last loaded and as it is now, to a table `ringvs adm` may have
/// changed since: a change that finds the table not as the last load left
/// it is made to fit, as keepalived's `ipwrapper.c` `ipvs_talk` treats a
/// failed command, and returned, one line each, for the log:
///
/// * deleting a service or real server that is already gone does nothing
///   (keepalived: `ENOENT` on `IP_VS_SO_SET_DEL`/`DELDEST` is no error);
/// * editing a real server that is not there adds it (keepalived retries
///   an `IP_VS_SO_SET_EDITDEST` that fails with `ENOENT` as `ADDDEST`);
/// * adding a service or real server that is there edits it to the file's
///   settings (keepalived takes `EEXIST` as done and leaves the one there
///   as it is: a deliberate difference, the file's settings win);
/// * editing a service that is not there, and any change to a real server
///   of a service that is not there, does nothing (keepalived's command
///   fails and it carries on).
///
/// Any other refusal leaves `cfg` as it was, as [`apply_changes`].
/// Returns the changes made (as fitted: an edit made an add, a skipped
/// delete left out) and a note for each fitted.
pub fn apply_reload(cfg: &mut Config, changes: &[Change]) -> Result<Fitted, KaError> {
    apply_with(cfg, changes, true)
}

/// What [`apply_reload`] made of a file's changes: those applied, as
/// applied, and why each that was not as written.
#[derive(Debug, Default)]
pub struct Fitted {
    pub applied: Vec<Change>,
    pub notes: Vec<String>,
}

/// `c` fitted to the table `cfg` ([`apply_reload`]): the change to make
/// instead, if any, and why.
fn fit(cfg: &Config, c: &Change) -> (Option<Change>, Option<String>) {
    let note = |why: &str| Some(format!("{c}: {why}"));
    let dest_there = |key: &ServiceKey, addr: &IpAddr, port: &u16| {
        cfg.service(key).map(|s| s.dest(*addr, *port).is_some())
    };
    match c {
        Change::AddService { key, settings } if cfg.service(key).is_some() => (
            Some(Change::EditService {
                key: *key,
                settings: settings.clone(),
            }),
            note("the service is there already (added with ringvs adm?): edited instead"),
        ),
        Change::EditService { key, .. } | Change::DelService { key }
            if cfg.service(key).is_none() =>
        {
            (
                None,
                note("No such service (deleted with ringvs adm?): skipped"),
            )
        }
        Change::AddDest {
            key, addr, port, ..
        }
        | Change::EditDest {
            key, addr, port, ..
        }
        | Change::DelDest { key, addr, port } => match (c, dest_there(key, addr, port)) {
            (_, None) => (
                None,
                note("No such service (deleted with ringvs adm?): skipped"),
            ),
            (
                Change::AddDest {
                    key,
                    addr,
                    port,
                    settings,
                },
                Some(true),
            ) => (
                Some(Change::EditDest {
                    key: *key,
                    addr: *addr,
                    port: *port,
                    settings: settings.clone(),
                }),
                note("the real server is there already (added with ringvs adm?): edited instead"),
            ),
            (
                Change::EditDest {
                    key,
                    addr,
                    port,
                    settings,
                },
                Some(false),
            ) => (
                Some(Change::AddDest {
                    key: *key,
                    addr: *addr,
                    port: *port,
                    settings: settings.clone(),
                }),
                note("No such destination (deleted with ringvs adm?): added instead"),
            ),
            (Change::DelDest { .. }, Some(false)) => (
                None,
                note("No such destination (deleted with ringvs adm?): skipped"),
            ),
            _ => (Some(c.clone()), None),
        },
        _ => (Some(c.clone()), None),
    }
}

/// [`apply_changes`], or with `fit` [`apply_reload`].
fn apply_with(cfg: &mut Config, changes: &[Change], fit_in: bool) -> Result<Fitted, KaError> {
    let mut fitted = Fitted::default();
    let mut next = cfg.clone();
    // The firewall-mark services edited or deleted give up their rules
    // first: each edit is checked against the rules of the rest, and a
    // rule moving from one mark to another (valid in the new file as a
    // whole) would otherwise overlap the other's old rules.
    for c in changes {
        if let Change::EditService { key, .. } | Change::DelService { key } = c
            && key.is_fwmark()
        {
            let _ = next.set_service_marks(key, Some(Vec::new()));
        }
    }
    for c in changes {
        let (c, note) = match fit_in {
            true => fit(&next, c),
            false => (Some(c.clone()), None),
        };
        fitted.notes.extend(note);
        let Some(c) = c else {
            continue;
        };
        apply_one(&mut next, &c).map_err(|e| KaError::Apply {
            change: c.to_string(),
            message: e.to_string(),
        })?;
        fitted.applied.push(c);
    }
    *cfg = next;
    Ok(fitted)
}

/// Makes `current` what `new` describes by changing only what differs
/// ([`diff`], then [`apply_changes`]); returns the changes made. Unchanged
/// services are not touched and unchanged real servers keep their ids.
pub fn apply_differences(current: &mut Config, new: &Config) -> Result<Vec<Change>, KaError> {
    let changes = diff(current, new);
    apply_changes(current, &changes)?;
    Ok(changes)
}

/// One change, as the ipvsadm command it stands for (applied by the same
/// code as `ringvs adm`, so both check the same things).
fn apply_one(cfg: &mut Config, c: &Change) -> Result<(), AdmError> {
    use super::super::ipvsadm::{AdmCommand, DestOpts, ServiceOpts, apply};
    let service = |s: &ServiceSettings| ServiceOpts {
        sched: s.sched.name().to_string(),
        persistent: s.persistent,
        netmask: s.netmask,
        sched_flags: s.sched_flags,
        ops: s.ops,
        pe: s.pe.map(|p| p.name().to_string()),
        check: s.check.clone(),
        sorry: s.sorry,
        quorum: s.quorum,
        scripts: s.scripts.clone(),
        marks: Some(s.marks.clone()),
    };
    let dest = |s: &DestSettings| DestOpts {
        weight: s.weight,
        u_threshold: s.u_threshold,
        l_threshold: s.l_threshold,
        forward: s.forward,
        scripts: s.scripts.clone(),
        check_ip: s.check_ip,
        // A reload's edit sets them, none included.
        set_files: true,
    };
    let cmd = match c {
        Change::AddService { key, settings } => AdmCommand::AddService {
            key: *key,
            opts: service(settings),
        },
        Change::EditService { key, settings } => AdmCommand::EditService {
            key: *key,
            opts: service(settings),
        },
        Change::DelService { key } => AdmCommand::DelService { key: *key },
        Change::AddDest {
            key,
            addr,
            port,
            settings,
        } => AdmCommand::AddDest {
            key: *key,
            addr: *addr,
            port: *port,
            opts: dest(settings),
        },
        Change::EditDest {
            key,
            addr,
            port,
            settings,
        } => AdmCommand::EditDest {
            key: *key,
            addr: *addr,
            port: *port,
            opts: dest(settings),
        },
        Change::DelDest { key, addr, port } => AdmCommand::DelDest {
            key: *key,
            addr: *addr,
            port: *port,
        },
    };
    apply(cfg, &cmd)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::super::{CheckKind, DestId, Proto};
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> ServiceKey {
        ServiceKey::new(Proto::Tcp, Ipv4Addr::new(198, 18, 0, 110), port)
    }

    fn rip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(198, 19, 0, last)
    }

    /// A service port, its scheduler and real servers `(last octet, weight)`.
    type Svc<'a> = (u16, Scheduler, &'a [(u8, u32)]);

    fn cfg(services: &[Svc<'_>]) -> Config {
        let mut c = Config::new();
        for (port, sched, dests) in services {
            c.add_service(key(*port), *sched, None).unwrap();
            for (last, w) in *dests {
                c.add_dest(&key(*port), rip(*last), *port, *w).unwrap();
            }
        }
        c
    }

    fn id(c: &Config, port: u16, last: u8) -> Option<DestId> {
        c.service(&key(port))?.dest(rip(last), port).map(|d| d.id)
    }

    /// [`apply_reload`] against a table `ringvs adm` changed after the last
    /// load: an add of what is there edits it, an edit of a missing server
    /// adds it, changes in a service deleted meanwhile are skipped; each
    /// one named. [`apply_changes`] refuses the same changes.
    #[test]
    fn a_reload_fits_a_table_changed_since_the_last_load() {
        let last = cfg(&[
            (80, Scheduler::Wrr, &[(2, 1)]),
            (443, Scheduler::Rr, &[(2, 1)]),
        ]);
        let file = cfg(&[
            (80, Scheduler::Wrr, &[(2, 3), (5, 4)]),
            (443, Scheduler::Wlc, &[(2, 6)]),
        ]);
        let changes = diff(&last, &file);
        // Since the last load: .2 of :80 deleted, .5 added by hand, :443 deleted.
        let mut running = cfg(&[(80, Scheduler::Wrr, &[(5, 1)])]);
        assert!(apply_changes(&mut running.clone(), &changes).is_err());
        let notes = apply_reload(&mut running, &changes).unwrap().notes;
        assert_eq!(
            notes,
            [
                "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 3: No such destination (deleted with ringvs adm?): added instead",
                "-a -t 198.18.0.110:80 -r 198.19.0.5:80 -m -w 4: the real server is there already (added with ringvs adm?): edited instead",
                "-E -t 198.18.0.110:443 -s wlc: No such service (deleted with ringvs adm?): skipped",
                "-e -t 198.18.0.110:443 -r 198.19.0.2:443 -m -w 6: No such service (deleted with ringvs adm?): skipped",
            ]
        );
        let w = |last: u8| {
            running
                .service(&key(80))
                .unwrap()
                .dest(rip(last), 80)
                .map(|d| d.weight)
        };
        assert_eq!((w(2), w(5)), (Some(3), Some(4)));
        assert!(running.service(&key(443)).is_none());
    }

    #[test]
    fn unchanged_dests_keep_their_ids_removed_go_weights_are_edited() {
        let mut cur = cfg(&[
            (80, Scheduler::Wrr, &[(2, 1), (3, 1), (4, 1)]),
            (443, Scheduler::Rr, &[(2, 1)]),
        ]);
        let before = cur.clone();
        let (id2, id3, id4) = (id(&cur, 80, 2), id(&cur, 80, 3), id(&cur, 80, 4));
        let id443 = id(&cur, 443, 2);
        // The file now: rs .3 gone, .4 weighted 5, .5 new; 443 unchanged.
        let new = cfg(&[
            (80, Scheduler::Wrr, &[(2, 1), (4, 5), (5, 1)]),
            (443, Scheduler::Rr, &[(2, 1)]),
        ]);
        let changes = apply_differences(&mut cur, &new).unwrap();
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "-d -t 198.18.0.110:80 -r 198.19.0.3:80",
                "-e -t 198.18.0.110:80 -r 198.19.0.4:80 -m -w 5",
                "-a -t 198.18.0.110:80 -r 198.19.0.5:80 -m -w 1",
            ]
        );
        assert_eq!(id(&cur, 80, 2), id2, "unchanged server keeps its id");
        assert_eq!(id(&cur, 80, 4), id4, "edited server keeps its id");
        assert_eq!(id(&cur, 80, 3), None, "removed server is gone");
        assert!(id3.is_some());
        let new_id = id(&cur, 80, 5).unwrap();
        assert!(![id2, id3, id4, id443].contains(&Some(new_id)), "fresh id");
        assert_eq!(id(&cur, 443, 2), id443);
        assert_eq!(
            cur.service(&key(443)),
            before.service(&key(443)),
            "an unchanged service is not touched"
        );
        assert_eq!(
            cur.service(&key(80))
                .unwrap()
                .dest(rip(4), 80)
                .unwrap()
                .weight,
            5
        );
        assert_eq!(cur.dest_count(), 4);
        // Applying the same file again changes nothing.
        assert!(apply_differences(&mut cur, &new).unwrap().is_empty());
    }

    #[test]
    fn services_are_added_edited_and_removed_in_place() {
        let mut cur = cfg(&[
            (80, Scheduler::Rr, &[(2, 1)]),
            (81, Scheduler::Rr, &[(2, 1)]),
            (82, Scheduler::Rr, &[(2, 1)]),
        ]);
        let id80 = id(&cur, 80, 2);
        let mut new = cfg(&[
            (80, Scheduler::Wlc, &[(2, 1)]),
            (82, Scheduler::Rr, &[(2, 1)]),
            (90, Scheduler::Sh, &[(7, 2)]),
        ]);
        new.set_service_check(&key(82), Some(HealthCheck::new(CheckKind::Tcp)))
            .unwrap();
        let changes = apply_differences(&mut cur, &new).unwrap();
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "-D -t 198.18.0.110:81",
                "-E -t 198.18.0.110:80 -s wlc",
                "-E -t 198.18.0.110:82 -s rr --check tcp --delay-loop 60 --connect-timeout 5 --retry 1 --delay-before-retry 1",
                "-A -t 198.18.0.110:90 -s sh",
                "-a -t 198.18.0.110:90 -r 198.19.0.7:90 -m -w 2",
            ]
        );
        assert_eq!(
            id(&cur, 80, 2),
            id80,
            "a scheduler change keeps the servers"
        );
        let ports: Vec<u16> = cur.services().iter().map(|s| s.key.port).collect();
        assert_eq!(ports, vec![80, 82, 90]);
        assert_eq!(cur.service(&key(80)).unwrap().sched, Scheduler::Wlc);
        assert!(cur.service(&key(82)).unwrap().check.is_some());
        // The table now holds what the file says (ids aside).
        assert!(diff(&cur, &new).is_empty());
        assert!(diff(&new, &cur).is_empty());
    }

    #[test]
    fn a_refused_change_leaves_the_table_as_it_was() {
        let mut cur = cfg(&[(80, Scheduler::Rr, &[(2, 1)])]);
        let before = cur.clone();
        let changes = vec![
            Change::AddDest {
                key: key(80),
                addr: rip(3).into(),
                port: 80,
                settings: DestSettings {
                    weight: 1,
                    u_threshold: 0,
                    l_threshold: 0,
                    forward: Forward::Masq,
                    scripts: Scripts::default(),
                    check_ip: None,
                },
            },
            Change::EditDest {
                key: key(80),
                addr: rip(9).into(),
                port: 80,
                settings: DestSettings {
                    weight: 4,
                    u_threshold: 0,
                    l_threshold: 0,
                    forward: Forward::Masq,
                    scripts: Scripts::default(),
                    check_ip: None,
                },
            },
        ];
        let e = apply_changes(&mut cur, &changes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "applying -e -t 198.18.0.110:80 -r 198.19.0.9:80 -m -w 4: No such destination"
        );
        assert_eq!(cur, before);
    }

    #[test]
    fn thresholds_are_part_of_a_real_server() {
        let mut cur = cfg(&[(80, Scheduler::Rr, &[(2, 1)])]);
        let mut new = cur.clone();
        new.set_dest_thresholds(&key(80), rip(2), 80, 100, 50)
            .unwrap();
        let changes = apply_differences(&mut cur, &new).unwrap();
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["-e -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 1 -x 100 -y 50"]
        );
        let d = cur.service(&key(80)).unwrap().dests[0];
        assert_eq!((d.u_threshold, d.l_threshold), (100, 50));
    }

    #[test]
    fn a_changed_forwarding_method_is_an_edit_that_keeps_the_id() {
        use super::super::super::{TunCsum, TunKind, Tunnel};
        let mut cur = cfg(&[(80, Scheduler::Rr, &[(2, 1), (3, 1)])]);
        let (id2, id3) = (id(&cur, 80, 2), id(&cur, 80, 3));
        let mut new = cur.clone();
        let gue = Forward::Tunnel(Tunnel {
            kind: TunKind::Gue,
            port: 6080,
            csum: TunCsum::RemCsum,
        });
        new.set_dest_forward(&key(80), rip(2), 80, Forward::Route)
            .unwrap();
        new.set_dest_forward(&key(80), rip(3), 80, gue).unwrap();
        let changes = apply_differences(&mut cur, &new).unwrap();
        assert_eq!(
            changes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "-e -t 198.18.0.110:80 -r 198.19.0.2:80 -g -w 1",
                "-e -t 198.18.0.110:80 -r 198.19.0.3:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum",
            ]
        );
        let fwd: Vec<Forward> = cur.services()[0].dests.iter().map(|d| d.forward).collect();
        assert_eq!(fwd, vec![Forward::Route, gue]);
        assert_eq!((id(&cur, 80, 2), id(&cur, 80, 3)), (id2, id3));
        assert!(apply_differences(&mut cur, &new).unwrap().is_empty());
    }
}
