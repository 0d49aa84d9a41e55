//! Splitting argv into options the way popt does for ipvsadm: long and short
//! options, clusters (`-Ln`), `--opt=value`, optional arguments, `--`, and
//! popt's error messages.

use super::super::AdmError;
use super::options::{Arg, SPECS, Tag};

/// One option as found in argv.
pub(super) struct Found {
    pub(super) tag: Tag,
    pub(super) arg: Option<String>,
    /// The word the option came from, for messages.
    pub(super) word: String,
}

/// popt's walk over argv, one option at a time.
pub(super) struct Scanner<'a> {
    args: &'a [String],
    next: usize,
    /// Inside a cluster of short options: (word index, byte offset).
    cluster: Option<(usize, usize)>,
    no_more_options: bool,
    /// The words that are not options, in order.
    pub(super) leftovers: Vec<String>,
}

fn popt_error(word: &str, what: &str) -> AdmError {
    AdmError::Option(format!("{word}: {what}"))
}

impl<'a> Scanner<'a> {
    pub(super) fn new(args: &'a [String]) -> Self {
        Scanner {
            args,
            next: 0,
            cluster: None,
            no_more_options: false,
            leftovers: Vec::new(),
        }
    }

    /// The next option, `None` at the end of the words.
    pub(super) fn next_opt(&mut self) -> Option<Result<Found, AdmError>> {
        if let Some((wi, off)) = self.cluster {
            return Some(self.short(wi, off));
        }
        loop {
            let word = self.args.get(self.next)?;
            self.next += 1;
            if self.no_more_options || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word.clone());
                continue;
            }
            if word == "--" {
                self.no_more_options = true;
                continue;
            }
            if let Some(long) = word.strip_prefix("--") {
                return Some(self.long(word, long));
            }
            return Some(self.short(self.next - 1, 1));
        }
    }

    fn long(&mut self, word: &str, long: &str) -> Result<Found, AdmError> {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (long, None),
        };
        let spec = SPECS
            .iter()
            .find(|s| s.long == name)
            .ok_or_else(|| popt_error(word, "unknown option"))?;
        let arg = match (spec.arg, inline) {
            (Arg::No, Some(_)) => {
                return Err(popt_error(word, "option does not take an argument"));
            }
            (Arg::No, None) => None,
            (_, Some(v)) => Some(v),
            (kind, None) => self.separate_arg(word, kind)?,
        };
        Ok(Found {
            tag: spec.tag,
            arg,
            word: word.to_string(),
        })
    }

    fn short(&mut self, wi: usize, off: usize) -> Result<Found, AdmError> {
        self.cluster = None;
        let word = &self.args[wi];
        let rest = &word[off..];
        let Some(c) = rest.chars().next() else {
            return Err(popt_error(word, "unknown option"));
        };
        let after = off + c.len_utf8();
        let spec = SPECS
            .iter()
            .find(|s| s.short == Some(c))
            .ok_or_else(|| popt_error(word, "unknown option"))?;
        let arg = if spec.arg == Arg::No {
            if after < word.len() {
                self.cluster = Some((wi, after));
            }
            None
        } else if after < word.len() {
            // The rest of the word is the argument ("-p600", "-t=VIP:80").
            let v = &word[after..];
            Some(v.strip_prefix('=').unwrap_or(v).to_string())
        } else {
            self.separate_arg(word, spec.arg)?
        };
        Ok(Found {
            tag: spec.tag,
            arg,
            word: word.clone(),
        })
    }

    /// The argument of an option given as the following word.
    fn separate_arg(&mut self, word: &str, kind: Arg) -> Result<Option<String>, AdmError> {
        match self.args.get(self.next) {
            None if kind == Arg::Optional => Ok(None),
            None => Err(popt_error(word, "missing argument")),
            Some(next) if kind == Arg::Optional && next.starts_with('-') => Ok(None),
            Some(next) => {
                self.next += 1;
                Ok(Some(next.clone()))
            }
        }
    }
}
