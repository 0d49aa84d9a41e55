//! One `SMTP_CHECK` conversation over a smoltcp connection, as keepalived's
//! `smtp_engine_thread` (`check_smtp.c`) holds it: the greeting must be
//! `220`, the answer to `HELO name` `250`, and the answer to `QUIT` must
//! arrive (its code is not read). A reply's code is its first three bytes,
//! digits (`smtp_get_status`); only a reply's first line is read, as there
//! (a continuation line `220-…` gives its code too).

use super::probe::Outcome;
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
    /// The connection was established (a step ran).
    connected: bool,
}

impl Talk {
    pub(super) fn new() -> Self {
        Talk {
            stage: Stage::Banner,
            out: None,
            line: Vec::with_capacity(64),
            seen_end: false,
            connected: false,
        }
    }

    /// Whether the connection was established (for the verdict on a
    /// closed one: closed, not refused).
    pub(super) fn connected(&self) -> bool {
        self.connected
    }

    /// One step on an established connection: sends what is due, reads
    /// reply lines; the outcome once there is one.
    pub(super) fn step(&mut self, s: &mut tcp::Socket, helo: &str) -> Option<Outcome> {
        self.connected = true;
        loop {
            if let Some(out) = &self.out {
                if !(s.may_send() && s.send_capacity() - s.send_queue() >= out.len()) {
                    return None;
                }
                if s.send_slice(out).is_err() {
                    return Some(Outcome::Closed);
                }
                self.out = None;
            }
            if !self.read_line(s) {
                // The server's FIN (or RST) before the line's end.
                return (!s.may_recv() && !s.can_recv()).then_some(Outcome::Closed);
            }
            let code = reply_code(&self.line);
            self.line.clear();
            self.seen_end = false;
            match self.stage {
                Stage::Banner if code != Some(220) => {
                    return Some(Outcome::Smtp {
                        helo: false,
                        code: code.unwrap_or(0),
                    });
                }
                Stage::Banner => {
                    self.stage = Stage::Helo;
                    self.out = Some(format!("HELO {helo}\r\n").into_bytes());
                }
                Stage::Helo if code != Some(250) => {
                    return Some(Outcome::Smtp {
                        helo: true,
                        code: code.unwrap_or(0),
                    });
                }
                Stage::Helo => {
                    self.stage = Stage::Quit;
                    self.out = Some(b"QUIT\r\n".to_vec());
                }
                Stage::Quit => return Some(Outcome::Ok),
            }
        }
    }

    /// Reads up to the end of a line (`\n`), keeping its first
    /// [`LINE_MAX`] bytes; true once it came. Bytes after it are left in the
    /// socket: the next reply is read after the next command.
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
mod tests {
    use super::*;

    #[test]
    fn reply_codes_as_smtp_get_status() {
        assert_eq!(reply_code(b"220 mail.example ESMTP"), Some(220));
        assert_eq!(reply_code(b"220-first of many"), Some(220));
        assert_eq!(reply_code(b"250"), Some(250));
        assert_eq!(reply_code(b"25"), None);
        assert_eq!(reply_code(b"2x0 no"), None);
        assert_eq!(reply_code(b""), None);
    }
}
