//! The top level of keepalived.conf: which blocks are ringvs's
//! (`virtual_server`, `virtual_server_group`), which are keepalived's own
//! (VRRP, BFD, ...: skipped without a word) or unknown (warned about), and
//! the LVS settings of `global_defs` (warned about: `ringvs adm` sets them).
//! The blocks themselves are read in `lvs` and `group`.

use super::super::{Config, ServiceKey};
use super::group;
use super::lexer::Stmt;
use super::lvs::virtual_server;
use super::values::Cx;
use super::{KaError, Pos, Warnings};

/// Top-level blocks and keywords that keepalived itself uses (VRRP, global
/// settings, BFD, ...): skipped without a word.
const KEEPALIVED_ONLY: [&str; 22] = [
    "vrrp_instance",
    "vrrp_sync_group",
    "vrrp_script",
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
    "SSL",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
    "child_wait_time",
];

/// The services of the top-level statements `top`.
pub(crate) fn config(top: &[Stmt], w: &mut Warnings) -> Result<Config, KaError> {
    let mut cx = Cx { w };
    let mut cfg = Config::new();
    let mut seen: Vec<(ServiceKey, Pos)> = Vec::new();
    let groups = group::groups(&mut cx, top)?;
    let mut script_user = None;
    for s in top {
        match s.keyword() {
            "virtual_server" if s.args().first().map(String::as_str) == Some("group") => {
                let since = cx.w.len();
                let mut keys = Vec::new();
                for m in group::members(&mut cx, s, &groups)? {
                    keys.extend(add_virtual_server(&mut cx, &m, &mut seen, &mut cfg)?);
                }
                // The block's warnings once, not once per member.
                cx.w.dedup_since(since);
                scripts_once(&mut cx, s, &keys, &mut cfg);
            }
            "virtual_server" => {
                add_virtual_server(&mut cx, s, &mut seen, &mut cfg)?;
            }
            // Read above.
            "virtual_server_group" => {}
            "global_defs" => script_user = global_defs(&mut cx, s).or(script_user),
            k if KEEPALIVED_ONLY.contains(&k) => {}
            k => {
                cx.w.at(&s.pos, format!("{k}: unknown top-level keyword, skipped"))
            }
        }
    }
    if let Some(k) = script_user {
        no_scripts(&mut cx, k, &mut cfg);
    }
    Ok(cfg)
}

/// `script_user` (or `enable_script_security`, `k`) with notify scripts or
/// `MISC_CHECK`s in the file: keepalived runs them as another user than
/// root (or only once it found them safe to run as root); ringvs runs
/// scripts as its own user and checks nothing, so it runs none of them
/// (warned once each), rather than run as root what was meant to run
/// otherwise.
fn no_scripts(cx: &mut Cx<'_>, k: &Stmt, cfg: &mut Config) {
    let keys: Vec<ServiceKey> = cfg.services().iter().map(|s| s.key).collect();
    let n: usize = keys.iter().map(|k| cfg.drop_scripts(k)).sum();
    let kw = k.keyword();
    if n > 0 {
        let e = format!(
            "{kw}: keepalived runs notify scripts as another user or after checking them; ringvs runs them as its own user, so the notify scripts of {n} real or virtual server(s) are not run"
        );
        cx.w.at(&k.pos, e);
    }
    let n = keys.iter().filter(|k| cfg.drop_misc_check(k)).count();
    if n > 0 {
        let e = format!(
            "{kw}: keepalived runs MISC_CHECK scripts as another user or after checking them; ringvs runs them as its own user, so the MISC_CHECKs of {n} virtual server(s) are not run (their real servers are not checked)"
        );
        cx.w.at(&k.pos, e);
    }
}

/// The notify scripts of a `virtual_server group` (`keys`: its members,
/// in order) run for its first member alone: keepalived runs them once for
/// the group, and ringvs checks each member's servers apart, so each event
/// would otherwise run them once per member (warned when there are others).
fn scripts_once(cx: &mut Cx<'_>, s: &Stmt, keys: &[ServiceKey], cfg: &mut Config) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    let dropped: usize = rest.iter().map(|k| cfg.drop_scripts(k)).sum();
    if dropped > 0 {
        let e = format!(
            "virtual_server group: its notify scripts run for its first member {first} alone \
             (keepalived runs them once for the group; ringvs checks each member apart)"
        );
        cx.w.at(&s.pos, e);
    }
}

/// Reads the `virtual_server` block `s` into `cfg` (`seen`: the services so
/// far, where they were defined); the service's key if one was added.
fn add_virtual_server(
    cx: &mut Cx<'_>,
    s: &Stmt,
    seen: &mut Vec<(ServiceKey, Pos)>,
    cfg: &mut Config,
) -> Result<Option<ServiceKey>, KaError> {
    let Some(vs) = virtual_server(cx, s)? else {
        return Ok(None);
    };
    if let Some((_, first)) = seen.iter().find(|(k, _)| *k == vs.key) {
        return Err(KaError::at(
            &s.pos,
            format!(
                "virtual_server {}: defined twice (first at {first})",
                vs.key
            ),
        ));
    }
    seen.push((vs.key, s.pos.clone()));
    vs.add_to(cfg)?;
    Ok(Some(vs.key))
}

/// `global_defs` is keepalived's; only the LVS settings in it concern the
/// director, and ringvs takes them from `ringvs adm` and `ringvs run`
/// instead. Returns its `script_user` or `enable_script_security`, if any.
fn global_defs<'s>(cx: &mut Cx<'_>, s: &'s Stmt) -> Option<&'s Stmt> {
    let mut script_user = None;
    for k in s.children() {
        let how = match k.keyword() {
            "script_user" | "enable_script_security" => {
                script_user = script_user.or(Some(k));
                continue;
            }
            "lvs_timeouts" => "set them with 'ringvs adm --set'",
            "lvs_sync_daemon" => "start it with 'ringvs adm --start-daemon'",
            "lvs_notify_fifo" | "notify_fifo" => "give it to 'ringvs run --notify-fifo'",
            "lvs_notify_fifo_script" | "notify_fifo_script" => {
                "give it to 'ringvs run --notify-fifo-script'"
            }
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
    script_user
}
