//! keepalived's tracked files for the checker: the top-level `track_file
//! NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`
//! blocks (`trackers/track_file.c`, `track_file_handler` and the handlers
//! after it; `vrrp_track_file` is its older name) and a real server's
//! `FILE_CHECK { track_file NAME; weight W [reverse|noreverse] }`
//! (`check/check_file.c`, `install_file_check_keyword`). `health::file`
//! reads the files and turns their numbers into states and weights.
//!
//! As keepalived: a `track_file`'s weight is -254..254, 1 by default, and
//! a `FILE_CHECK` without its own takes the `track_file`'s (with its
//! `reverse`; `file_end_handler`); a `FILE_CHECK`'s own weight is
//! -2147483647..2147483647 (`IPVS_WEIGHT_LIMIT`) and may be 0. `init_file`
//! writes VALUE (default 0) and a line end into the file when it is loaded
//! ([`init_files`], `track_file_end_handler`): only a missing file, or with
//! `overwrite` a regular one at start (never on a reload).
//!
//! Deliberate differences: what keepalived reports and skips is an error
//! here (a `track_file` without `file`, a bad weight or option, a
//! `FILE_CHECK` naming no `track_file` or an unknown one), as ringvs
//! refuses a malformed file; a second `file` or `weight` in one block, a
//! `track_file` defined twice and a server tracking one file twice are
//! warned about and the first is kept (keepalived keeps the first too).

use std::path::PathBuf;

use super::super::FileCheck;
use super::super::ipvsadm::unsaveable;
use super::lexer::Stmt;
use super::values::Cx;
use super::{KaError, Pos};

/// keepalived's range of a `track_file`'s weight and `init_file` value.
const TRACK_WEIGHT: i32 = 254;

/// One `track_file` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TrackFile {
    pub pos: Pos,
    pub name: String,
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
    /// `init_file`: the value written, and whether an existing file is
    /// overwritten (at start).
    pub init: Option<(i64, bool)>,
}

/// What to write into a tracked file when the configuration is loaded
/// (`init_file`): see [`init_files`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInit {
    pub name: String,
    pub path: PathBuf,
    pub value: i64,
    pub overwrite: bool,
}

/// The `track_file` (and `vrrp_track_file`) blocks of the top level `top`.
pub(crate) fn track_files(cx: &mut Cx<'_>, top: &[Stmt]) -> Result<Vec<TrackFile>, KaError> {
    let mut out: Vec<TrackFile> = Vec::new();
    for s in top {
        if !matches!(s.keyword(), "track_file" | "vrrp_track_file") {
            continue;
        }
        let t = track_file(cx, s)?;
        match out.iter().find(|o| o.name == t.name) {
            Some(first) => cx.w.at(
                &s.pos,
                format!(
                    "track_file {}: defined twice, the first ({}) is used",
                    t.name, first.pos
                ),
            ),
            None => out.push(t),
        }
    }
    Ok(out)
}

fn track_file(cx: &mut Cx<'_>, s: &Stmt) -> Result<TrackFile, KaError> {
    let name = cx.value(s)?.to_string();
    let (mut path, mut weight, mut init): (Option<PathBuf>, Option<(i32, bool)>, _) =
        (None, None, None);
    let twice = |cx: &mut Cx<'_>, k: &Stmt| {
        let e = format!(
            "{} (in track_file {name}): given twice, the first is kept",
            k.keyword()
        );
        cx.w.at(&k.pos, e);
    };
    for k in s.children() {
        match k.keyword() {
            "file" if path.is_some() => twice(cx, k),
            "file" => path = Some(PathBuf::from(cx.value(k)?)),
            "weight" if weight.is_some() => twice(cx, k),
            "weight" => weight = Some(weight_of(cx, k, TRACK_WEIGHT, false)?),
            "init_file" => init = Some(init_file(k)?),
            _ => cx.unsupported(k, "track_file"),
        }
    }
    let path = path.ok_or_else(|| {
        KaError::at(
            &s.pos,
            format!("track_file {name}: no file (file PATH) given"),
        )
    })?;
    let (weight, reverse) = weight.unwrap_or((1, false));
    Ok(TrackFile {
        pos: s.pos.clone(),
        name,
        path,
        weight,
        reverse,
        init,
    })
}

/// `weight W [reverse]` (`noreverse` too where `noreverse`) with W in
/// `-max..=max`.
fn weight_of(cx: &mut Cx<'_>, k: &Stmt, max: i32, noreverse: bool) -> Result<(i32, bool), KaError> {
    let v = cx.value_of(k)?;
    let w = v
        .parse::<i32>()
        .ok()
        .filter(|w| w.checked_abs().is_some_and(|a| a <= max));
    let w =
        w.ok_or_else(|| KaError::at(&k.pos, format!("weight {v}: not a number in -{max}..{max}")))?;
    let reverse = match k.args().get(1).map(String::as_str) {
        None => false,
        Some("reverse") => true,
        Some("noreverse") if noreverse => false,
        Some(o) => {
            let also = if noreverse { " or noreverse" } else { "" };
            let e = format!("weight {v} {o}: the word after the weight is reverse{also}");
            return Err(KaError::at(&k.pos, e));
        }
    };
    cx.no_more(k, 2);
    Ok((w, reverse))
}

/// `init_file [VALUE] [overwrite]` (`track_file_init_handler`): a value
/// outside -254..254 is taken, as keepalived takes it (with a warning there).
fn init_file(k: &Stmt) -> Result<(i64, bool), KaError> {
    let (mut value, mut overwrite) = (0, false);
    for w in k.args() {
        if w == "overwrite" {
            overwrite = true;
            continue;
        }
        value = w.parse::<i32>().map(i64::from).map_err(|_| {
            KaError::at(
                &k.pos,
                format!("init_file {w}: neither a number (a 32-bit integer) nor overwrite"),
            )
        })?;
    }
    Ok((value, overwrite))
}

/// Reads a real server's `FILE_CHECK` block `s` against the `track_file`s
/// `files` (its `inhibit` is the server's, set with its defaults).
pub(crate) fn file_check(
    cx: &mut Cx<'_>,
    s: &Stmt,
    files: &[TrackFile],
) -> Result<FileCheck, KaError> {
    let (mut file, mut weight) = (None, None);
    for k in s.children() {
        match k.keyword() {
            "track_file" => {
                let name = cx.value(k)?;
                let t = files.iter().find(|t| t.name == name).ok_or_else(|| {
                    KaError::at(
                        &k.pos,
                        format!("track_file {name}: no such track_file block"),
                    )
                })?;
                saveable(k, t)?;
                file = Some(t);
            }
            "weight" => weight = Some(weight_of(cx, k, i32::MAX, true)?),
            _ => cx.unsupported(k, "FILE_CHECK"),
        }
    }
    let t = file.ok_or_else(|| {
        KaError::at(
            &s.pos,
            "FILE_CHECK: no track_file NAME given (keepalived ignores it)",
        )
    })?;
    let (weight, reverse) = weight.unwrap_or((t.weight, t.reverse));
    Ok(FileCheck {
        name: t.name.clone(),
        path: t.path.clone(),
        weight,
        reverse,
        inhibit: false,
    })
}

/// Whether `-R` can read back what `-S` writes of a `FILE_CHECK` on `t`
/// (`--file-check NAME --file-path PATH`): checked where a server uses it
/// (at `k`), so a `track_file` only VRRP tracks may hold what it likes.
/// An empty name would be saved as `--file-check ""`, which `-R` reads as
/// "no FILE_CHECK", and an empty path `-R` refuses.
fn saveable(k: &Stmt, t: &TrackFile) -> Result<(), KaError> {
    let values = [
        ("its name", t.name.as_str()),
        ("its file", &t.path.to_string_lossy()),
    ];
    let why = |v: &str| match v {
        "" => Some("empty".to_string()),
        v => unsaveable(v),
    };
    match values.iter().find_map(|&(w, v)| Some((w, why(v)?))) {
        Some((what, why)) => {
            let e = format!(
                "track_file {} (defined at {}): {what}: {why}",
                t.name.escape_debug(),
                t.pos
            );
            Err(KaError::at(&k.pos, e))
        }
        None => Ok(()),
    }
}

/// Adds `c` to a real server's `FILE_CHECK`s `to` (`at`: the server, for
/// the warning): one file is tracked once (keepalived's
/// `add_obj_to_track_file`), the first kept.
pub(crate) fn add_file_check(cx: &mut Cx<'_>, pos: &Pos, to: &mut Vec<FileCheck>, c: FileCheck) {
    if to.iter().any(|o| o.name == c.name) {
        let e = format!(
            "FILE_CHECK: track_file {} tracked twice, the first is used",
            c.name
        );
        cx.w.at(pos, e);
        return;
    }
    to.push(c);
}

/// The `init_file`s of `files`, to be written by [`init_files`].
pub(crate) fn inits(files: &[TrackFile]) -> Vec<TrackInit> {
    let with = files.iter().filter_map(|t| Some((t, t.init?)));
    with.map(|(t, (value, overwrite))| TrackInit {
        name: t.name.clone(),
        path: t.path.clone(),
        value,
        overwrite,
    })
    .collect()
}

/// Writes the `init_file`s as keepalived's `track_file_end_handler` does:
/// a missing file is created with the value; an existing one is left,
/// unless `overwrite` and not `reload`, when a regular file is written
/// again (anything else there is refused). The problems, one line each.
///
/// As keepalived's `fopen_safe` (hardened after CVE-2018-19044), the
/// value goes to a new file beside the path, which is then renamed over
/// it: track files often live in world-writable directories and ringvs
/// runs as root, so nothing planted at the path (a symbolic link, dangling
/// or not, a hard link to another file, a FIFO) is written through or
/// blocks the thread. A symbolic link there is refused as "not a regular
/// file" rather than replaced.
pub fn init_files(inits: &[TrackInit], reload: bool) -> Vec<String> {
    let mut out = Vec::new();
    for i in inits {
        let fail = |e: &dyn std::fmt::Display| {
            format!(
                "track_file {}: cannot initialise {}: {e}",
                i.name,
                i.path.display()
            )
        };
        if let Ok(m) = std::fs::symlink_metadata(&i.path) {
            if !i.overwrite || reload {
                continue;
            }
            if !m.is_file() {
                out.push(fail(&"not a regular file"));
                continue;
            }
        }
        if let Err(e) = write_by_rename(&i.path, format!("{}\n", i.value).as_bytes()) {
            out.push(fail(&e));
        }
    }
    out
}

/// Writes `bytes` as the file at `path`: into a new file of its directory
/// (made with `O_EXCL`, mode 0644, under a name nobody can guess), renamed
/// over `path`.
fn write_by_rename(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::hash::{BuildHasher, Hasher};
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().ok_or(std::io::ErrorKind::InvalidInput)?;
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".ringvs-{:016x}", h.finish()));
    let tmp = path.with_file_name(tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes));
    let done = written.and_then(|()| std::fs::rename(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The write goes through nothing at the path: a symbolic link (should
    /// one appear after [`super::init_files`] looked) or a hard link is
    /// replaced, its target left as it was, and a FIFO does not block it.
    #[test]
    fn the_write_goes_through_nothing_at_the_path() {
        let dir = std::env::temp_dir().join(format!("ringvs-track-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (at, other) = (dir.join("at"), dir.join("other"));
        std::os::unix::fs::symlink(&other, &at).unwrap();
        super::write_by_rename(&at, b"1\n").unwrap();
        assert!(!other.exists(), "a dangling link made no file");
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "1\n");
        std::fs::write(&other, "precious\n").unwrap();
        std::fs::remove_file(&at).unwrap();
        std::fs::hard_link(&other, &at).unwrap();
        super::write_by_rename(&at, b"2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "precious\n");
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "2\n");
        std::fs::remove_file(&at).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&at).status();
        assert!(made.unwrap().success());
        super::write_by_rename(&at, b"3\n").unwrap();
        assert_eq!(std::fs::read_to_string(&at).unwrap(), "3\n");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
