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
    for s in top {
        match s.keyword() {
            "virtual_server" if s.args().first().map(String::as_str) == Some("group") => {
                let since = cx.w.len();
                for m in group::members(&mut cx, s, &groups)? {
                    add_virtual_server(&mut cx, &m, &mut seen, &mut cfg)?;
                }
                // The block's warnings once, not once per member.
                cx.w.dedup_since(since);
            }
            "virtual_server" => add_virtual_server(&mut cx, s, &mut seen, &mut cfg)?,
            // Read above.
            "virtual_server_group" => {}
            "global_defs" => global_defs(&mut cx, s),
            k if KEEPALIVED_ONLY.contains(&k) => {}
            k => {
                cx.w.at(&s.pos, format!("{k}: unknown top-level keyword, skipped"))
            }
        }
    }
    Ok(cfg)
}

/// Reads the `virtual_server` block `s` into `cfg` (`seen`: the services so
/// far, where they were defined).
fn add_virtual_server(
    cx: &mut Cx<'_>,
    s: &Stmt,
    seen: &mut Vec<(ServiceKey, Pos)>,
    cfg: &mut Config,
) -> Result<(), KaError> {
    let Some(vs) = virtual_server(cx, s)? else {
        return Ok(());
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
    vs.add_to(cfg)
}

/// `global_defs` is keepalived's; only the LVS settings in it concern the
/// director, and ringvs takes them from `ringvs adm` instead.
fn global_defs(cx: &mut Cx<'_>, s: &Stmt) {
    for k in s.children() {
        let how = match k.keyword() {
            "lvs_timeouts" => "set them with 'ringvs adm --set'",
            "lvs_sync_daemon" => "start it with 'ringvs adm --start-daemon'",
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
