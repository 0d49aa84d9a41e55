#!/usr/bin/env python3
"""Writes the expected listings for tests/golden.rs.

An oracle independent of the Rust formatters: it replays ipvsadm 1.31's
printf calls (print_title, print_service_entry, print_tunnel_rule,
fwd_name, fwd_switch, fwd_tun_info, print_largenum, list_conn, print_conn,
list_timeout) with Python's %-formatting, which follows C's
printf, over the scenario that tests/golden.rs builds.  Run it from this
directory after changing the scenario; the .txt files are committed.

The dual_*.txt files are the dual-stack scenario of tests/golden_ipv6.rs:
IPv6 services and real servers as ipvsadm prints them (addrport_to_anyname:
"[ADDR]:PORT", names too, at most 59 bytes; print_service_entry cuts the
service at 33 and the real server at 28 bytes for IPv4 only; an IPv6 mask
is printed with %i unless 128; ipvs_cmp_services sorts by family first).
Real servers of both families in one service (tunnels) are sorted IPv4
first: ipvs_cmp_dests compares them as the first one's family, which is no
order at all, so that line follows ringvs's documented rule.
"""
import ipaddress

HOSTS = {"198.19.0.2": "server1", "198.18.0.110": "vip.example",
         "203.0.113.5": "client-with-a-very-long-host-name.example.com"}
SERVICES = {(80, "tcp"): "http", (53, "udp"): "domain", (443, "tcp"): "https",
            (8080, "tcp"): "http-alt"}

# A real server's forwarding: ("m",), ("g",), or ("i", tun_type, tun_port, tun_flags)
# with ip_vs.h's values (IPIP 0, GUE 1, GRE 2; NOCSUM 0, CSUM 1, REMCSUM 2).
M, G = ("m",), ("g",)
TUNNAMES = ["ipip", "gue", "gre"]
TUNFLAGS = ["-c", "+c", "r+c"]
TUN_FLAGS_OPTS = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"]

def fwd_name(f): return {"m": "Masq", "g": "Route", "i": "Tunnel"}[f[0]]
def fwd_switch(f): return "-" + f[0]

def fwd_tun_info(f):
    if f[0] != "i":
        return None
    _, t, port, flags = f
    if t == 0: info = "%s" % TUNNAMES[t]
    elif t == 1: info = "%s:%d:%s" % (TUNNAMES[t], port, TUNFLAGS[flags])
    else: info = "%s:%s" % (TUNNAMES[t], TUNFLAGS[flags])
    return info[:15]  # snprintf(info, 16, ...)

def tunnel_rule(svc, dname, d):
    _, t, port, flags = d[6]
    if t == 2:
        return "-a %s -r %s %s -w %d --tun-type %s %s" % (svc, dname, fwd_switch(d[6]), d[2], TUNNAMES[t], TUN_FLAGS_OPTS[flags])
    if t == 1:
        return "-a %s -r %s %s -w %d --tun-type %s --tun-port %d %s" % (svc, dname, fwd_switch(d[6]), d[2], TUNNAMES[t], port, TUN_FLAGS_OPTS[flags])
    return "-a %s -r %s %s -w %d --tun-type %s" % (svc, dname, fwd_switch(d[6]), d[2], TUNNAMES[t])

# (proto, vip, port, sched, flags, persistent, netmask, [(rip, rport, weight, u, l, id, fwd)])
SVCS = [
    ("TCP", "198.18.0.110", 80, "rr", "", None, None,
     [("198.19.0.10", 80, 1, 0, 0, 0, M), ("198.19.0.2", 80, 1, 100, 50, 1, M)]),
    ("UDP", "198.18.0.110", 53, "wrr", "", 360, None,
     [("198.19.0.3", 5353, 10, 0, 0, 2, M)]),
    ("TCP", "198.18.0.9", 443, "sh", "sh-fallback,sh-port", 1800, "255.255.255.0",
     [("198.19.0.7", 8443, 65535, 0, 0, 3, M), ("198.19.0.7", 443, 0, 0, 0, 4, M)]),
    ("TCP", "198.18.0.120", 8080, "mh", "mh-port", None, None,
     [("198.19.0.8", 8080, 3, 0, 0, 5, M)]),
    ("TCP", "198.18.0.130", 25, "wlc", "flag-1", None, None, []),
    # One service mixing every method; -g and -i take the service's port.
    ("TCP", "198.18.0.140", 80, "wrr", "", None, None,
     [("198.19.0.11", 80, 2, 0, 0, 6, G),
      ("198.19.0.12", 80, 1, 0, 0, 7, ("i", 0, 0, 0)),
      ("198.19.0.13", 80, 4, 0, 0, 8, ("i", 1, 6080, 1)),
      ("198.19.0.14", 80, 1, 10, 5, 9, ("i", 2, 0, 0)),
      ("198.19.0.15", 8000, 1, 0, 0, 10, M),
      ("198.19.0.16", 80, 1, 0, 0, 11, ("i", 1, 65535, 2)),
      ("198.19.0.17", 80, 1, 0, 0, 12, ("i", 2, 0, 1))]),
]

def gauges(i): return (i * 11, i * 1000)
def stats(i): return (i * 50_000_000, i * 7_000_000_000, i * 3, i * 40_000_000_000_000, i * 99_999_999)
def rates(i): return (i, i * 100, i * 90, i * 150_000_000, i * 1000)

# (proto, client, cport, vip, vport, dest, dport, state, expires, template)
CONNS = [
    ("TCP", "203.0.113.5", 40000, "198.18.0.110", 80, "198.19.0.2", 80, "ESTABLISHED", 899),
    ("UDP", "203.0.113.6", 5353, "198.18.0.110", 53, "198.19.0.3", 5353, "UDP", 299),
    ("UDP", "203.0.113.6", 0, "198.18.0.110", 53, "198.19.0.3", 5353, "NONE", 359),
    ("TCP", "203.0.113.7", 1, "198.18.0.9", 443, "198.19.0.7", 443, "SYN_RECV", 6000),
    ("TCP", "203.0.113.7", 0, "198.18.0.9", 443, "198.19.0.7", 443, "NONE", 1799),
]

def is_v6(a): return ":" in a

def key_addr(a):
    ip = ipaddress.ip_address(a)
    return (ip.version == 6, int(ip))

def name(a, p, proto, numeric):
    o, c = ("[", "]") if is_v6(a) else ("", "")
    a = str(ipaddress.ip_address(a))  # inet_ntop
    if numeric:
        return ("%s%s%s:%u" % (o, a, c, p))[:59]
    return ("%s%s%s:%s" % (o, HOSTS.get(a, a), c, SERVICES.get((p, proto.lower()), str(p)) if proto in ("TCP", "UDP") else str(p)))[:59]

PROTO_NUM = {"TCP": 6, "UDP": 17}

def svc_order(s): return (is_v6(s[1]), PROTO_NUM[s[0]], key_addr(s[1]), s[2])

def largenum(i, exact):
    if exact:
        l = len("%d" % i)
        return "%*d" % (9 if l <= 8 else l + 1, i)
    if i < 100000000: return "%9d" % i
    if i < 1000000000: return "%8dK" % (i // 1000)
    if i < 100000000000: return "%8dM" % (i // 1000000)
    if i < 100000000000000: return "%8dG" % (i // 1000000000)
    return "%8dT" % (i // 1000000000000)

def title(fmt):
    if fmt == "stats":
        return "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n" % ("Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    if fmt == "rate":
        return "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n" % ("Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
    if fmt == "thresholds":
        return "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n" % ("Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
    if fmt == "pc":
        return "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n" % ("Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
    if fmt == "tun":
        return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
    return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"

def persistconns(s, d):
    return sum(1 for c in CONNS if c[8] and c[2] == 0 and c[7] == "NONE" and c[0] == s[0]
               and (c[3], c[4]) == (s[1], s[2]) and (c[5], c[6]) == (d[0], d[1]))

def entry(s, fmt, numeric, exact):
    out = ""
    proto, vip, port, sched, flags, pers, mask, dests = s
    svc_name = "%-4s %s" % (proto, name(vip, port, proto, numeric))
    if not is_v6(vip):
        svc_name = svc_name[:33]
    ds = sorted(dests, key=lambda d: (key_addr(d[0]), d[1]))
    if fmt in ("stats", "rate"):
        f = stats if fmt == "stats" else rates
        tot = [sum(f(d[5])[k] for d in ds) for k in range(5)]
        out += "%-33s" % svc_name + "".join(largenum(v, exact) for v in tot) + "\n"
    else:
        out += "%s %s" % (svc_name, sched)
        if flags: out += " (" + flags + ")"
        if pers is not None:
            out += " persistent %u" % pers
            if mask: out += " mask %s" % mask
        out += "\n"
    for d in ds:
        dname = name(d[0], d[1], proto, numeric)
        if not is_v6(d[0]):
            dname = dname[:28]
        a, ina = gauges(d[5])
        if fmt == "stats":
            out += "  -> %-28s" % dname + "".join(largenum(v, exact) for v in stats(d[5])) + "\n"
        elif fmt == "rate":
            r = rates(d[5])
            out += "  -> %-28s %8u %8u %8u" % (dname, r[0], r[1], r[2]) + largenum(r[3], exact) + largenum(r[4], exact) + "\n"
        elif fmt == "thresholds":
            out += "  -> %-28s %-10u %-10u %-10u %-10u\n" % (dname, d[3], d[4], a, ina)
        elif fmt == "pc":
            out += "  -> %-28s %-9u %-11u %-10u %-10u\n" % (dname, d[2], persistconns(s, d), a, ina)
        elif fmt == "tun":
            ti = fwd_tun_info(d[6])
            out += "  -> %-28s %-7s %-13s %-6d %-10u %-10u\n" % (dname, fwd_name(d[6]), ti if ti else "n/a", d[2], a, ina)
        else:
            out += "  -> %-28s %-7s %-6d %-10u %-10u\n" % (dname, fwd_name(d[6]), d[2], a, ina)
    return out

def list_all(fmt, numeric=True, exact=False):
    out = "IP Virtual Server version 1.2.1 (size=4096)\n" + title(fmt)
    for s in sorted(SVCS, key=svc_order):
        out += entry(s, fmt, numeric, exact)
    return out

def conns(numeric, pc=False, sort=False):
    out = "IPVS connection entries\n"
    if pc:
        out += "pro expire %-11s %-18s %-18s %-18s %-16s %s\n" % ("state", "source", "virtual", "destination", "pe name", "pe_data")
    else:
        out += "pro expire %-11s %-18s %-18s %s\n" % ("state", "source", "virtual", "destination")
    cs = list(CONNS)
    if sort:
        num = {"TCP": 6, "UDP": 17}
        cs.sort(key=lambda c: (num[c[0]], key_addr(c[1]), c[2], key_addr(c[3]), c[4], key_addr(c[5]), c[6], c[7] == "NONE"))
    for c in cs:
        e = "%02d:%02d" % (c[8] // 60, c[8] % 60)
        out += "%-3s %-6s %-11s %-18s %-18s %s\n" % (c[0], e, c[7], name(c[1], c[2], c[0], numeric), name(c[3], c[4], c[0], numeric), name(c[5], c[6], c[0], numeric))
    return out

def save(numeric):
    out = ""
    for s in sorted(SVCS, key=svc_order):
        proto, vip, port, sched, flags, pers, mask, dests = s
        svc = "%s %s" % ("-t" if proto == "TCP" else "-u", name(vip, port, proto, numeric))
        out += "-A %s -s %s" % (svc, sched)
        if pers is not None:
            out += " -p %u" % pers
            if mask: out += " -M %s" % mask
        if flags: out += " -b " + flags
        out += "\n"
        for d in sorted(dests, key=lambda d: (key_addr(d[0]), d[1])):
            dname = name(d[0], d[1], proto, numeric)
            if d[6][0] == "i":
                out += tunnel_rule(svc, dname, d)
            else:
                out += "-a %s -r %s %s -w %d" % (svc, dname, fwd_switch(d[6]), d[2])
            if d[3] or d[4]: out += " -x %d -y %d" % (d[3], d[4])  # ringvs extension, at the end
            out += "\n"
    return out

FILES = {
    "list_n.txt": list_all("normal"),
    "list_names.txt": list_all("normal", numeric=False),
    "stats.txt": list_all("stats"),
    "stats_exact.txt": list_all("stats", exact=True),
    "rate.txt": list_all("rate"),
    "rate_exact.txt": list_all("rate", exact=True),
    "thresholds.txt": list_all("thresholds"),
    "persistent_conn.txt": list_all("pc"),
    "tun_info.txt": list_all("tun"),
    "service_udp53_stats.txt": title("stats") + entry(SVCS[1], "stats", True, False),
    "service_tcp443.txt": title("normal") + entry(SVCS[2], "normal", True, False),
    "conns_n.txt": conns(True),
    "conns_names.txt": conns(False),
    "conns_sorted.txt": conns(True, sort=True),
    "conns_pc.txt": conns(True, pc=True),
    "save_n.txt": save(True),
    "save_names.txt": save(False),
}
for f, text in FILES.items():
    with open(f, "w") as fh:
        fh.write(text)

# ---- the dual-stack scenario of tests/golden_ipv6.rs ----------------------

HOSTS = {"2001:2:0:2::2": "server6", "2001:2:0:1::110": "vip6.example",
         "198.19.0.2": "server1",
         "2001:2:0:1::1": "client6-with-a-very-long-host-name-that-runs-on.example.com"}
LONG_VIP = "2001:2:0:1:aaaa:bbbb:cccc:dddd"
LONG_RIP = "2001:2:0:2:ffff:ffff:ffff:fffe"
SVCS = [
    ("TCP", "2001:2:0:1::110", 80, "rr", "", None, None,
     [("2001:2:0:2::10", 8080, 1, 0, 0, 0, M), ("2001:2:0:2::2", 8080, 2, 100, 50, 1, M),
      ("2001:2:0:2::3", 80, 1, 0, 0, 2, G), ("198.19.0.20", 80, 3, 0, 0, 3, ("i", 0, 0, 0))]),
    ("UDP", "2001:2:0:1::110", 53, "wrr", "", 360, None,
     [("2001:2:0:2::2", 5353, 10, 0, 0, 4, M)]),
    ("TCP", "2001:2:0:1::120", 443, "sh", "sh-port", 1800, 64,
     [(LONG_RIP, 65535, 65535, 0, 0, 5, M), ("2001:2:0:2::4", 443, 0, 0, 0, 6, M)]),
    ("TCP", LONG_VIP, 65535, "wlc", "", 60, None,
     [("2001:2:0:2::5", 65535, 1, 0, 0, 7, ("i", 1, 6080, 1))]),
    ("TCP", "198.18.0.110", 80, "rr", "", None, None,
     [("198.19.0.2", 80, 1, 0, 0, 8, M), ("2001:2:0:2::30", 80, 1, 0, 0, 9, ("i", 2, 0, 1))]),
]
CONNS = [
    ("TCP", "2001:2:0:1::1", 40000, "2001:2:0:1::110", 80, "2001:2:0:2::2", 8080, "ESTABLISHED", 899),
    ("TCP", "2001:2:0:1::7", 1, "2001:2:0:1::110", 80, "198.19.0.20", 80, "SYN_RECV", 59),
    ("UDP", "2001:2:0:1::8", 5353, "2001:2:0:1::110", 53, "2001:2:0:2::2", 5353, "UDP", 299),
    ("TCP", "2001:2:0:1::9", 0, "2001:2:0:1::120", 443, LONG_RIP, 65535, "NONE", 1799),
    ("TCP", "198.18.0.5", 33000, "198.18.0.110", 80, "198.19.0.2", 80, "TIME_WAIT", 119),
]

DUAL = {
    "dual_list_n.txt": list_all("normal"),
    "dual_list_names.txt": list_all("normal", numeric=False),
    "dual_stats.txt": list_all("stats"),
    "dual_stats_exact.txt": list_all("stats", exact=True),
    "dual_rate.txt": list_all("rate"),
    "dual_thresholds.txt": list_all("thresholds"),
    "dual_persistent_conn.txt": list_all("pc"),
    "dual_tun_info.txt": list_all("tun"),
    "dual_service443.txt": title("normal") + entry(SVCS[2], "normal", True, False),
    "dual_conns_n.txt": conns(True),
    "dual_conns_names.txt": conns(False),
    "dual_conns_sorted.txt": conns(True, sort=True),
    "dual_save_n.txt": save(True),
    "dual_save_names.txt": save(False),
}
for f, text in DUAL.items():
    with open(f, "w") as fh:
        fh.write(text)
