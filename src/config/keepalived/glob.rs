//! The patterns of `include`: what glibc's `glob(3)` with `GLOB_BRACE` matches,
//! as keepalived calls it (`lib/parser.c` `read_conf_file`).
//!
//! * `{a,b}` (nested too) expands first, into patterns taken in turn;
//! * then each `/`-separated part with `*`, `?` or `[...]` (`[!...]`/`[^...]`
//!   negate, `a-z` ranges, `\` escapes) matches the names of a directory, in
//!   sorted order; a leading `.` is matched only by a literal `.`;
//! * parts without wildcards must exist; directories are left out (keepalived
//!   marks them with `GLOB_MARK` and skips them).
//!
//! Expansion is bounded ([`MAX_BRACES`], [`MAX_PATTERNS`], [`MAX_MATCHES`]).

use std::path::{Path, PathBuf};

/// Most patterns a brace expansion may give.
pub(crate) const MAX_PATTERNS: usize = 256;
/// Most `{` a pattern may hold: [`braces`] recurses once for each, and a
/// pattern of thousands (`{{{{...a}}}}`) would overflow the stack.
pub(crate) const MAX_BRACES: usize = 64;
/// Most files one `include` may match.
pub(crate) const MAX_MATCHES: usize = 1024;

/// The files `pattern` matches, relative patterns taken from `dir`.
pub(crate) fn files(dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in braces(pattern)? {
        let (mut cands, rest) = if let Some(rest) = p.strip_prefix('/') {
            (vec![PathBuf::from("/")], rest.to_string())
        } else {
            (vec![dir.to_path_buf()], p)
        };
        for part in rest.split('/').filter(|s| !s.is_empty() && *s != ".") {
            let mut next = Vec::new();
            for c in &cands {
                if !has_wildcard(part) {
                    next.push(c.join(unescape(part)));
                    continue;
                }
                let Ok(rd) = std::fs::read_dir(c) else {
                    continue;
                };
                // A name that is not UTF-8 is matched as its lossy text
                // (each bad byte a U+FFFD) and kept as it is: glob(3)
                // matches bytes, and keepalived reads the file.
                let mut names: Vec<std::ffi::OsString> = rd
                    .flatten()
                    .map(|e| e.file_name())
                    .filter(|n| matches(part, &n.to_string_lossy()))
                    .collect();
                names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
                next.extend(names.into_iter().map(|n| c.join(n)));
            }
            if next.len() > MAX_MATCHES {
                return Err(format!("matches more than {MAX_MATCHES} paths"));
            }
            cands = next;
        }
        out.extend(cands.into_iter().filter(|c| c.is_file()));
        if out.len() > MAX_MATCHES {
            return Err(format!("matches more than {MAX_MATCHES} files"));
        }
    }
    Ok(out)
}

/// What an `include` variant refuses, as keepalived's `include_check`
/// settings (keepalived.conf(5)): `includem` a pattern without wildcard or
/// brace that matches nothing, `includew` one that matches nothing at all
/// (a braced one only if each of its patterns has a wildcard), `includeb` a
/// brace's pattern without wildcard that matches nothing, `includea` all
/// three; `include` and `includer` none (an unreadable file is always an
/// error here, `includer`'s check). Taken from keepalived 2.2.7's
/// `--config-test`, which exits 6 for these and not for the others.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checks {
    pub matched: bool,
    pub wildcard: bool,
    pub brace: bool,
}

impl Checks {
    /// The checks of an include keyword; `None` for any other word.
    pub(crate) fn of(keyword: &str) -> Option<Checks> {
        let all = Checks {
            matched: true,
            wildcard: true,
            brace: true,
        };
        let none = Checks::default();
        Some(match keyword {
            "include" | "includer" => none,
            "includem" => Checks {
                matched: true,
                ..none
            },
            "includew" => Checks {
                wildcard: true,
                ..none
            },
            "includeb" => Checks {
                brace: true,
                ..none
            },
            "includea" => all,
            _ => return None,
        })
    }

    /// Why `pattern`, which matched `found` files from `dir`, fails them.
    pub(crate) fn refuse(
        self,
        dir: &Path,
        pattern: &str,
        found: usize,
    ) -> Result<Option<String>, String> {
        let alts = braces(pattern)?;
        if alts.len() == 1 && alts[0] == pattern {
            let wild = has_wildcard(pattern);
            let refused = found == 0 && (self.wildcard || (self.matched && !wild));
            return Ok(refused.then(|| "no file matches".to_string()));
        }
        if self.brace {
            for a in alts.iter().filter(|a| !has_wildcard(a)) {
                if files(dir, a)?.is_empty() {
                    return Ok(Some(format!("no file matches {a}")));
                }
            }
        }
        let all_wild = alts.iter().all(|a| has_wildcard(a));
        Ok((self.wildcard && found == 0 && all_wild).then(|| "no file matches".to_string()))
    }
}

fn has_wildcard(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

fn unescape(part: &str) -> String {
    let mut out = String::new();
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// The brace expansion of `pattern` (csh style: `a{b,c{d,e}}f`); a pattern
/// with more than [`MAX_BRACES`] `{` is refused (glibc's `glob` has no such
/// bound, but no configuration needs one near it).
fn braces(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.matches('{').count() > MAX_BRACES {
        return Err(format!(
            "braces nested or repeated more than {MAX_BRACES} times"
        ));
    }
    expand(pattern)
}

/// [`braces`] once the pattern is checked: each call takes one `{` off.
fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let b = pattern.as_bytes();
    // The first unescaped '{' with its matching '}' and top-level commas.
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'{' => {
                let (mut depth, mut j, mut commas) = (0usize, i, Vec::new());
                while j < b.len() {
                    match b[j] {
                        b'\\' => j += 1,
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        b',' if depth == 1 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
                if j >= b.len() {
                    // An unmatched '{' is an ordinary character (glibc does the same).
                    return Ok(vec![pattern.to_string()]);
                }
                let (pre, post) = (&pattern[..i], &pattern[j + 1..]);
                let mut cuts = vec![i];
                cuts.extend(&commas);
                cuts.push(j);
                let mut out = Vec::new();
                for w in cuts.windows(2) {
                    let alt = &pattern[w[0] + 1..w[1]];
                    for tail in expand(&format!("{alt}{post}"))? {
                        out.push(format!("{pre}{tail}"));
                        if out.len() > MAX_PATTERNS {
                            return Err(format!("expands to more than {MAX_PATTERNS} patterns"));
                        }
                    }
                }
                return Ok(out);
            }
            _ => i += 1,
        }
    }
    Ok(vec![pattern.to_string()])
}

/// Whether `name` matches the wildcard part `pat` (fnmatch(3) without flags,
/// a leading `.` only matched literally).
fn matches(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_at(&p, &n)
}

fn match_at(p: &[char], n: &[char]) -> bool {
    // Iterative with one backtrack point for the last '*' (enough for glob).
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => class(&p[pi..], n[ni]),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == n[ni]).then_some(2),
            Some(&c) => (c == n[ni]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `[...]` class at the start of `p` against `c`: the class's length if `c`
/// is in it. A `[` without its `]` matches itself.
fn class(p: &[char], c: char) -> Option<usize> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        // No `]` to the end: the `[` is itself, as fnmatch(3) takes it.
        let Some(&x) = p.get(i) else {
            return (c == '[').then_some(1);
        };
        if x == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let e = p[i + 2];
            hit |= x <= c && c <= e;
            i += 3;
        } else {
            hit |= x == c;
            i += 1;
        }
    }
    (hit != negate).then_some(i + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_fnmatch() {
        assert!(matches("*.conf", "lvs.conf"));
        assert!(!matches("*.conf", "lvs.conf~"));
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(matches(".*.conf", ".hidden.conf"));
        assert!(matches("vs?.conf", "vs1.conf"));
        assert!(!matches("vs?.conf", "vs12.conf"));
        assert!(matches("vs[0-9].conf", "vs7.conf"));
        assert!(!matches("vs[!0-9].conf", "vs7.conf"));
        assert!(matches("vs[^0-9].conf", "vsx.conf"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "x"));
        assert!(matches("[]]", "]"));
        // A `[` without its `]` is the character itself (glibc's fnmatch).
        assert!(matches("a[1.conf", "a[1.conf"));
        assert!(!matches("a[1.conf", "a1.conf"));
        assert!(matches("*[", "x["));
        assert!(matches("[!", "[!"));
        assert!(matches("*", "x"));
    }

    #[test]
    fn braces_expand_in_order() {
        assert_eq!(braces("a{b,c}d").unwrap(), vec!["abd", "acd"]);
        assert_eq!(
            braces("{x/{,cat,dog},bar}").unwrap(),
            vec!["x/", "x/cat", "x/dog", "bar"]
        );
        assert_eq!(braces("no{brace").unwrap(), vec!["no{brace"]);
        assert_eq!(braces("plain").unwrap(), vec!["plain"]);
        let many = "{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}";
        assert!(braces(many).unwrap_err().contains("more than"));
    }

    #[test]
    fn files_are_sorted_and_relative_to_the_dir() {
        let dir = std::env::temp_dir().join(format!("ringvs-glob-{}", std::process::id()));
        let sub = dir.join("conf.d");
        std::fs::create_dir_all(sub.join("adir.conf")).unwrap();
        for f in ["b.conf", "a.conf", ".h.conf", "c.txt"] {
            std::fs::write(sub.join(f), "").unwrap();
        }
        let got = files(&dir, "conf.d/*.conf").unwrap();
        assert_eq!(got, vec![sub.join("a.conf"), sub.join("b.conf")]);
        let abs = format!("{}/conf.d/{{c.txt,b.conf}}", dir.display());
        assert_eq!(
            files(Path::new("/elsewhere"), &abs).unwrap(),
            vec![sub.join("c.txt"), sub.join("b.conf")]
        );
        assert!(files(&dir, "conf.d/none*.conf").unwrap().is_empty());
        assert!(files(&dir, "missing/x.conf").unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
