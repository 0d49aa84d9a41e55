//! Who runs the scripts (notify scripts, `MISC_CHECK` commands, the notify
//! FIFO's script) and whether they may run at all: keepalived's
//! `script_user` and `enable_script_security` (`lib/notify.c`), given to
//! `ringvs run` as `--script-user USER[:GROUP]` and `--script-security`, or
//! read from the `global_defs` of its `--keepalived` file.
//!
//! * **The user** (`set_default_script_user`, `get_default_script_user`):
//!   the one named, with its primary group unless a group is named too; an
//!   unknown name runs no script. Without a name, keepalived's
//!   `keepalived_script` if the host has it; else ringvs's own user, or, with
//!   script security on, no script at all (keepalived drops every script
//!   without a user of its own then).
//! * **The check before each run** (`check_script_secure`): a bare command
//!   name is looked for in `PATH` (the first file of that name the user may
//!   execute); the path is resolved (`realpath`: every link followed) and
//!   the file it leads to is what runs, with the script's word as its
//!   `argv[0]` (keepalived runs the name given in the resolved directory
//!   when that is the same file, whose link could lead elsewhere by the
//!   time it runs); the file must be executable by the user that runs it
//!   (any execute bit for root, else the owner's, group's or others' bit
//!   that applies). A script run with root's user or group (or a
//!   set-id-root file) is **insecure** when the file, or any directory on
//!   its resolved path, is not owned by root, or is writable by others, or
//!   by a group other than root's (a directory with the sticky bit, as
//!   `/tmp`, is exempt from the last two) (`check_security`). With script security on, an insecure script does
//!   not run; with it off it runs, and loading a keepalived file says so.
//!   keepalived checks when it reads its configuration; ringvs checks then
//!   (a script that fails is dropped from the file's rules with a warning,
//!   `crate::config::keepalived`) and again before every run, so a script
//!   made writable later, or given with `ringvs adm`, is caught too.
//! * **Dropping privileges** (`set_script_env`): the child sets its group,
//!   then its user, before it runs the command, through
//!   `std::os::unix::process::CommandExt::{gid, uid}`, which, as root, also
//!   empties the supplementary groups (keepalived leaves the one group in
//!   them; the effective group is that group either way).
//! * The path is resolved with ringvs's ids, where keepalived resolves it
//!   with the script user's: a script under a directory that user cannot
//!   search is accepted as the file loads and then fails to start.

use crate::config::{Script, ScriptUser};
use crate::io::cred;
use arc_swap::ArcSwap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock};

/// keepalived's default script user, taken when it exists and no other is
/// named (`get_default_script_user`).
pub const DEFAULT_USER: &str = "keepalived_script";

/// Where a bare command name is looked for when `PATH` is not set
/// (glibc's `_CS_PATH`).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Whom scripts run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAs {
    /// ringvs's own user and group.
    Own,
    /// This user and group (`name`: as named, for messages).
    Id { uid: u32, gid: u32, name: String },
    /// Nobody: no script runs, for this reason.
    Refused(String),
}

/// The scripts' user (of those that name none of their own) and whether
/// insecure scripts are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub run_as: RunAs,
    pub security: bool,
}

impl Default for Policy {
    /// ringvs's own user, insecure scripts run: what a director without
    /// either setting, on a host without `keepalived_script`, does.
    fn default() -> Self {
        Policy {
            run_as: RunAs::Own,
            security: false,
        }
    }
}

impl Policy {
    /// The policy of `user` (else keepalived's default) and `security`.
    pub fn resolve(user: Option<&ScriptUser>, security: bool) -> Policy {
        let run_as = match user {
            Some(u) => lookup(u).unwrap_or_else(RunAs::Refused),
            None => {
                let default = ScriptUser {
                    user: DEFAULT_USER.into(),
                    group: None,
                };
                match lookup(&default) {
                    Ok(r) => r,
                    Err(_) if security => RunAs::Refused(format!(
                        "script security is on, no script user is named and there is no user {DEFAULT_USER}, so no script runs (as keepalived)"
                    )),
                    Err(_) => RunAs::Own,
                }
            }
        };
        Policy { run_as, security }
    }

    /// Whom it runs scripts as, for a log line.
    pub fn describe(&self) -> String {
        let who = match &self.run_as {
            RunAs::Own => "ringvs's own user".to_string(),
            RunAs::Id { uid, gid, name } => format!("{name} ({uid}:{gid})"),
            RunAs::Refused(why) => return why.clone(),
        };
        let sec = if self.security {
            "insecure ones refused"
        } else {
            "insecure ones run too"
        };
        format!("scripts run as {who}, {sec}")
    }
}

/// `u`'s ids, or why there are none.
fn lookup(u: &ScriptUser) -> Result<RunAs, String> {
    let pw = cred::user_by_name(&u.user)
        .map_err(|e| format!("script user '{}': {e}", u.user))?
        .ok_or_else(|| format!("script user '{}' does not exist", u.user))?;
    let gid = match &u.group {
        None => pw.gid,
        Some(g) => cred::group_by_name(g)
            .map_err(|e| format!("script group '{g}': {e}"))?
            .ok_or_else(|| format!("script group '{g}' does not exist"))?,
    };
    Ok(RunAs::Id {
        uid: pw.uid,
        gid,
        name: u.to_string(),
    })
}

/// The director's policy, set at start and by each load of its keepalived
/// file; read before each script runs.
static POLICY: LazyLock<ArcSwap<Policy>> =
    LazyLock::new(|| ArcSwap::from_pointee(Policy::default()));

/// Sets the director's policy.
pub fn set_policy(p: Policy) {
    POLICY.store(Arc::new(p));
}

/// The director's policy now.
pub fn policy() -> Arc<Policy> {
    POLICY.load_full()
}

/// A script cleared to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The program as resolved, links and all (what runs).
    pub program: PathBuf,
    /// The script's first word, the program's `argv[0]`.
    pub arg0: std::ffi::OsString,
    /// The user and group to switch to (`None`: stay as we are).
    pub ids: Option<(u32, u32)>,
    /// Run as root although insecure (script security off).
    pub insecure: Option<String>,
}

/// Whether `s` may run under `p`, and how (see the module notes).
pub fn vet(s: &Script, p: &Policy) -> Result<Ready, String> {
    let own = (cred::euid(), cred::egid());
    // A script's own user (keepalived's `notify_up "CMD" USER`), else the
    // director's; looked up at each run, as its ids may change.
    let named = s.user().map(|u| lookup(u).unwrap_or_else(RunAs::Refused));
    let (uid, gid) = match named.as_ref().unwrap_or(&p.run_as) {
        RunAs::Own => own,
        RunAs::Id { uid, gid, .. } => (*uid, *gid),
        RunAs::Refused(why) => return Err(why.clone()),
    };
    let ids = ((uid, gid) != own).then_some((uid, gid));
    if ids.is_some() && own.0 != 0 {
        return Err(format!(
            "ringvs runs as uid {} and cannot run scripts as uid {uid}, gid {gid}",
            own.0
        ));
    }
    let words = s.words();
    let prog = words.first().ok_or("no command")?;
    let path = if prog.as_bytes().contains(&b'/') {
        PathBuf::from(prog)
    } else {
        search_path(prog, (uid, gid))?
    };
    // The file itself, every link on the way resolved: what runs, so that
    // no link another user could change is followed again at `exec`.
    let program = fs::canonicalize(&path).map_err(|e| format!("'{}': {e}", path.display()))?;
    let meta = fs::metadata(&program).map_err(|e| format!("'{}': {e}", program.display()))?;
    if !meta.is_file() {
        return Err(format!("'{}' is not a regular file", program.display()));
    }
    if !executable(meta.mode(), (meta.uid(), meta.gid()), (uid, gid)) {
        return Err(format!(
            "'{}' is not executable for uid {uid}, gid {gid}",
            program.display()
        ));
    }
    let set_id_root = (meta.mode() & libc::S_ISUID != 0 && meta.uid() == 0)
        || (meta.mode() & libc::S_ISGID != 0 && meta.gid() == 0);
    let insecure = if uid == 0 || gid == 0 || set_id_root {
        walk(&program)?
    } else {
        None
    };
    if let Some(bad) = &insecure
        && p.security
    {
        return Err(format!(
            "'{}' would run with root's user or group but {bad} (script security is on)",
            program.display()
        ));
    }
    Ok(Ready {
        program,
        arg0: prog.clone(),
        ids,
        insecure,
    })
}

/// The command that runs `s` as `r` says (arguments as the script's words;
/// the caller sets its streams and group).
pub fn command(s: &Script, r: &Ready) -> Command {
    let mut cmd = Command::new(&r.program);
    cmd.arg0(&r.arg0).args(s.words().iter().skip(1));
    if let Some((uid, gid)) = r.ids {
        cmd.gid(gid).uid(uid);
    }
    cmd
}

/// `prog` looked for in `PATH`, as `execvp` would: the first regular file
/// of that name that `who` (user, group) may execute.
fn search_path(prog: &OsStr, who: (u32, u32)) -> Result<PathBuf, String> {
    let var = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&var)
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
            .join(prog)
        })
        .find(|p| {
            fs::metadata(p)
                .is_ok_and(|m| m.is_file() && executable(m.mode(), (m.uid(), m.gid()), who))
        })
        .ok_or_else(|| format!("'{}' is not found in PATH", prog.to_string_lossy()))
}

/// Whether a file of `mode`, owned by `owner` (user, group), may be run by
/// `who` (user, group), as keepalived's `is_executable`.
pub fn executable(mode: u32, owner: (u32, u32), who: (u32, u32)) -> bool {
    let bit = if who.0 == 0 {
        0o111
    } else if owner.0 == who.0 {
        0o100
    } else if owner.1 == who.1 {
        0o010
    } else {
        0o001
    };
    mode & bit != 0
}

/// Why a path entry of `mode`, owned by user `uid` and group `gid`, makes
/// a script run as root insecure, if it does (`check_security`'s test).
pub fn unsafe_entry(uid: u32, gid: u32, mode: u32) -> Option<&'static str> {
    let kind = mode & libc::S_IFMT;
    let dir_unsticky = kind == libc::S_IFDIR && mode & libc::S_ISVTX == 0;
    let checked = dir_unsticky || kind == libc::S_IFREG;
    if uid != 0 {
        Some("is not owned by root")
    } else if checked && mode & libc::S_IWOTH != 0 {
        Some("is writable by others")
    } else if checked && gid != 0 && mode & libc::S_IWGRP != 0 {
        Some("is writable by a group not root's")
    } else {
        None
    }
}

/// Each entry of the absolute `path` from `/`, not following links: the
/// first insecure one, if any; an error if one is of the wrong type.
fn walk(path: &Path) -> Result<Option<String>, String> {
    let comps: Vec<Component<'_>> = path.components().collect();
    let mut cur = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let m = fs::symlink_metadata(&cur).map_err(|e| format!("'{}': {e}", cur.display()))?;
        let t = m.file_type();
        let last = i + 1 == comps.len();
        if !last && !t.is_dir() {
            return Err(format!("'{}' is not a directory", cur.display()));
        }
        if last && !(t.is_file() || t.is_symlink()) {
            return Err(format!("'{}' is not a regular file", cur.display()));
        }
        if let Some(why) = unsafe_entry(m.uid(), m.gid(), m.mode()) {
            return Ok(Some(format!("'{}' {why}", cur.display())));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// keepalived's `check_security` test, entry by entry.
    #[test]
    fn insecure_entries_are_keepaliveds() {
        let (dir, reg, lnk) = (libc::S_IFDIR, libc::S_IFREG, libc::S_IFLNK);
        let is_unsafe = |u, g, m| unsafe_entry(u, g, m).is_some();
        // Root's, not writable by others: fine.
        assert!(!is_unsafe(0, 0, dir | 0o755));
        assert!(!is_unsafe(0, 0, reg | 0o755));
        // Owned by another user: insecure, whatever its bits.
        assert!(is_unsafe(1000, 0, reg | 0o700));
        assert!(is_unsafe(1000, 0, lnk | 0o777));
        // Writable by others, or by a group that is not root's.
        assert!(is_unsafe(0, 0, reg | 0o757));
        assert!(is_unsafe(0, 50, reg | 0o775));
        assert!(is_unsafe(0, 50, dir | 0o775));
        // Root's group may write.
        assert!(!is_unsafe(0, 0, reg | 0o775));
        // The sticky bit spares a directory (`/tmp`), not a file.
        assert!(!is_unsafe(0, 0, dir | 0o1777));
        assert!(is_unsafe(0, 0, reg | 0o1777));
        assert_eq!(
            unsafe_entry(0, 50, reg | 0o775),
            Some("is writable by a group not root's")
        );
        assert_eq!(
            unsafe_entry(0, 0, dir | 0o777),
            Some("is writable by others")
        );
        // A link's own bits are 777 and say nothing.
        assert!(!is_unsafe(0, 0, lnk | 0o777));
    }

    #[test]
    fn execute_bits_are_the_ones_that_apply() {
        // Root: any bit.
        assert!(executable(0o001, (5, 5), (0, 0)));
        assert!(!executable(0o644, (0, 0), (0, 0)));
        // The owner's bit for the owner, even if others may.
        assert!(!executable(0o011, (7, 8), (7, 9)));
        assert!(executable(0o100, (7, 8), (7, 9)));
        // The group's for the group, others' for the rest.
        assert!(executable(0o010, (1, 8), (7, 8)));
        assert!(!executable(0o101, (1, 8), (7, 8)));
        assert!(executable(0o001, (1, 2), (7, 8)));
    }

    #[test]
    fn a_refused_policy_runs_nothing_and_an_unknown_user_is_refused() {
        let p = Policy {
            run_as: RunAs::Refused("because".into()),
            security: false,
        };
        let s = Script::parse("/bin/true").unwrap();
        assert_eq!(vet(&s, &p), Err("because".into()));
        let u: ScriptUser = "no-such-user-ringvs".parse().unwrap();
        let p = Policy::resolve(Some(&u), false);
        assert_eq!(
            p.run_as,
            RunAs::Refused("script user 'no-such-user-ringvs' does not exist".into())
        );
        let u: ScriptUser = "root:no-such-group-ringvs".parse().unwrap();
        let p = Policy::resolve(Some(&u), false);
        assert_eq!(
            p.run_as,
            RunAs::Refused("script group 'no-such-group-ringvs' does not exist".into())
        );
    }
}
