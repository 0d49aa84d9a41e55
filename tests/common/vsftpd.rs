//! vsftpd on the real servers of a namespace lab, shared by the FTP tests
//! (`tests/ftp_netns.rs` on one director, `tests/ha_netns.rs` on a pair):
//! its configuration, the file each server serves, and the check that it is
//! installed.
#![allow(dead_code)] // each test uses its part

use std::path::{Path, PathBuf};

/// The file real server `n` serves as `file.bin`: its name, then filler,
/// 64 KiB in all (several data segments, so the stream is long after a
/// rewrite).
pub fn content(n: usize) -> Vec<u8> {
    let mut body = format!("rs{n}\n").into_bytes();
    let filler: Vec<u8> = (0..64 * 1024 - body.len())
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    body.extend(filler);
    body
}

/// A directory removed when the test ends, however it ends.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write the files of real server `n`'s vsftpd under `dir`; returns its
/// configuration file, for `vsftpd CONF` in the server's namespace:
/// anonymous, read-only, passive ports 30000-30099, active connections from
/// port 20 (its default), both families, in the foreground.
pub fn config(dir: &Path, n: usize) -> PathBuf {
    let root = dir.join(format!("rs{n}"));
    std::fs::create_dir_all(&root).expect("ftp root");
    std::fs::write(root.join("file.bin"), content(n)).expect("ftp file");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let conf = dir.join(format!("rs{n}.conf"));
    let text = format!(
        "listen=NO\nlisten_ipv6=YES\nbackground=NO\nanonymous_enable=YES\n\
         local_enable=NO\nwrite_enable=NO\nno_anon_password=YES\nanon_root={}\n\
         pasv_enable=YES\npasv_min_port=30000\npasv_max_port=30099\n\
         port_enable=YES\nconnect_from_port_20=YES\nsecure_chroot_dir={}\n\
         seccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\nxferlog_enable=NO\n\
         dirmessage_enable=NO\nuse_localtime=NO\n",
        root.display(),
        empty.display()
    );
    std::fs::write(&conf, text).expect("vsftpd.conf");
    conf
}

/// vsftpd is there (it takes no `--version`): under `CI=true` its absence
/// fails the test, elsewhere skips it.
pub fn available() -> bool {
    let ok = std::process::Command::new("vsftpd")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "the FTP test cannot run under CI without vsftpd"
        );
        eprintln!("SKIPPED (not CI): needs vsftpd");
    }
    ok
}
