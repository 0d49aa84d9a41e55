//! The SIP persistence engine's reading of a datagram (`--pe sip`, IPVS's
//! `ip_vs_pe_sip.c`): the Call-ID a persistent UDP service's templates are
//! found by, read as `get_callid` reads it through netfilter's SIP parser
//! (`nf_conntrack_sip.c`: `ct_sip_get_header` for `SIP_HDR_CALL_ID`, whose
//! value is measured by `callid_len`).
//!
//! * A line starts after a line end (CR, LF or CRLF) and is read from its
//!   first byte: a continuation line (starting with a space or a tab) is
//!   never a header, and the first line (the request or status line) is
//!   not either. The body is searched too, as netfilter does.
//! * The header is `Call-ID` or its compact form `i` followed by no letter,
//!   in any case. Whitespace may come before the colon and after it, and
//!   one folded line there is followed (`sip_skip_whitespace`).
//! * A line naming the header without a colon after it ends the search.
//! * The value is a word (`iswordc`: letters, digits and
//!   `!"%'()*+-./:<>?[\]_`{}~`), then optionally `@` and another word.
//!   Letters are the kernel's: ASCII and Latin-1's (`lib/ctype.c`).
//! * A header without a value sends the search on from an offset that grows
//!   by the value's position each time (`get_callid`'s
//!   `dataoff += *matchoff`, an offset from the payload's start added to the
//!   last one), so a second empty one can carry it past the header after.
//! * Where a line after a line end is no header, the search goes on from
//!   that line's second byte: after an empty LF-only line, the line that
//!   follows is not read (netfilter's loop steps past the byte it looked at).
//! * The Call-ID is refused when longer than 255 bytes
//!   (`IP_VS_PEDATA_MAXLEN`) or not followed by a line end.

use std::fmt;

/// The longest Call-ID the engine takes (`IP_VS_PEDATA_MAXLEN`).
pub const MAX_CALL_ID: usize = 255;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// A letter to the kernel's `isalpha` (`lib/ctype.c`: ASCII, and Latin-1's
/// 0xC0-0xFF but 0xD7 and 0xF7).
fn alpha(c: u8) -> bool {
    c.is_ascii_alphabetic() || (c >= 0xc0 && c != 0xd7 && c != 0xf7)
}

/// netfilter's `iswordc`.
fn word_char(c: u8) -> bool {
    alpha(c) || c.is_ascii_digit() || b"!\"%'()*+-./:<>?[\\]_`{}~".contains(&c)
}

fn word_len(b: &[u8]) -> usize {
    b.iter().take_while(|&&c| word_char(c)).count()
}

/// `callid_len`: a word, and `@` and a word if there is one.
fn call_id_len(b: &[u8]) -> usize {
    let n = word_len(b);
    if n == 0 || b.get(n) != Some(&b'@') {
        return n;
    }
    match word_len(&b[n + 1..]) {
        0 => 0,
        d => n + 1 + d,
    }
}

/// `sip_follow_continuation` at the line end at `at`: past it and the
/// next line's leading whitespace if that line is a continuation, else
/// `None`.
fn follow_continuation(b: &[u8], at: usize) -> Option<usize> {
    let mut p = at + 1;
    if p >= b.len() {
        return None;
    }
    if b[p - 1] == CR && b[p] == LF {
        p += 1;
        if p >= b.len() {
            return None;
        }
    }
    if b[p] != b' ' && b[p] != b'\t' {
        return None;
    }
    while p < b.len() && (b[p] == b' ' || b[p] == b'\t') {
        p += 1;
    }
    Some(p)
}

/// `sip_skip_whitespace`: past spaces and tabs and at most one line end
/// that a continuation follows; `None` at a line end that ends the header.
/// May return the datagram's length.
fn skip_whitespace(b: &[u8], mut at: usize) -> Option<usize> {
    while at < b.len() {
        match b[at] {
            b' ' | b'\t' => at += 1,
            CR | LF => return follow_continuation(b, at),
            _ => return Some(at),
        }
    }
    Some(at)
}

/// What `ct_sip_get_header` finds of the Call-ID from `from` on.
enum Header {
    /// The value's offset and length.
    Found(usize, usize),
    /// A header without a value there (`-1`).
    Empty(usize),
    /// No header (`0`).
    None,
}

/// `ct_sip_get_header` for `SIP_HDR_CALL_ID`, from offset `from`.
fn header(b: &[u8], from: usize) -> Header {
    const NAME: &[u8] = b"call-id";
    let mut at = from;
    while at < b.len() {
        if b[at] != CR && b[at] != LF {
            at += 1;
            continue;
        }
        at += 1;
        if at >= b.len() {
            break;
        }
        if b[at - 1] == CR && b[at] == LF {
            at += 1;
            if at >= b.len() {
                break;
            }
        }
        let rest = &b[at..];
        let name_end = if rest.len() >= NAME.len() && rest[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            at + NAME.len()
        } else if rest.len() >= 2 && rest[0].eq_ignore_ascii_case(&b'i') && !alpha(rest[1]) {
            at + 1
        } else {
            // A continuation line, or another header: the loop's step past
            // this byte.
            at += 1;
            continue;
        };
        let Some(colon) = skip_whitespace(b, name_end) else {
            break;
        };
        if b.get(colon) != Some(&b':') || colon + 1 >= b.len() {
            break;
        }
        let Some(value) = skip_whitespace(b, colon + 1) else {
            break;
        };
        return match call_id_len(b.get(value..).unwrap_or_default()) {
            0 => Header::Empty(value),
            n => Header::Found(value, n),
        };
    }
    Header::None
}

/// The Call-ID of a SIP message (the UDP payload), or `None` where IPVS's
/// engine finds none (and the datagram is not scheduled): `get_callid`.
pub fn call_id(b: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    loop {
        match header(b, from) {
            Header::None => return None,
            // Strictly further each time: a value lies past its line's start.
            Header::Empty(value) => from += value,
            Header::Found(value, n) => {
                let end = value + n;
                return match b.get(end) {
                    Some(&(CR | LF)) if n <= MAX_CALL_ID => Some(&b[value..end]),
                    _ => None,
                };
            }
        }
    }
}

/// The SIP engine's data: a call's Call-ID, as connection sync carries it
/// (`IPVS_OPT_PE_DATA` with `IPVS_OPT_PE_NAME` "sip", `ip_vs_sync_conn`;
/// the kernel's SIP engine puts the Call-ID in `pe_data`,
/// `ip_vs_sip_fill_param`). Fixed in size, so a sync entry stays `Copy` and
/// a worker's report allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeData {
    len: u8,
    bytes: [u8; MAX_CALL_ID],
}

impl PeData {
    /// The data `b` (1 to 255 bytes, as the option's one-byte length holds).
    pub fn new(b: &[u8]) -> Option<Self> {
        let len = u8::try_from(b.len()).ok().filter(|&n| n > 0)?;
        let mut bytes = [0; MAX_CALL_ID];
        bytes[..b.len()].copy_from_slice(b);
        Some(PeData { len, bytes })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for PeData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeData({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
        To: Bob <sip:bob@biloxi.example.com>\r\n\
        Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
        CSeq: 314159 INVITE\r\n\r\n";

    #[test]
    fn the_call_id_is_read_as_netfilter_reads_it() {
        assert_eq!(
            call_id(INVITE),
            Some(&b"a84b4c76e66710@pc33.atlanta.example.com"[..])
        );
        let with = |h: &str| {
            let m = format!("OPTIONS sip:x SIP/2.0\r\n{h}\r\nCSeq: 1 OPTIONS\r\n\r\n");
            call_id(m.as_bytes()).map(|c| String::from_utf8_lossy(c).into_owned())
        };
        // Any case, the compact form, whitespace around the colon.
        assert_eq!(with("call-ID:abc").as_deref(), Some("abc"));
        assert_eq!(with("CALL-ID \t: \tabc").as_deref(), Some("abc"));
        assert_eq!(with("i: 123@host").as_deref(), Some("123@host"));
        assert_eq!(with("I:x").as_deref(), Some("x"));
        // A folded value: the continuation line carries it.
        assert_eq!(with("Call-ID:\r\n   folded").as_deref(), Some("folded"));
        // Word characters only: a `;` ends the value, and then no line end
        // follows it, so none.
        assert_eq!(with("Call-ID: abc;x"), None);
        // A value that is no word at all: the search goes on.
        assert_eq!(
            with("Call-ID: ;x\r\nCall-ID: next").as_deref(),
            Some("next")
        );
        // The kernel's word characters: an apostrophe is one, a comma is not.
        assert_eq!(with("Call-ID: o'brien@h").as_deref(), Some("o'brien@h"));
        assert_eq!(with("Call-ID: a,b"), None);
        assert_eq!(
            with("Call-ID: a-b.c/d[e]{f}~g").as_deref(),
            Some("a-b.c/d[e]{f}~g")
        );
        // `@` needs a word after it.
        assert_eq!(with("Call-ID: abc@"), None);
        // Trailing whitespace: the value is not followed by the line end.
        assert_eq!(with("Call-ID: abc "), None);
        // Empty.
        assert_eq!(with("Call-ID: \r\nX: y"), None);
        assert_eq!(with("Call-ID:"), None);
        // Other headers that start like it.
        assert_eq!(with("Identity: x\r\nCall-Info: y"), None);
        assert_eq!(with("Call-IDx: y"), None);
        // The header named without a colon ends the search.
        assert_eq!(with("i x\r\nCall-ID: late"), None);
        // 255 bytes, not 256.
        let long = "a".repeat(MAX_CALL_ID);
        assert_eq!(with(&format!("Call-ID: {long}")), Some(long.clone()));
        assert_eq!(with(&format!("Call-ID: {long}a")), None);
    }

    /// The corners where netfilter's loops decide, each as the kernel's code
    /// goes (`ct_sip_get_header`, `sip_skip_whitespace`, `get_callid`).
    #[test]
    fn netfilters_corners() {
        // One folded line is followed, not two.
        assert_eq!(call_id(b"X\r\nCall-ID:\r\n good\r\n"), Some(&b"good"[..]));
        assert_eq!(call_id(b"X\r\nCall-ID:\r\n \r\n good\r\n"), None);
        // After an empty LF-only line the next line is not read; after an
        // empty CRLF line it is.
        assert_eq!(call_id(b"X\n\nCall-ID: body\n"), None);
        assert_eq!(call_id(b"X\r\n\r\nCall-ID: body\r\n"), Some(&b"body"[..]));
        // Two empty values: the second retry starts past the third header.
        let two = b"X\r\nCall-ID: ;\r\nCall-ID: ;\r\nCall-ID: good\r\n";
        assert_eq!(call_id(two), None);
        // Latin-1 letters are letters to the kernel.
        assert_eq!(call_id(b"X\r\nCall-ID: caf\xe9\r\n"), Some(&b"caf\xe9"[..]));
        assert_eq!(call_id(b"X\r\ni\xe9: y\r\nCall-ID: z\r\n"), Some(&b"z"[..]));
        assert_eq!(
            call_id(b"X\r\nCall-ID: a\xd7b\r\n"),
            None,
            "0xD7 is no letter"
        );
    }

    #[test]
    fn the_first_line_and_messages_without_the_header() {
        // The request line is no header, even when it looks like one.
        assert_eq!(call_id(b"Call-ID: x\r\n\r\n"), None);
        assert_eq!(call_id(b"INVITE sip:x SIP/2.0\r\nTo: y\r\n\r\n"), None);
        assert_eq!(call_id(b""), None);
        assert_eq!(call_id(b"\r\n"), None);
        // At the very end, with no line end after it.
        assert_eq!(call_id(b"X\r\nCall-ID: abc"), None);
        // LF and CR alone end lines too (RFC 2543).
        assert_eq!(call_id(b"X\ni: q\n"), Some(&b"q"[..]));
        assert_eq!(call_id(b"X\ri: q\r"), Some(&b"q"[..]));
    }

    proptest::proptest! {
        /// Never a panic, and what is found lies in the datagram, is short
        /// enough and is made of word characters and one `@` at most.
        #[test]
        fn any_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Some(id) = call_id(&b) {
                proptest::prop_assert!(!id.is_empty() && id.len() <= MAX_CALL_ID);
                proptest::prop_assert!(id.iter().filter(|&&c| c == b'@').count() <= 1);
                // The kernel's word characters, written out apart from
                // `word_char`.
                let word = |c: u8| {
                    c.is_ascii_alphanumeric()
                        || ((0xc0..=0xff).contains(&c) && c != 0xd7 && c != 0xf7)
                        || b"!\"%'()*+-./:<>?[\\]_`{}~".contains(&c)
                };
                proptest::prop_assert!(id.iter().all(|&c| c == b'@' || word(c)));
            }
        }
    }
}
