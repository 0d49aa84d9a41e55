//! keepalived's `FILE_CHECK` (`check/check_file.c`, `trackers/track_file.c`):
//! a real server's vote read from a file, beside its service's check.
//!
//! The file's number is read as keepalived's `process_track_file` reads it:
//! its first 127 bytes through `strtol(…, 0)` (blanks, a sign, `0x` hex, a
//! leading `0` octal, digits up to the first other byte; none: 0); a file
//! that is missing, unreadable or empty is 0; a number outside
//! -2147483648..2147483648 is not taken (logged, the last value stays).
//! Each `FILE_CHECK` of a server turns it into a vote ([`vote`], keepalived's
//! `update_track_file_status` and `process_update_checker_track_file_status`):
//!
//! * weight 0: the server is down while the value is not 0 (with
//!   `reverse`: while it is 0), else up, its weight unchanged;
//! * another weight: the value times the weight (times -1 with `reverse`),
//!   taken to the 32-bit range, is added to the server's weight; at
//!   -2147483648 (`IPVS_WEIGHT_FAULT`) the server is down instead.
//!
//! A server is down while one of its votes or its service's check says so
//! (keepalived's `num_failed_checkers`); its weight is its configured one
//! (or the one `misc_dynamic` set) plus its votes, within 0..2147483647
//! (keepalived's `real_weight`, to `IPVS_WEIGHT_LIMIT`: a keepalived.conf
//! weight may be that high, past `ipvsadm -w`'s 65535). Down or back, it is told as its check's verdicts are
//! (log, notify scripts, FIFO), once for both: a server the file holds down
//! is not told again when its check fails or passes.
//!
//! When: as keepalived (`init_track_files`, `process_inotify`), each
//! file's directory is watched with inotify for a file closed after a
//! write, deleted or moved in or out (so a rename over the file, as
//! editors and `init_file` do, is seen), and the files are read at the
//! health thread's next round (its loop waits 10 ms while it checks
//! servers, 100 ms idle; [`Watch`]: no thread of its own, one
//! non-blocking read a round); also once a second ([`EVERY`]) whatever
//! inotify says, which covers a directory that cannot be watched (it does
//! not exist yet: tried again each second; no inotify instance left: tried
//! again when the files change, the same failure logged once), a
//! file system whose changes inotify does not see (NFS from another host)
//! and a writer that never closes the file; and at once when the rules
//! change (start, reload, `ringvs adm`).

use super::Notifier;
use crate::config::{Config, DestId, FileCheck, Scripts, ServiceKey};
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the files are read.
pub(super) const EVERY: Duration = Duration::from_secs(1);
/// How much of a file is read (keepalived's buffer, less its NUL).
const READ_MAX: usize = 127;
/// keepalived's `IPVS_WEIGHT_FAULT`: a vote this low is down.
const FAULT: i64 = i32::MIN as i64;
/// Largest weight a vote leaves a server with (keepalived's `real_weight`
/// caps at `IPVS_WEIGHT_LIMIT`, `INT32_MAX`).
const MAX_WEIGHT: i64 = i32::MAX as i64;

/// A real server with `FILE_CHECK`s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTarget {
    pub service: ServiceKey,
    pub id: DestId,
    /// Its address and port (logs, notify).
    pub rs: SocketAddr,
    /// Its configured weight.
    pub weight: u32,
    pub files: Vec<FileCheck>,
    /// Its notify scripts.
    pub scripts: Scripts,
}

/// Every real server of `cfg` with a `FILE_CHECK`, with or without a check.
pub fn targets(cfg: &Config) -> Vec<FileTarget> {
    let mut v = Vec::new();
    for s in cfg.services() {
        for d in &s.dests {
            let scripts = s.server_scripts(d.addr, d.port);
            if scripts.files.is_empty() {
                continue;
            }
            let port = if d.port == 0 { s.key.port } else { d.port };
            v.push(FileTarget {
                service: s.key,
                id: d.id,
                rs: SocketAddr::new(d.addr, port),
                weight: d.weight,
                files: scripts.files.clone(),
                scripts,
            });
        }
    }
    v
}

impl super::Monitor {
    /// The servers with a `FILE_CHECK` of the rules `cfg`, for
    /// [`super::Monitor::set_targets`] (`checked`: the servers its check
    /// targets were, told there if they left the rules).
    pub(super) fn set_files(&self, cfg: &Config, checked: &HashSet<DestId>) {
        let ids = cfg.services().iter().flat_map(|s| s.dests.iter());
        let ids = ids.map(|d| d.id).collect();
        let before = self
            .servers
            .lock()
            .map(|mut s| std::mem::replace(&mut *s, ids));
        let f = targets(cfg);
        if let Ok(_t) = self.targets.lock()
            && let Ok(mut cur) = self.files.lock()
            && *cur != f
        {
            let (before, down) = (before.unwrap_or_default(), self.down());
            let told = |id| checked.contains(&id) || down.contains_key(&id);
            gone(&cur, cfg, told, &self.notify);
            // A new server its file holds down is down at once, as `alpha`.
            if let Ok(mut down) = self.down.lock() {
                down.extend(down_at_once(&before, &f));
            }
            *cur = f;
            self.epoch
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
    }
}

/// The servers of `new` not in the rules `before` (new servers) that their
/// files hold down now, with their `inhibit_on_failure` (the control
/// thread, before their first publish: never in a table before their files
/// are read). A server of the rules before that gains a `FILE_CHECK` is
/// taken down by the health thread, and told, as keepalived's reload tells
/// it (`set_track_file_checkers_down`).
pub(super) fn down_at_once(before: &HashSet<DestId>, new: &[FileTarget]) -> Vec<(DestId, bool)> {
    let fresh = new.iter().filter(|t| !before.contains(&t.id));
    let down = fresh.filter(|t| {
        let votes = t.files.iter().map(|c| vote(c, read(&c.path).unwrap_or(0)));
        votes.sum::<Option<i64>>().is_none()
    });
    down.map(|t| (t.id, t.files.iter().any(|c| c.inhibit)))
        .collect()
}

/// Tells `notify` of the servers of `old` that left the rules `cfg` while
/// up, unless `told` (their check's targets are told by the caller, and
/// one held down is not up), as keepalived's `clear_service_rs` does.
pub(super) fn gone(
    old: &[FileTarget],
    cfg: &Config,
    told: impl Fn(DestId) -> bool,
    notify: &Notifier,
) {
    for t in old.iter().filter(|t| !cfg.has_id(t.id) && !told(t.id)) {
        notify.server(&t.service, t.rs, false, &t.scripts);
    }
}

/// `strtol(text, NULL, 0)` as keepalived calls it, within the range it
/// takes: `None` for a number outside -2^31..=2^31 (its "Invalid number").
pub(super) fn parse(text: &[u8]) -> Option<i64> {
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut t = &text[text.iter().take_while(|c| blank(c)).count()..];
    let neg = t.first() == Some(&b'-');
    if matches!(t.first(), Some(b'-' | b'+')) {
        t = &t[1..];
    }
    let hex =
        t.len() > 2 && t[0] == b'0' && matches!(t[1], b'x' | b'X') && t[2].is_ascii_hexdigit();
    let (radix, digits) = match t.first() {
        _ if hex => (16, &t[2..]),
        Some(b'0') => (8, t),
        _ => (10, t),
    };
    let mut mag: u64 = 0;
    for &c in digits {
        let Some(d) = char::from(c).to_digit(radix) else {
            break;
        };
        mag = mag
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d));
    }
    let v = i128::from(mag) * if neg { -1 } else { 1 };
    let ok = i128::from(i32::MIN)..=i128::from(i32::MAX) + 1;
    ok.contains(&v).then_some(v as i64)
}

/// The value of the file at `path`: 0 if it cannot be read; `None`: not
/// a number taken ([`parse`]).
pub(super) fn read(path: &Path) -> Option<i64> {
    // Non-blocking, as keepalived opens it: a FIFO there cannot hold the
    // health thread.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let mut buf = [0u8; READ_MAX];
    match f.and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => parse(&buf[..n]),
        Err(_) => Some(0),
    }
}

/// One `FILE_CHECK`'s vote for the value `v`: `None` down, else what it
/// adds to the server's weight.
pub(super) fn vote(c: &FileCheck, v: i64) -> Option<i64> {
    if c.weight == 0 {
        return ((v != 0) == c.reverse).then_some(0);
    }
    let sign = if c.reverse { -1 } else { 1 };
    let s = i128::from(v) * i128::from(c.weight) * sign;
    let s = s.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i64;
    (s > FAULT).then_some(s)
}

/// The weight of a server up at `base` (its own, or `misc_dynamic`'s)
/// with its votes `plus`.
pub(super) fn weigh(base: u32, plus: i64) -> u32 {
    (i64::from(base) + plus).clamp(0, MAX_WEIGHT) as u32
}

/// The health thread's files: the servers that have some, the values read.
#[derive(Default)]
pub(super) struct Files {
    targets: Vec<FileTarget>,
    /// Each file once, whoever tracks it.
    paths: Vec<PathBuf>,
    values: HashMap<PathBuf, i64>,
    /// Files whose number was not taken at the last read (logged once).
    bad: HashSet<PathBuf>,
    next: Option<Instant>,
    /// The servers the files hold down, as last told.
    down: HashSet<DestId>,
    /// Servers whose first verdict is not told yet (new ones).
    fresh: HashSet<DestId>,
    /// The inotify watch of the files' directories (none: polled only).
    watch: Option<Watch>,
    /// Why the inotify instance could not be made, as last logged (tried
    /// again when the files change; logged again only for another reason).
    no_watch: Option<String>,
    /// Tests: the next so many inotify instances are refused.
    #[cfg(test)]
    fail_inits: u32,
    /// Tests: how many times `no_watch` was logged.
    #[cfg(test)]
    no_watch_logs: u32,
}

/// The watched directories of the tracked files, each with the names of
/// the tracked files in it (`init_track_files`'s `wd` and `file_part`).
type Dirs = BTreeMap<PathBuf, Vec<OsString>>;

/// An inotify instance watching the directories of the tracked files
/// (`inotify`'s safe API: no `unsafe` here).
pub(super) struct Watch {
    inotify: Inotify,
    /// What is to be watched (the files' directories, their names).
    wanted: Dirs,
    /// The directories watched, by their watch.
    watched: HashMap<WatchDescriptor, PathBuf>,
    /// Those of `wanted` not watched (retried once a second).
    missing: Vec<PathBuf>,
    /// Events are read into this, made once.
    buf: Vec<u8>,
}

/// What keepalived watches a file's directory for: a file closed after a
/// write, deleted, moved in or out.
const EVENTS: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO);

/// Where the file at `path` is watched: its directory and its name in it,
/// both resolved as keepalived's `realpath` resolves them (a file that
/// exists through its links; else its directory). `None`: no name.
fn place(path: &Path) -> Option<(PathBuf, OsString)> {
    let real = std::fs::canonicalize(path).ok();
    let p = real.as_deref().unwrap_or(path);
    let name = p.file_name()?.to_owned();
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((std::fs::canonicalize(&dir).unwrap_or(dir), name))
}

impl Watch {
    /// Watches the directories of `paths` (all watched afresh when they
    /// differ from those watched: the caller reads every file after).
    fn set(&mut self, paths: &[PathBuf]) {
        let mut wanted = Dirs::new();
        for (dir, name) in paths.iter().filter_map(|p| place(p)) {
            wanted.entry(dir).or_default().push(name);
        }
        if wanted == self.wanted {
            return;
        }
        let mut w = self.inotify.watches();
        for (wd, _) in self.watched.drain() {
            let _ = w.remove(wd);
        }
        self.missing = wanted.keys().cloned().collect();
        self.wanted = wanted;
        self.retry(true);
    }

    /// Tries again to watch the directories not watched (`log`: says
    /// which cannot be, and why).
    fn retry(&mut self, log: bool) {
        let mut w = self.inotify.watches();
        let watched = &mut self.watched;
        self.missing.retain(|dir| match w.add(dir, EVENTS) {
            Ok(wd) => {
                watched.insert(wd, dir.clone());
                false
            }
            Err(e) => {
                if log {
                    let d = dir.display();
                    crate::log!("ringvs: health: {d}: not watched ({e}); its track files are read once a second");
                }
                true
            }
        });
    }

    /// Whether inotify told of a change to a tracked file since the last
    /// call (or lost events: its queue overflowed). Never blocks.
    fn changed(&mut self) -> bool {
        let mut hit = false;
        // A bounded number of reads: a busy directory cannot hold the round.
        for _ in 0..8 {
            let Ok(events) = self.inotify.read_events(&mut self.buf) else {
                break;
            };
            for e in events {
                if e.mask.contains(EventMask::Q_OVERFLOW) {
                    hit = true;
                }
                // The directory went (deleted, unmounted): watched again
                // when it is back.
                if e.mask.contains(EventMask::IGNORED) {
                    if let Some(dir) = self.watched.remove(&e.wd) {
                        self.missing.push(dir);
                    }
                    continue;
                }
                let dir = self.watched.get(&e.wd).and_then(|d| self.wanted.get(d));
                let ours =
                    |n: &std::ffi::OsStr| dir.is_some_and(|names| names.iter().any(|x| x == n));
                hit |= !e.mask.contains(EventMask::ISDIR) && e.name.is_some_and(ours);
            }
        }
        hit
    }
}

impl Files {
    /// New targets; their files are read at the next [`Files::poll`].
    /// Those new here that are `held` down already (a new server its file
    /// holds down, [`down_at_once`]) are not told of their first verdict.
    pub(super) fn set(&mut self, t: Vec<FileTarget>, held: &HashMap<DestId, bool>) {
        let ids: HashSet<DestId> = t.iter().map(|t| t.id).collect();
        let old: HashSet<DestId> = self.targets.iter().map(|t| t.id).collect();
        self.down.retain(|id| ids.contains(id));
        let new = ids.difference(&old).filter(|id| held.contains_key(id));
        self.fresh = new.copied().collect();
        let mut paths: Vec<PathBuf> = t
            .iter()
            .flat_map(|t| t.files.iter())
            .map(|c| c.path.clone())
            .collect();
        paths.sort();
        paths.dedup();
        self.values.retain(|p, _| paths.binary_search(p).is_ok());
        // No instance: tried at the first files, and again when they
        // change (a limit reached then may be lifted since).
        let again = self.no_watch.is_none() || paths != self.paths;
        if self.watch.is_none() && !paths.is_empty() && again {
            self.watch_anew();
        }
        if let Some(w) = &mut self.watch {
            w.set(&paths);
        }
        (self.targets, self.paths, self.next) = (t, paths, None);
    }

    /// Makes the inotify instance; a failure is logged unless it is the
    /// one logged last.
    fn watch_anew(&mut self) {
        match self.inotify() {
            Ok(inotify) => {
                self.no_watch = None;
                self.watch = Some(Watch {
                    inotify,
                    wanted: Dirs::new(),
                    watched: HashMap::new(),
                    missing: Vec::new(),
                    buf: vec![0; 4096],
                });
            }
            Err(e) => {
                let e = e.to_string();
                if self.no_watch.as_ref() != Some(&e) {
                    crate::log!(
                        "ringvs: health: no inotify ({e}): track files are read once a second"
                    );
                    #[cfg(test)]
                    {
                        self.no_watch_logs += 1;
                    }
                }
                self.no_watch = Some(e);
            }
        }
    }

    /// A new inotify instance (tests: refused while `fail_inits` lasts).
    fn inotify(&mut self) -> std::io::Result<Inotify> {
        #[cfg(test)]
        if self.fail_inits > 0 {
            self.fail_inits -= 1;
            return Err(std::io::Error::from_raw_os_error(libc::EMFILE));
        }
        Inotify::init()
    }

    /// Reads the files if due, or inotify told of a change; true if a
    /// value changed.
    pub(super) fn poll(&mut self, now: Instant) -> bool {
        let told = self.watch.as_mut().is_some_and(Watch::changed);
        let due = self.next.is_none_or(|n| now >= n);
        if !(told || due) || self.paths.is_empty() {
            return false;
        }
        if due {
            self.next = Some(now + EVERY);
            if let Some(w) = self.watch.as_mut().filter(|w| !w.missing.is_empty()) {
                w.retry(false);
            }
        }
        let mut changed = false;
        for p in &self.paths {
            let Some(v) = read(p) else {
                if self.bad.insert(p.clone()) {
                    crate::log!(
                        "ringvs: health: {}: not a number in -2147483648..2147483648, ignored",
                        p.display()
                    );
                }
                continue;
            };
            self.bad.remove(p);
            changed |= self.values.insert(p.clone(), v) != Some(v);
        }
        changed
    }

    /// The votes of `t`'s files together: `None` down, else what they add
    /// to its weight.
    fn verdict(&self, t: &FileTarget) -> Option<i64> {
        let value = |c: &FileCheck| self.values.get(&c.path).copied().unwrap_or(0);
        t.files.iter().map(|c| vote(c, value(c))).sum()
    }

    /// Whether the files hold server `id` down (as last told).
    pub(super) fn holds(&self, id: DestId) -> bool {
        self.down.contains(&id)
    }

    /// Adds the servers the files hold down (with their
    /// `inhibit_on_failure`, unless their check holds them already) to
    /// `down`, and their votes to the weights of the others in `weights`.
    pub(super) fn hold(
        &self,
        down: &mut HashMap<DestId, bool>,
        weights: &mut HashMap<DestId, u32>,
    ) {
        for t in &self.targets {
            match self.verdict(t) {
                None => {
                    let inhibit = t.files.iter().any(|c| c.inhibit);
                    down.entry(t.id).or_insert(inhibit);
                }
                Some(0) => {}
                Some(plus) => {
                    let base = weights.get(&t.id).copied().unwrap_or(t.weight);
                    weights.insert(t.id, weigh(base, plus));
                }
            }
        }
    }

    /// Logs the servers the files took down or brought back, and tells
    /// `notify` of those whose check holds them up (`checked_up`; a new
    /// server's first verdict is not told, as keepalived starts it down).
    pub(super) fn tell(&mut self, notify: &Notifier, checked_up: impl Fn(DestId) -> bool) {
        for t in &self.targets {
            let is = self.verdict(t).is_none();
            let fresh = self.fresh.remove(&t.id);
            if is == self.down.contains(&t.id) {
                continue;
            }
            if is {
                self.down.insert(t.id);
            } else {
                self.down.remove(&t.id);
            }
            let values: Vec<String> = t
                .files
                .iter()
                .map(|c| {
                    let v = self.values.get(&c.path).copied().unwrap_or(0);
                    format!("track_file {} value {v}", c.name)
                })
                .collect();
            let state = if is { "DOWN" } else { "UP" };
            let (rs, svc, why) = (t.rs, t.service, values.join(", "));
            crate::log!("ringvs: health: {rs} {state} (FILE_CHECK: {why}) in {svc}");
            if !fresh && checked_up(t.id) {
                notify.server(&t.service, t.rs, !is, &t.scripts);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(weight: i32, reverse: bool) -> FileCheck {
        FileCheck {
            name: "f".into(),
            path: PathBuf::from("/nonexistent/ringvs-f"),
            weight,
            reverse,
            inhibit: false,
        }
    }

    /// Server `id` of 198.18.0.110:80, with one FILE_CHECK of weight 0 on
    /// `path` (down while its value is not 0).
    fn target(id: u32, path: PathBuf) -> FileTarget {
        FileTarget {
            service: ServiceKey::new(
                crate::config::Proto::Tcp,
                std::net::Ipv4Addr::new(198, 18, 0, 110),
                80,
            ),
            id: DestId(id),
            rs: "198.19.0.2:80".parse().unwrap(),
            weight: 1,
            files: vec![FileCheck {
                path,
                ..check(0, false)
            }],
            scripts: Scripts::default(),
        }
    }

    /// `strtol(…, 0)`: blanks, a sign, hex, octal, digits up to the first
    /// other byte; nothing read is 0; beyond the range, not taken.
    #[test]
    fn numbers_as_strtol_reads_them() {
        let cases: [(&str, Option<i64>); 16] = [
            ("0\n", Some(0)),
            ("5\n", Some(5)),
            ("  \t-12 apples", Some(-12)),
            ("+7", Some(7)),
            ("0x1F", Some(31)),
            ("0X", Some(0)),
            ("010", Some(8)),
            ("09", Some(0)),
            ("", Some(0)),
            ("up", Some(0)),
            ("12abc", Some(12)),
            ("2147483648", Some(2147483648)),
            ("2147483649", None),
            ("-2147483648", Some(-2147483648)),
            ("-2147483649", None),
            ("99999999999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text.as_bytes()), want, "{text:?}");
        }
    }

    /// keepalived's mapping: weight 0 is up on 0 (`reverse`: on non-zero),
    /// else down; a weight scales the value (turned by `reverse`), down at
    /// -2^31 or below; the server's weight stays in 0..2^31-1, so a
    /// keepalived.conf weight above `ipvsadm -w`'s 65535 is kept whole.
    #[test]
    fn values_vote_as_keepalived_counts_them() {
        assert_eq!(vote(&check(0, false), 0), Some(0));
        assert_eq!(vote(&check(0, false), 1), None);
        assert_eq!(vote(&check(0, false), -3), None);
        assert_eq!(vote(&check(0, true), 0), None);
        assert_eq!(vote(&check(0, true), 9), Some(0));
        assert_eq!(vote(&check(1, false), 0), Some(0));
        assert_eq!(vote(&check(2, false), 5), Some(10));
        assert_eq!(vote(&check(2, true), 5), Some(-10));
        assert_eq!(vote(&check(-3, false), 4), Some(-12));
        assert_eq!(vote(&check(1, false), -2147483647), Some(-2147483647));
        assert_eq!(vote(&check(1, false), -2147483648), None, "the fault value");
        assert_eq!(vote(&check(2, false), -1073741824), None, "-2^31: down");
        assert_eq!(vote(&check(1, true), 2147483648), None, "reversed 2^31");
        assert_eq!(
            vote(&check(i32::MAX, false), 2147483648),
            Some(i64::from(i32::MAX)),
            "taken to the 32-bit range"
        );
        assert_eq!(weigh(5, 10), 15);
        assert_eq!(weigh(5, -10), 0);
        assert_eq!(weigh(5, i64::from(i32::MAX)), i32::MAX as u32);
        assert_eq!(weigh(100_000, 0), 100_000, "not cut to 65535");
        assert_eq!(weigh(i32::MAX as u32, 7), i32::MAX as u32);
    }

    /// Files read: missing is 0, a bad number keeps the last value, and
    /// servers' votes combine (any down is down; weights add).
    #[test]
    fn files_are_read_and_their_votes_combine() {
        let dir = std::env::temp_dir().join(format!("ringvs-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let _ = std::fs::remove_file(&a);
        std::fs::write(&b, "3\n").unwrap();
        assert_eq!(read(&a), Some(0), "missing");
        assert_eq!(read(&b), Some(3));
        let k = ServiceKey::new(
            crate::config::Proto::Tcp,
            std::net::Ipv4Addr::new(198, 18, 0, 110),
            80,
        );
        let files = vec![
            FileCheck {
                path: a.clone(),
                ..check(0, false)
            },
            FileCheck {
                name: "g".into(),
                path: b.clone(),
                ..check(2, false)
            },
        ];
        let t = FileTarget {
            service: k,
            id: DestId(4),
            rs: "198.19.0.2:80".parse().unwrap(),
            weight: 1,
            files,
            scripts: Scripts::default(),
        };
        let mut f = Files::default();
        f.set(vec![t], &HashMap::new());
        let now = Instant::now();
        assert!(f.poll(now));
        let held = |f: &Files| {
            let (mut d, mut w) = (HashMap::new(), HashMap::new());
            f.hold(&mut d, &mut w);
            (d, w)
        };
        assert_eq!(held(&f), (HashMap::new(), HashMap::from([(DestId(4), 7)])));
        std::fs::write(&a, "1\n").unwrap();
        assert!(f.poll(now), "not due yet: inotify told");
        assert!(!f.poll(now + EVERY), "due, nothing new");
        assert_eq!(held(&f).0, HashMap::from([(DestId(4), false)]));
        std::fs::write(&a, "0\n").unwrap();
        std::fs::write(&b, "99999999999\n").unwrap();
        assert!(f.poll(now + EVERY * 2));
        assert_eq!(
            held(&f),
            (HashMap::new(), HashMap::from([(DestId(4), 7)])),
            "b kept 3"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A change is told once: not a new server's first verdict (held down
    /// at once), not while its check holds it down; a change of the file
    /// is, and so is a server of the rules before gaining a FILE_CHECK
    /// that says down, or leaving the rules while up.
    #[test]
    fn a_change_is_told_once() {
        let dir = std::env::temp_dir().join(format!("ringvs-file-tell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, "1\n").unwrap();
        let t = target(4, a.clone());
        let one = std::slice::from_ref(&t);
        assert_eq!(down_at_once(&HashSet::new(), one), [(DestId(4), false)]);
        let was = HashSet::from([DestId(4)]);
        assert!(
            down_at_once(&was, one).is_empty(),
            "a server of the rules before"
        );
        let (notify, notes) = Notifier::channel();
        let lines = || notes.try_iter().map(|n| n.line).collect::<Vec<_>>();
        let down = "RS [198.19.0.2]:tcp:80 [198.18.0.110]:tcp:80 DOWN\n";
        // A server of the rules before that gains a FILE_CHECK saying down
        // is told down (keepalived's reload: `set_track_file_checkers_down`).
        let mut g = Files::default();
        g.set(vec![t.clone()], &HashMap::new());
        g.poll(Instant::now());
        g.tell(&notify, |_| true);
        assert!(g.holds(DestId(4)));
        assert_eq!(lines(), [down]);
        // One that leaves the rules while up is told down; held down, not.
        let empty = Config::new();
        gone(one, &empty, |_| false, &notify);
        assert_eq!(lines(), [down]);
        gone(one, &empty, |_| true, &notify);
        assert!(lines().is_empty());
        let mut f = Files::default();
        f.set(vec![t], &HashMap::from([(DestId(4), false)]));
        let now = Instant::now();
        f.poll(now);
        f.tell(&notify, |_| true);
        assert!(f.holds(DestId(4)));
        assert!(lines().is_empty(), "a new server's first verdict");
        std::fs::write(&a, "0\n").unwrap();
        f.poll(now + EVERY);
        f.tell(&notify, |_| true);
        assert!(!f.holds(DestId(4)));
        assert_eq!(
            lines(),
            ["RS [198.19.0.2]:tcp:80 [198.18.0.110]:tcp:80 UP\n"]
        );
        std::fs::write(&a, "2\n").unwrap();
        f.poll(now + EVERY * 2);
        f.tell(&notify, |_| false);
        assert!(f.holds(DestId(4)));
        assert!(lines().is_empty(), "its check holds it down already");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A write to a tracked file, in place or renamed over it (as editors
    /// and `init_file` write), is read without waiting for the once-a-second
    /// poll (inotify on its directory, keepalived's `process_inotify`):
    /// the poll's time stands still here, so only inotify can tell.
    #[test]
    fn a_write_is_read_without_waiting_for_the_poll() {
        let dir = std::env::temp_dir().join(format!("ringvs-file-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a");
        std::fs::write(&a, "0\n").unwrap();
        let t = target(5, a.clone());
        let mut f = Files::default();
        f.set(vec![t], &HashMap::new());
        let (notify, _notes) = Notifier::channel();
        let t0 = Instant::now();
        f.poll(t0);
        f.tell(&notify, |_| true);
        assert!(!f.holds(DestId(5)));
        assert!(!f.poll(t0), "not due, nothing written");
        // Seen within a bounded wait, polled at t0 throughout.
        let seen = |f: &mut Files| {
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if f.poll(t0) {
                    f.tell(&notify, |_| true);
                    return true;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            false
        };
        // Another file of the directory is not ours: inotify's event
        // about it (queued by the write itself) tells of no change.
        std::fs::write(dir.join("other"), "1\n").unwrap();
        let w = f.watch.as_mut().expect("watched");
        assert!(!w.changed(), "another file is not ours");
        std::fs::write(&a, "1\n").unwrap();
        assert!(seen(&mut f), "a write in place");
        assert!(f.holds(DestId(5)));
        let tmp = dir.join(".a.new");
        std::fs::write(&tmp, "0\n").unwrap();
        std::fs::rename(&tmp, &a).unwrap();
        assert!(seen(&mut f), "a rename over it");
        assert!(!f.holds(DestId(5)));
        std::fs::write(&a, "3\n").unwrap();
        assert!(seen(&mut f));
        std::fs::remove_file(&a).unwrap();
        assert!(seen(&mut f), "deleted: 0");
        assert!(!f.holds(DestId(5)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An inotify instance refused (a per-user limit, `EMFILE`) is tried
    /// again when the files change, not at every reload of the same ones,
    /// and the same failure is logged once.
    #[test]
    fn a_refused_inotify_is_tried_again_when_the_files_change() {
        let dir = std::env::temp_dir();
        let target = |name: &str| target(5, dir.join(name));
        let mut f = Files {
            fail_inits: 2,
            ..Files::default()
        };
        f.set(vec![target("ringvs-a")], &HashMap::new());
        assert!(f.watch.is_none() && f.no_watch_logs == 1);
        // The same files again (a reload that changed nothing else): not
        // tried, so not refused again.
        f.set(vec![target("ringvs-a")], &HashMap::new());
        assert!(f.watch.is_none() && f.fail_inits == 1);
        // Other files: tried again, refused for the same reason, not logged.
        f.set(vec![target("ringvs-b")], &HashMap::new());
        assert!(f.watch.is_none() && f.fail_inits == 0);
        assert_eq!(f.no_watch_logs, 1);
        // And again: made this time.
        f.set(vec![target("ringvs-a")], &HashMap::new());
        assert!(f.watch.is_some() && f.no_watch.is_none());
        assert_eq!(f.no_watch_logs, 1);
    }
}
