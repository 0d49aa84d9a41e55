//! Who runs the scripts and whether they may run (`health::scripts`,
//! keepalived's `script_user` and `enable_script_security`), on real files:
//! each case builds its path under a directory of its own, as root (the
//! owners and groups are set with `chown`), and asks `vet`; the user switch
//! is checked by running `id` through the command `vet` clears.

#![allow(clippy::unwrap_used)]

use ringvs::config::Script;
use ringvs::health::scripts::{Policy, RunAs, command, vet};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// A directory of the test's own, removed when dropped (also on failure).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ringvs-scripts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        chmod(&p, 0o755);
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(p, Some(uid), Some(gid)).unwrap();
}

/// A shell script at `p` with `mode`.
fn script_file(p: &Path, mode: u32) {
    std::fs::write(p, "#!/bin/sh\nexit 0\n").unwrap();
    chmod(p, mode);
}

fn script(p: &Path) -> Script {
    Script::parse(&format!("{} arg", p.display())).unwrap()
}

fn policy(run_as: RunAs, security: bool) -> Policy {
    Policy { run_as, security }
}

const NOBODY: RunAs = RunAs::Id {
    uid: 65534,
    gid: 65534,
    name: String::new(),
};

/// Whether this can run here: as root (for `chown`; under `CI=true` not
/// being root fails the test); `nobody` is 65534, as on Debian.
fn available() -> bool {
    if !ringvs::lab::lab_available_with(&[]) {
        return false;
    }
    let nobody = ringvs::io::cred::user_by_name("nobody").unwrap();
    assert_eq!(nobody.map(|u| (u.uid, u.gid)), Some((65534, 65534)));
    true
}

/// As root, with script security on: a root-owned script in root-owned,
/// unwritable directories runs; a file or a directory on its path that
/// another user owns, or that others or a group other than root's may
/// write, makes it insecure (refused, naming the entry and why; with
/// security off it runs, said so); a sticky world-writable directory
/// (`/tmp`) is fine; a file nobody may execute is refused either way.
#[test]
fn a_root_script_runs_only_from_a_path_only_root_can_change() {
    if !available() {
        return;
    }
    let d = Dir::new("root");
    let ok = d.0.join("ok.sh");
    script_file(&ok, 0o755);
    let on = policy(RunAs::Own, true);
    let off = policy(RunAs::Own, false);
    let r = vet(&script(&ok), &on).unwrap();
    assert_eq!(
        (r.program.as_path(), r.ids, r.insecure),
        (ok.as_path(), None, None)
    );

    // Refused with security on, naming the entry and why; run with it off.
    let insecure = |p: &Path| {
        let e = vet(&script(p), &on).unwrap_err();
        let r = vet(&script(p), &off).unwrap();
        let why = r.insecure.unwrap();
        assert!(
            e.ends_with(&format!("but {why} (script security is on)")),
            "{e}"
        );
        why
    };
    let said = |p: &Path, why: &str| format!("'{}' {why}", p.display());
    // The file: another owner; others may write; a group not root's may.
    let f = d.0.join("f.sh");
    script_file(&f, 0o755);
    chown(&f, 65534, 0);
    assert_eq!(insecure(&f), said(&f, "is not owned by root"));
    chown(&f, 0, 0);
    chmod(&f, 0o757);
    assert_eq!(insecure(&f), said(&f, "is writable by others"));
    chmod(&f, 0o775);
    assert!(vet(&script(&f), &on).is_ok(), "root's group may write");
    chown(&f, 0, 65534);
    assert_eq!(insecure(&f), said(&f, "is writable by a group not root's"));
    chown(&f, 0, 0);
    chmod(&f, 0o755);
    // A directory on the path: writable by all without the sticky bit.
    let sub = d.0.join("sub");
    std::fs::create_dir(&sub).unwrap();
    let g = sub.join("g.sh");
    script_file(&g, 0o755);
    chmod(&sub, 0o777);
    assert_eq!(insecure(&g), said(&sub, "is writable by others"));
    chmod(&sub, 0o1777);
    assert!(vet(&script(&g), &on).is_ok(), "a sticky directory is fine");
    chmod(&sub, 0o755);
    chown(&sub, 65534, 65534);
    assert_eq!(insecure(&g), said(&sub, "is not owned by root"));
    chown(&sub, 0, 0);
    // Not executable: refused even with security off.
    chmod(&g, 0o644);
    let e = vet(&script(&g), &off).unwrap_err();
    assert!(e.contains("is not executable for uid 0"), "{e}");
    // Missing.
    let e = vet(&script(&d.0.join("none.sh")), &off).unwrap_err();
    assert!(e.contains("No such file"), "{e}");
}

/// A link runs as the file it leads to, links resolved, with the script's
/// word as its `argv[0]`: so a link in a directory others may write, on
/// the way, is not followed again when it runs (what it led to when
/// checked is what runs), and the target's own directories are checked. A
/// bare command name is looked for in `PATH`.
#[test]
fn links_run_as_their_resolved_target_and_bare_names_come_from_path() {
    if !available() {
        return;
    }
    let d = Dir::new("link");
    let real_dir = d.0.join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let target = real_dir.join("t.sh");
    script_file(&target, 0o755);
    // d/l.sh -> d/evil/hop -> d/real/t.sh, with d/evil writable by all.
    let evil = d.0.join("evil");
    std::fs::create_dir(&evil).unwrap();
    chmod(&evil, 0o777);
    let hop = evil.join("hop");
    symlink(&target, &hop).unwrap();
    let link = d.0.join("l.sh");
    symlink(&hop, &link).unwrap();
    let on = policy(RunAs::Own, true);
    let r = vet(&script(&link), &on).unwrap();
    assert_eq!((&r.program, r.insecure.as_ref()), (&target, None));
    assert_eq!(r.arg0, link.as_os_str());
    // The target's directory is checked.
    chmod(&real_dir, 0o777);
    let e = vet(&script(&link), &on).unwrap_err();
    let why = format!("but '{}' is writable by others", real_dir.display());
    assert!(e.contains(&why), "{e}");
    chmod(&real_dir, 0o755);
    // The command runs the target; a shell's $0 is the script's word.
    let echo = real_dir.join("arg0.sh");
    std::fs::write(&echo, "#!/bin/sh\necho \"$0 $1\"\n").unwrap();
    chmod(&echo, 0o755);
    let named = d.0.join("named");
    symlink(&echo, &named).unwrap();
    let s = script(&named);
    let out = command(&s, &vet(&s, &on).unwrap()).output().unwrap();
    let want = format!("{} arg", echo.display());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
    let r = vet(&Script::parse("true").unwrap(), &on).unwrap();
    assert!(
        r.program.ends_with("true") && r.program.is_absolute(),
        "{r:?}"
    );
    assert_eq!(r.arg0, "true");
    let e = vet(&Script::parse("no-such-command-ringvs").unwrap(), &on).unwrap_err();
    assert_eq!(e, "'no-such-command-ringvs' is not found in PATH");
}

/// Run as another user: the path is not checked (keepalived checks only
/// what runs as root), the user must be able to execute the file, and the
/// command runs with that user's ids.
#[test]
fn a_script_user_runs_the_command_with_its_ids() {
    if !available() {
        return;
    }
    let d = Dir::new("user");
    let mine = d.0.join("mine.sh");
    script_file(&mine, 0o755);
    chown(&mine, 65534, 65534);
    chmod(&d.0, 0o777);
    let nobody = policy(NOBODY, true);
    let r = vet(&script(&mine), &nobody).unwrap();
    assert_eq!((r.ids, r.insecure), (Some((65534, 65534)), None));
    // Root's own, for root alone: nobody may not run it.
    let roots = d.0.join("roots.sh");
    script_file(&roots, 0o700);
    let e = vet(&script(&roots), &nobody).unwrap_err();
    assert!(
        e.contains("is not executable for uid 65534, gid 65534"),
        "{e}"
    );
    // The ids the command gets.
    let id = Script::parse("/bin/sh -c 'echo $(id -u):$(id -g):$(id -G)'").unwrap();
    let r = vet(&id, &nobody).unwrap();
    let out = command(&id, &r).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "65534:65534:65534"
    );
    // A policy that names a missing user runs nothing.
    let p = Policy::resolve(Some(&"no-such-user-ringvs".parse().unwrap()), false);
    assert_eq!(
        vet(&id, &p).unwrap_err(),
        "script user 'no-such-user-ringvs' does not exist"
    );
    // Script security without a user named, on a host without
    // keepalived_script: no script runs; without security, ours.
    if Policy::resolve(None, false).run_as == RunAs::Own {
        let e = vet(&id, &Policy::resolve(None, true)).unwrap_err();
        assert!(e.contains("no user keepalived_script"), "{e}");
    }
}

/// A script's own user (keepalived's `notify_up "CMD" USER`) wins over
/// the director's, even one that runs nothing; its path is checked when
/// that user is root; an unknown one runs nothing.
#[test]
fn a_scripts_own_user_wins_over_the_directors() {
    if !available() {
        return;
    }
    let d = Dir::new("own");
    let f = d.0.join("f.sh");
    script_file(&f, 0o755);
    let none = policy(RunAs::Refused("no script user".into()), true);
    let as_user = |u: &str| script(&f).with_user(Some(u.parse().unwrap()));
    assert_eq!(vet(&script(&f), &none).unwrap_err(), "no script user");
    let r = vet(&as_user("nobody"), &none).unwrap();
    assert_eq!(r.ids, Some((65534, 65534)));
    assert!(vet(&as_user("root"), &none).is_ok());
    chmod(&f, 0o757);
    let e = vet(&as_user("root"), &none).unwrap_err();
    assert!(
        e.ends_with("is writable by others (script security is on)"),
        "{e}"
    );
    assert!(
        vet(&as_user("nobody"), &none).is_ok(),
        "not root: not checked"
    );
    let e = vet(&as_user("no-such-user-ringvs"), &policy(RunAs::Own, false)).unwrap_err();
    assert_eq!(e, "script user 'no-such-user-ringvs' does not exist");
}
