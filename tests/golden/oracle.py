#!/usr/bin/env python3
"""Writes the expected listings for tests/golden.rs.

An oracle independent of the Rust formatters: it replays ipvsadm 1.31's
printf calls (print_title, print_service_entry, print_tunnel_rule,
fwd_name, fwd_switch, fwd_tun_info, print_largenum, list_conn, print_conn,
list_timeout) with Python's %-formatting, which follows C's
printf, over the scenario that tests/golden.rs builds.  Run it from this
directory after changing the scenario; the .txt files are committed.
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

def key_addr(a): return int(ipaddress.IPv4Address(a))

def name(a, p, proto, numeric):
    if numeric:
        return "%s:%u" % (a, p)
    return "%s:%s" % (HOSTS.get(a, a), SERVICES.get((p, proto.lower()), str(p)) if proto in ("TCP", "UDP") else str(p))

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
    svc_name = ("%-4s %s" % (proto, name(vip, port, proto, numeric)))[:33]
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
        dname = name(d[0], d[1], proto, numeric)[:28]
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
    for s in sorted(SVCS, key=lambda s: (s[0] != "TCP", key_addr(s[1]), s[2])):
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
    for s in sorted(SVCS, key=lambda s: (s[0] != "TCP", key_addr(s[1]), s[2])):
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
