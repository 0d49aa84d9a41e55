//! Issue 15 item 2 on real NICs: IPv6 neighbor solicitations go to
//! solicited-node multicast groups (33:33:ff:xx:xx:xx), which a NIC's filter
//! drops unless a stack joined them, and the director's kernel has IPv6 off.
//! With IPv6 addresses configured the director opens both NICs' filters to
//! every group (`ringvs::io::ring::AllMulti`, `PACKET_MR_ALLMULTI`), and
//! `ip -d link` counts the membership; without, it leaves them alone. (veth
//! passes every frame whatever the filter, so the count is what is checked.)
//!
//! Needs root and `ip netns`; under `CI=true` a missing capability fails the
//! test.

mod nslab;
use nslab::{NsDirector, Scenario};
use ringvs::lab;

/// The NIC's all-multicast count, as `ip -d link show dev IF` in the
/// director's namespace reports it (`allmulti N`, the kernel's
/// `IFLA_ALLMULTI`: memberships like ours count there, while the ALLMULTI
/// flag of `ip link` shows only what `ip link set allmulticast on` set).
fn allmulti(lab: &lab::Lab, ifname: &str) -> u64 {
    let out = lab::ns_run(
        &lab.ns_director(),
        "ip",
        &["-d", "link", "show", "dev", ifname],
    )
    .expect("ip -d link show");
    let mut words = out.split_whitespace();
    words
        .find(|w| *w == "allmulti")
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no allmulti count (iproute2 too old?) in {out}"))
}

#[test]
fn a_dual_stack_director_opens_both_nics_to_multicast_and_an_ipv4_one_does_not() {
    let Some(NsDirector { lab, .. }) = Scenario::new("mcast4").workers(1).start() else {
        return;
    };
    for nic in ["ext0", "int0"] {
        assert_eq!(allmulti(&lab, nic), 0, "{nic}");
    }
    drop(lab);
    let Some(NsDirector { lab, .. }) = Scenario::new("mcast6").workers(1).ipv6().start() else {
        return;
    };
    for nic in ["ext0", "int0"] {
        assert_eq!(allmulti(&lab, nic), 1, "{nic}");
    }
}

/// `--io xdp`: the XDP program sees only what the NIC accepted, so the
/// membership is the same (held by its own packet socket, whatever the
/// workers' sockets are).
#[test]
fn an_af_xdp_dual_stack_director_opens_both_nics_to_multicast_too() {
    let Some(NsDirector { lab, .. }) = Scenario::new("mcastxdp")
        .workers(1)
        .ipv6()
        .director_args(&["--io", "xdp", "--xdp-mode", "generic"])
        .start()
    else {
        return;
    };
    for nic in ["ext0", "int0"] {
        assert_eq!(allmulti(&lab, nic), 1, "{nic}");
    }
}
