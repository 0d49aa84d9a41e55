//! One `SMTP_CHECK` conversation over a smoltcp connection, as keepalived's
//! `smtp_engine_thread` (`check_smtp.c`) holds it: the greeting must be
//! `220`, the answer to `HELO name` `250`, and the answer to `QUIT` must
//! arrive (its code is not read). A reply's code is its first three bytes,
//! digits (`smtp_get_status`). A reply of several lines (`220-…` up to the
//! line without the dash, RFC 5321 section 4.2.1) is read whole and judged
//! by its first line's code. A deliberate difference: keepalived 2's
//! `smtp_get_status` wants the three digits followed by a space or the end
//! of the line, so a first line `220-…` fails its try there (keepalived 1.x
//! read the digits alone and passed it); a server's multi-line greeting or
//! `HELO` answer is a valid reply, and passes here (`docs/health.md`).

use super::probe::{Outcome, send_whole};
use smoltcp::socket::tcp;

/// Bytes of a reply line kept (keepalived's `SMTP_BUFF_MAX`); the rest of a
/// longer line is read and dropped.
const LINE_MAX: usize = 512;

/// Where the conversation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for the greeting.
    Banner,
    /// `HELO` sent (or to send), waiting for its answer.
    Helo,
    /// `QUIT` sent (or to send), waiting for its answer.
    Quit,
}

/// A conversation in flight.
pub(super) struct Talk {
    stage: Stage,
    /// The line to send next, until the socket takes it whole.
    out: Option<Vec<u8>>,
    /// The reply line so far, and whether its end came.
    line: Vec<u8>,
    seen_end: bool,
    /// The code of the reply's first line, once read (`Some(None)`: not a
    /// code), while its continuation lines are read.
    first: Option<Option<u16>>,
}

impl Talk {
    pub(super) fn new() -> Self {
        Talk {
            stage: Stage::Banner,
            out: None,
            line: Vec::with_capacity(64),
            seen_end: false,
            first: None,
        }
    }

    /// One step on a connection that was established: sends what is due,
    /// reads replies, what a closed connection left buffered included; the
    /// outcome once there is one.
    pub(super) fn step(&mut self, s: &mut tcp::Socket, helo: &str) -> Option<Outcome> {
        loop {
            if let Some(out) = &self.out {
                if !send_whole(s, out) {
                    return None;
                }
                self.out = None;
            }
            let Some(code) = self.read_reply(s) else {
                // The server's FIN (or RST) before the reply's end.
                return (!s.may_recv() && !s.can_recv()).then_some(Outcome::Closed);
            };
            // The code each reply must have, and what comes after it.
            let (want, next, out) = match self.stage {
                Stage::Banner => (220, Stage::Helo, format!("HELO {helo}\r\n")),
                Stage::Helo => (250, Stage::Quit, "QUIT\r\n".to_string()),
                Stage::Quit => return Some(Outcome::Ok),
            };
            if code != Some(want) {
                return Some(Outcome::Smtp {
                    helo: self.stage == Stage::Helo,
                    code: code.unwrap_or(0),
                });
            }
            self.stage = next;
            self.out = Some(out.into_bytes());
        }
    }

    /// Reads a whole reply: lines until one whose fourth byte is not `-`;
    /// the code of its first line once it came. Bytes after it are left in
    /// the socket: the next reply is read after the next command.
    fn read_reply(&mut self, s: &mut tcp::Socket) -> Option<Option<u16>> {
        while self.read_line(s) {
            let code = reply_code(&self.line);
            // `NNN-` continues the reply; anything else ends it.
            let more = code.is_some() && self.line.get(3) == Some(&b'-');
            self.line.clear();
            self.seen_end = false;
            let first = *self.first.get_or_insert(code);
            if !more {
                self.first = None;
                return Some(first);
            }
        }
        None
    }

    /// Reads up to the end of a line (`\n`), keeping its first
    /// [`LINE_MAX`] bytes (the rest is read and dropped; keepalived fails
    /// a reply line it cannot hold); true once it came.
    fn read_line(&mut self, s: &mut tcp::Socket) -> bool {
        while !self.seen_end && s.can_recv() {
            let r = s.recv(|b| match b.iter().position(|&c| c == b'\n') {
                Some(i) => (i + 1, (&b[..i], true)),
                None => (b.len(), (b, false)),
            });
            let Ok(()) = r.map(|(got, end): (&[u8], bool)| {
                let room = LINE_MAX.saturating_sub(self.line.len());
                self.line.extend_from_slice(&got[..got.len().min(room)]);
                self.seen_end = end;
            }) else {
                break;
            };
        }
        self.seen_end
    }
}

/// A reply's code: its first three bytes, if digits (`smtp_get_status`).
fn reply_code(line: &[u8]) -> Option<u16> {
    let d = line.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0, |n, &c| n * 10 + u16::from(c - b'0')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::probe::Talk as Said;
    use super::super::probe::loopback::Pair;
    use super::*;
    use crate::config::{CheckKind, SmtpCheck};

    #[test]
    fn reply_codes_as_smtp_get_status() {
        assert_eq!(reply_code(b"220 mail.example ESMTP"), Some(220));
        assert_eq!(reply_code(b"220-first of many"), Some(220));
        assert_eq!(reply_code(b"250"), Some(250));
        assert_eq!(reply_code(b"25"), None);
        assert_eq!(reply_code(b"2x0 no"), None);
        assert_eq!(reply_code(b""), None);
    }

    /// A deliberate difference from keepalived 2 (whose `smtp_get_status`
    /// fails a first line `220-…`): a multi-line greeting passes.
    #[test]
    fn a_multi_line_greeting_passes_unlike_keepalived_2() {
        let (helo, quit) = (&b"250 hi\r\n"[..], &b"221 bye\r\n"[..]);
        let greeting = b"220-mx ESMTP\r\n220 ok\r\n";
        assert_eq!(talk(greeting, &[helo, quit], false), Some(Outcome::Ok));
    }

    /// A server over smoltcp's loopback device: it sends `greeting` at
    /// once, then the next of `answers` for each line it gets, and resets
    /// the connection once the last has left if `reset`. The check's
    /// outcome.
    fn talk(greeting: &[u8], answers: &[&[u8]], reset: bool) -> Option<Outcome> {
        let kind = CheckKind::Smtp(SmtpCheck::new());
        let mut said = Said::Smtp(Box::new(Talk::new()));
        let (mut greeted, mut next, mut got) = (false, 0, Vec::new());
        Pair::new(25, (4096, 4096)).run(2000, (&mut said, &kind), |s| {
            // Reset once the last answer left (linger 0 after it).
            if reset && next == answers.len() && greeted && s.send_queue() == 0 && s.is_open() {
                s.abort();
            }
            if s.may_send() && !greeted {
                greeted = true;
                s.send_slice(greeting).unwrap();
            }
            while s.can_recv() {
                let mut b = [0u8; 512];
                let n = s.recv_slice(&mut b).unwrap();
                got.extend_from_slice(&b[..n]);
            }
            while let Some(i) = got.iter().position(|&c| c == b'\n') {
                got.drain(..=i);
                if let Some(a) = answers.get(next) {
                    s.send_slice(a).unwrap();
                    next += 1;
                }
            }
        })
    }

    #[test]
    fn conversations_as_smtp_engine_thread_judges_them() {
        let (helo, quit) = (&b"250 hi\r\n"[..], &b"221 bye\r\n"[..]);
        assert_eq!(
            talk(b"220 ready\r\n", &[helo, quit], false),
            Some(Outcome::Ok)
        );
        // A greeting of several lines at once, bare LF line ends.
        let multi = b"220-mx.example ESMTP\r\n220-more\n220 ready\r\n";
        assert_eq!(talk(multi, &[helo, quit], false), Some(Outcome::Ok));
        let multi_helo = &b"250-hi\r\n250-PIPELINING\r\n250 8BITMIME\r\n"[..];
        assert_eq!(
            talk(b"220 ok\r\n", &[multi_helo, quit], false),
            Some(Outcome::Ok)
        );
        // The answer to QUIT and a reset at once: answered all the same.
        assert_eq!(talk(b"220 ok\r\n", &[helo, quit], true), Some(Outcome::Ok));
        let busy = Outcome::Smtp {
            helo: false,
            code: 554,
        };
        assert_eq!(talk(b"554 busy\r\n", &[helo, quit], false), Some(busy));
        let who = Outcome::Smtp {
            helo: true,
            code: 550,
        };
        assert_eq!(talk(b"220 ok\r\n", &[b"550 who\r\n"], false), Some(who));
        let garbled = Outcome::Smtp {
            helo: false,
            code: 0,
        };
        assert_eq!(talk(b"SSH-2.0-x\r\n", &[], false), Some(garbled));
        // No answer to QUIT, then the reset: closed.
        assert_eq!(talk(b"220 ok\r\n", &[helo], true), Some(Outcome::Closed));
    }

    /// A connection the server closes in the middle of the conversation
    /// (after its greeting, once `HELO` came) fails the try as closed
    /// before an SMTP reply, not in HTTP's words nor as a connect failure;
    /// a server that greets and then says nothing fails it at the check's
    /// time as an SMTP read timeout (keepalived's "Read timeout",
    /// `smtp_get_line_cb`), not as a connect timeout.
    #[test]
    fn a_conversation_cut_or_silent_fails_in_smtp_words() {
        let kind = CheckKind::Smtp(SmtpCheck::new());
        let mut said = Said::Smtp(Box::new(Talk::new()));
        let mut greeted = false;
        let got = Pair::new(25, (4096, 4096)).run(2000, (&mut said, &kind), |s| {
            if s.may_send() && !greeted {
                greeted = true;
                s.send_slice(b"220 x\r\n").unwrap();
            }
            if s.can_recv() {
                s.close();
            }
        });
        assert_eq!(got, Some(Outcome::Closed));
        let reason = Outcome::Closed.reason(&kind);
        assert_eq!(reason, "closed before an SMTP reply");
        assert!(!reason.contains("HTTP") && !reason.contains("connect"));
        let mut said = Said::Smtp(Box::new(Talk::new()));
        let mut greeted = false;
        let mut pair = Pair::new(25, (4096, 4096)).timeout_at(500);
        let got = pair.run(2000, (&mut said, &kind), |s| {
            if s.may_send() && !greeted {
                greeted = true;
                s.send_slice(b"220 x\r\n").unwrap();
            }
        });
        assert_eq!(got, Some(Outcome::ReadTimeout));
        assert_eq!(Outcome::ReadTimeout.reason(&kind), "SMTP read timeout");
    }
}
