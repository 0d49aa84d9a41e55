//! The SIP persistence engine's reading of a datagram (`--pe sip`, IPVS's
//! `ip_vs_pe_sip.c`): the Call-ID a persistent UDP service's templates are
//! found by, read as `get_callid` reads it through netfilter's SIP parser
//! (`nf_conntrack_sip.c`: `ct_sip_get_header` for `SIP_HDR_CALL_ID`, whose
//! value is measured by `callid_len`).
//!
//! * The header is `Call-ID` or its compact form `i` (followed by no
//!   letter), in any case, at the start of a line that is not a
//!   continuation; whitespace (and a folded line) may come before the colon
//!   and after it. The first line (the request or status line) is never a
//!   header, the body is searched too, as netfilter does.
//! * A line naming the header without a colon after it ends the search.
//! * The value is a word (`iswordc`: letters, digits and
//!   `!"%()*+,-./:<>?[\]_`{}~`), then optionally `@` and another word.
//! * It is refused when empty, longer than 255 bytes
//!   (`IP_VS_PEDATA_MAXLEN`), or not followed by a line end.

/// The longest Call-ID the engine takes (`IP_VS_PEDATA_MAXLEN`).
pub const MAX_CALL_ID: usize = 255;

/// netfilter's `iswordc`.
fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!\"%()*+,-./:<>?[\\]_`{}~".contains(&c)
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

/// `sip_skip_whitespace`: past spaces and tabs, and past a line end that a
/// continuation line (starting with a space or a tab) follows; `None` at
/// the end of the datagram or at a line end that ends the header.
fn skip_whitespace(b: &[u8], mut at: usize) -> Option<usize> {
    while at < b.len() {
        match b[at] {
            b' ' | b'\t' => at += 1,
            b'\r' | b'\n' => {
                // `sip_follow_continuation`: one line end (CR, LF or CRLF),
                // then a space or tab.
                let mut next = at + 1;
                if b[at] == b'\r' && b.get(next) == Some(&b'\n') {
                    next += 1;
                }
                match b.get(next) {
                    Some(b' ' | b'\t') => at = next,
                    _ => return None,
                }
            }
            _ => return Some(at),
        }
    }
    None
}

/// The Call-ID of a SIP message (the UDP payload), or `None` where IPVS's
/// engine finds none (and the datagram is not scheduled).
pub fn call_id(b: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"call-id";
    let mut at = 0;
    while at < b.len() {
        // The next line start: past a line end, not a continuation.
        if b[at] != b'\r' && b[at] != b'\n' {
            at += 1;
            continue;
        }
        let mut line = at + 1;
        if b[at] == b'\r' && b.get(line) == Some(&b'\n') {
            line += 1;
        }
        at = line;
        let rest = &b[line..];
        let name_len = if rest.len() >= NAME.len() && rest[..NAME.len()].eq_ignore_ascii_case(NAME)
        {
            NAME.len()
        } else if rest.len() > 1
            && rest[0].eq_ignore_ascii_case(&b'i')
            && !rest[1].is_ascii_alphabetic()
        {
            1
        } else {
            continue;
        };
        let colon = skip_whitespace(b, line + name_len)?;
        if b[colon] != b':' {
            return None;
        }
        let value = skip_whitespace(b, colon + 1)?;
        let n = call_id_len(&b[value..]);
        if n == 0 {
            // No value: `get_callid` searches on from there.
            at = value;
            continue;
        }
        // Too long, or not followed by a line end (`get_callid`).
        return match b.get(value + n) {
            Some(b'\r' | b'\n') if n <= MAX_CALL_ID => Some(&b[value..value + n]),
            _ => None,
        };
    }
    None
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
                proptest::prop_assert!(id.iter().all(|&c| c == b'@' || word_char(c)));
            }
        }
    }
}
