//! keepalived.conf as a source of rules: its LVS part (`virtual_server` blocks,
//! their `real_server`s and health checks) read into a [`Config`].
//!
//! The same file is the one keepalived reads for VRRP: the blocks only
//! keepalived uses (`global_defs`, `vrrp_instance`, `vrrp_sync_group`,
//! `vrrp_script`, `static_ipaddress`, ...) are skipped without a word. Inside
//! `virtual_server`, `real_server` and the checkers, every keyword ringvs does
//! not carry out is named in a warning (`FILE:LINE: keyword ...`), never
//! dropped silently; what ringvs cannot do at all and what is malformed (a bad address or number, an unknown
//! scheduler, a missing brace) is an error naming file and line. No error
//! leaves a partial result: [`load`] returns a whole [`Config`] or nothing.
//!
//! The semantics follow keepalived 2.x (`keepalived/check/check_parser.c`,
//! `check_data.c` `validate_check_config`, `check_api.c`, `check_tcp.c`,
//! `check_http.c`, `lib/parser.c`); the module doc of each file says which
//! function it mirrors and where ringvs differs on purpose.
//!
//! Reloading (SIGHUP): [`load`] the file again, then [`apply_differences`]
//! edits the running [`Config`] in place: only the services and real servers
//! that changed are added, edited or removed, so an unchanged real server keeps
//! its [`DestId`](super::DestId) (which its connections refer to).
//!
//! Files, each on the ones before it: `glob` (include patterns), `builtin`
//! (keepalived's pre-defined `$_NAME`s), `tree` (words, braces and the
//! tree of blocks), `lexer`
//! (lines, comments, quotes, conditionals, includes), `values`
//! (keyword values), `check` (the checkers and one check per service),
//! `conn` (a checker's `connect_ip`, `connect_port`, `bindto`),
//! `track` (`track_file` blocks and `FILE_CHECK`),
//! `group` (`virtual_server_group`), `lvs` (`virtual_server`,
//! `real_server`), `ssl` (the `SSL` block), `top` (the top-level blocks),
//! `diff` (changes between two configs). This file holds what they share and the public face. The
//! module uses `ipvsadm`'s limits (the same as `--check`'s and `-p`'s).

mod builtin;
mod check;
mod conn;
mod diff;
mod glob;
mod group;
mod http;
mod lexer;
mod lvs;
mod ssl;
mod top;
mod track;
mod tree;
mod values;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Config;

pub use diff::{
    Change, DestSettings, Fitted, ServiceSettings, apply_changes, apply_differences, apply_reload,
    diff,
};
pub use track::{TrackInit, init_files};

/// A place in the configuration: a file and a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a keepalived.conf could not be loaded (or applied).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KaError {
    /// A statement is wrong: `FILE:LINE: message`.
    #[error("{pos}: {message}")]
    At { pos: Pos, message: String },
    /// A file as a whole (it cannot be read): `FILE: message`.
    #[error("{}: {message}", file.display())]
    File { file: PathBuf, message: String },
    /// The table refused a change while applying a reload (nothing was changed).
    #[error("applying {change}: {message}")]
    Apply { change: String, message: String },
}

impl KaError {
    pub(crate) fn at(pos: &Pos, message: impl Into<String>) -> Self {
        KaError::At {
            pos: pos.clone(),
            message: message.into(),
        }
    }
}

/// Warnings gathered while reading; they come out in the order of the text
/// (files in the order they were read, then lines), each `FILE:LINE: message`.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    items: Vec<(Pos, String)>,
    /// The files in the order they were read.
    files: Vec<Arc<Path>>,
}

impl Warnings {
    pub(crate) fn at(&mut self, pos: &Pos, message: impl fmt::Display) {
        self.items.push((pos.clone(), message.to_string()));
    }

    /// How many warnings there are so far.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Drops the warnings after the first `since` that repeat one of them
    /// (the same message at the same place).
    pub(crate) fn dedup_since(&mut self, since: usize) {
        let mut seen = std::collections::HashSet::new();
        let mut i = 0;
        self.items.retain(|w| {
            i += 1;
            i <= since || seen.insert(w.clone())
        });
    }

    /// Drops the warnings from the `from`th on that are in `seen` or repeat
    /// one another, and notes the others in `seen`: the work is theirs
    /// alone, however many came before.
    pub(crate) fn dedup_from(&mut self, from: usize, seen: &mut HashSet<(Pos, String)>) {
        let new = self.items.split_off(from.min(self.items.len()));
        for w in new {
            if !seen.contains(&w) {
                seen.insert(w.clone());
                self.items.push(w);
            }
        }
    }

    /// Notes that `file` is read now (it sorts after the files before it).
    pub(crate) fn file(&mut self, file: &Arc<Path>) {
        if !self.files.contains(file) {
            self.files.push(file.clone());
        }
    }

    pub(crate) fn into_strings(mut self) -> Vec<String> {
        let files = std::mem::take(&mut self.files);
        let order = |p: &Pos| {
            files
                .iter()
                .position(|f| *f == p.file)
                .unwrap_or(usize::MAX)
        };
        self.items.sort_by_key(|(p, _)| (order(p), p.line));
        self.items
            .into_iter()
            .map(|(p, m)| format!("{p}: {m}"))
            .collect()
    }
}

/// How to read the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// keepalived's config-id (`-i`): a line `@ID ...` is read only when ID is
    /// this, a line `@^ID ...` only when it is not. `None`: every `@ID` line is
    /// skipped and every `@^ID` line read, as keepalived does without an id.
    pub config_id: Option<String>,
    /// The director's DIPs (`--int-addr`), which a checker's `bindto` may
    /// name (`conn.rs`); empty: not known, every `bindto` is warned about.
    pub dips: Vec<std::net::IpAddr>,
}

impl LoadOptions {
    /// keepalived's default config-id: the first label of the host name
    /// (keepalived.conf(5), "Conditional configuration and configuration id").
    pub fn from_host() -> Self {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let first = name.trim().split('.').next().unwrap_or("");
        LoadOptions {
            config_id: (!first.is_empty()).then(|| first.to_string()),
            dips: Vec::new(),
        }
    }
}

/// What [`load`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The virtual services, in the order of the file (real servers too).
    pub config: Config,
    /// Its `script_user` and `enable_script_security`.
    pub scripts: ScriptSettings,
    /// Keywords not carried out and defaults taken, each `FILE:LINE: message`.
    pub warnings: Vec<String>,
    /// Its `track_file`s' `init_file`s, which the director writes
    /// ([`init_files`]) when it takes the file.
    pub track_inits: Vec<TrackInit>,
}

/// A file's settings for the scripts it names (`global_defs`'s
/// `script_user` and `enable_script_security`), which the director runs
/// them under (`crate::health::scripts`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptSettings {
    pub user: Option<super::ScriptUser>,
    pub security: bool,
}

/// Reads keepalived.conf at `path` (and the files it includes) with the host's
/// config-id ([`LoadOptions::from_host`]).
pub fn load(path: &Path) -> Result<Loaded, KaError> {
    load_with(path, &LoadOptions::from_host())
}

/// [`load`] with explicit options.
pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Loaded, KaError> {
    let mut warnings = Warnings::default();
    let mut top = lexer::read(path, opts, None, &mut warnings)?;
    // `global_defs { random_seed N }`: the file read again, `$_RANDOM`
    // drawing from N all through it (`builtin`).
    if let Some(seed) = builtin::random_seed(&top) {
        warnings = Warnings::default();
        top = lexer::read(path, opts, Some(seed), &mut warnings)?;
    }
    let (config, scripts, track_inits) = top::config(&top, &mut warnings, &opts.dips)?;
    Ok(Loaded {
        config,
        scripts,
        warnings: warnings.into_strings(),
        track_inits,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_warnings_name_file_and_line() {
        let pos = Pos {
            file: Arc::from(Path::new("/etc/keepalived/lvs.conf")),
            line: 12,
        };
        let e = KaError::at(&pos, "lb_kind DR: not supported yet");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/lvs.conf:12: lb_kind DR: not supported yet"
        );
        let mut w = Warnings::default();
        let other = Pos {
            file: Arc::from(Path::new("/etc/keepalived/a.conf")),
            line: 3,
        };
        w.file(&pos.file);
        w.file(&other.file);
        w.at(&other, "second file");
        w.at(
            &pos,
            "notify_up (in real_server): not supported by ringvs, ignored",
        );
        w.at(
            &Pos {
                line: 2,
                ..pos.clone()
            },
            "earlier line",
        );
        assert_eq!(
            w.into_strings(),
            vec![
                "/etc/keepalived/lvs.conf:2: earlier line",
                "/etc/keepalived/lvs.conf:12: notify_up (in real_server): not supported by ringvs, ignored",
                "/etc/keepalived/a.conf:3: second file",
            ]
        );
        let f = KaError::File {
            file: PathBuf::from("/nope.conf"),
            message: "No such file or directory".into(),
        };
        assert_eq!(f.to_string(), "/nope.conf: No such file or directory");
    }
}
