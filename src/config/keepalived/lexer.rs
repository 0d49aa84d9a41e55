//! keepalived.conf's syntax, as keepalived's `lib/parser.c` reads it, into a
//! tree of statements ([`Stmt`]): a statement is a keyword and its words, with
//! the block that follows it, if any.
//!
//! * `#` and `!` start a comment anywhere outside double quotes (`\#`, `\!`
//!   are the characters themselves): `decomment`.
//! * A word is a run of non-blanks, or a double-quoted string (quotes
//!   removed): `alloc_strvec_r`.
//! * `{` and `}` outside quotes split a line wherever they are, so
//!   `real_server 198.19.0.2 80 { weight 2 }` is four statements' worth of
//!   tokens, and a block may open on the keyword's line or on the next one
//!   (`read_line`, `process_stream`).
//! * `@ID line` is read only when ID is the config-id, `@^ID line` only when it
//!   is not (`read_line`).
//! * `$NAME=value` defines a parameter, `$NAME` and `${NAME}` use it
//!   (`check_definition`, `replace_param`), as do keepalived's pre-defined
//!   `_PWD`, `_INSTANCE`, `_HASH`, `_BANG` and `${_RANDOM MIN MAX}`
//!   (`builtin`). A line that a substitution
//!   changed is read again (a value may name another parameter, or be a
//!   `~SEQ` or an `@ID` line), at most [`MAX_RECHECK`] times.
//! * A definition whose line ends with `\` goes on over the next lines while
//!   they do (an empty line ends it too); used last on a line, its first
//!   line takes the name's place and the others follow as lines of their own
//!   (keepalived's multi-line definitions, `read_line`).
//! * `~SEQ(VAR, [START,] [STEP,] END) TEXT` reads TEXT once for each value
//!   of VAR, `~SEQx` with the values in hex (`add_seq`); VAR keeps its last
//!   value. Lines made this way, and the bytes parameters add to lines,
//!   are bounded ([`MAX_EXPANDED`], [`MAX_EXPANDED_BYTES`]).
//! * `include PATTERN` (the rest of the line; `includem`, `includew`,
//!   `includeb`, `includea` also refuse what keepalived's `include_check`
//!   refuses, [`glob::Checks`]) reads the matching files in place; a relative pattern
//!   is taken from the directory of the file that includes (keepalived
//!   `chdir`s there). Unlike keepalived, an include loop is an error (it
//!   would recurse without end), as are unreadable files (keepalived skips
//!   them); a pattern that matches nothing, and executable or non-regular
//!   files, are skipped with a warning, as keepalived logs them. What one
//!   load reads is bounded: [`MAX_FILE_BYTES`] a file, [`MAX_TOTAL_BYTES`]
//!   in all, [`MAX_FILES`] files, [`MAX_INCLUDE_DEPTH`] deep.
//! * `~LST` (keepalived 2.2) is warned about and its line skipped.
//! * A `}` too many, and a block still open at the end, are errors (keepalived
//!   only logs them).
//! * Text is UTF-8: bytes that are not are an error naming the line unless
//!   they are in a comment (keepalived reads bytes, so a Latin-1 path is
//!   its path there; here it would become another).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tree::{Tok, build, tokens};
use super::{KaError, LoadOptions, Pos, Warnings, builtin, glob};

/// Deepest nesting of includes.
const MAX_INCLUDE_DEPTH: usize = 32;
/// Most files read for one load.
const MAX_FILES: usize = 1024;
/// Largest file read.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most bytes read for one load, over all its files: without it 1024
/// includes of a 16 MiB file would be read, 16 GiB.
const MAX_TOTAL_BYTES: usize = 64 << 20;
/// Most lines `~SEQ` and multi-line definitions make for one load.
pub(super) const MAX_EXPANDED: usize = 1 << 20;
/// Longest line a substitution may make (keepalived's own buffer is 64 KiB).
const MAX_LINE: usize = 64 << 10;
/// Most bytes of lines `~SEQ` and multi-line definitions make for one load,
/// with what parameters add to the lines they are used on.
const MAX_EXPANDED_BYTES: usize = 16 << 20;
/// Most times one line is read again after a substitution changed it
/// (nested `~SEQ`s count too): `$A=$A` must not loop for ever.
const MAX_RECHECK: usize = 32;

/// A `$NAME=value` definition; a multi-line one's lines are joined by `\n`.
struct Def {
    name: String,
    value: String,
    multi: bool,
}

/// A statement: a keyword (`words[0]`, never missing), its arguments and the
/// block that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stmt {
    pub words: Vec<String>,
    pub pos: Pos,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// The statements of its block (none without a block).
    pub fn children(&self) -> &[Stmt] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Reads `path` and what it includes into top-level statements;
/// `$_RANDOM` draws from `seed` if there is one ([`builtin::Std`]).
pub(crate) fn read(
    path: &Path,
    opts: &LoadOptions,
    seed: Option<u32>,
    warnings: &mut Warnings,
) -> Result<Vec<Stmt>, KaError> {
    let mut r = Reader::new(opts, warnings);
    r.std.seed(seed);
    r.file(path, None)?;
    build(r.toks)
}

struct Reader<'a> {
    /// The config-id, and where `$_RANDOM` draws from.
    std: builtin::Std<'a>,
    /// `$NAME=value` definitions, latest last.
    defs: Vec<Def>,
    /// A multi-line definition still being read: its name and lines.
    open_def: Option<(String, Vec<String>)>,
    /// Lines made by `~SEQ` and multi-line definitions so far, and bytes.
    expanded: usize,
    expanded_bytes: usize,
    /// Canonical paths of the files being read (the include chain).
    stack: Vec<PathBuf>,
    files: usize,
    /// Bytes of the files read so far ([`MAX_TOTAL_BYTES`]).
    bytes: usize,
    toks: Vec<Tok>,
    warnings: &'a mut Warnings,
}

impl<'a> Reader<'a> {
    fn new(opts: &'a LoadOptions, warnings: &'a mut Warnings) -> Self {
        Reader {
            std: builtin::Std::new(opts.config_id.as_deref()),
            defs: Vec::new(),
            open_def: None,
            expanded: 0,
            expanded_bytes: 0,
            stack: Vec::new(),
            files: 0,
            bytes: 0,
            toks: Vec::new(),
            warnings,
        }
    }

    /// Reads one file; `from` is the `include` that names it.
    fn file(&mut self, path: &Path, from: Option<&Pos>) -> Result<(), KaError> {
        let fail = |message: String| match from {
            Some(pos) => KaError::at(pos, format!("include {}: {message}", path.display())),
            None => KaError::File {
                file: path.to_path_buf(),
                message,
            },
        };
        let canon = std::fs::canonicalize(path).map_err(|e| fail(e.to_string()))?;
        if self.stack.contains(&canon) {
            return Err(fail("include loop: the file is already being read".into()));
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(fail(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH}"
            )));
        }
        self.files += 1;
        if self.files > MAX_FILES {
            return Err(fail(format!("more than {MAX_FILES} files included")));
        }
        let bytes = crate::config::read_bounded(&canon, MAX_FILE_BYTES).map_err(fail)?;
        self.bytes = self.bytes.saturating_add(bytes.len());
        if self.bytes > MAX_TOTAL_BYTES {
            return Err(fail(format!(
                "more than {} MiB read for one load (its files and what they include)",
                MAX_TOTAL_BYTES >> 20
            )));
        }
        let text = String::from_utf8_lossy(&bytes);
        let bad = not_utf8_lines(&bytes);
        self.stack.push(canon);
        let r = self.text(Arc::from(path), &text, &bad);
        self.stack.pop();
        r
    }

    /// The lines of `text`; those numbered in `bad` (sorted) had bytes that
    /// are not UTF-8, each replaced by U+FFFD.
    fn text(&mut self, file: Arc<Path>, text: &str, bad: &[usize]) -> Result<(), KaError> {
        self.warnings.file(&file);
        for (i, raw) in text.lines().enumerate() {
            let pos = Pos {
                file: file.clone(),
                line: i + 1,
            };
            self.line(raw, &pos, bad.binary_search(&pos.line).is_ok())?;
        }
        // A multi-line definition still open ends with its file, as
        // keepalived's ends when `fgets` finds no more.
        if let Some((name, lines)) = self.open_def.take() {
            self.define(name, lines.join("\n"), true);
        }
        Ok(())
    }

    /// One line of a file; `bad`: it had bytes that are not UTF-8.
    fn line(&mut self, raw: &str, pos: &Pos, bad: bool) -> Result<(), KaError> {
        let line = decomment(raw).ok_or_else(|| KaError::at(pos, "unterminated quote"))?;
        // Outside a comment such a byte would silently become U+FFFD, and a
        // Latin-1 `misc_path` or `track_file` path another path.
        if bad && line.contains('\u{fffd}') {
            return Err(KaError::at(
                pos,
                "bytes that are not UTF-8 outside a comment (ringvs reads keepalived.conf as UTF-8)",
            ));
        }
        if let Some((name, mut lines)) = self.open_def.take() {
            // keepalived's `read_line`: a line ending with `\` goes on, any
            // other (an empty one too) is the definition's last; a line of
            // `\` alone adds nothing.
            let (text, more) = match line.strip_suffix('\\') {
                Some(t) => (t.trim_end_matches(blank), true),
                None => (line.as_str(), false),
            };
            if !text.is_empty() {
                lines.push(text.to_string());
            }
            if more {
                self.open_def = Some((name, lines));
            } else {
                self.define(name, lines.join("\n"), true);
            }
            return Ok(());
        }
        self.logical(line, pos, 0)
    }

    /// A line as keepalived reads it once decommented, whether from a file,
    /// a `~SEQ` or a multi-line definition; `depth` counts the times it
    /// was read again ([`MAX_RECHECK`]).
    fn logical(&mut self, mut line: String, pos: &Pos, depth: usize) -> Result<(), KaError> {
        if depth > MAX_RECHECK {
            return Err(KaError::at(
                pos,
                format!("parameters nested deeper than {MAX_RECHECK}: {line}"),
            ));
        }
        if let Some(rest) = line.strip_prefix('@') {
            let (rev, rest) = match rest.strip_prefix('^') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let Some((id, text)) = rest.split_once([' ', '\t']) else {
                return Ok(());
            };
            if (self.std.config_id != Some(id)) != rev {
                return Ok(());
            }
            line = text.trim_start_matches(blank).to_string();
        }
        if line.starts_with('$') && self.definition(&line) {
            return Ok(());
        }
        if line.starts_with("~SEQ") {
            return self.seq(&line, pos, depth);
        }
        // Any other line starting with `~` is read as it is: keepalived's
        // `read_line` stops before `replace_param` for it.
        if !line.starts_with('~') && line.contains('$') {
            let (new, more) = self.substitute(&line, pos)?;
            if new != line {
                // Read again, as keepalived rechecks a line it changed; the
                // rest of a multi-line value follows, line by line.
                // What the substitution added counts as made lines do:
                // `~SEQ(i, 2000) $A` of a 60000-byte `$A` holds 120 MB, and
                // so do many lines of `$A $A ...`, each under MAX_LINE.
                self.count_bytes(pos, new.len().saturating_sub(line.len()))?;
                self.logical(new, pos, depth + 1)?;
                for l in more {
                    self.count_expanded(pos, l.len())?;
                    self.logical(l, pos, depth + 1)?;
                }
                return Ok(());
            }
        }
        let words = split_words(&line).ok_or_else(|| KaError::at(pos, "unterminated quote"))?;
        if let Some(checks) = words.first().and_then(|w| glob::Checks::of(w)) {
            // The rest of the line, blanks and all, as keepalived 2.2's
            // `check_include` takes it; one quoted word is its text, as
            // earlier ones (`alloc_strvec`) read it.
            let rest = line.strip_prefix(words[0].as_str());
            let pattern = match &words[..] {
                [_, one] => Some(one.as_str()),
                [_, _, ..] => rest.map(|r| r.trim_start_matches(blank)),
                _ => None,
            };
            if let Some(pattern) = pattern {
                return self.include(&words[0], pattern, checks, pos);
            }
        }
        if line.starts_with("~LST") {
            self.warnings.at(
                pos,
                "~LST: not supported by ringvs, line skipped (write a ~SEQ or one line for each value)",
            );
            return Ok(());
        }
        tokens(&line, pos, &mut self.toks);
        Ok(())
    }

    /// `$NAME=value` (blanks after `=` skipped, none before it): true if
    /// the line is a definition (one ending with `\\`
    /// is left open for the lines that follow, [`Reader::line`]).
    fn definition(&mut self, line: &str) -> bool {
        let body = &line[1..];
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..name_len];
        // `=` right after the name: keepalived's `check_definition` stops
        // at the first character that is not of a name, so `$NAME = value`
        // is no definition (its `$NAME` is substituted, if defined, as on
        // any other line).
        let Some(value) = body[name_len..].strip_prefix('=') else {
            return false;
        };
        if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return false;
        }
        let value = value.trim_matches(blank);
        match value.strip_suffix('\\') {
            Some(first) => {
                let first = first.trim_end_matches(blank);
                let lines = if first.is_empty() {
                    Vec::new()
                } else {
                    vec![first.to_string()]
                };
                self.open_def = Some((name.to_string(), lines));
            }
            None => self.define(name.to_string(), value.to_string(), false),
        }
        true
    }

    fn define(&mut self, name: String, value: String, multi: bool) {
        self.defs.retain(|d| d.name != name);
        self.defs.push(Def { name, value, multi });
    }

    /// One more line (of `bytes`) made by `~SEQ` or a multi-line definition.
    fn count_expanded(&mut self, pos: &Pos, bytes: usize) -> Result<(), KaError> {
        self.expanded += 1;
        self.count_bytes(pos, bytes)
    }

    /// `bytes` more made by `~SEQ`, multi-line definitions or parameters
    /// (what a substitution adds to its line); with the lines, bounded
    /// ([`MAX_EXPANDED`], [`MAX_EXPANDED_BYTES`]) as the files are.
    fn count_bytes(&mut self, pos: &Pos, bytes: usize) -> Result<(), KaError> {
        self.expanded_bytes = self.expanded_bytes.saturating_add(bytes);
        if self.expanded > MAX_EXPANDED || self.expanded_bytes > MAX_EXPANDED_BYTES {
            return Err(KaError::at(
                pos,
                format!(
                    "~SEQ, multi-line definitions and parameters make more than {MAX_EXPANDED} lines or {MAX_EXPANDED_BYTES} bytes"
                ),
            ));
        }
        Ok(())
    }

    /// `~SEQ(VAR, [START,] [STEP,] END) TEXT` (`~SEQx`: the values in hex):
    /// TEXT read once for each value of VAR, as keepalived's `add_seq`
    /// takes it: with END alone the values run from 1 (-1 for an END below
    /// 0) towards END; with START and END by 1 towards END; a STEP of 0, or
    /// one that runs away from END, is refused. The numbers may be
    /// parameters, and are read as C's `strtol` with base 0 does (`0x` hex,
    /// a leading `0` octal).
    fn seq(&mut self, line: &str, pos: &Pos, depth: usize) -> Result<(), KaError> {
        let bad = |why: &str| KaError::at(pos, format!("invalid ~SEQ ({why}): {line}"));
        let rest = &line["~SEQ".len()..];
        let (hex, rest) = match rest.strip_prefix('x') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest = rest
            .trim_start_matches(blank)
            .strip_prefix('(')
            .ok_or_else(|| bad("no '('"))?;
        let (inside, text) = rest.split_once(')').ok_or_else(|| bad("no ')'"))?;
        let (text, inside) = (
            text.trim_start_matches(blank).to_string(),
            self.substitute(inside, pos)?.0,
        );
        let mut parts = inside.split(',').map(|p| p.trim_matches(blank));
        let var = parts.next().unwrap_or("");
        let name_ok = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(bad("no variable"));
        }
        let nums: Option<Vec<i64>> = parts.map(c_long).collect();
        let (start, step, end) = match nums.as_deref() {
            Some(&[end]) => (
                if end < 0 { -1 } else { 1 },
                if end < 1 { -1 } else { 1 },
                end,
            ),
            Some(&[start, end]) => (start, if start <= end { 1 } else { -1 }, end),
            Some(&[start, step, end]) => {
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return Err(bad("a step that never reaches the end"));
                }
                (start, step, end)
            }
            _ => return Err(bad("one to three numbers after the variable")),
        };
        if hex && (start < 0 || end < 0) {
            return Err(bad("~SEQx takes no negative number"));
        }
        let mut v = start;
        while (step > 0 && v <= end) || (step < 0 && v >= end) {
            self.count_expanded(pos, text.len())?;
            let value = if hex { format!("{v:x}") } else { v.to_string() };
            self.define(var.to_string(), value, false);
            self.logical(text.clone(), pos, depth + 1)?;
            let Some(next) = v.checked_add(step) else {
                break;
            };
            v = next;
        }
        Ok(())
    }

    /// Replaces `$NAME` (followed by a blank, `,`, `)` or the end) and `${NAME}`
    /// of defined names, and keepalived's pre-defined ones ([`builtin`]:
    /// `${_RANDOM MIN MAX}` takes parameters); anything else stays as it is.
    ///
    /// A multi-line definition is used only last on the line (keepalived's
    /// `find_definition`): its first line takes the name's place, and the
    /// others are returned, to be read after it. After a value that starts
    /// with `~` the rest of the line is left as it is (`replace_param`), for
    /// the `~SEQ` it makes to substitute.
    /// A line that would grow past [`MAX_LINE`] is an error, as keepalived
    /// refuses one past its buffer ("would exceed maximum line length").
    fn substitute(&mut self, line: &str, pos: &Pos) -> Result<(String, Vec<String>), KaError> {
        let too_long = || {
            KaError::at(
                pos,
                format!("a parameter makes the line longer than {MAX_LINE} bytes"),
            )
        };
        let mut out = String::new();
        let mut rest = line;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (braced, name_start) = match after.strip_prefix('{') {
                Some(a) => (true, a),
                None => (false, after),
            };
            let len = name_start
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name_start.len());
            let name = &name_start[..len];
            // Inside braces, `_RANDOM`'s parameters may follow the name.
            let (params, tail) = match braced {
                true => builtin::params(&name_start[len..]).unwrap_or((None, "")),
                false => (None, &name_start[len..]),
            };
            let ok_end = !name.is_empty()
                && if braced {
                    tail.starts_with('}') && (params.is_none() || name == builtin::RANDOM)
                } else {
                    tail.is_empty() || tail.starts_with([' ', '\t', ',', ')'])
                };
            let after_name = if braced { tail.get(1..) } else { Some(tail) };
            let last = after_name.is_some_and(str::is_empty);
            let value = match self.defs.iter().rev().find(|d| d.name == name) {
                Some(d) if d.multi && !last => None,
                Some(d) => Some(d.value.clone()),
                None if ok_end => builtin::value(name, params, pos, &mut self.std, self.warnings)?,
                None => None,
            };
            match value {
                Some(value) if ok_end => {
                    let mut lines = value.split('\n');
                    out.push_str(lines.next().unwrap_or(""));
                    if out.len() + rest.len() > MAX_LINE {
                        return Err(too_long());
                    }
                    let more: Vec<String> = lines.map(str::to_string).collect();
                    rest = after_name.unwrap_or("");
                    if !more.is_empty() || value.trim_start().starts_with('~') {
                        out.push_str(rest);
                        return Ok((out, more));
                    }
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok((out, Vec::new()))
    }

    /// `kw PATTERN`: `include` or a variant that also `checks` what the
    /// pattern matches ([`glob::Checks`]).
    fn include(
        &mut self,
        kw: &str,
        pattern: &str,
        checks: glob::Checks,
        pos: &Pos,
    ) -> Result<(), KaError> {
        let dir = pos.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let fail = |e: String| KaError::at(pos, format!("{kw} {pattern}: {e}"));
        let files = glob::files(&dir, pattern).map_err(fail)?;
        if let Some(why) = checks.refuse(&dir, pattern, files.len()).map_err(fail)? {
            return Err(fail(why));
        }
        if files.is_empty() {
            self.warnings
                .at(pos, format!("{kw} {pattern}: no file matches"));
        }
        for f in files {
            if is_executable(&f) {
                self.warnings.at(
                    pos,
                    format!(
                        "include {}: skipped, an executable file (as keepalived does)",
                        f.display()
                    ),
                );
                continue;
            }
            self.file(&f, Some(pos))?;
        }
        Ok(())
    }
}

/// The numbers of the lines of `bytes` that are not UTF-8, in order.
fn not_utf8_lines(bytes: &[u8]) -> Vec<usize> {
    if std::str::from_utf8(bytes).is_ok() {
        return Vec::new();
    }
    let lines = bytes.split(|&b| b == b'\n').enumerate();
    lines
        .filter(|(_, l)| std::str::from_utf8(l).is_err())
        .map(|(i, _)| i + 1)
        .collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// A number as C's `strtol(s, _, 0)` reads a whole word: nothing is 0, else
/// an optional sign, then `0x` hex, a leading `0` octal, or decimal, held
/// to `i64`'s range as `strtol` holds it to `long`'s.
fn c_long(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        v = (v * i128::from(radix) + i128::from(c.to_digit(radix)?)).min(1 << 64);
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// keepalived's blanks (`parser.c` `WHITE_SPACE_STR`, C's `isspace`): ASCII
/// only, so a no-break space or another Unicode space is part of a word.
pub(super) fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// A line without its comment and surrounding blanks; `None` if a double quote
/// is left open. `\#` and `\!` outside quotes become `#` and `!`.
fn decomment(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut quote = false;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quote = !quote;
                out.push(c);
            }
            '\\' => match chars.peek() {
                Some(&n @ ('#' | '!')) if !quote => {
                    out.push(n);
                    chars.next();
                }
                Some(&n) => {
                    out.push(c);
                    out.push(n);
                    chars.next();
                }
                None => out.push(c),
            },
            '#' | '!' if !quote => break,
            c => out.push(c),
        }
    }
    (!quote).then(|| out.trim_matches(blank).to_string())
}

/// The words of a line, braces included as words (`include`'s view of it).
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                let mut q = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        // `\"` does not close the quote (as `tokens`).
                        '\\' => {
                            q.push('\\');
                            q.extend(chars.next());
                        }
                        c => q.push(c),
                    }
                }
                words.push(q);
            }
            c if blank(c) => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Some(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Reads `text` as if it were the file `name` (includes relative to its
    /// directory).
    fn read_str(
        name: &Path,
        text: &str,
        opts: &LoadOptions,
        warnings: &mut Warnings,
    ) -> Result<Vec<Stmt>, KaError> {
        let mut r = Reader::new(opts, warnings);
        r.stack.push(name.to_path_buf());
        r.files = 1;
        r.text(Arc::from(name), text, &[])?;
        build(r.toks)
    }

    fn parse(text: &str) -> Result<Vec<Stmt>, KaError> {
        parse_id(text, None).map(|(s, _)| s)
    }

    fn parse_id(text: &str, id: Option<&str>) -> Result<(Vec<Stmt>, Vec<String>), KaError> {
        let mut w = Warnings::default();
        let opts = LoadOptions {
            config_id: id.map(str::to_string),
            ..LoadOptions::default()
        };
        let s = read_str(Path::new("/k/ka.conf"), text, &opts, &mut w)?;
        Ok((s, w.into_strings()))
    }

    /// The tree as `kw arg {..}` strings, one per statement, nested by indent.
    fn shape(stmts: &[Stmt], depth: usize, out: &mut Vec<String>) {
        for s in stmts {
            let mut l = format!("{}{}@{}", "  ".repeat(depth), s.words.join(" "), s.pos.line);
            if s.block.is_some() {
                l.push_str(" {");
            }
            out.push(l);
            shape(s.children(), depth + 1, out);
        }
    }

    fn lines(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        shape(&parse(text).unwrap(), 0, &mut out);
        out
    }

    #[test]
    fn braces_comments_and_quotes() {
        let text = "! Configuration File\n\
            virtual_server 198.18.0.110 80 {   # a comment\n\
            \tlb_algo rr\n\
            \treal_server 198.19.0.2 80 { weight 2 }\n\
            \treal_server 198.19.0.3 80\n\
            \t{\n\
            \t\tHTTP_GET { url { path \"/a b#c\" } }\n\
            \t}\n\
            }\n\
            notify \"x\\#y\" a\\#b\n";
        assert_eq!(
            lines(text),
            vec![
                "virtual_server 198.18.0.110 80@2 {",
                "  lb_algo rr@3",
                "  real_server 198.19.0.2 80@4 {",
                "    weight 2@4",
                "  real_server 198.19.0.3 80@5 {",
                "    HTTP_GET@7 {",
                "      url@7 {",
                "        path /a b#c@7",
                "notify x\\#y a#b@10",
            ]
        );
    }

    /// Inside double quotes `\"` is kept and does not close the quote, in
    /// a statement's words and in an `include` line alike.
    #[test]
    fn an_escaped_quote_stays_inside_its_quoted_word() {
        let text = "notify_down \"/bin/logger \\\"rs down\\\"\" root\n";
        assert_eq!(
            lines(text),
            vec!["notify_down /bin/logger \\\"rs down\\\" root@1"]
        );
        assert_eq!(
            split_words("include \"/a \\\"b\\\".conf\""),
            Some(vec!["include".to_string(), "/a \\\"b\\\".conf".to_string()])
        );
    }

    /// Words split on keepalived's blanks only (`parser.c`
    /// `WHITE_SPACE_STR`: ASCII, the vertical tab and form feed included):
    /// a no-break space (U+00A0) or an em space (U+2003) is part of its
    /// word, and a line keeps one at either end, so `random_seed\u{a0}5`
    /// is one keyword (not `random_seed` with 5) and `include\u{a0}x` is
    /// no include.
    #[test]
    fn words_split_on_ascii_blanks_only() {
        let text = "global_defs {\n  random_seed\u{a0}5\n}\n\
                    a\x0bb\x0cc\u{2003}d\n\u{a0}e f\u{a0}\n";
        let top = parse(text).unwrap();
        let words: Vec<&[String]> = top.iter().map(|s| &s.words[..]).collect();
        assert_eq!(
            words,
            [
                &["global_defs"][..],
                &["a", "b", "c\u{2003}d"],
                &["\u{a0}e", "f\u{a0}"]
            ]
        );
        assert_eq!(top[0].children()[0].words, ["random_seed\u{a0}5"]);
        assert_eq!(top[0].children()[0].args(), &[] as &[String]);
        assert_eq!(
            split_words("include\u{a0}/k/x.conf y"),
            Some(vec!["include\u{a0}/k/x.conf".to_string(), "y".to_string()])
        );
    }

    #[test]
    fn brace_errors_name_the_line() {
        let e = parse("a {\n b\n}\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/k/ka.conf:4: unexpected '}' (no block is open)"
        );
        let e = parse("virtual_server 198.18.0.110 80 {\n real_server 198.19.0.2 80 {\n}\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/k/ka.conf:1: missing '}': the block of 'virtual_server' is not closed"
        );
        let e = parse("{\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "/k/ka.conf:1: unexpected '{'");
        let e = parse("a { }\n{\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "/k/ka.conf:2: unexpected '{'");
        let e = parse("path \"/open\n").unwrap_err();
        assert_eq!(e.to_string(), "/k/ka.conf:1: unterminated quote");
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        let text = "@lb1 priority 150\n@lb2 priority 100\n@^lb1 state BACKUP\n@lb1\nx 1\n";
        let (s, _) = parse_id(text, Some("lb1")).unwrap();
        let words: Vec<String> = s.iter().map(|s| s.words.join(" ")).collect();
        assert_eq!(words, vec!["priority 150", "x 1"]);
        let (s, _) = parse_id(text, None).unwrap();
        let words: Vec<String> = s.iter().map(|s| s.words.join(" ")).collect();
        assert_eq!(words, vec!["state BACKUP", "x 1"]);
    }

    #[test]
    fn definitions_are_substituted() {
        let text = "$VIP=198.18.0.110\n$ RS = x\nvirtual_server $VIP ${VIP}:80 $VIPX $NOPE\n\
                    x ${_PWD}/a $_INSTANCE $_ENV \"${_PWD 1}\"\n";
        let (s, _) = parse_id(text, Some("lb1")).unwrap();
        assert_eq!(s.len(), 3, "'$ RS = x' is not a definition: {s:?}");
        // `_ENV` is not one of keepalived's parser's, and `_PWD` takes no
        // parameters: both left as written.
        assert_eq!(s[2].words, vec!["x", "/k/a", "lb1", "$_ENV", "${_PWD 1}"]);
        assert_eq!(
            s[1].words,
            vec![
                "virtual_server",
                "198.18.0.110",
                "198.18.0.110:80",
                "$VIPX",
                "$NOPE"
            ]
        );
    }

    /// keepalived's pre-defined `_HASH`, `_BANG` (characters that would
    /// start a comment, not taken as one once substituted) and `_RANDOM`,
    /// with its defaults 0 and 32767, or MIN and MAX given in the braces;
    /// a definition of the same name replaces one.
    #[test]
    fn pre_defined_parameters_are_substituted() {
        let text = "misc_path ${_HASH}x$_HASH ${_BANG}y \"$_BANG\"\n\
                    a $_RANDOM ${_RANDOM} ${_RANDOM   } ${_RANDOM 7} ${_RANDOM 3 5}\n\
                    b ${_RANDOM 4  4} ${_RANDOM 0 0} \"${_RANDOM 1 10 }\" \"${_RANDOM1 2}\"\n";
        let (s, w) = parse_id(text, None).unwrap();
        // Unbraced, a name followed by `"` is not a use.
        assert_eq!(s[0].words, vec!["misc_path", "#x#", "!y", "$_BANG"]);
        let num = |w: &str| w.parse::<u64>().unwrap_or_else(|e| panic!("{w}: {e}"));
        let a: Vec<u64> = s[1].args().iter().map(|w| num(w)).collect();
        assert!(a[..3].iter().all(|&v| v <= 32767), "{a:?}");
        assert!((7..=32767).contains(&a[3]), "{a:?}");
        assert!((3..=5).contains(&a[4]), "{a:?}");
        // A space before `}` after the parameters is not a use (as keepalived).
        assert_eq!(s[2].args(), ["4", "0", "${_RANDOM 1 10 }", "${_RANDOM1 2}"]);
        assert!(w.is_empty(), "{w:?}");
        // Each use draws again: 40 draws of 0..=32767 are not all one value.
        let many = format!("c{}\n", " $_RANDOM".repeat(40));
        let (s, _) = parse_id(&many, None).unwrap();
        let first = &s[0].args()[0];
        assert!(s[0].args().iter().any(|v| v != first), "{:?}", s[0].args());
        // A definition of the name is used instead.
        let (s, _) = parse_id("$_HASH=h\n$_RANDOM=9\nd $_HASH ${_RANDOM 1 2}\n", None).unwrap();
        assert_eq!(s[0].words, vec!["d", "h", "9"]);
        // A third parameter: warned about and ignored, as keepalived logs it.
        let (s, w) = parse_id("e ${_RANDOM 2 2 9}\n", None).unwrap();
        assert_eq!(s[0].words, vec!["e", "2"]);
        assert_eq!(
            w,
            vec!["/k/ka.conf:1: ${_RANDOM 2 2 9}: too many parameters, only MIN and MAX are used"]
        );
        // MIN above MAX (where keepalived divides by zero), a number too large.
        let e = parse("f ${_RANDOM 32768}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/k/ka.conf:1: ${_RANDOM 32768}: MIN 32768 is above MAX 32767"
        );
        let e = parse("f ${_RANDOM 1 18446744073709551616}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/k/ka.conf:1: ${_RANDOM 1 18446744073709551616}: 18446744073709551616 is past 2^64 - 1"
        );
        let (s, _) = parse_id(
            "g ${_RANDOM 18446744073709551615 18446744073709551615}\n",
            None,
        )
        .unwrap();
        assert_eq!(s[0].args(), ["18446744073709551615"]);
    }

    /// Every statement of `text`, blocks' in order, one line each.
    fn lines_of(text: &str) -> Vec<String> {
        fn walk(s: &[Stmt], out: &mut Vec<String>) {
            for s in s {
                out.push(s.words.join(" "));
                walk(s.children(), out);
            }
        }
        let (s, _) = parse_id(text, None).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        walk(&s, &mut out);
        out
    }

    /// A line starting with `~` that is not a `~SEQ` keeps its `$NAME`s, as
    /// keepalived's `read_line` breaks out before `replace_param` for it;
    /// one a parameter makes (`$L` whose value starts with `~`) is the
    /// same, and so is a `~SEQ`'s text that starts with `~` (`read_line`
    /// copies it to the line and checks it as one read from the file).
    #[test]
    fn a_tilde_line_keeps_its_parameters() {
        assert_eq!(lines_of("$A=1\n~x $A\ny $A\n"), ["~x $A", "y 1"]);
        assert_eq!(lines_of("$A=1\n$L=~z $A\n$L\n"), ["~z $A"]);
        assert_eq!(lines_of("$A=1\n~SEQ(i,1) ~w $A $i\n"), ["~w $A $i"]);
    }

    /// keepalived's `~SEQ` (`add_seq`, `read_line`): the three forms, hex,
    /// parameters as bounds, nesting, and the variable keeping its last value.
    #[test]
    fn seq_reads_its_line_once_for_each_value() {
        assert_eq!(lines_of("~SEQ(i,3) x $i\n"), ["x 1", "x 2", "x 3"]);
        assert_eq!(lines_of("~SEQ(i, 0) x $i\n"), ["x 1", "x 0"]);
        assert_eq!(lines_of("~SEQ(i,-2) x $i\n"), ["x -1", "x -2"]);
        assert_eq!(lines_of("~SEQ(i, 5, 3) x $i\n"), ["x 5", "x 4", "x 3"]);
        assert_eq!(lines_of("~SEQ(i, 2, 3, 9) x $i\n"), ["x 2", "x 5", "x 8"]);
        assert_eq!(
            lines_of("~SEQx(h, 9, 0xb) a::$h\n"),
            ["a::9", "a::a", "a::b"]
        );
        assert_eq!(
            lines_of("$N=2\n~SEQ(i, 010, $N, 12) x ${i}y\n"),
            ["x 8y", "x 10y", "x 12y"]
        );
        assert_eq!(
            lines_of("~SEQ(a,2) ~SEQ(b,2) x ${a}.$b\ny $a $b\n"),
            ["x 1.1", "x 1.2", "x 2.1", "x 2.2", "y 2 2"]
        );
        let real = "~SEQ(n, 2, 3) real_server 198.19.0.$n 80 { weight $n }\n";
        assert_eq!(
            lines_of(real),
            [
                "real_server 198.19.0.2 80",
                "weight 2",
                "real_server 198.19.0.3 80",
                "weight 3"
            ]
        );
        for bad in [
            "~SEQ(i, 1, 0, 3) x\n",
            "~SEQ(i, 3, 1, 1) x\n",
            "~SEQ(1, 3) x\n",
            "~SEQ(i) x\n",
            "~SEQ(i, 1, 2, 3, 4) x\n",
            "~SEQ i, 3) x\n",
            "~SEQ(i, 3 x\n",
            "~SEQ(i, a) x\n",
            "~SEQx(i, -3) x\n",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(
                e.to_string().starts_with("/k/ka.conf:1: invalid ~SEQ"),
                "{e}"
            );
        }
        let e = parse("~SEQ(a,2000) ~SEQ(b,1000) x\n").unwrap_err();
        assert!(e.to_string().contains("more than 1048576 lines"), "{e}");
        let long = format!("~SEQ(i, 2000) {}\n", "x ".repeat(5000));
        let e = parse(&long).unwrap_err();
        assert!(e.to_string().contains("16777216 bytes"), "{e}");
        // As strtol: an empty number is 0, a huge one held to the range; a
        // second sign is no number.
        assert_eq!(lines_of("~SEQ(i,,2) x $i\n"), ["x 0", "x 1", "x 2"]);
        let huge = "~SEQ(i, 99999999999999999999, 1, 99999999999999999999) x $i\n";
        assert_eq!(lines_of(huge), ["x 9223372036854775807"]);
        for bad in [
            "~SEQ(i, --5) x\n",
            "~SEQ(i, 0x-5) x\n",
            "~SEQ(i, -0x-8) x\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// What parameters add to lines counts against the load's bound, as
    /// lines `~SEQ` makes do: a 60000-byte `$A` used 2000 times by a
    /// `~SEQ` (120 MB), or on 300 lines of a file of 54 KB (18 MB), is
    /// refused before it is held.
    #[test]
    fn substitution_counts_against_the_load_bound() {
        let a = format!("$A={}\n", "x".repeat(60000));
        let e = parse(&format!("{a}~SEQ(i, 2000) $A\n")).unwrap_err();
        assert!(e.to_string().contains("16777216 bytes"), "{e}");
        let b = format!("$A={}\n", "x".repeat(1000));
        let line = format!("w{}\n", " $A".repeat(60));
        let e = parse(&format!("{b}{}", line.repeat(300))).unwrap_err();
        assert!(e.to_string().contains("16777216 bytes"), "{e}");
        assert!(e.to_string().starts_with("/k/ka.conf:"), "{e}");
        // Well under it: 250 such lines (15 MB) are read.
        assert_eq!(lines_of(&format!("{b}{}", line.repeat(250))).len(), 250);
    }

    /// A line a parameter makes too long is refused, as keepalived refuses
    /// it; so is a chain of doublings, long before it fills the memory.
    #[test]
    fn substitution_is_bounded_in_length() {
        let mut text = String::from("$A0=x\n");
        for i in 1..=30 {
            text += &format!("$A{i}=$A{} $A{}\n", i - 1, i - 1);
        }
        text += "y $A30\n";
        let e = parse(&text).unwrap_err();
        assert!(e.to_string().contains("longer than 65536 bytes"), "{e}");
    }

    /// keepalived's multi-line definitions: the lines that end with `\`
    /// go on, used last on a line they become lines of their own, used
    /// elsewhere they are not substituted; a value naming another parameter
    /// is read again, and one naming itself stops at the bound.
    #[test]
    fn multi_line_definitions_become_lines() {
        let text = "$RS=real_server $A 80 { \\\n  weight 2 \\\n  }\n$A=198.19.0.2\n\
                    virtual_server 198.18.0.110 80 {\n$RS\n}\nx $RS y\n";
        assert_eq!(
            lines_of(text),
            [
                "virtual_server 198.18.0.110 80",
                "real_server 198.19.0.2 80",
                "weight 2",
                "x $RS y"
            ]
        );
        // An empty line ends one too; `\` alone adds nothing.
        assert_eq!(lines_of("$M=\\\na \\\n\\\n\nb\n$M\n"), ["b", "a"]);
        // So does a comment alone, as keepalived 2.2.7's checker reads it
        // (the copy of the file its parent wrote; docs/ha.md).
        assert_eq!(lines_of("$M=a \\\n# c\nb\n$M\n"), ["b", "a"]);
        assert_eq!(lines_of("$B=1\n$A=x $B\n$A\n"), ["x 1"]);
        // A blank before `=` makes no definition, as keepalived's
        // `check_definition`; blanks after it are skipped.
        assert_eq!(
            lines_of("$B = 2\nz $B\n$B=  3\ny $B\n"),
            ["$B = 2", "z $B", "y 3"]
        );
        let e = parse("$A=a $A\n$A\n").unwrap_err();
        assert!(e.to_string().contains("nested deeper than 32"), "{e}");
    }

    #[test]
    fn decomment_keeps_quoted_and_escaped_marks() {
        assert_eq!(decomment("  a b ! c").unwrap(), "a b");
        assert_eq!(decomment("a \"#x!\" # c").unwrap(), "a \"#x!\"");
        assert_eq!(decomment("a\\#b \\!c").unwrap(), "a#b !c");
        assert_eq!(decomment("a \"b").as_deref(), None);
        assert_eq!(decomment("# all").unwrap(), "");
    }
}
