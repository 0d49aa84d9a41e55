//! A real server's keepalived `FILE_CHECK`s in ipvsadm's syntax (a ringvs
//! extension, so that `-S` writes them and `-R` restores them): with `-a`
//! or `-e`, each `--file-check NAME` (the `track_file`'s name) is followed
//! by its `--file-path PATH`, and may be by `--file-weight W` (1 when not
//! given, a `track_file`'s default) and `--file-reverse`; `--file-inhibit`
//! is the server's `inhibit_on_failure` for its files. An `-e` without
//! `--file-check` keeps the server's `FILE_CHECK`s (with them, it replaces
//! them): editing a weight does not drop what a keepalived.conf gave it.
//! An empty name (`--file-check ''`, as `--pe ''` is no engine) is none:
//! alone, it leaves the server no `FILE_CHECK` (keepalived's names are
//! never empty, where any word, `none` too, may be a `track_file`'s).

use super::super::{AdmError, FileCheck};
use super::messages::usage;
use super::options::{Cmd, Tag};

/// The `FILE_CHECK` options of one command line.
#[derive(Default)]
pub(super) struct FileArgs {
    /// The first of them seen, by long name (for messages).
    first: Option<&'static str>,
    /// Each `--file-check`, with whether its path and weight were given.
    checks: Vec<(FileCheck, bool, bool)>,
    inhibit: bool,
    /// `--file-check ''`: no `FILE_CHECK` at all.
    none: bool,
}

/// The refusal of an empty `--file-check` beside other file options.
fn not_alone() -> AdmError {
    usage("an empty file-check (none) takes no other file option")
}

/// A `FILE_CHECK`'s own weight range (keepalived's `IPVS_WEIGHT_LIMIT`).
const MAX_FILE_WEIGHT: i32 = i32::MAX;

/// The longest name or path taken (Linux's `PATH_MAX`).
const MAX_VALUE: usize = 4096;

/// Why `val` cannot be a FILE_CHECK value (its track name, its file's
/// path): a control character (a line break would end the `-S` line and
/// leave the whole saved set unreadable by `-R`, as `Script::parse`
/// refuses them), or too long; none if it can.
pub(crate) fn unsaveable(val: &str) -> Option<String> {
    if val.chars().any(|c| c.is_control() && c != '\t') {
        return Some("a control character in it".into());
    }
    (val.len() > MAX_VALUE).then(|| format!("longer than {MAX_VALUE} bytes"))
}

impl FileArgs {
    /// Takes option `tag` if it is one of them.
    pub(super) fn take(&mut self, tag: Tag, val: &str) -> Result<bool, AdmError> {
        let name = match tag {
            Tag::FileCheck => "file-check",
            Tag::FilePath => "file-path",
            Tag::FileWeight => "file-weight",
            Tag::FileReverse => "file-reverse",
            Tag::FileInhibit => "file-inhibit",
            _ => return Ok(false),
        };
        self.first.get_or_insert(name);
        if let Some(why) = unsaveable(val) {
            return Err(usage(format!("illegal {name} specified: {why}")));
        }
        match tag {
            Tag::FileCheck => {
                if self.none || (val.is_empty() && !self.checks.is_empty()) {
                    return Err(not_alone());
                }
                if val.is_empty() {
                    self.none = true;
                    return Ok(true);
                }
                if self.checks.iter().any(|(c, ..)| c.name == val) {
                    return Err(usage(format!("file-check {val} given twice")));
                }
                let c = FileCheck {
                    name: val.to_string(),
                    path: Default::default(),
                    weight: 1,
                    reverse: false,
                    inhibit: false,
                };
                self.checks.push((c, false, false));
            }
            Tag::FileInhibit => self.inhibit = true,
            _ if self.none => return Err(not_alone()),
            _ => {
                let Some((c, path, weight)) = self.checks.last_mut() else {
                    return Err(usage(format!("{name} needs a --file-check before it")));
                };
                let twice = || {
                    usage(format!(
                        "multiple '{name}' options specified for file-check {}",
                        c.name
                    ))
                };
                match tag {
                    Tag::FilePath if *path => return Err(twice()),
                    Tag::FilePath if val.is_empty() => {
                        return Err(usage("illegal file-path specified: an empty path"));
                    }
                    Tag::FilePath => (c.path, *path) = (val.into(), true),
                    Tag::FileWeight if *weight => return Err(twice()),
                    Tag::FileWeight => {
                        let w = val.parse::<i32>().ok();
                        let w = w.filter(|&w| w >= -MAX_FILE_WEIGHT);
                        let w = w.ok_or_else(|| {
                            usage(format!(
                                "illegal file-weight specified: not a number in -{MAX_FILE_WEIGHT}..{MAX_FILE_WEIGHT}"
                            ))
                        })?;
                        (c.weight, *weight) = (w, true);
                    }
                    _ => c.reverse = true,
                }
            }
        }
        Ok(true)
    }

    /// The server's `FILE_CHECK`s, if `--file-check` was given (only with
    /// `-a` and `-e`; each needs its `--file-path`).
    pub(super) fn build(self, cmd: Cmd) -> Result<Option<Vec<FileCheck>>, AdmError> {
        let Some(first) = self.first else {
            return Ok(None);
        };
        if !matches!(cmd, Cmd::AddDest | Cmd::EditDest) {
            return Err(usage(format!(
                "Illegal '{first}' option with the '{}' command",
                cmd.name()
            )));
        }
        if self.none {
            return if self.inhibit {
                Err(not_alone())
            } else {
                Ok(Some(Vec::new()))
            };
        }
        if self.checks.is_empty() {
            return Err(usage(format!("{first} needs --file-check")));
        }
        let mut out = Vec::with_capacity(self.checks.len());
        for (mut c, path, _) in self.checks {
            if !path {
                return Err(usage(format!("file-check {} needs --file-path", c.name)));
            }
            c.inhibit = self.inhibit;
            out.push(c);
        }
        Ok(Some(out))
    }
}
