//! node_exporter's IPVS collector metrics under `--metrics`
//! (`node_ipvs_*`: the director's totals, as `/proc/net/ip_vs_stats` shows
//! them, and each real server's connections and weight), and the director's
//! totals they read, with their `-Z` point.

use super::Ctl;
use super::report::sub;
use crate::stats::DestStats;

impl Ctl {
    /// What the workers forwarded for every real server they ever had.
    fn traffic_total(&self) -> DestStats {
        let mut t = DestStats::default();
        for p in &self.published {
            t.add(&p.traffic.total());
        }
        t
    }

    /// The director's totals, as `/proc/net/ip_vs_stats` shows IPVS's
    /// (`ip_vs_stats_show`, `ip_vs_ctl.c`): all traffic the workers forwarded,
    /// for servers deleted since too, from start or the last `-Z` of every
    /// service (`ip_vs_zero_all` zeroes `tot_stats`; `-Z -t` does not).
    pub(super) fn total_stats(&self) -> DestStats {
        let t = self.traffic_total();
        match self.tot_zero.lock() {
            Ok(z) => sub(&t, &z),
            Err(_) => t,
        }
    }

    /// `-Z` of every service: the director's totals start again from 0.
    pub(super) fn zero_total(&self) {
        let t = self.traffic_total();
        if let Ok(mut z) = self.tot_zero.lock() {
            *z = t;
        }
    }

    /// The metrics of node_exporter's IPVS collector (`collector/ipvs_linux.go`),
    /// same names, labels and help, so that dashboards written for kernel IPVS
    /// work unchanged: the totals of `/proc/net/ip_vs_stats` ([`Ctl::total_stats`]:
    /// a deleted server's traffic stays in them) and per real server its connections and
    /// weight, labelled as node_exporter labels them (`proto` in capitals as
    /// `/proc/net/ip_vs` shows it; a firewall-mark service's `proto` `FWM`,
    /// no `local_address` and its `local_mark`).
    ///
    /// The backends are those of `shown`, the rules as `-L` shows them
    /// ([`Ctl::shown_rules`]), as `/proc/net/ip_vs` (`ip_vs_info_seq_show`)
    /// shows what keepalived left in the kernel: a server its check holds
    /// down at weight 0 (keepalived removes it, or with
    /// `inhibit_on_failure` sets weight 0; `-L` lists both at 0), a weight a
    /// check set, and the sorry server only while the table has it (at
    /// weight 1 while the service is without its quorum, 0 with
    /// `sorry_server_inhibit`).
    pub(super) fn ipvs_metrics(
        &self,
        shown: &crate::config::Config,
        t: &mut crate::observe::metrics::Text,
    ) {
        let mut rows = Vec::new();
        for svc in shown.services() {
            // A firewall-mark service as `/proc/net/ip_vs` shows it
            // (`FWM  0000000A`): no address, port 0, its mark as there.
            let (vip, proto, mark) = if svc.key.is_fwmark() {
                let mark = format!("{:08X}", svc.key.mark);
                (String::new(), "FWM".to_string(), mark)
            } else {
                let proto = svc.key.proto.name().to_uppercase();
                (svc.key.addr.to_string(), proto, String::new())
            };
            let vport = svc.key.port.to_string();
            // A sorry server out of the table is in no `-L`.
            for row in self.server_rows(svc).into_iter().filter(|r| r.listed) {
                let (d, active, inactive) = (row.dest, row.active, row.inactive);
                let labels = [
                    vip.clone(),
                    vport.clone(),
                    d.addr.to_string(),
                    d.port.to_string(),
                    proto.clone(),
                    mark.clone(),
                ];
                rows.push((labels, active, inactive, d.weight));
            }
        }
        let total = self.total_stats();
        for (name, help, v) in [
            (
                "node_ipvs_connections_total",
                "The total number of connections made.",
                total.conns,
            ),
            (
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
                total.inpkts,
            ),
            (
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
                total.outpkts,
            ),
            (
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
                total.inbytes,
            ),
            (
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
                total.outbytes,
            ),
        ] {
            t.sample(name, "counter", help, &[], v as f64);
        }
        const LABELS: [&str; 6] = [
            "local_address",
            "local_port",
            "remote_address",
            "remote_port",
            "proto",
            "local_mark",
        ];
        for (name, help, pick) in [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
                0,
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
                1,
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
                2,
            ),
        ] {
            for (values, active, inactive, weight) in &rows {
                let l: Vec<(&str, &str)> = LABELS
                    .iter()
                    .zip(values)
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                let v = [f64::from(*active), f64::from(*inactive), f64::from(*weight)][pick];
                t.sample(name, "gauge", help, &l, v);
            }
        }
    }
}
