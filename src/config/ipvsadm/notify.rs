//! The notify-script options (a ringvs extension of ipvsadm's syntax with
//! keepalived's meaning, `config::notify`): `--notify-up` and `--notify-down`
//! of a real server (`-a`, `-e`), `--quorum-up` and `--quorum-down` of a
//! service (`-A`, `-E`). Each takes one command line as one word (quoted
//! in a shell; `-S` writes it in double quotes).

use super::super::{AdmError, Script, Scripts};
use super::messages::usage;
use super::options::{Cmd, Tag};

/// The notify-script options of one command line.
#[derive(Default)]
pub(super) struct NotifyArgs {
    /// The first server option and the first service option seen, by long
    /// name (for messages).
    first: [Option<&'static str>; 2],
    server: Scripts,
    quorum: Scripts,
}

impl NotifyArgs {
    /// Takes option `tag` if it is one of them.
    pub(super) fn take(&mut self, tag: Tag, val: &str) -> Result<bool, AdmError> {
        let (name, group, slot) = match tag {
            Tag::NotifyUp => ("notify-up", 0, &mut self.server.up),
            Tag::NotifyDown => ("notify-down", 0, &mut self.server.down),
            Tag::QuorumUp => ("quorum-up", 1, &mut self.quorum.up),
            Tag::QuorumDown => ("quorum-down", 1, &mut self.quorum.down),
            _ => return Ok(false),
        };
        if slot.is_some() {
            return Err(usage(format!("multiple '{name}' options specified")));
        }
        let script =
            Script::parse(val).map_err(|e| usage(format!("illegal {name} specified: {e}")))?;
        *slot = Some(script);
        self.first[group].get_or_insert(name);
        Ok(true)
    }

    /// The service's scripts and the real server's: each only with the
    /// commands that set up what it belongs to.
    pub(super) fn build(self, cmd: Cmd) -> Result<(Scripts, Scripts), AdmError> {
        let takes = [
            matches!(cmd, Cmd::AddDest | Cmd::EditDest),
            matches!(cmd, Cmd::Add | Cmd::Edit),
        ];
        for (first, takes) in self.first.into_iter().zip(takes) {
            if let Some(first) = first.filter(|_| !takes) {
                return Err(usage(format!(
                    "Illegal '{first}' option with the '{}' command",
                    cmd.name()
                )));
            }
        }
        Ok((self.quorum, self.server))
    }
}
