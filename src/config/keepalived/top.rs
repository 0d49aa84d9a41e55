//! The top level of keepalived.conf: which blocks are ringvs's
//! (`virtual_server`, `virtual_server_group`), which are keepalived's own
//! (VRRP, BFD, ...: skipped without a word) or unknown (warned about), and
//! the LVS settings of `global_defs` (warned about: `ringvs adm` sets them)
//! and its scripts' settings (`script_user`, `enable_script_security`).
//! The blocks themselves are read in `lvs` and `group`, `track_file`
//! (which `FILE_CHECK` names) in `track`, `SSL` (the client certificate
//! of every `SSL_GET`) in `ssl`.

use std::collections::HashSet;

use super::super::{Config, ScriptUser, ServiceKey};
use super::lexer::Stmt;
use super::lvs::{Vs, virtual_server};
use super::ssl;
use super::track::{self, TrackInit};
use super::values::Cx;
use super::{KaError, Pos, ScriptSettings, Warnings};
use super::{builtin, group};

/// Top-level blocks and keywords that keepalived itself uses (VRRP, global
/// settings, BFD, ...): skipped without a word.
const KEEPALIVED_ONLY: [&str; 21] = [
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
    // Read first, for `FILE_CHECK` (`track.rs`).
    "vrrp_track_file",
    "track_file",
    "vrrp_track_process",
    "track_process",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_group",
    "garp_group",
    "linkbeat_interfaces",
    "linkbeat_use_polling",
    "bfd_instance",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "child_wait_time",
];

/// The services of the top-level statements `top`, the scripts'
/// settings of its `global_defs` and its `track_file`s' `init_file`s;
/// `dips`: the director's DIPs, which a checker's `bindto` may name.
pub(crate) fn config(
    top: &[Stmt],
    w: &mut Warnings,
    dips: &[std::net::IpAddr],
) -> Result<(Config, ScriptSettings, Vec<TrackInit>), KaError> {
    let files = track::track_files(
        &mut Cx {
            w: &mut *w,
            dips,
            files: &[],
        },
        top,
    )?;
    let mut cx = Cx {
        w,
        dips,
        files: &files,
    };
    let mut cfg = Config::new();
    let mut seen: Vec<(ServiceKey, Pos)> = Vec::new();
    let groups = group::groups(&mut cx, top)?;
    let mut marks = group::Marks::default();
    // Statements the group blocks' copies made (`group::members`).
    let mut copies = 0;
    let mut scripts = ScriptSettings::default();
    let mut ssl_block = None;
    for s in top {
        match s.keyword() {
            "virtual_server" if s.args().first().map(String::as_str) == Some("group") => {
                let since = cx.w.len();
                let (mut keys, mut joins) = (Vec::new(), Vec::new());
                let name = s.args().get(1).map(String::as_str).unwrap_or_default();
                // Each member's warnings repeat the first's: dropped as
                // they come, not held for every member of a /20.
                let mut said = HashSet::new();
                for m in group::members(&mut cx, s, &groups, &mut copies)?.stmts() {
                    let at = cx.w.len();
                    let vs = virtual_server(&mut cx, &m)?;
                    cx.w.dedup_from(at, &mut said);
                    let Some(vs) = vs else {
                        continue;
                    };
                    // A mark an earlier block of the group set up: joined
                    // once the block's own services are added.
                    if marks.has(name, vs.key) {
                        joins.push(vs);
                        continue;
                    }
                    add_virtual_server(&vs, &mut seen, &mut cfg)?;
                    keys.push(vs.key);
                    marks.set_up(name, vs);
                }
                let alone = keys.is_empty();
                // A block of joined marks alone runs its scripts for the first.
                keys.extend(joins.first().filter(|_| alone).map(|vs| vs.key));
                let dropped = marks.join(&mut cx, s, joins, alone, &mut cfg)?;
                // The block's warnings once, not once per member.
                cx.w.dedup_since(since);
                scripts_once(&mut cx, s, &keys, dropped, &mut cfg);
            }
            "virtual_server" => {
                if let Some(vs) = virtual_server(&mut cx, s)? {
                    add_virtual_server(&vs, &mut seen, &mut cfg)?;
                    if vs.key.is_fwmark() && vs.marks.is_empty() {
                        no_mark_dest(&mut cx, &s.pos, "virtual_server fwmark".into());
                    }
                }
            }
            // Read above.
            "virtual_server_group" => {}
            "global_defs" => global_defs(&mut cx, s, &mut scripts),
            "SSL" => ssl::block(&mut cx, s, &mut ssl_block)?,
            k if KEEPALIVED_ONLY.contains(&k) => {}
            k => {
                cx.w.at(&s.pos, format!("{k}: unknown top-level keyword, skipped"))
            }
        }
    }
    // Once every block of a group has given its rules.
    for (pos, name, key) in marks.without_rules() {
        let v6 = if key.addr.is_ipv6() { " inet6" } else { "" };
        let what = format!("virtual_server group {name}: fwmark {}{v6}", key.mark);
        no_mark_dest(&mut cx, pos, what);
    }
    // Once every `SSL_GET` is known: its files are read only for one.
    ssl::apply(&mut cx, ssl_block.as_ref(), &mut cfg)?;
    Ok((cfg, scripts, track::inits(&files)))
}

/// A mark's service (`what`) without `mark_dest` lines takes no packet.
fn no_mark_dest(cx: &mut Cx<'_>, pos: &Pos, what: String) {
    cx.w.at(
        pos,
        format!(
            "{what} without mark_dest: it takes no packet (ringvs cannot see netfilter's marks; give the MARK rule's destinations as `mark_dest PROTO:ADDR[/LEN][:PORTS]`)"
        ),
    );
}

/// The notify scripts of a `virtual_server group` (`keys`: its members,
/// in order) run for its first member alone: keepalived runs them once for
/// the group, and ringvs tells each member's servers apart (they share
/// their checks, not their verdicts' notices), so each event would
/// otherwise run them once per member (warned when there are others, or
/// `joined` servers of a mark another block set up left theirs out,
/// `group::Marks::join`; `keys` then names that mark's service if the
/// block has no other).
fn scripts_once(cx: &mut Cx<'_>, s: &Stmt, keys: &[ServiceKey], joined: usize, cfg: &mut Config) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let dropped: usize = rest.iter().map(|k| cfg.drop_scripts(k)).sum();
    if dropped + joined > 0 {
        let e = format!(
            "virtual_server group: its notify scripts run for its first member {first} alone \
             (keepalived runs them once for the group; ringvs tells each member apart)"
        );
        cx.w.at(&s.pos, e);
    }
}

/// Adds the virtual server `vs` to `cfg` (`seen`: the services so far,
/// where they were defined).
fn add_virtual_server(
    vs: &Vs,
    seen: &mut Vec<(ServiceKey, Pos)>,
    cfg: &mut Config,
) -> Result<(), KaError> {
    if let Some((_, first)) = seen.iter().find(|(k, _)| *k == vs.key) {
        return Err(KaError::at(
            &vs.pos,
            format!(
                "virtual_server {}: defined twice (first at {first})",
                vs.key
            ),
        ));
    }
    seen.push((vs.key, vs.pos.clone()));
    vs.add_to(cfg)
}

/// `global_defs` is keepalived's; only the LVS settings in it concern the
/// director, and ringvs takes them from `ringvs adm` and `ringvs run`
/// instead, but for the scripts' `script_user USER [GROUP]` and
/// `enable_script_security`, which go to `scripts` (`global_parser.c`
/// `script_user_handler`, `script_security_handler`; a later one wins).
fn global_defs(cx: &mut Cx<'_>, s: &Stmt, scripts: &mut ScriptSettings) {
    for k in s.children() {
        let how = match k.keyword() {
            "script_user" => {
                let user = match k.args() {
                    [user] => ScriptUser::new(user, None),
                    [user, group] => ScriptUser::new(user, Some(group)),
                    _ => Err("needs USER [GROUP]".into()),
                };
                match user {
                    Ok(u) => scripts.user = Some(u),
                    Err(e) => cx.w.at(&k.pos, format!("script_user: {e}, skipped")),
                }
                continue;
            }
            "enable_script_security" => {
                scripts.security = true;
                continue;
            }
            // Taken as the file is read (`builtin::random_seed`).
            "random_seed" if builtin::seed_value(k.args()).is_some() => continue,
            "random_seed" => {
                let v = k.args().join(" ");
                cx.w.at(
                    &k.pos,
                    format!("random_seed {v}: not a number in 0..4294967295, ignored"),
                );
                continue;
            }
            "lvs_timeouts" => "set them with 'ringvs adm --set'",
            "lvs_sync_daemon" => "start it with 'ringvs adm --start-daemon'",
            "lvs_notify_fifo" | "notify_fifo" => "give it to 'ringvs run --notify-fifo'",
            "lvs_notify_fifo_script" | "notify_fifo_script" => {
                "give it to 'ringvs run --notify-fifo-script'"
            }
            // keepalived.conf(5); ringvs reads the include variants only.
            "include_check" => "write includem, includew, includeb or includea instead of include",
            "rs_init_notifies" => {
                "ringvs runs a real server's notify_up when it comes up, not at start"
            }
            _ => continue,
        };
        cx.w.at(
            &k.pos,
            format!(
                "{} (in global_defs): not applied by ringvs, {how}",
                k.keyword()
            ),
        );
    }
}
