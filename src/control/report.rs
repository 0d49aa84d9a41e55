//! Reports of what the data plane did: `ringvs stats` (text and JSON), the
//! Prometheus text of `--metrics`, IPVS's rate estimator behind `-L --rate`
//! (and the thread that samples it), batch-time summaries, and the
//! per-real-server counters and connection listings that `adm -L` shows.
//!
//! Everything here reads what the workers publish (`Published`, `Shared`);
//! nothing here changes the configuration.

use super::adm::dest_ids;
use super::{Ctl, RunError};
use crate::config::DestId;
use crate::dataplane::Listing;
use crate::nat::{ConnInfo, State};
use crate::proto::Response;
use crate::stats::{BatchSummary, Counters, Ctr, DestStats};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One row of a service's servers in the metrics ([`Ctl::server_rows`]).
pub(super) struct ServerRow {
    pub(super) dest: crate::config::Dest,
    pub(super) stats: DestStats,
    pub(super) active: u32,
    pub(super) inactive: u32,
    /// In the table, as `-L` lists it: one of the service's real servers
    /// (a sorry server only while it serves, when the rules shown have it
    /// among them), not only its sorry server.
    pub(super) listed: bool,
}
use std::time::{Duration, Instant};

/// How often the rate estimator samples the counters, as IPVS's estimator
/// (`ip_vs_est.c`: 2 s periods, `ip_vs_chain_estimation` in current kernels,
/// `estimation_timer` in older ones).
pub const RATE_INTERVAL: Duration = Duration::from_secs(2);
/// How long `-L -c` waits for a worker that sends nothing of its listing.
pub const CONNS_WAIT: Duration = Duration::from_secs(1);

pub(super) fn sub(a: &DestStats, b: &DestStats) -> DestStats {
    DestStats {
        conns: a.conns.saturating_sub(b.conns),
        inpkts: a.inpkts.saturating_sub(b.inpkts),
        outpkts: a.outpkts.saturating_sub(b.outpkts),
        inbytes: a.inbytes.saturating_sub(b.inbytes),
        outbytes: a.outbytes.saturating_sub(b.outbytes),
    }
}

impl Ctl {
    pub(super) fn counts(&self, d: DestId) -> (u32, u32) {
        self.published.iter().fold((0, 0), |(a, i), p| {
            let (pa, pi) = p.gauges.get(d);
            (a + pa, i + pi)
        })
    }

    /// What the workers counted under id `d`, summed, since start.
    pub(super) fn worker_stats(&self, d: DestId) -> DestStats {
        let mut t = DestStats::default();
        for p in &self.published {
            t.add(&p.dest_stats(d));
        }
        t
    }

    /// A real server's counters since it was added (its id taken back from
    /// the trash: since it was first added).
    pub(super) fn raw_stats(&self, d: DestId) -> DestStats {
        let t = self.worker_stats(d);
        match self.born.lock().ok().and_then(|b| b.get(&d).copied()) {
            Some(b) => sub(&t, &b),
            None => t,
        }
    }

    /// A real server's counters since the last `-Z`.
    pub(super) fn stats_since_zero(
        &self,
        d: DestId,
        zero: &HashMap<DestId, DestStats>,
    ) -> DestStats {
        let raw = self.raw_stats(d);
        zero.get(&d).map_or(raw, |z| sub(&raw, z))
    }

    /// One rate-estimator tick (the sampler thread calls it every
    /// [`RATE_INTERVAL`]).
    fn sample_rates(&self, secs: f64) {
        let ids = match self.adm.lock() {
            Ok(st) => dest_ids(&st.cfg, None),
            Err(_) => return,
        };
        let now: HashMap<DestId, DestStats> =
            ids.into_iter().map(|id| (id, self.raw_stats(id))).collect();
        if let Ok(mut e) = self.est.lock() {
            e.sample(&now, secs);
        }
    }

    /// Every worker's connection listing, then the persistence templates, and
    /// how many workers are left out: each caller gets its own answer (see
    /// `dataplane::Listing`); workers that send nothing for [`CONNS_WAIT`]
    /// are not waited for.
    pub(super) fn connections(&self) -> (Vec<ConnInfo>, usize) {
        let mut l = Listing::start(self.published.iter().map(|p| &**p));
        l.wait(CONNS_WAIT);
        let (mut all, now, missing) = l.finish();
        self.shared.list_templates(now, &mut all);
        (all, missing)
    }

    pub(super) fn stats(&self, json: bool) -> Response {
        let per: Vec<Counters> = self
            .published
            .iter()
            .map(|p| p.counters.snapshot())
            .collect();
        let states: Vec<Vec<u64>> = self
            .published
            .iter()
            .map(|p| p.states.iter().map(|s| s.load(Ordering::Relaxed)).collect())
            .collect();
        let neigh = self.shared.neigh.load().len();
        let fam = by_family(&per, &states, &self.conns6());
        if json {
            return self.stats_json(&per, &states, neigh, &fam);
        }
        self.stats_text(&per, &states, neigh, &fam)
    }

    /// IPv6 connections per worker, as published.
    fn conns6(&self) -> Vec<u64> {
        self.published.iter().map(|p| p.counters.conns6()).collect()
    }

    /// `ringvs stats --json`: per worker its counters, connections by state and
    /// batch times; then the totals of the director.
    fn stats_json(
        &self,
        per: &[Counters],
        states: &[Vec<u64>],
        neigh: usize,
        fam: &[FamilyRow],
    ) -> Response {
        let workers: Vec<serde_json::Value> = per
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (c, s))| {
                let mut m = serde_json::Map::new();
                m.insert("worker".into(), i.into());
                for ctr in Ctr::ALL {
                    m.insert(ctr.name().into(), c.get(*ctr).into());
                }
                let conns: serde_json::Map<String, serde_json::Value> = State::ALL
                    .iter()
                    .map(|st| (st.key().into_owned(), s[*st as usize].into()))
                    .collect();
                m.insert("conns".into(), conns.into());
                for (name, row) in [("conns_ipv4", &fam[0]), ("conns_ipv6", &fam[1])] {
                    m.insert(name.into(), row.per[i].into());
                }
                serde_json::Value::Object(m)
            })
            .collect();
        let tap = &self.shared.health;
        let health = serde_json::json!({
            "diverted": tap.diverted.load(Ordering::Relaxed),
            "dropped": tap.dropped.load(Ordering::Relaxed),
        });
        let (per_batch, all_batch) = self.batch_summaries();
        let workers: Vec<serde_json::Value> = workers
            .into_iter()
            .zip(per_batch)
            .map(|(mut w, b)| {
                w["batch_us"] = serde_json::json!(b);
                w
            })
            .collect();
        let v = serde_json::json!({
            "role": self.role(),
            "sync": self.sync_json(),
            "workers": workers,
            "control": self.control_json(),
            "neighbors": neigh,
            "family": family_json(fam),
            "batch_us": all_batch,
            "health": health,
            "keepalived_reloads": self.reload_counts(),
            "mtu": {
                "ext": self.shared.mtu[0].load(Ordering::Relaxed),
                "int": self.shared.mtu[1].load(Ordering::Relaxed),
            },
        });
        Response::ok(format!("{v}\n"))
    }

    /// The control thread's counters ([`Ctr::CONTROL`]), by name.
    fn control_json(&self) -> serde_json::Value {
        let c = self.shared.control.snapshot();
        let m: serde_json::Map<String, serde_json::Value> = Ctr::CONTROL
            .iter()
            .map(|ctr| (ctr.name().into(), c.get(*ctr).into()))
            .collect();
        m.into()
    }

    /// `ringvs stats`: a table of every counter, connection state and batch-time
    /// percentile, one column per worker and a total.
    fn stats_text(
        &self,
        per: &[Counters],
        states: &[Vec<u64>],
        neigh: usize,
        fam: &[FamilyRow],
    ) -> Response {
        let mut out = String::new();
        out.push_str(&format!("{:<24}", "counter"));
        for i in 0..per.len() {
            out.push_str(&format!(" {:>12}", format!("worker{i}")));
        }
        out.push_str(&format!(" {:>12}\n", "total"));
        let control = self.shared.control.snapshot();
        for ctr in Ctr::ALL {
            let vals: Vec<u64> = per.iter().map(|c| c.get(*ctr)).collect();
            let total: u64 = vals.iter().sum::<u64>() + control.get(*ctr);
            out.push_str(&format!("{:<24}", ctr.name()));
            for v in &vals {
                out.push_str(&format!(" {v:>12}"));
            }
            out.push_str(&format!(" {total:>12}\n"));
        }
        for st in State::ALL {
            let vals: Vec<u64> = states.iter().map(|s| s[st as usize]).collect();
            out.push_str(&format!(
                "{:<24}",
                format!("conns_{}", st.key().to_lowercase())
            ));
            for v in &vals {
                out.push_str(&format!(" {v:>12}"));
            }
            out.push_str(&format!(" {:>12}\n", vals.iter().sum::<u64>()));
        }
        for row in fam {
            out.push_str(&format!("{:<24}", row.name));
            for v in &row.per {
                out.push_str(&format!(" {v:>12}"));
            }
            out.push_str(&format!(" {:>12}\n", row.per.iter().sum::<u64>()));
        }
        let (per_batch, all_batch) = self.batch_summaries();
        type Pick = fn(&BatchSummary) -> f64;
        let rows: [(&str, Pick); 4] = [
            ("batch_us_p50", |b| b.p50_us),
            ("batch_us_p99", |b| b.p99_us),
            ("batch_us_p99.9", |b| b.p999_us),
            ("batch_us_max", |b| b.max_us),
        ];
        for (name, pick) in rows {
            out.push_str(&format!("{name:<24}"));
            for b in per_batch.iter().chain([&all_batch]) {
                out.push_str(&format!(" {:>12.1}", pick(b)));
            }
            out.push('\n');
        }
        out.push_str(&format!("neighbors {neigh}\n"));
        out.push_str(&format!("role {}\n", self.role()));
        if let Some(r) = self.reload_counts() {
            out.push_str(&format!(
                "keepalived reloads applied {} refused {}\n",
                r.applied, r.refused
            ));
            if let Some(e) = &r.last_error {
                out.push_str(&format!("keepalived last refused reload: {e}\n"));
            }
        }
        out.push_str(&self.sync_text());
        Response::ok(out)
    }

    /// `--metrics`: every figure of `stats` and the per-server counters and gauges
    /// of `-L --stats`, in Prometheus' text format.
    fn metrics(&self) -> String {
        let mut t = crate::observe::metrics::Text::default();
        self.worker_metrics(&mut t);
        self.batch_metrics(&mut t);
        t.sample(
            "ringvs_neighbors",
            "gauge",
            "Resolved neighbors.",
            &[],
            self.shared.neigh.load().len() as f64,
        );
        // The rules as `-L` shows them (the health checks' verdicts, the
        // sorry server while it serves), copied under the configuration's
        // lock and formatted after it is let go.
        let shown = self.shown_rules();
        self.server_metrics(&shown, &mut t);
        self.ipvs_metrics(&shown, &mut t);
        t.finish()
    }

    /// Per worker: every counter, and connections by state; the control
    /// thread's counters as `worker="control"`.
    fn worker_metrics(&self, t: &mut crate::observe::metrics::Text) {
        let c = self.shared.control.snapshot();
        for ctr in Ctr::CONTROL {
            let name = format!("ringvs_{}_total", ctr.name());
            let v = c.get(*ctr) as f64;
            t.sample(&name, "counter", ctr.doc(), &[("worker", "control")], v);
        }
        for (i, p) in self.published.iter().enumerate() {
            let w = i.to_string();
            let c = p.counters.snapshot();
            for ctr in Ctr::ALL {
                let name = format!("ringvs_{}_total", ctr.name());
                t.sample(
                    &name,
                    "counter",
                    ctr.doc(),
                    &[("worker", &w)],
                    c.get(*ctr) as f64,
                );
            }
            let mut all = 0;
            for st in State::ALL {
                let n = p.states[st as usize].load(Ordering::Relaxed);
                all += n;
                t.sample(
                    "ringvs_conns",
                    "gauge",
                    "Connections in the worker's table, by state.",
                    &[("worker", &w), ("state", &st.key())],
                    n as f64,
                );
            }
            let v6 = p.counters.conns6().min(all);
            for (family, n) in [("ipv4", all - v6), ("ipv6", v6)] {
                t.sample(
                    "ringvs_conns_family",
                    "gauge",
                    "Connections in the worker's tables, by address family.",
                    &[("worker", &w), ("family", family)],
                    n as f64,
                );
            }
        }
    }

    /// Per worker: batch-time quantiles and the number of batches.
    fn batch_metrics(&self, t: &mut crate::observe::metrics::Text) {
        let (per, _) = self.batch_summaries();
        for (i, b) in per.iter().enumerate() {
            let w = i.to_string();
            for (q, v) in [
                ("0.5", b.p50_us),
                ("0.99", b.p99_us),
                ("0.999", b.p999_us),
                ("1", b.max_us),
            ] {
                t.sample(
                    "ringvs_batch_seconds",
                    "summary",
                    "Time a worker spends on one non-empty batch.",
                    &[("worker", &w), ("quantile", q)],
                    v / 1e6,
                );
            }
            t.sample(
                "ringvs_batch_seconds_count",
                "counter",
                "Batches recorded.",
                &[("worker", &w)],
                b.batches as f64,
            );
        }
    }

    /// A service's real servers and sorry server, one row per address and
    /// port: a sorry server at a real server's place is that server
    /// (`s_svr_duplicates_rs`), its traffic and connections added to it.
    /// One lookup a server, so a service of many servers costs no more a
    /// server than one of a few.
    pub(super) fn server_rows(&self, svc: &crate::config::Service) -> Vec<ServerRow> {
        use std::collections::hash_map::Entry;
        let mut rows: Vec<ServerRow> = Vec::with_capacity(svc.dests.len() + 1);
        let mut at = HashMap::with_capacity(svc.dests.len() + 1);
        // `dests_and_sorry` gives the sorry server last.
        for (k, d) in svc.dests_and_sorry().enumerate() {
            let (stats, (active, inactive)) = (self.raw_stats(d.id), self.counts(d.id));
            let listed = k < svc.dests.len();
            match at.entry((d.addr, d.port)) {
                Entry::Occupied(e) => {
                    let r: &mut ServerRow = &mut rows[*e.get()];
                    r.stats.add(&stats);
                    r.active += active;
                    r.inactive += inactive;
                    r.dest.weight = r.dest.weight.max(d.weight);
                    r.listed |= listed;
                }
                Entry::Vacant(e) => {
                    e.insert(rows.len());
                    rows.push(ServerRow {
                        dest: d,
                        stats,
                        active,
                        inactive,
                        listed,
                    });
                }
            }
        }
        rows
    }

    /// Per real server of the rules `shown` ([`Ctl::shown_rules`]): the
    /// counters and gauges of `-L --stats`, and its weight as `-L` shows it.
    /// A sorry server not serving keeps its row (weight 0), so that its
    /// counters stay one series.
    fn server_metrics(&self, shown: &crate::config::Config, t: &mut crate::observe::metrics::Text) {
        // `ADDR:PORT`, an IPv6 address in brackets (as the listings show it).
        let at = |a, p| crate::config::names::Names::none().addr_port(a, p, None, true);
        for svc in shown.services() {
            let (service, proto) = if svc.key.is_fwmark() {
                (svc.key.to_string(), "fwm".to_string())
            } else {
                let proto = svc.key.proto.name().to_lowercase();
                (at(svc.key.addr, svc.key.port), proto)
            };
            for row in self.server_rows(svc) {
                let (d, s, active, inactive) = (row.dest, row.stats, row.active, row.inactive);
                let server = at(d.addr, d.port);
                let l = [
                    ("proto", proto.as_str()),
                    ("service", service.as_str()),
                    ("server", server.as_str()),
                ];
                for (name, help, v) in [
                    (
                        "ringvs_server_conns_total",
                        "Connections scheduled to the real server.",
                        s.conns,
                    ),
                    (
                        "ringvs_server_in_packets_total",
                        "Packets client -> real server.",
                        s.inpkts,
                    ),
                    (
                        "ringvs_server_out_packets_total",
                        "Packets real server -> client.",
                        s.outpkts,
                    ),
                    (
                        "ringvs_server_in_bytes_total",
                        "IP bytes client -> real server.",
                        s.inbytes,
                    ),
                    (
                        "ringvs_server_out_bytes_total",
                        "IP bytes real server -> client.",
                        s.outbytes,
                    ),
                ] {
                    t.sample(name, "counter", help, &l, v as f64);
                }
                t.sample(
                    "ringvs_server_active_conns",
                    "gauge",
                    "ActiveConn of ipvsadm -L.",
                    &l,
                    f64::from(active),
                );
                t.sample(
                    "ringvs_server_inactive_conns",
                    "gauge",
                    "InActConn of ipvsadm -L.",
                    &l,
                    f64::from(inactive),
                );
                t.sample(
                    "ringvs_server_weight",
                    "gauge",
                    "Weight.",
                    &l,
                    f64::from(d.weight),
                );
            }
        }
    }

    /// Batch-time percentiles per worker and over all workers.
    fn batch_summaries(&self) -> (Vec<BatchSummary>, BatchSummary) {
        let hs: Vec<_> = self.published.iter().map(|p| p.batch.snapshot()).collect();
        let per = hs
            .iter()
            .map(|h| crate::stats::batch_summary([h]))
            .collect();
        (per, crate::stats::batch_summary(&hs))
    }
}

/// One row of `ringvs stats`'s figures by address family: a value per worker.
struct FamilyRow {
    name: &'static str,
    per: Vec<u64>,
}

/// The figures of `ringvs stats` split by family, IPv4 rows first then their
/// IPv6 twins: connections in the tables (the states count both families,
/// the worker publishes its IPv6 table's size), and new connections and
/// packets forwarded each way (the IPv6 counters are the IPv6 share of the
/// family-neutral ones; see `stats::Ctr`).
fn by_family(per: &[Counters], states: &[Vec<u64>], conns6: &[u64]) -> Vec<FamilyRow> {
    let all: Vec<u64> = states.iter().map(|s| s.iter().sum()).collect();
    let v6: Vec<u64> = conns6
        .iter()
        .zip(&all)
        .map(|(v6, a)| (*v6).min(*a))
        .collect();
    let mut rows = vec![
        FamilyRow {
            name: "conns_ipv4",
            per: all.iter().zip(&v6).map(|(a, v6)| a - v6).collect(),
        },
        FamilyRow {
            name: "conns_ipv6",
            per: v6,
        },
    ];
    for (name4, name6, both, six) in [
        (
            "conn_new_ipv4",
            "conn_new_ipv6",
            Ctr::ConnNew,
            Ctr::ConnNew6,
        ),
        ("fwd_in_ipv4", "fwd_in_ipv6", Ctr::FwdIn, Ctr::FwdIn6),
        ("fwd_out_ipv4", "fwd_out_ipv6", Ctr::FwdOut, Ctr::FwdOut6),
    ] {
        let v6: Vec<u64> = per.iter().map(|c| c.get(six)).collect();
        rows.push(FamilyRow {
            name: name4,
            per: per
                .iter()
                .zip(&v6)
                .map(|(c, v6)| c.get(both).saturating_sub(*v6))
                .collect(),
        });
        rows.push(FamilyRow {
            name: name6,
            per: v6,
        });
    }
    rows
}

/// The director's totals by family: `{"ipv4": {"conns": n, ...}, "ipv6": ...}`.
fn family_json(rows: &[FamilyRow]) -> serde_json::Value {
    let mut v = serde_json::json!({ "ipv4": {}, "ipv6": {} });
    for r in rows {
        let Some((what, fam)) = r.name.rsplit_once('_') else {
            continue;
        };
        v[fam][what] = r.per.iter().sum::<u64>().into();
    }
    v
}

/// Start the thread that samples per-real-server counters for `--rate`,
/// and sweeps the trash of removed servers on the same beat
/// (`Ctl::sweep_trash`, its clock the seconds since this start).
pub(super) fn start_sampler(ctl: &Arc<Ctl>) -> Result<(), RunError> {
    let ctl = Arc::clone(ctl);
    std::thread::Builder::new()
        .name("ringvs-rate".into())
        .spawn(move || {
            let start = Instant::now();
            let mut last = start;
            loop {
                std::thread::sleep(RATE_INTERVAL);
                let now = Instant::now();
                ctl.sample_rates(now.duration_since(last).as_secs_f64().max(0.001));
                ctl.sweep_trash(now.duration_since(start).as_secs());
                last = now;
            }
        })
        .map_err(|e| RunError::Invalid(format!("spawning rate thread: {e}")))?;
    Ok(())
}

/// Serve Prometheus metrics over HTTP at `addr` (`--metrics ADDR`); storing
/// `true` in the flag returned stops it.
pub(super) fn serve_metrics(
    (addr, listener): (std::net::SocketAddr, std::net::TcpListener),
    ctl: &Arc<Ctl>,
) -> Result<Arc<AtomicBool>, RunError> {
    let c = Arc::clone(ctl);
    let stop = Arc::new(AtomicBool::new(false));
    crate::observe::metrics::serve(listener, Arc::clone(&stop), move || c.metrics())
        .map_err(|e| RunError::Invalid(format!("--metrics {addr}: {e}")))?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// node_exporter's IPVS metrics: its names, its labels in its order, its
    /// help texts and types, one backend series per real server.
    #[test]
    fn metrics_have_node_exporters_ipvs_names_and_labels() {
        let (c, _garp) = crate::control::test_ctl(2);
        for line in [
            "-A -t 198.18.0.110:80 -s wrr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 3",
            "-a -t 198.18.0.110:80 -r 198.19.0.3:8080 -m -w 1",
            "-A -u 198.18.0.110:53 -s rr",
            "-a -u 198.18.0.110:53 -r 198.19.0.2:53 -m",
        ] {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(c.adm(&argv).code, 0, "{line}");
        }
        let page = c.metrics();
        for name in [
            "connections_total",
            "incoming_packets_total",
            "outgoing_packets_total",
            "incoming_bytes_total",
            "outgoing_bytes_total",
        ] {
            assert!(
                page.contains(&format!(
                    "# TYPE node_ipvs_{name} counter\nnode_ipvs_{name} 0\n"
                )),
                "{name}: {page}"
            );
        }
        let l = |a: &str, p: u16, r: &str, rp: u16, proto: &str| {
            format!(
                "{{local_address=\"{a}\",local_port=\"{p}\",remote_address=\"{r}\",remote_port=\"{rp}\",proto=\"{proto}\",local_mark=\"\"}}"
            )
        };
        let w3 = l("198.18.0.110", 80, "198.19.0.2", 80, "TCP");
        let w1 = l("198.18.0.110", 80, "198.19.0.3", 8080, "TCP");
        let udp = l("198.18.0.110", 53, "198.19.0.2", 53, "UDP");
        for want in [
            format!("node_ipvs_backend_weight{w3} 3\n"),
            format!("node_ipvs_backend_weight{w1} 1\n"),
            format!("node_ipvs_backend_weight{udp} 1\n"),
            format!("node_ipvs_backend_connections_active{w3} 0\n"),
            format!("node_ipvs_backend_connections_inactive{udp} 0\n"),
            "# HELP node_ipvs_backend_connections_active The current active connections by local and remote address.\n# TYPE node_ipvs_backend_connections_active gauge\n".to_string(),
            "# HELP node_ipvs_incoming_bytes_total The total amount of incoming data.\n".to_string(),
        ] {
            assert!(page.contains(&want), "{want}: {page}");
        }
        assert_eq!(page.matches("node_ipvs_backend_weight{").count(), 3);
    }

    /// node_exporter's backends and ringvs's server weights are what
    /// `-L -n` lists, health checks included, as `/proc/net/ip_vs`
    /// (`ip_vs_info_seq_show`, `ip_vs_ctl.c`) shows what keepalived left in
    /// the kernel: a server its check took out at weight 0 (`-L`'s row for
    /// it), and the sorry server, absent while the quorum holds, at weight
    /// 1 once it is lost.
    #[test]
    fn ipvs_backends_are_what_the_listing_shows_after_health_checks() {
        let (c, _garp) = crate::control::test_ctl(1);
        for line in [
            "-A -t 198.18.0.110:80 -s rr --check misc --misc-path /bin/true \
             --sorry-server 198.19.0.9:8080",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m -w 3",
        ] {
            let r = run(&c, line);
            assert_eq!(r.code, 0, "{line}: {}", r.err);
        }
        let id = crate::control::adm::dest_ids(&c.adm.lock().unwrap().cfg, None)[0];
        // `ADDR:PORT WEIGHT` of every backend, sorted: from the metrics, and
        // from the listing.
        let backends = |page: &str, metric: &str| {
            let mut v: Vec<String> = page
                .lines()
                .filter_map(|l| l.strip_prefix(metric))
                .map(|l| {
                    let field = |k: &str| {
                        let at = l.find(&format!("{k}=\"")).expect(k) + k.len() + 2;
                        l[at..].split('"').next().unwrap_or("").to_string()
                    };
                    let w = l.rsplit(' ').next().unwrap_or("");
                    let (a, p) = if metric.starts_with("node") {
                        (field("remote_address"), field("remote_port"))
                    } else {
                        let s = field("server");
                        let (a, p) = s.rsplit_once(':').unwrap();
                        (a.to_string(), p.to_string())
                    };
                    format!("{a}:{p} {w}")
                })
                .collect();
            v.sort();
            v
        };
        let listed = || {
            let out = run(&c, "-L -n").out;
            let mut v: Vec<String> = out
                .lines()
                .filter_map(|l| l.strip_prefix("  -> "))
                .filter(|l| !l.starts_with("RemoteAddress"))
                .map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    format!("{} {}", f[0], f[2])
                })
                .collect();
            v.sort();
            v
        };
        let page = c.metrics();
        let node = "node_ipvs_backend_weight{";
        assert_eq!(backends(&page, node), ["198.19.0.2:80 3"], "{page}");
        assert_eq!(backends(&page, node), listed());
        let own = backends(&page, "ringvs_server_weight{");
        assert_eq!(own, ["198.19.0.2:80 3", "198.19.0.9:8080 0"]);
        // Its check fails: out of the table, listed at 0; the quorum lost,
        // the sorry server serves at weight 1.
        assert!(c.health.hold(HashMap::from([(id, false)])));
        c.publish(&mut c.adm.lock().unwrap());
        let page = c.metrics();
        let want = ["198.19.0.2:80 0", "198.19.0.9:8080 1"];
        assert_eq!(backends(&page, node), want, "{page}");
        assert_eq!(backends(&page, node), listed());
        assert_eq!(backends(&page, "ringvs_server_weight{"), want);
        // Back: as before.
        assert!(c.health.hold(HashMap::new()));
        c.publish(&mut c.adm.lock().unwrap());
        let page = c.metrics();
        assert_eq!(backends(&page, node), ["198.19.0.2:80 3"], "{page}");
        prometheus_text_ok(&page);
    }

    fn prometheus_text_ok(page: &str) {
        super::prometheus_text::check(page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    }

    /// IPv6 labels: bare addresses where node_exporter has them (it prints
    /// the address alone), `[ADDR]:PORT` in ringvs's own `service`/`server`.
    #[test]
    fn ipv6_metric_labels() {
        let (c, _garp) = crate::control::test_ctl(1);
        for line in [
            "-A -t [2001:2:0:1::110]:80 -s rr",
            "-a -t [2001:2:0:1::110]:80 -r [2001:2:0:2::2]:8080 -m -w 2",
        ] {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(c.adm(&argv).code, 0, "{line}");
        }
        let page = c.metrics();
        for want in [
            "node_ipvs_backend_weight{local_address=\"2001:2:0:1::110\",local_port=\"80\",remote_address=\"2001:2:0:2::2\",remote_port=\"8080\",proto=\"TCP\",local_mark=\"\"} 2\n",
            "service=\"[2001:2:0:1::110]:80\",server=\"[2001:2:0:2::2]:8080\"",
        ] {
            assert!(page.contains(want), "{want}: {page}");
        }
    }

    /// The control thread's counters (`mld_report`) count in the total of
    /// `ringvs stats`, no worker's column; `control` in JSON,
    /// `worker="control"` in the metrics.
    #[test]
    fn control_counters_show_in_the_totals() {
        use crate::stats::Counters;
        let (c, _garp) = crate::control::test_ctl(2);
        let mut ctl = Counters::default();
        ctl.add(Ctr::MldReport, 7);
        ctl.add(Ctr::DropTxFull, 3);
        c.shared.control.publish(&ctl);
        let text = c.stats(false).out;
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some("mld_report"))
            .expect("mld_report");
        assert_eq!(
            line.split_whitespace().skip(1).collect::<Vec<_>>(),
            ["0", "0", "7"]
        );
        let v: serde_json::Value = serde_json::from_str(&c.stats(true).out).expect("json");
        assert_eq!(v["control"]["mld_report"], 7);
        // An announcement the control ring had no slot for.
        assert_eq!(v["control"]["drop_tx_full"], 3);
        let m = c.metrics();
        assert!(m.contains("ringvs_mld_report_total{worker=\"control\"} 7\n"));
        assert!(m.contains("ringvs_drop_tx_full_total{worker=\"control\"} 3\n"));
    }

    /// `ringvs stats` (text and JSON) and `--metrics` split connections, new
    /// connections and forwarded packets by family: the IPv4 figure is the
    /// family-neutral counter less its IPv6 share.
    #[test]
    fn stats_and_metrics_by_family() {
        use crate::stats::Counters;
        let (c, _garp) = crate::control::test_ctl(2);
        let mut w0 = Counters::default();
        for (ctr, n) in [
            (Ctr::ConnNew, 5),
            (Ctr::ConnNew6, 2),
            (Ctr::FwdIn, 10),
            (Ctr::FwdIn6, 4),
            (Ctr::FwdOut, 7),
            (Ctr::FwdOut6, 1),
            (Ctr::RxIpv6, 6),
        ] {
            w0.add(ctr, n);
        }
        c.published[0].counters.publish(&w0);
        c.published[0].states[State::Established as usize].store(3, Ordering::Relaxed);
        c.published[0].counters.publish_conns6(1);
        c.published[1].states[State::SynRecv as usize].store(4, Ordering::Relaxed);
        c.published[1].counters.publish_conns6(4);

        let text = c.stats(false).out;
        let row = |name: &str| -> Vec<u64> {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("no {name} in {text}"));
            line.split_whitespace()
                .skip(1)
                .map(|v| v.parse().expect("number"))
                .collect()
        };
        assert_eq!(row("conns_ipv4"), [2, 0, 2]);
        assert_eq!(row("conns_ipv6"), [1, 4, 5]);
        assert_eq!(row("conn_new_ipv4"), [3, 0, 3]);
        assert_eq!(row("conn_new_ipv6"), [2, 0, 2]);
        assert_eq!(row("fwd_in_ipv4"), [6, 0, 6]);
        assert_eq!(row("fwd_in_ipv6"), [4, 0, 4]);
        assert_eq!(row("fwd_out_ipv4"), [6, 0, 6]);
        assert_eq!(row("fwd_out_ipv6"), [1, 0, 1]);
        assert_eq!(row("rx_ipv6"), [6, 0, 6]);

        let v: serde_json::Value = serde_json::from_str(&c.stats(true).out).expect("json");
        assert_eq!(v["workers"][1]["conns_ipv6"], 4);
        assert_eq!(v["workers"][0]["conns_ipv4"], 2);
        assert_eq!(
            v["family"],
            serde_json::json!({
                "ipv4": {"conns": 2, "conn_new": 3, "fwd_in": 6, "fwd_out": 6},
                "ipv6": {"conns": 5, "conn_new": 2, "fwd_in": 4, "fwd_out": 1},
            })
        );

        let page = c.metrics();
        for want in [
            "ringvs_conns_family{worker=\"0\",family=\"ipv4\"} 2\n",
            "ringvs_conns_family{worker=\"0\",family=\"ipv6\"} 1\n",
            "ringvs_conns_family{worker=\"1\",family=\"ipv4\"} 0\n",
            "ringvs_conns_family{worker=\"1\",family=\"ipv6\"} 4\n",
            "ringvs_fwd_in6_total{worker=\"0\"} 4\n",
            "ringvs_conn_new6_total{worker=\"0\"} 2\n",
            "ringvs_rx_ipv6_total{worker=\"0\"} 6\n",
        ] {
            assert!(page.contains(want), "{want}: {page}");
        }
    }

    fn run(c: &Ctl, line: &str) -> crate::proto::Response {
        let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        c.adm(&argv)
    }

    /// `-Z`, then `-d` and `-a` of the same server: it comes back with its
    /// id and counters (the trash) and its `-Z` point too, as IPVS's dest
    /// comes back from its trash; the counters from before `-Z` stay out.
    #[test]
    fn zero_survives_delete_and_add_again() {
        let (c, _garp) = crate::control::test_ctl(1);
        for l in [
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
        ] {
            assert_eq!(run(&c, l).code, 0);
        }
        let cfg = || c.adm.lock().map(|st| st.cfg.clone()).unwrap_or_default();
        let ids = crate::control::adm::dest_ids(&cfg(), None);
        for _ in 0..7 {
            c.published[0].traffic.conn(ids[0]);
        }
        let conns = |c: &Ctl| {
            let out = run(c, "-L -n --stats").out;
            let l = out.lines().find(|l| l.starts_with("  -> 198.19.0.2:80"));
            l.and_then(|l| l.split_whitespace().nth(2))
                .map(str::to_owned)
        };
        assert_eq!(conns(&c).as_deref(), Some("7"));
        assert_eq!(run(&c, "-Z").code, 0);
        assert_eq!(run(&c, "-d -t 198.18.0.110:80 -r 198.19.0.2:80").code, 0);
        assert_eq!(run(&c, "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m").code, 0);
        c.published[0].traffic.conn(ids[0]);
        assert_eq!(conns(&c).as_deref(), Some("1"));
    }

    /// IPVS's trash (`ip_vs_dest_trash_expire`) on the control thread's
    /// clock, injected: a server removed while a connection, then a
    /// persistence template, names it is added back with its id and
    /// counters; `TRASH_PERIOD` after nothing names it, it is freed, and
    /// added again it is a new server whose counters start from 0, even
    /// when its new id is the old one (the ids wrapped).
    #[test]
    fn a_removed_server_is_freed_a_period_after_nothing_names_it() {
        use crate::nat::persist::{TEMPLATE_SHARDS, TemplateDest, TemplateKey};
        let (c, _garp) = crate::control::test_ctl(1);
        let add = "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m";
        let del = "-d -t 198.18.0.110:80 -r 198.19.0.2:80";
        for l in ["-A -t 198.18.0.110:80 -s rr -p 300", add] {
            assert_eq!(run(&c, l).code, 0);
        }
        let id = |c: &Ctl| crate::control::adm::dest_ids(&c.adm.lock().unwrap().cfg, None);
        let rs = id(&c)[0];
        let conns = |c: &Ctl| {
            let out = run(c, "-L -n --stats").out;
            let l = out.lines().find(|l| l.starts_with("  -> 198.19.0.2:80"));
            l.and_then(|l| l.split_whitespace().nth(2))
                .map(str::to_owned)
        };
        let w = &c.published[0];
        for _ in 0..7 {
            w.traffic.conn(rs);
        }
        w.gauges.adjust(rs, None, Some(true));
        assert_eq!(run(&c, del).code, 0);
        for t in [0, 200, 400] {
            assert_eq!(c.sweep_trash(t), [], "a connection holds it at {t}");
        }
        assert_eq!(run(&c, add).code, 0);
        assert_eq!((id(&c), conns(&c)), (vec![rs], Some("7".into())));
        assert_eq!(run(&c, del).code, 0);
        // The connection leaves; its client's template still names the server.
        w.gauges.adjust(rs, Some(true), None);
        let client = u32::from(std::net::Ipv4Addr::new(198, 18, 0, 1));
        let key = TemplateKey::new((6, 0xc612_006e, 80), client, u32::MAX);
        let to = TemplateDest {
            id: rs,
            addr: 0xc613_0002,
            port: 80,
        };
        assert!(c.shared.templates.install(key, to, u32::MAX, 0, 900, true));
        for t in [500, 700] {
            assert_eq!(c.sweep_trash(t), [], "a template holds it at {t}");
        }
        c.shared.templates.sweep_by(0, TEMPLATE_SHARDS, 1000);
        assert_eq!(c.sweep_trash(800), []);
        assert_eq!(c.sweep_trash(919), []);
        assert_eq!(c.sweep_trash(920), [rs], "idle from 800");
        assert!(!c.adm.lock().unwrap().cfg.keeps_id(rs));
        // Added after: a new server, even with the same id.
        c.adm.lock().unwrap().cfg.set_next_id(rs.0);
        assert_eq!(run(&c, add).code, 0);
        assert_eq!((id(&c), conns(&c)), (vec![rs], Some("0".into())));
        w.traffic.conn(rs);
        assert_eq!(conns(&c).as_deref(), Some("1"));
    }

    /// `node_ipvs_*_total` are `/proc/net/ip_vs_stats`'s totals: a deleted
    /// server's traffic stays in them (they are counters, and IPVS counts
    /// `tot_stats` apart from its servers, `ip_vs_in_stats`); `-Z -t` of one
    /// service leaves them (`ip_vs_zero_service`), `-Z` of all zeroes them
    /// (`ip_vs_zero_all`), on the command line and as a line of `-R`.
    #[test]
    fn director_totals_outlive_servers_and_zero_with_all() {
        let (c, _garp) = crate::control::test_ctl(2);
        for l in [
            "-A -t 198.18.0.110:80 -s rr",
            "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            "-a -t 198.18.0.110:80 -r 198.19.0.3:80 -m",
        ] {
            assert_eq!(run(&c, l).code, 0);
        }
        let ids = crate::control::adm::dest_ids(&c.adm.lock().unwrap().cfg, None);
        let traffic = |n: usize| {
            for (w, &id) in c.published.iter().zip(&ids) {
                for _ in 0..n {
                    w.traffic.conn(id);
                    w.traffic.inbound(id, 60);
                    w.traffic.outbound(id, 40);
                }
            }
        };
        let total = |name: &str| {
            let page = c.metrics();
            let want = format!("\nnode_ipvs_{name} ");
            page.split(&want)
                .nth(1)
                .and_then(|r| r.lines().next())
                .map(str::to_owned)
        };
        traffic(3);
        assert_eq!(total("connections_total").as_deref(), Some("6"));
        assert_eq!(run(&c, "-d -t 198.18.0.110:80 -r 198.19.0.3:80").code, 0);
        assert_eq!(total("connections_total").as_deref(), Some("6"), "-d");
        assert_eq!(total("incoming_bytes_total").as_deref(), Some("360"));
        assert_eq!(total("outgoing_packets_total").as_deref(), Some("6"));
        assert_eq!(run(&c, "-Z -t 198.18.0.110:80").code, 0);
        assert_eq!(total("connections_total").as_deref(), Some("6"), "-Z -t");
        assert_eq!(run(&c, "-Z").code, 0);
        assert_eq!(total("connections_total").as_deref(), Some("0"), "-Z");
        traffic(2);
        assert_eq!(total("connections_total").as_deref(), Some("4"));
        assert_eq!(total("outgoing_bytes_total").as_deref(), Some("160"));
        assert_eq!(c.restore("-Z -t 198.18.0.110:80\n").code, 0);
        assert_eq!(total("connections_total").as_deref(), Some("4"));
        assert_eq!(c.restore("-Z\n").code, 0);
        assert_eq!(total("connections_total").as_deref(), Some("0"), "-R -Z");
    }

    /// `-Z` as a line of `-R` zeroes, as ipvsadm's restore runs it
    /// (`CMD_ZERO`, `ipvs_zero_service`); it was accepted and did nothing.
    #[test]
    fn zero_in_a_restore_zeroes() {
        let (c, _garp) = crate::control::test_ctl(1);
        assert_eq!(run(&c, "-A -t 198.18.0.110:80 -s rr").code, 0);
        assert_eq!(run(&c, "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m").code, 0);
        assert_eq!(run(&c, "-A -t 198.18.0.111:80 -s rr").code, 0);
        assert_eq!(run(&c, "-a -t 198.18.0.111:80 -r 198.19.0.3:80 -m").code, 0);
        let ids = crate::control::adm::dest_ids(&c.adm.lock().unwrap().cfg, None);
        for &id in &ids {
            for _ in 0..7 {
                c.published[0].traffic.conn(id);
            }
        }
        // The servers a service has at the `-Z` line: .3, out of .111 then,
        // comes back with its counters (the kernel's `ip_vs_zero_service`
        // does not zero its trash).
        let r = c.restore(
            "-Z -t 198.18.0.110:80\n-d -t 198.18.0.111:80 -r 198.19.0.3:80\n\
             -Z -t 198.18.0.111:80\n-a -t 198.18.0.111:80 -r 198.19.0.3:80 -m\n",
        );
        assert_eq!((r.code, r.out.as_str()), (0, ""));
        let out = run(&c, "-L -n --stats").out;
        let conns = |rs: &str| {
            let l = out.lines().find(|l| l.starts_with(&format!("  -> {rs}")));
            l.and_then(|l| l.split_whitespace().nth(2))
                .map(str::to_string)
        };
        assert_eq!(conns("198.19.0.2:80").as_deref(), Some("0"), "{out}");
        assert_eq!(conns("198.19.0.3:80").as_deref(), Some("7"), "{out}");
    }
}

#[cfg(test)]
mod prometheus_text {
    use std::collections::{HashMap, HashSet};

    fn valid_name(n: &str) -> bool {
        let mut c = n.chars();
        matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
            && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
    }

    /// A strict reading of text format 0.0.4, as expfmt's TextParser and
    /// promlint read it: one HELP and one TYPE per family (a summary's
    /// `_count`/`_sum` belong to the summary), each family's lines in one
    /// group, valid names, escaped label values, no duplicate series.
    pub fn check(page: &str) -> Result<(), String> {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helps: HashSet<String> = HashSet::new();
        let mut closed: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        let mut series: HashSet<String> = HashSet::new();
        let family_of = |name: &str, types: &HashMap<String, String>| -> String {
            for suf in ["_count", "_sum", "_bucket"] {
                if let Some(base) = name.strip_suffix(suf)
                    && matches!(
                        types.get(base).map(String::as_str),
                        Some("summary" | "histogram")
                    )
                {
                    return base.to_string();
                }
            }
            name.to_string()
        };
        let enter = |fam: String,
                     current: &mut Option<String>,
                     closed: &mut HashSet<String>,
                     ln: usize|
         -> Result<(), String> {
            if current.as_deref() != Some(&fam) {
                if closed.contains(&fam) {
                    return Err(format!("line {ln}: family {fam} not in one group"));
                }
                if let Some(c) = current.take() {
                    closed.insert(c);
                }
                *current = Some(fam);
            }
            Ok(())
        };
        for (i, line) in page.lines().enumerate() {
            let ln = i + 1;
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or("");
                let fam = family_of(name, &types);
                if !helps.insert(fam.clone()) {
                    return Err(format!("line {ln}: second HELP line for {fam}"));
                }
                enter(fam, &mut current, &mut closed, ln)?;
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut it = rest.split(' ');
                let (name, ty) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                let fam = family_of(name, &types);
                if types.contains_key(&fam) {
                    return Err(format!("line {ln}: second TYPE line for {fam}"));
                }
                types.insert(fam.clone(), ty.to_string());
                enter(fam, &mut current, &mut closed, ln)?;
                continue;
            }
            let (lhs, value) = line
                .rsplit_once(' ')
                .ok_or(format!("line {ln}: no value"))?;
            if value.parse::<f64>().is_err() {
                return Err(format!("line {ln}: bad value {value}"));
            }
            let name = lhs.split('{').next().unwrap_or("");
            if !valid_name(name) {
                return Err(format!("line {ln}: bad name {name}"));
            }
            if let Some(l) = lhs.strip_prefix(name)
                && !l.is_empty()
            {
                let inner = l
                    .strip_prefix('{')
                    .and_then(|l| l.strip_suffix('}'))
                    .ok_or(format!("line {ln}: bad labels"))?;
                // label values: every '"' inside a value is escaped, no raw newline
                let mut esc = false;
                let mut inq = false;
                for ch in inner.chars() {
                    if inq {
                        if esc {
                            if !matches!(ch, '\\' | '"' | 'n') {
                                return Err(format!("line {ln}: bad escape"));
                            }
                            esc = false;
                        } else if ch == '\\' {
                            esc = true;
                        } else if ch == '"' {
                            inq = false;
                        }
                    } else if ch == '"' {
                        inq = true;
                    }
                }
                if inq {
                    return Err(format!("line {ln}: unterminated label value"));
                }
            }
            let fam = family_of(name, &types);
            if !types.contains_key(&fam) {
                return Err(format!("line {ln}: sample of {fam} before its TYPE"));
            }
            enter(fam, &mut current, &mut closed, ln)?;
            if !series.insert(lhs.to_string()) {
                return Err(format!("line {ln}: duplicate series {lhs}"));
            }
        }
        Ok(())
    }

    /// A control thread of `workers` workers given `lines` (`ringvs adm`);
    /// the receiver of its VIP announcements is kept with it.
    fn ctl(
        workers: usize,
        lines: &[&str],
    ) -> (
        std::sync::Arc<super::super::Ctl>,
        crossbeam_channel::Receiver<std::net::IpAddr>,
    ) {
        let (c, g) = crate::control::test_ctl(workers);
        for line in lines {
            let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert_eq!(c.adm(&argv).code, 0, "{line}: {}", c.adm(&argv).err);
        }
        (c, g)
    }

    #[test]
    fn the_page_of_one_worker_is_strict_text_format() {
        let (c, _g) = ctl(1, &[]);
        let page = c.metrics();
        check(&page).unwrap_or_else(|e| panic!("{e}\n{page}"));
    }

    #[test]
    fn the_page_of_two_workers_keeps_each_family_in_one_group() {
        let (c, _g) = ctl(
            2,
            &[
                "-A -t 198.18.0.110:80 -s rr",
                "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            ],
        );
        let page = c.metrics();
        check(&page).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_sorry_server_at_a_real_servers_place_is_no_duplicate_series() {
        let (c, _g) = ctl(
            1,
            &[
                "-A -t 198.18.0.110:80 -s rr --sorry-server 198.19.0.2:80",
                "-a -t 198.18.0.110:80 -r 198.19.0.2:80 -m",
            ],
        );
        let page = c.metrics();
        let dup: Vec<&str> = page
            .lines()
            .filter(|l| {
                l.starts_with("node_ipvs_backend_weight{") || l.starts_with("ringvs_server_weight{")
            })
            .collect();
        assert!(check(&page).is_ok(), "{:?}\n{dup:#?}", check(&page));
    }
}
