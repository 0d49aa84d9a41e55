//! keepalived's notify scripts: `notify_up` and `notify_down` of a real
//! server, `quorum_up` and `quorum_down` of a virtual server
//! (`check_parser.c`; run by `ipwrapper.c` `do_rs_notifies` when a server's
//! checks take it out or bring it back, and `do_vs_notifies` when a service
//! loses or gains its quorum). In ringvs's ipvsadm syntax they are
//! `--notify-up` and `--notify-down` of `-a`/`-e`, and `--quorum-up` and
//! `--quorum-down` of `-A`/`-E`; `health::notify` runs them.
//!
//! A script is a command line as keepalived reads one
//! (`lib/notify.c` `set_script_params_array`, through `lib/parser.c`
//! `alloc_strvec_quoted_escaped`): words split at blanks, `'…'` and `"…"`
//! quote (both alike: backslash escapes work inside either), and `\a \b \E
//! \f \n \r \t \v`, `\xHH`, `\cX`, `\ooo` and `\` before any other
//! character escape. It is run without a shell. Differences: `\x` takes at
//! most two hex digits (keepalived takes all that follow, into one byte),
//! and a word that would hold a NUL byte is refused (keepalived's C strings
//! end there).

use super::{AdmError, Config, Service, ServiceKey};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::str::FromStr;

/// Longest script, in bytes as written.
pub const MAX_SCRIPT: usize = 1024;

/// A command line to run on an event, as written (split into words when
/// run, by the rule in the module doc; [`Script::parse`] has checked it),
/// and the user it runs as if it names one (keepalived's `notify_up "CMD"
/// USER [GROUP]`, `MISC_CHECK`'s `user`; else the director's script user).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ScriptRepr", into = "ScriptRepr")]
pub struct Script {
    text: String,
    user: Option<ScriptUser>,
}

/// A script's serde form: its text alone, or with its user.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ScriptRepr {
    Text(String),
    User { text: String, user: ScriptUser },
}

impl Script {
    /// A script as written: words as keepalived splits them, at least one,
    /// the first not empty; no control characters but tabs (a line break
    /// would end a `-S` line), at most [`MAX_SCRIPT`] bytes.
    pub fn parse(text: &str) -> Result<Script, String> {
        if text.len() > MAX_SCRIPT {
            return Err(format!("longer than {MAX_SCRIPT} bytes"));
        }
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err("a control character in it".into());
        }
        match split_words(text)?.first() {
            None => Err("no command".into()),
            Some(w) if w.is_empty() => Err("an empty command".into()),
            Some(_) => Ok(Script {
                text: text.to_string(),
                user: None,
            }),
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The user it runs as, if it names one.
    pub fn user(&self) -> Option<&ScriptUser> {
        self.user.as_ref()
    }

    /// The script run as `user` (`None`: the director's script user).
    pub fn with_user(self, user: Option<ScriptUser>) -> Script {
        Script { user, ..self }
    }

    /// The script as the option `--NAME` of a rules line (`-S`), with its
    /// user as `--NAME-user`.
    pub fn option(&self, name: &str) -> String {
        match &self.user {
            Some(u) => format!(" --{name} {} --{name}-user {u}", self.quoted()),
            None => format!(" --{name} {}", self.quoted()),
        }
    }

    /// The words to run: the program, then its arguments.
    pub fn words(&self) -> Vec<OsString> {
        split_words(&self.text)
            .unwrap_or_default()
            .into_iter()
            .map(OsString::from_vec)
            .collect()
    }

    /// The script as one word of a rules file (`-S`): always in double
    /// quotes ([`quote`]), so that it reads as a script at a glance.
    pub fn quoted(&self) -> String {
        quote(&self.text)
    }
}

impl TryFrom<ScriptRepr> for Script {
    type Error = String;
    fn try_from(s: ScriptRepr) -> Result<Self, String> {
        match s {
            ScriptRepr::Text(t) => Script::parse(&t),
            ScriptRepr::User { text, user } => {
                let user = ScriptUser::new(&user.user, user.group.as_deref())?;
                Ok(Script::parse(&text)?.with_user(Some(user)))
            }
        }
    }
}

impl From<Script> for ScriptRepr {
    fn from(s: Script) -> ScriptRepr {
        match s.user {
            Some(user) => ScriptRepr::User { text: s.text, user },
            None => ScriptRepr::Text(s.text),
        }
    }
}

/// `v` in double quotes, `\` and `"` escaped by a backslash: one word of a
/// rules file whatever it holds ([`super::ipvsadm::rule_lines`] reads it
/// back).
pub fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits `text` into words as keepalived's `alloc_strvec_quoted_escaped`
/// does (see the module doc).
pub fn split_words(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = text.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if i >= b.len() {
            return Ok(words);
        }
        let mut word = Vec::new();
        let mut quote = None;
        while let Some(&c) = b.get(i) {
            i += 1;
            match (c, quote) {
                (b'\\', _) => {
                    let (byte, next) = escape(b, i)?;
                    if byte == 0 {
                        return Err("a NUL byte in a word".into());
                    }
                    word.push(byte);
                    i = next;
                }
                (b'"' | b'\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, None) if c.is_ascii_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(format!("missing terminating {}", q as char));
        }
        words.push(word);
    }
}

/// `text` with its backslash escapes read (as [`split_words`] reads them),
/// nothing else: keepalived's first reading of a notify script in its
/// configuration file (`notify_script_init` reads the whole line with
/// `alloc_strvec_quoted_escaped`, then `set_script_params_array` splits the
/// script's word again), so `\\t` there is a tab in the end.
pub fn unescape(text: &str) -> Result<String, String> {
    let b = text.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(b.len()), 0);
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            let (byte, next) = escape(b, i + 1)?;
            if byte == 0 {
                return Err("a NUL byte in it".into());
            }
            out.push(byte);
            i = next;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once its escapes are read".into())
}

/// The byte an escape stands for, the backslash before `at`, and where the
/// text goes on.
fn escape(b: &[u8], at: usize) -> Result<(u8, usize), String> {
    let Some(&c) = b.get(at) else {
        return Err("a backslash at the end".into());
    };
    let hex = |i: usize| b.get(i).and_then(|c| (*c as char).to_digit(16));
    let oct = |i: usize| b.get(i).and_then(|c| (*c as char).to_digit(8));
    Ok(match c {
        b'x' if hex(at + 1).is_some() => {
            let (mut v, mut i) = (0u32, at + 1);
            while i < at + 3
                && let Some(d) = hex(i)
            {
                v = v * 16 + d;
                i += 1;
            }
            (v as u8, i)
        }
        b'c' if at + 1 < b.len() => (b[at + 1] & 0x1f, at + 2),
        b'0'..=b'7' => {
            let (mut v, mut i) = (0u32, at);
            while i < at + 3
                && let Some(d) = oct(i)
            {
                v = v * 8 + d;
                i += 1;
            }
            (v as u8, i)
        }
        b'a' => (0x07, at + 1),
        b'b' => (0x08, at + 1),
        b'E' => (0x1b, at + 1),
        b'f' => (0x0c, at + 1),
        b'n' => (b'\n', at + 1),
        b'r' => (b'\r', at + 1),
        b't' => (b'\t', at + 1),
        b'v' => (0x0b, at + 1),
        c => (c, at + 1),
    })
}

/// The scripts of one thing: what runs when it goes up (a server back in
/// service, a quorum gained) and when it goes down; for a real server, also
/// its own `--misc-path` (keepalived's `misc_path` of its `MISC_CHECK`),
/// which its service's `--check misc` runs for it, and its keepalived
/// `FILE_CHECK`s (no script, but kept with its other keepalived checks:
/// they come and go with the server, and a reload compares them alike).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scripts {
    pub up: Option<Script>,
    pub down: Option<Script>,
    #[serde(default)]
    pub check: Option<Script>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::FileCheck>,
}

impl Scripts {
    pub fn is_empty(&self) -> bool {
        self.up.is_none() && self.down.is_none() && self.check.is_none() && self.files.is_empty()
    }

    /// Whether it has a notify script (up or down).
    pub fn notifies(&self) -> bool {
        self.up.is_some() || self.down.is_some()
    }

    /// The script for going up (`up`) or down.
    pub fn on(&self, up: bool) -> Option<&Script> {
        if up { &self.up } else { &self.down }.as_ref()
    }

    /// The options that set them (`-S`): `names` the up and down option
    /// (then `--misc-path`).
    pub fn options(&self, (up, down): (&str, &str)) -> String {
        let mut out = String::new();
        for (name, s) in [
            (up, &self.up),
            (down, &self.down),
            ("misc-path", &self.check),
        ] {
            if let Some(s) = s {
                out.push_str(&s.option(name));
            }
        }
        // keepalived's `FILE_CHECK`s, each word as `-R` reads it back.
        for c in &self.files {
            let (name, path) = (&c.name, c.path.to_string_lossy());
            let (name, path) = (
                super::format::rule_word(name),
                super::format::rule_word(&path),
            );
            let _ = write!(
                out,
                " --file-check {name} --file-path {path} --file-weight {}",
                c.weight
            );
            if c.reverse {
                out.push_str(" --file-reverse");
            }
        }
        if self.files.iter().any(|c| c.inhibit) {
            out.push_str(" --file-inhibit");
        }
        out
    }
}

/// A real server's scripts, by its address and port in its service.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServerScripts {
    pub addr: IpAddr,
    pub port: u16,
    pub scripts: Scripts,
}

impl Service {
    /// The scripts of the real server at `addr` and `port` (none set: empty).
    pub fn server_scripts(&self, addr: IpAddr, port: u16) -> Scripts {
        self.server_scripts
            .iter()
            .find(|s| s.addr == addr && s.port == port)
            .map(|s| s.scripts.clone())
            .unwrap_or_default()
    }

    /// Forgets the scripts of a real server that left.
    pub(super) fn forget_scripts(&mut self, addr: IpAddr, port: u16) {
        self.server_scripts
            .retain(|s| s.addr != addr || s.port != port);
    }
}

impl Config {
    /// Sets a service's `--quorum-up` and `--quorum-down` (`-E` without them
    /// clears them, as it replaces the service's setup).
    pub fn set_service_scripts(&mut self, key: &ServiceKey, s: Scripts) -> Result<(), AdmError> {
        let svc = self.service_mut(key).ok_or(AdmError::NoSuchService)?;
        svc.quorum_scripts = s;
        Ok(())
    }

    /// Takes every notify script of service `key` away, its own and its
    /// real servers' (not their `--misc-path`, a check's); how many of
    /// them (the service, each server) had some.
    pub fn drop_scripts(&mut self, key: &ServiceKey) -> usize {
        let Some(svc) = self.service_mut(key) else {
            return 0;
        };
        let servers = svc.server_scripts.iter().filter(|s| s.scripts.notifies());
        let n = usize::from(svc.quorum_scripts.notifies()) + servers.count();
        svc.quorum_scripts = Scripts::default();
        for s in &mut svc.server_scripts {
            (s.scripts.up, s.scripts.down) = (None, None);
        }
        svc.server_scripts.retain(|s| !s.scripts.is_empty());
        n
    }

    /// Keeps the scripts `ok` accepts and drops the others, saying which
    /// and why, one line each: a notify script is not run; a `--check misc`
    /// command takes its check with it (its servers are then not checked, as
    /// keepalived deletes a checker whose script it refuses); a server's own
    /// `--misc-path` becomes `true` (always up: not checked either, and not
    /// given the service's command, another server's).
    pub fn retain_scripts(
        &mut self,
        mut ok: impl FnMut(&Script) -> Result<(), String>,
    ) -> Vec<String> {
        fn keep(
            ok: &mut impl FnMut(&Script) -> Result<(), String>,
            what: &str,
            s: &mut Option<Script>,
            out: &mut Vec<String>,
        ) {
            if let Some(e) = s.as_ref().and_then(|s| ok(s).err()) {
                out.push(format!("{what}: {e}; not run"));
                *s = None;
            }
        }
        let mut out = Vec::new();
        for svc in &mut self.services {
            let name = svc.key;
            let misc = match svc.check.as_ref().map(|c| &c.kind) {
                Some(super::CheckKind::Misc(m)) => ok(&m.path).err(),
                _ => None,
            };
            if let Some(e) = misc {
                out.push(format!(
                    "misc-path of {name}: {e}; the check is not run, so its real servers are not checked"
                ));
                svc.check = None;
                for s in &mut svc.server_scripts {
                    s.scripts.check = None;
                }
            }
            let q = &mut svc.quorum_scripts;
            keep(
                &mut ok,
                &format!("quorum-up of {name}"),
                &mut q.up,
                &mut out,
            );
            keep(
                &mut ok,
                &format!("quorum-down of {name}"),
                &mut q.down,
                &mut out,
            );
            for s in &mut svc.server_scripts {
                let rs = std::net::SocketAddr::new(s.addr, s.port);
                let of = format!("of real server {rs} of {name}");
                let (up, down, check) = (
                    format!("notify-up {of}"),
                    format!("notify-down {of}"),
                    format!("misc-path {of}"),
                );
                keep(&mut ok, &up, &mut s.scripts.up, &mut out);
                keep(&mut ok, &down, &mut s.scripts.down, &mut out);
                // Not the service's command in its place: another server's
                // (`true`, always up, as for a server without a check).
                if let Some(e) = s.scripts.check.as_ref().and_then(|c| ok(c).err()) {
                    out.push(format!(
                        "{check}: {e}; not run, the server is checked with 'true' (always up)"
                    ));
                    s.scripts.check = Script::parse("true").ok();
                }
            }
            svc.server_scripts.retain(|s| !s.scripts.is_empty());
        }
        out
    }

    /// Sets a real server's `--notify-up` and `--notify-down` (`-e` without
    /// them clears them).
    pub fn set_dest_scripts(
        &mut self,
        key: &ServiceKey,
        addr: IpAddr,
        port: u16,
        s: Scripts,
    ) -> Result<(), AdmError> {
        let svc = self.service_mut(key).ok_or(AdmError::ServiceNotDefined)?;
        if svc.dest(addr, port).is_none() {
            return Err(AdmError::NoSuchDest);
        }
        if s.check.is_some() {
            own_command_allowed(svc)?;
        }
        svc.forget_scripts(addr, port);
        if !s.is_empty() {
            // Kept in address order, so that a table has one form whatever
            // order its scripts were set in (a `-S` and `-R` compare equal).
            let at = svc
                .server_scripts
                .partition_point(|x| (x.addr, x.port) < (addr, port));
            let scripts = ServerScripts {
                addr,
                port,
                scripts: s,
            };
            svc.server_scripts.insert(at, scripts);
        }
        Ok(())
    }
}

/// A real server's own `--misc-path` is for a service with `--check misc`
/// only.
pub fn own_command_allowed(svc: &Service) -> Result<(), AdmError> {
    if svc.check.as_ref().is_some_and(|c| c.kind.is_command()) {
        return Ok(());
    }
    Err(AdmError::Usage(
        "misc-path on a real server needs its service's --check misc".into(),
    ))
}

/// A user, and maybe a group, by name: `USER[:GROUP]` on the command line,
/// `script_user USER [GROUP]` in keepalived.conf.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

impl FromStr for ScriptUser {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(format!("'{s}': not USER or USER:GROUP"));
        }
        ScriptUser::new(user, group)
    }
}

impl ScriptUser {
    /// A user and maybe a group by name, as the host's name service may
    /// know them (`svc@corp.example` from a directory too): not empty, not
    /// starting with `-`, and one plain word of a rules line (no space,
    /// control character, quote, backslash or `:`, the separator of
    /// `USER:GROUP`). Whether the name exists is asked when a script runs.
    pub fn new(user: &str, group: Option<&str>) -> Result<ScriptUser, String> {
        for name in std::iter::once(user).chain(group) {
            let odd = |c: char| c.is_whitespace() || c.is_control() || "\"'\\:".contains(c);
            if name.is_empty() || name.starts_with('-') || name.contains(odd) {
                return Err(format!("'{name}': not a user or group name"));
            }
        }
        Ok(ScriptUser {
            user: user.to_string(),
            group: group.map(str::to_string),
        })
    }
}

impl fmt::Display for ScriptUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{}:{g}", self.user),
            None => f.write_str(&self.user),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn users_are_user_or_user_colon_group() {
        let u: ScriptUser = "nobody:nogroup".parse().unwrap();
        assert_eq!(
            (u.user.as_str(), u.group.as_deref()),
            ("nobody", Some("nogroup"))
        );
        assert_eq!(u.to_string(), "nobody:nogroup");
        let u: ScriptUser = "nobody".parse().unwrap();
        assert_eq!((u.user.as_str(), u.group), ("nobody", None));
        for bad in ["", ":g", "u:", "a b", "-u", "u:g\"x", "u:-g", "u\\x", "u'"] {
            assert!(bad.parse::<ScriptUser>().is_err(), "{bad}");
        }
        assert!(
            "svc@corp.example:domain_users"
                .parse::<ScriptUser>()
                .is_ok()
        );
    }

    fn words(s: &str) -> Vec<String> {
        split_words(s)
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    /// keepalived's splitting: blanks, both quotes alike, escapes in and out
    /// of quotes, a quoted part inside a word.
    #[test]
    fn words_split_as_keepalived_splits_them() {
        assert_eq!(words("/bin/x  a\tb"), ["/bin/x", "a", "b"]);
        assert_eq!(
            words("/bin/sh -c 'echo up >> /tmp/x'"),
            ["/bin/sh", "-c", "echo up >> /tmp/x"]
        );
        assert_eq!(words(r#"a "b c"d 'e"f'"#), ["a", "b cd", "e\"f"]);
        assert_eq!(words(r"a\ b 'c\'d'"), ["a b", "c'd"]);
        assert_eq!(words(r"\t\x41\101\cA\E\q"), ["\tAA\u{1}\u{1b}q"]);
        assert_eq!(words(r"\x414"), ["A4"], "two hex digits at most");
        assert_eq!(words(r#"x """#), ["x", ""], "an empty word");
        assert_eq!(words("   "), Vec::<String>::new());
    }

    /// keepalived.conf's first reading: escapes only.
    #[test]
    fn unescape_reads_escapes_only() {
        assert_eq!(unescape(r"/bin/echo a\ b").unwrap(), "/bin/echo a b");
        assert_eq!(unescape(r"a\\tb 'c d'").unwrap(), r"a\tb 'c d'");
        assert_eq!(unescape(r"\x41\t").unwrap(), "A\t");
        assert!(unescape(r"a\").is_err());
        assert!(unescape(r"\0").is_err());
        assert!(unescape(r"\xff").is_err(), "not UTF-8");
    }

    #[test]
    fn bad_scripts_are_refused_with_the_reason() {
        let e = |s: &str| Script::parse(s).unwrap_err();
        assert_eq!(e("/bin/x 'a"), "missing terminating '");
        assert_eq!(e("/bin/x \"a"), "missing terminating \"");
        assert_eq!(e("/bin/x a\\"), "a backslash at the end");
        assert_eq!(e("/bin/x \\x00"), "a NUL byte in a word");
        assert_eq!(e("  "), "no command");
        assert_eq!(e("'' a"), "an empty command");
        assert_eq!(e("/bin/x\na"), "a control character in it");
        assert_eq!(Script::parse("/bin/x\ta").unwrap().words().len(), 2);
        assert_eq!(e(&"x".repeat(MAX_SCRIPT + 1)), "longer than 1024 bytes");
        assert!(Script::parse(&"x".repeat(MAX_SCRIPT)).is_ok());
    }

    #[test]
    fn a_script_quoted_for_a_rules_file_keeps_its_text() {
        let s = Script::parse(r#"/bin/sh -c "echo \"a\\b\" > /tmp/x""#).unwrap();
        assert_eq!(
            s.quoted(),
            r#""/bin/sh -c \"echo \\\"a\\\\b\\\" > /tmp/x\"""#
        );
        let w = s.words();
        assert_eq!(w.len(), 3);
        assert_eq!(w[2], "echo \"a\\b\" > /tmp/x");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Script>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Script>("\"'\"").is_err());
        // With its user; a user that is no name is refused there too.
        let s = s.with_user(Some("nobody:nogroup".parse().unwrap()));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Script>(&json).unwrap(), s);
        let bad = json.replace("nobody", "no body");
        assert!(serde_json::from_str::<Script>(&bad).is_err(), "{bad}");
    }
}
