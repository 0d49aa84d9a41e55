//! keepalived's pre-defined parameters (`lib/parser.c`,
//! `set_std_definitions`): these names are replaced, as `$NAME` and
//! `${NAME}`, by what they stand for, in a file without a `$NAME=value`
//! line for them. A definition of the same name replaces one,
//! as there (`check_definition` clears its function).
//!
//! * `_PWD`: the directory of the file being read, absolute with its
//!   symbolic links resolved (keepalived `chdir`s to it and `get_cwd` reads
//!   `getcwd`), so `--keepalived keepalived.conf` gives the current
//!   directory, not an empty word;
//! * `_INSTANCE`: the config-id (`get_instance`); left as written without
//!   one;
//! * `_RANDOM`, `${_RANDOM MIN}`, `${_RANDOM MIN MAX}`: a number drawn in
//!   MIN..=MAX, 0 and 32767 unless given (`get_random`); the parameters are
//!   decimal digits after the name, inside the braces, separated by spaces
//!   (`find_definition`). A third one is warned about and ignored, as
//!   keepalived logs it. A number drawn at each use, each load (a reload
//!   draws again, as keepalived's does). With `global_defs { random_seed
//!   N }` (`global_parser.c` `random_seed_handler`, N in 0..=2^32-1, the
//!   last one kept) the draws are a sequence N fixes, so that the same
//!   file gives the same numbers at each load and reload: the file is read
//!   a second time, drawing from N from its first line on (`load_with`).
//!   keepalived's `set_random_seed` only records N; `set_std_definitions`
//!   seeds `srandom` with it at the start of a later read of the file, so
//!   there it is the reads after the first (a child's, a reload's) that are
//!   fixed, and the current `lib/parser.c` `init_data` clears it before
//!   that, at the start of each read. The numbers are not glibc
//!   `random()`'s, so a seed gives other weights than keepalived's.
//! * `_HASH`, `_BANG`: `#` and `!`, which would otherwise start a comment.
//!
//! Deliberate differences: MIN above MAX, or a number past 2^64 - 1, is an
//! error naming the line; keepalived's `get_random` then divides by zero
//! (MAX + 1 = MIN, or MAX the largest `unsigned long` with MIN 0) or prints
//! a number outside the range cut to MAX's digits. The draw is uniform over
//! the whole range, where keepalived's `random() % (MAX - MIN + 1)` reaches
//! 2^31 values at most. There is no `${_ENV NAME}`: keepalived's
//! `lib/parser.c` (`set_std_definitions`) defines only `_PWD`,
//! `_INSTANCE`, `_RANDOM`, `_HASH` and `_BANG`, so `$_ENV` is left as
//! written, as any name not defined is, as keepalived leaves it.

use std::path::Path;

use super::lexer::Stmt;
use super::{KaError, Pos, Warnings};

/// The one pre-defined name that takes parameters (keepalived's
/// `max_params` 2), and its defaults.
pub(super) const RANDOM: &str = "_RANDOM";
const RANDOM_MIN: u64 = 0;
const RANDOM_MAX: u64 = 32767;

/// What follows a braced name, as `find_definition` takes it: digits and
/// spaces (the parameters, trimmed; `None` if there are only spaces), then
/// the rest, which should start with `}`. `None` when the parameters end
/// with a space, which keepalived does not take as a use of the name.
pub(super) fn params(tail: &str) -> Option<(Option<&str>, &str)> {
    let n = tail
        .find(|c: char| c != ' ' && !c.is_ascii_digit())
        .unwrap_or(tail.len());
    let (p, rest) = tail.split_at(n);
    let p = p.trim_start();
    match p {
        "" => Some((None, rest)),
        p if p.ends_with(' ') => None,
        p => Some((Some(p), rest)),
    }
}

/// What the pre-defined names stand for in one read of the file: the
/// config-id, and where `$_RANDOM`'s numbers come from.
pub(super) struct Std<'a> {
    pub config_id: Option<&'a str>,
    /// `global_defs { random_seed N }`'s N ([`random_seed`]): the draws are
    /// a sequence it fixes; `None`: each draw is a fresh random number.
    seed: Option<u64>,
}

impl<'a> Std<'a> {
    pub(super) fn new(config_id: Option<&'a str>) -> Self {
        Std {
            config_id,
            seed: None,
        }
    }

    /// Draws from `seed`'s sequence from now on (none: at random).
    pub(super) fn seed(&mut self, seed: Option<u32>) {
        self.seed = seed.map(u64::from);
    }

    /// The next 64 random bits: SplitMix64's next output with a seed;
    /// else from std's randomly keyed hasher, a fresh key for each draw
    /// (configuration time, no secret).
    fn next(&mut self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let Some(s) = self.seed.as_mut() else {
            return std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
        };
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The seed of `global_defs { random_seed N }` in `top` (the last one,
/// as keepalived's `random_seed_handler` keeps the last), if it is a
/// number in 0..=2^32-1; another value is warned about (`top`).
pub(super) fn random_seed(top: &[Stmt]) -> Option<u32> {
    top.iter()
        .filter(|s| s.keyword() == "global_defs")
        .flat_map(Stmt::children)
        .filter(|k| k.keyword() == "random_seed")
        .filter_map(|k| seed_value(k.args()))
        .next_back()
}

/// `random_seed`'s value: its first word a decimal number in 0..=2^32-1,
/// as keepalived's `read_unsigned_strvec(strvec, 1, &val, 0, UINT_MAX,
/// false)` reads it (`strtoul`: leading ASCII blanks and a `+` taken, a
/// `-` refused, nothing after the digits, an empty word 0; any later word
/// not read).
pub(super) fn seed_value(args: &[String]) -> Option<u32> {
    let v = args
        .first()?
        .trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let digits = v.strip_prefix('+').unwrap_or(v);
    match digits.bytes().all(|b| b.is_ascii_digit()) {
        // An empty word reads as 0, as `strtoul` leaves nothing behind.
        true if v.is_empty() => Some(0),
        true if !digits.is_empty() => digits.parse().ok(),
        _ => None,
    }
}

/// The value of pre-defined `name` used with `params` at `pos`; `None` for a name keepalived does not define (left as written).
pub(super) fn value(
    name: &str,
    params: Option<&str>,
    pos: &Pos,
    std: &mut Std<'_>,
    warnings: &mut Warnings,
) -> Result<Option<String>, KaError> {
    Ok(match name {
        "_PWD" => Some(pwd(&pos.file)),
        "_INSTANCE" => std.config_id.map(str::to_string),
        "_HASH" => Some("#".into()),
        "_BANG" => Some("!".into()),
        RANDOM => Some(random(params, pos, std, warnings)?.to_string()),
        _ => None,
    })
}

/// `$_PWD` in `file`: its directory as `getcwd` gives it once keepalived
/// has `chdir`ed there (absolute, links resolved); joined to the current
/// directory if it cannot be resolved.
fn pwd(file: &Path) -> String {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let abs = std::fs::canonicalize(dir)
        .or_else(|_| std::env::current_dir().map(|c| c.join(dir)))
        .unwrap_or_else(|_| dir.to_path_buf());
    abs.display().to_string()
}

/// `${_RANDOM [MIN [MAX]]}`: a number in MIN..=MAX.
fn random(
    params: Option<&str>,
    pos: &Pos,
    std: &mut Std<'_>,
    warnings: &mut Warnings,
) -> Result<u64, KaError> {
    let use_ = || format!("${{{RANDOM} {}}}", params.unwrap_or(""));
    let mut words = params.unwrap_or("").split_whitespace();
    let mut num = |default: u64| match words.next() {
        None => Ok(default),
        Some(w) => w
            .parse::<u64>()
            .map_err(|_| KaError::at(pos, format!("{}: {w} is past 2^64 - 1", use_()))),
    };
    let (min, max) = (num(RANDOM_MIN)?, num(RANDOM_MAX)?);
    if words.next().is_some() {
        warnings.at(
            pos,
            format!("{}: too many parameters, only MIN and MAX are used", use_()),
        );
    }
    if min > max {
        return Err(KaError::at(
            pos,
            format!("{}: MIN {min} is above MAX {max}", use_()),
        ));
    }
    Ok(draw(min, max, std.next()))
}

/// The number in `min..=max` (`min <= max`) that the 64 random bits `x`
/// stand for: uniform when `x` is.
fn draw(min: u64, max: u64, x: u64) -> u64 {
    let span = u128::from(max - min) + 1;
    // The high half of x * span: uniform within 2^-64 of exact.
    min + ((u128::from(x) * span) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_their_range_and_reach_both_ends() {
        let (mut lo, mut hi) = (false, false);
        let mut std = Std::new(None);
        for _ in 0..2000 {
            let v = draw(3, 5, std.next());
            assert!((3..=5).contains(&v), "{v}");
            lo |= v == 3;
            hi |= v == 5;
        }
        assert!(lo && hi);
        assert_eq!(draw(7, 7, std.next()), 7);
        assert_eq!(draw(0, u64::MAX, 12345), 12345);
        assert_eq!(draw(2, 3, 0), 2);
        assert_eq!(draw(2, 3, u64::MAX), 3);
    }

    /// `$_PWD` is absolute whatever the path the file was named by:
    /// `keepalived.conf` and `src/x.conf` from the crate's directory (where
    /// tests run) give it and its `src`, as keepalived's `getcwd` after its
    /// `chdir` would; an absolute one stays as it is.
    #[test]
    fn pwd_is_absolute() {
        let here = std::fs::canonicalize(".").unwrap();
        assert!(here.is_absolute());
        assert_eq!(
            pwd(Path::new("keepalived.conf")),
            here.display().to_string()
        );
        assert_eq!(
            pwd(Path::new("./keepalived.conf")),
            here.display().to_string()
        );
        assert_eq!(
            pwd(Path::new("src/x.conf")),
            here.join("src").display().to_string()
        );
        assert_eq!(pwd(Path::new("/nonexistent/k/x.conf")), "/nonexistent/k");
    }

    #[test]
    fn parameters_are_digits_and_spaces_not_ending_with_a_space() {
        assert_eq!(params("}x"), Some((None, "}x")));
        assert_eq!(params("  }"), Some((None, "}")));
        assert_eq!(params(" 1 10}"), Some((Some("1 10"), "}")));
        assert_eq!(params(" 1 10 }"), None);
        assert_eq!(params(" 1a}"), Some((Some("1"), "a}")));
    }
}
