//! Applying a parsed command to a [`Config`].

use super::super::{AdmError, Config, PersistEngine, ServiceKey};
use super::command::{AdmCommand, DestOpts, ServiceOpts};

/// Applies a command that changes the table to `cfg`.  The others (`List`,
/// `Save`, `Zero`, `SetTimeout`, `Restore`) change nothing here: the control
/// thread handles them.
pub fn apply(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match cmd {
        // Several steps, any of which may refuse, and a refused -A or -E
        // changes nothing: each step but the sorry server's (the last, which
        // refuses before it changes anything) touches only the service, so
        // the service as it was is put back (`-E`) or the new one taken
        // away (`-A`). A copy of the whole table per line made a restore
        // of thousands of services take minutes.
        // `ip_vs_genl_set_cmd` (`ip_vs_ctl.c`) answers `EEXIST` for a
        // service that is there before `ip_vs_add_service` looks up the
        // scheduler and engine.
        AdmCommand::AddService { key, opts } => {
            if cfg.service(key).is_some() {
                return Err(AdmError::ServiceExists);
            }
            let (sched, pe) = opts.lookup()?;
            cfg.add_service(*key, sched, opts.persistent)?;
            let r = set_service(cfg, key, opts, pe);
            if r.is_err() {
                cfg.forget_new_service(key);
            }
            r
        }
        // `ESRCH` for a service that is not there, before
        // `ip_vs_edit_service` looks up the names.
        AdmCommand::EditService { key, opts } => {
            let old = cfg.service(key).cloned().ok_or(AdmError::NoSuchService)?;
            let (sched, pe) = opts.lookup()?;
            let r = cfg
                .edit_service(key, sched, opts.persistent)
                .and_then(|()| set_service(cfg, key, opts, pe));
            if r.is_err() {
                cfg.put_back_service(old);
            }
            r
        }
        _ => apply_other(cfg, cmd),
    }
}

/// The settings of `-A` and `-E` after the scheduler and persistence.
fn set_service(
    cfg: &mut Config,
    key: &ServiceKey,
    opts: &ServiceOpts,
    pe: Option<PersistEngine>,
) -> Result<(), AdmError> {
    cfg.set_service_options(key, opts.sched_flags, opts.netmask)?;
    cfg.set_service_ops(key, opts.ops)?;
    cfg.set_service_pe(key, pe)?;
    cfg.set_service_quorum(key, opts.quorum)?;
    cfg.set_service_check(key, opts.check.clone())?;
    cfg.set_service_scripts(key, opts.scripts.clone())?;
    cfg.set_service_marks(key, opts.marks.clone())?;
    cfg.set_service_sorry(key, opts.sorry)
}

fn apply_other(cfg: &mut Config, cmd: &AdmCommand) -> Result<(), AdmError> {
    match cmd {
        AdmCommand::AddService { .. } | AdmCommand::EditService { .. } => Ok(()),
        AdmCommand::DelService { key } => cfg.del_service(key),
        AdmCommand::Clear => {
            cfg.clear();
            Ok(())
        }
        AdmCommand::AddDest {
            key,
            addr,
            port,
            opts,
        } => {
            let (addr, port) = (*addr, *port);
            dest_checks(cfg, key, opts)?;
            own_command(cfg, key, opts)?;
            // Refused before the server is added, as the rest.
            if opts.check_ip.is_some_and(|ip| !super::super::unicast(ip)) {
                return Err(AdmError::Usage("illegal check-ip specified".into()));
            }
            cfg.add_dest_with(key, addr, port, opts.weight, opts.forward)?;
            cfg.set_dest_thresholds(key, addr, port, opts.u_threshold, opts.l_threshold)?;
            cfg.set_dest_check_ip(key, addr, port, opts.check_ip)?;
            cfg.set_dest_scripts(key, addr, port, opts.scripts.clone())
        }
        AdmCommand::EditDest {
            key,
            addr,
            port,
            opts,
        } => {
            let (addr, port) = (*addr, *port);
            dest_checks(cfg, key, opts)?;
            own_command(cfg, key, opts)?;
            if opts.check_ip.is_some_and(|ip| !super::super::unicast(ip)) {
                return Err(AdmError::Usage("illegal check-ip specified".into()));
            }
            // The method first: a server of the other family refused as
            // anything but a tunnel is left as it was.
            cfg.set_dest_forward(key, addr, port, opts.forward)?;
            cfg.edit_dest(key, addr, port, opts.weight)?;
            cfg.set_dest_thresholds(key, addr, port, opts.u_threshold, opts.l_threshold)?;
            cfg.set_dest_check_ip(key, addr, port, opts.check_ip)?;
            let mut scripts = opts.scripts.clone();
            if !opts.set_files {
                let svc = cfg.service(key).ok_or(AdmError::NoSuchService)?;
                scripts.files = svc.server_scripts(addr, port).files;
            }
            cfg.set_dest_scripts(key, addr, port, scripts)
        }
        AdmCommand::DelDest { key, addr, port } => cfg.del_dest(key, *addr, *port).map(|_| ()),
        AdmCommand::Zero { service: Some(key) } => {
            cfg.service(key).map(|_| ()).ok_or(AdmError::NoSuchService)
        }
        AdmCommand::List(_)
        | AdmCommand::Save { .. }
        | AdmCommand::Zero { service: None }
        | AdmCommand::SetTimeout { .. }
        | AdmCommand::Restore => Ok(()),
        // Not rules: the running director's control socket handles them.
        AdmCommand::StartDaemon(_) | AdmCommand::StopDaemon { .. } | AdmCommand::SetRole { .. } => {
            Err(AdmError::Unsupported(super::rules::NOT_RULES.into()))
        }
    }
}

/// The kernel's first checks of `-a` and `-e`, in its order: the service
/// must be there (`ip_vs_genl_set_cmd`'s `ESRCH`, "Service not defined"),
/// then `ip_vs_add_dest`/`ip_vs_edit_dest` (`ip_vs_ctl.c`) refuse a lower
/// threshold above the upper (`ERANGE`) and a GUE tunnel without a port
/// (`EINVAL`, [`Forward::check`](super::super::Forward::check)).
fn dest_checks(cfg: &Config, key: &ServiceKey, opts: &DestOpts) -> Result<(), AdmError> {
    if cfg.service(key).is_none() {
        return Err(AdmError::ServiceNotDefined);
    }
    if opts.l_threshold > opts.u_threshold {
        return Err(AdmError::ThresholdRange);
    }
    opts.forward.check()
}

/// A real server's own `--misc-path`, refused before anything changes
/// where its service has no `--check misc`, and its `--check-ip` where it
/// has no `--check`.
fn own_command(cfg: &Config, key: &ServiceKey, opts: &DestOpts) -> Result<(), AdmError> {
    match cfg.service(key) {
        // keepalived's `connect_ip` is a checker's: without a check there
        // is nothing to send there.
        Some(svc) if opts.check_ip.is_some() && svc.check.is_none() => Err(AdmError::Usage(
            "check-ip on a real server needs its service's --check".into(),
        )),
        Some(svc) if opts.scripts.check.is_some() => super::super::notify::own_command_allowed(svc),
        _ => Ok(()),
    }
}
