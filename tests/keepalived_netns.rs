//! `ringvs run --keepalived FILE` on a real director: the rules come from the
//! `virtual_server` blocks of a keepalived.conf (whose VRRP blocks are
//! keepalived's and skipped), and SIGHUP applies what changed in the file
//! without disturbing an established keep-alive connection.

mod nslab;

use nslab::{EXE, NsDirector, Scenario, adm, spawn_collecting, stats, wait_for};
use ringvs::lab;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The configuration, with `rs2`'s weight and an optional second service.
fn conf(rs2_weight: u32, udp: bool) -> String {
    let vip = lab::VIP;
    let (rs1, rs2) = (lab::rs_addr(1), lab::rs_addr(2));
    let mut s = format!(
        "! ringvs test\n\
         global_defs {{\n  router_id ringvs_test\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface sync0\n  virtual_router_id 51\n  \
         priority 100\n  advert_int 1\n}}\n\
         virtual_server {vip} 80 {{\n  delay_loop 10\n  lb_algo wrr\n  lb_kind NAT\n  \
         protocol TCP\n\
         \x20 real_server {rs1} 80 {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n\
         \x20 real_server {rs2} 80 {{\n    weight {rs2_weight}\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n\
         }}\n"
    );
    if udp {
        s.push_str(&format!(
            "virtual_server {vip} 53 {{\n  lb_algo rr\n  lb_kind NAT\n  protocol UDP\n  \
             real_server {rs1} 53 {{\n    weight 1\n  }}\n}}\n"
        ));
    }
    s
}

/// The ringvs process in the lab's director namespace.
fn director_pid(ns: &str) -> String {
    let out = lab::ip(&["netns", "pids", ns]).expect("netns pids");
    out.split_whitespace()
        .find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.file_name() == Path::new(EXE).file_name())
        })
        .expect("a ringvs in the director's namespace")
        .to_string()
}

struct Remove(PathBuf);
impl Drop for Remove {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn keepalived_conf_is_the_rule_source_and_sighup_applies_only_its_changes() {
    let path = PathBuf::from(format!("/run/ringvs-ka-test-{}.conf", std::process::id()));
    std::fs::write(&path, conf(1, false)).expect("write keepalived.conf");
    let _rm = Remove(path.clone());
    let p = path.display().to_string();
    let Some(NsDirector { mut lab, control }) = Scenario::new("kaconf")
        .director_args(&["--keepalived", &p])
        .start()
    else {
        return;
    };
    let vip = format!("{}:80", lab::VIP);
    let listing = adm(&control, &["-L", "-n"]);
    let rs2 = format!("{}:80", lab::rs_addr(2));
    assert!(listing.contains(&format!("TCP  {vip} wrr")), "{listing}");
    let line = |l: &str, who: &str| {
        l.lines()
            .find(|x| x.contains(who))
            .unwrap_or_else(|| panic!("{who} in {l}"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(line(&listing, &rs2)[3], "1", "rs2's weight from the file");

    // A keep-alive client: 15 requests, 200 ms apart (3 s).
    let client = lab::ns_command(
        &lab.ns_client(),
        Path::new(EXE),
        &[
            "http-get",
            &vip,
            "--keepalive",
            "--count",
            "15",
            "--interval-ms",
            "200",
            "--timeout-ms",
            "3000",
        ],
    );
    let lines = spawn_collecting(&mut lab, client, |_| Instant::now());
    // Its connection is up once its first answer is in.
    let answered = wait_for(Duration::from_secs(5), || {
        lines
            .lock()
            .expect("lines")
            .iter()
            .any(|(_, l)| l.starts_with("i am rs"))
    });
    assert!(answered.is_some(), "the client's first request answered");
    let before = adm(&control, &["-L", "-n", "-c"]);
    assert_eq!(before.matches("ESTABLISHED").count(), 1, "{before}");

    // The file changes: rs2 weighs 3, a UDP service appears. SIGHUP.
    std::fs::write(&path, conf(3, true)).expect("rewrite keepalived.conf");
    let pid = director_pid(&lab.ns_director());
    let st = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut after = String::new();
    while Instant::now() < deadline {
        after = adm(&control, &["-L", "-n"]);
        if after.contains(":53 rr") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        after.contains(&format!("UDP  {}:53 rr", lab::VIP)),
        "{after}"
    );
    assert_eq!(line(&after, &rs2)[3], "3", "rs2's new weight");

    // The keep-alive connection carried on: every request answered.
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline && lines.lock().expect("lines").len() < 15 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = lines.lock().expect("lines").clone();
    let answered = got.iter().filter(|(_, l)| l.starts_with("i am rs")).count();
    assert_eq!(answered, 15, "all 15 requests answered: {got:?}");
    // One connection all along: the one listed before the SIGHUP, now closed
    // by the client (TIME_WAIT) after its last answer.
    let client_end = |l: &str| {
        l.lines()
            .filter(|x| x.starts_with("TCP"))
            .map(|x| x.split_whitespace().nth(3).unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let conns = adm(&control, &["-L", "-n", "-c"]);
    assert_eq!(client_end(&conns), client_end(&before), "{before}\n{conns}");

    // A file that no longer loads changes nothing.
    let rules = adm(&control, &["-S", "-n"]);
    std::fs::write(
        &path,
        "virtual_server 198.18.0.110 80 {\n  lb_algo nosuch\n}\n",
    )
    .expect("break keepalived.conf");
    let reloads = |k: &str| stats(&control)["keepalived_reloads"][k].as_u64();
    assert_eq!((reloads("applied"), reloads("refused")), (Some(1), Some(0)));
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status();
    // Once the director has read it (and said why it refused it).
    let read = wait_for(Duration::from_secs(5), || reloads("refused") == Some(1));
    assert!(read.is_some(), "the bad file was read: {}", stats(&control));
    let why = stats(&control)["keepalived_reloads"]["last_error"].to_string();
    assert!(why.contains("nosuch"), "{why}");
    assert_eq!(
        adm(&control, &["-S", "-n"]),
        rules,
        "a bad file changes nothing"
    );
}

/// A `virtual_server group` on a real director: the group's two ports of
/// the VIP are two services with the block's real servers (on their port
/// 80), and clients of either port get both servers' pages.
#[test]
fn a_virtual_server_group_serves_each_of_its_addresses_and_ports() {
    let path = PathBuf::from(format!("/run/ringvs-ka-vsg-{}.conf", std::process::id()));
    let vip = lab::VIP;
    let (rs1, rs2) = (lab::rs_addr(1), lab::rs_addr(2));
    let text = format!(
        "virtual_server_group web {{\n  {vip} 80\n  {vip} 8080\n}}\n\
         virtual_server group web {{\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n\
         \x20 real_server {rs1} 80 {{\n  }}\n  real_server {rs2} 80 {{\n  }}\n}}\n"
    );
    std::fs::write(&path, text).expect("write keepalived.conf");
    let _rm = Remove(path.clone());
    let p = path.display().to_string();
    let Some(NsDirector { lab, control }) = Scenario::new("kavsg")
        .director_args(&["--keepalived", &p])
        .start()
    else {
        return;
    };
    let listing = adm(&control, &["-L", "-n"]);
    for port in [80, 8080] {
        assert!(
            listing.contains(&format!("TCP  {vip}:{port} rr")),
            "{listing}"
        );
        let mut bodies = nslab::http_bodies(&lab, &format!("{vip}:{port}"), 4);
        bodies.sort();
        assert_eq!(
            bodies,
            ["i am rs1", "i am rs1", "i am rs2", "i am rs2"],
            "port {port}"
        );
    }
}
