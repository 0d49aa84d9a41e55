//! The notify-script options (a ringvs extension of ipvsadm's syntax with
//! keepalived's meaning, `config::notify`): `--notify-up` and `--notify-down`
//! of a real server (`-a`, `-e`), `--quorum-up` and `--quorum-down` of a
//! service (`-A`, `-E`). Each takes one command line as one word (quoted
//! in a shell; `-S` writes it in double quotes). `--NAME-user USER[:GROUP]`
//! runs script `--NAME` (and `--misc-path`) as that user (keepalived's
//! `notify_up "CMD" USER [GROUP]`, `MISC_CHECK`'s `user`).

use super::super::{AdmError, Script, ScriptUser, Scripts};
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
    /// `--notify-up-user`, `--notify-down-user`, `--quorum-up-user`,
    /// `--quorum-down-user`, `--misc-path-user`.
    users: [Option<ScriptUser>; 5],
}

/// The user options, in the order of [`NotifyArgs::users`], with the
/// script option each goes with.
const USER_OPTIONS: [(&str, &str); 5] = [
    ("notify-up-user", "notify-up"),
    ("notify-down-user", "notify-down"),
    ("quorum-up-user", "quorum-up"),
    ("quorum-down-user", "quorum-down"),
    ("misc-path-user", "misc-path"),
];

impl NotifyArgs {
    /// Takes option `tag` if it is one of them.
    pub(super) fn take(&mut self, tag: Tag, val: &str) -> Result<bool, AdmError> {
        let user = match tag {
            Tag::NotifyUpUser => Some(0),
            Tag::NotifyDownUser => Some(1),
            Tag::QuorumUpUser => Some(2),
            Tag::QuorumDownUser => Some(3),
            Tag::MiscPathUser => Some(4),
            _ => None,
        };
        if let Some(i) = user {
            let name = USER_OPTIONS[i].0;
            if self.users[i].is_some() {
                return Err(usage(format!("multiple '{name}' options specified")));
            }
            let u = val
                .parse::<ScriptUser>()
                .map_err(|e| usage(format!("illegal {name} specified: {e}")))?;
            self.users[i] = Some(u);
            return Ok(true);
        }
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

    /// The service's scripts and the real server's (each only with the
    /// commands that set up what it belongs to), each with its user; and
    /// the user of the command's `--misc-path`, for the caller to give it.
    pub(super) fn build(
        mut self,
        cmd: Cmd,
    ) -> Result<(Scripts, Scripts, Option<ScriptUser>), AdmError> {
        let [up, down, qup, qdown, misc] = std::mem::take(&mut self.users);
        for (i, (user, slot)) in [
            (up, &mut self.server.up),
            (down, &mut self.server.down),
            (qup, &mut self.quorum.up),
            (qdown, &mut self.quorum.down),
        ]
        .into_iter()
        .enumerate()
        {
            if user.is_none() {
                continue;
            }
            let Some(s) = slot.take() else {
                let (name, script) = USER_OPTIONS[i];
                return Err(usage(format!("{name} needs --{script}")));
            };
            *slot = Some(s.with_user(user));
        }
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
        Ok((self.quorum, self.server, misc))
    }
}
