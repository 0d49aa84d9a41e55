//! keepalived's pre-defined parameters (`lib/parser.c`,
//! `set_std_definitions`): these names are replaced, as `$NAME` and
//! `${NAME}`, by what they stand for, in a file without a `$NAME=value`
//! line for them. A definition of the same name replaces one,
//! as there (`check_definition` clears its function).
//!
//! * `_PWD`: the directory of the file being read (keepalived `chdir`s to
//!   it, `get_cwd`);
//! * `_INSTANCE`: the config-id (`get_instance`); left as written without
//!   one;
//! * `_RANDOM`, `${_RANDOM MIN}`, `${_RANDOM MIN MAX}`: a number drawn in
//!   MIN..=MAX, 0 and 32767 unless given (`get_random`); the parameters are
//!   decimal digits after the name, inside the braces, separated by spaces
//!   (`find_definition`). A third one is warned about and ignored, as
//!   keepalived logs it. A number drawn at each use, each load (a reload
//!   draws again, as keepalived's does).
//! * `_HASH`, `_BANG`: `#` and `!`, which would otherwise start a comment.
//!
//! Deliberate differences: MIN above MAX, or a number past 2^64 - 1, is an
//! error naming the line; keepalived's `get_random` then divides by zero
//! (MAX + 1 = MIN, or MAX the largest `unsigned long` with MIN 0) or prints
//! a number outside the range cut to MAX's digits. The draw is uniform over
//! the whole range, where keepalived's `random() % (MAX - MIN + 1)` reaches
//! 2^31 values at most. keepalived.conf(5) also lists `${_ENV NAME}` (an
//! environment variable), which the `lib/parser.c` read for this
//! (`set_std_definitions`: `_PWD`, `_INSTANCE`, `_RANDOM`, `_HASH`, `_BANG`)
//! does not have, so its handling of an unset variable is not known: it
//! is left as written, as any name not defined is.

use std::path::Path;

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

/// The value of pre-defined `name` used with `params` at `pos`; `None` for a name keepalived does not define (left as written).
pub(super) fn value(
    name: &str,
    params: Option<&str>,
    pos: &Pos,
    config_id: Option<&str>,
    warnings: &mut Warnings,
) -> Result<Option<String>, KaError> {
    Ok(match name {
        "_PWD" => pos.file.parent().map(Path::display).map(|d| d.to_string()),
        "_INSTANCE" => config_id.map(str::to_string),
        "_HASH" => Some("#".into()),
        "_BANG" => Some("!".into()),
        RANDOM => Some(random(params, pos, warnings)?.to_string()),
        _ => None,
    })
}

/// `${_RANDOM [MIN [MAX]]}`: a number in MIN..=MAX.
fn random(params: Option<&str>, pos: &Pos, warnings: &mut Warnings) -> Result<u64, KaError> {
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
    Ok(draw(min, max))
}

/// A number drawn uniformly in `min..=max` (`min <= max`), from std's
/// randomly keyed hasher: a fresh key for each draw (configuration time, no
/// secret).
fn draw(min: u64, max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let x = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
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
        for _ in 0..2000 {
            let v = draw(3, 5);
            assert!((3..=5).contains(&v), "{v}");
            lo |= v == 3;
            hi |= v == 5;
        }
        assert!(lo && hi);
        assert_eq!(draw(7, 7), 7);
        let _ = draw(0, u64::MAX);
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
