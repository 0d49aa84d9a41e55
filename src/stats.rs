//! Per-worker counters.
//!
//! Each worker counts into a plain array it owns ([`Counters`]) and copies it into
//! its [`SharedCounters`] with relaxed stores once per loop, so counting costs an
//! add, never an atomic read-modify-write. The control thread reads the shared copy
//! for `ringvs stats` and sums over workers. Per-real-server connection gauges work
//! the same way ([`DestGauges`]).

use std::sync::atomic::{AtomicU64, Ordering};

mod batch;
pub use batch::{BATCH_MAX_NS, BatchLatency, BatchRecorder, BatchSummary, batch_summary};

macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $var:ident => $name:literal, )*) => {
        /// Every counter a worker keeps. Names starting with `drop_` are drop reasons:
        /// every frame a worker does not forward or answer is counted under one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Ctr { $( $(#[doc = $doc])* $var, )* }

        impl Ctr {
            pub const ALL: &[Ctr] = &[$(Ctr::$var,)*];
            pub fn name(self) -> &'static str {
                match self { $(Ctr::$var => $name,)* }
            }
            pub fn doc(self) -> &'static str {
                match self { $(Ctr::$var => concat!($($doc),*).trim_ascii(),)* }
            }
        }
    };
}

counters! {
    /// Frames received on the external NIC.
    RxExt => "rx_ext",
    /// Frames received on the internal NIC.
    RxInt => "rx_int",
    /// Frames sent on the external NIC.
    TxExt => "tx_ext",
    /// Frames sent on the internal NIC.
    TxInt => "tx_int",
    /// Frames sent from the buffer they arrived in (AF_XDP, sockets on one
    /// UMEM): rewritten in place, their descriptor moved from an RX ring to a
    /// TX ring, no copy (frames handed over by another worker too). Counted
    /// in `tx_ext`/`tx_int` too.
    TxZeroCopy => "tx_zero_copy",
    /// Frames that arrived with a partial (pseudo-header only) L4 checksum.
    RxCsumPartial => "rx_csum_partial",
    /// Packets forwarded client → real server.
    FwdIn => "fwd_in",
    /// Packets forwarded real server → client.
    FwdOut => "fwd_out",
    /// Connections created.
    ConnNew => "conn_new",
    /// Datagrams of one-packet-scheduling services (`-o`) scheduled on their
    /// own: each counts as a connection of its real server (`--stats`), as in
    /// IPVS, but takes no place in the table.
    OpsScheduled => "ops_scheduled",
    /// FTP data connections the helper expects (`--ftp-ports`): a real
    /// server's `227`/`229` reply to a client's `PASV`/`EPSV` (rewritten to
    /// the VIP), or a client's `PORT`/`EPRT`.
    FtpExpected => "ftp_expected",
    /// FTP data connections opened as the helper expected them (counted in
    /// `conn_new` too, not in `--stats` Conns).
    FtpData => "ftp_data",
    /// FTP `227`/`229` replies rewritten to name the VIP (a retransmission
    /// counts again).
    FtpRewritten => "ftp_rewritten",
    /// FTP commands and replies the helper did not act on: a `PORT`/`EPRT`
    /// naming another address than the client's, a `227`/`229` naming
    /// another than the real server's, or no room left to expect or to keep
    /// a control connection's state. The packet itself goes on unchanged.
    FtpRefused => "ftp_refused",
    /// FTP control connections whose stream shift (after a rewritten reply
    /// changed length) came in a synced entry: what lets a director taking
    /// over go on shifting that stream.
    FtpSynced => "ftp_synced",
    /// New connections (and `-o` datagrams) of a persistent service
    /// scheduled without a template, so on their own, because the shard of
    /// the persistence templates their client's falls in was full (16384
    /// templates a shard, 1048576 a family): the client's next connection
    /// may go to another server. A deliberate cap: IPVS's
    /// `ip_vs_sched_persist` has none but memory.
    PersistUntemplated => "persist_untemplated",
    /// Datagrams (and new connections) of a `--pe sip` service scheduled
    /// without a template, so on their own: the SIP templates' share of the
    /// persistence templates (half of each shard) or the shard itself was
    /// full. The share keeps one client's Call-IDs from taking every
    /// service's templates.
    SipUntemplated => "sip_untemplated",
    /// Datagrams of no connection from a real server of a `--pe sip`
    /// service (its own requests, a BYE or a re-INVITE; with `-o` and `-p`,
    /// every reply too, as no connection holds them) that put their Call-ID's
    /// template on that server (with `-p`) and, without `-o`, made a
    /// connection from the VIP to the client (IPVS's `conn_out`).
    SipConnOut => "sip_conn_out",
    /// Connections expired.
    ConnExpired => "conn_expired",
    /// Transitory connections (SYN_RECV, TIME_WAIT, CLOSE, …, or idle UDP)
    /// evicted from a full table to make room for a new one.
    ConnEvicted => "conn_evicted",
    /// IPv6 frames addressed to us (or to a solicited-node multicast address),
    /// on either NIC; the IPv6 share of `rx_ext` + `rx_int`.
    RxIpv6 => "rx_ipv6",
    /// IPv6 packets forwarded client → real server (counted in `fwd_in` too).
    FwdIn6 => "fwd_in6",
    /// IPv6 packets forwarded real server → client (counted in `fwd_out` too).
    FwdOut6 => "fwd_out6",
    /// IPv6 connections created (counted in `conn_new` too).
    ConnNew6 => "conn_new6",
    /// ARP replies sent for our addresses.
    ArpReply => "arp_reply",
    /// ARP passed to the neighbor table without an answer: replies addressed to
    /// us, and ARP not to us (gratuitous, or a request or reply for a third
    /// host) claiming a known neighbor's address from a new MAC.
    ArpHeard => "arp_heard",
    /// ARP claiming a known neighbor's address from a new MAC (a move or a
    /// forgery): the neighbor table asks the old MAC by unicast and switches
    /// only if it stays silent for 750 ms.
    ArpClaim => "arp_claim",
    /// Claims of a known neighbor's address from a new MAC (`arp_claim`, an
    /// advertisement with the override flag) adopted: the old MAC answered
    /// none of the 3 unicast probes, so the neighbor moved (or a forger won
    /// against an owner that is gone). Counted by the control thread (under
    /// `control` in `--json`, `worker="control"` in `--metrics`).
    NeighMoved => "neigh_moved",
    /// Claims of a known neighbor's address from a new MAC ignored because
    /// the old MAC answered a probe: a forgery, or a duplicate address.
    /// Counted by the control thread.
    NeighRefuted => "neigh_refuted",
    /// Asks to resolve a new neighbor on the external NIC (a client)
    /// refused because its family's table was full: 4096 entries once the
    /// failed ones and those unused for 5 s were forced out. Traffic to that
    /// neighbor waits and is dropped unresolved. An ask on the internal NIC
    /// (a real server, its gateway) is never refused: it takes the place of
    /// the external entry used longest ago. Counted by the control thread.
    NeighTableFull => "neigh_table_full",
    /// Neighbor advertisements sent in answer to solicitations for our
    /// IPv6 addresses (the VIPs and the external address; the DIP).
    NdpReply => "ndp_reply",
    /// Neighbor discovery passed to the neighbor table without an answer:
    /// advertisements (not for our own addresses). A solicitation for our
    /// address whose sender is passed too counts as what its answer became
    /// (`ndp_reply`, `drop_standby`, `drop_tx_full`), as an ARP request does.
    NdpHeard => "ndp_heard",
    /// MLD queries (v1 or v2) about our multicast groups on the NIC (a
    /// general query, or one about the solicited-node group of one of our
    /// IPv6 addresses there) passed to the control thread, which answers
    /// each with reports of those groups at a random moment within the
    /// query's maximum response delay (RFC 3810 §6.2).
    MldQuery => "mld_query",
    /// MLD reports sent (one per frame, MLDv2 or MLDv1): the answers to
    /// `mld_query`, the unsolicited ones with each round of neighbor
    /// advertisements and for a new IPv6 VIP, and the periodic ones every
    /// 60 s. Counted by the control thread, which sends them: in the total
    /// of `ringvs stats` (under `control` in `--json`, `worker="control"`
    /// in `--metrics`), no worker's.
    MldReport => "mld_report",
    /// ICMP echo replies sent.
    IcmpEchoReply => "icmp_echo_reply",
    /// ICMP errors translated for a connection.
    IcmpErrorNat => "icmp_error_nat",
    /// ICMP errors from the client side about a DR or TUN connection, sent
    /// on to its real server as its packets go, untranslated (not counted in
    /// `icmp_error_nat`).
    IcmpErrorDirect => "icmp_error_direct",
    /// ICMP errors about a tunnel packet of ours (from a router on the way
    /// to a TUN real server) sent to the client as errors about its own
    /// packet, from the VIP ("fragmentation needed" with the MTU less the
    /// tunnel's overhead).
    IcmpErrorTunnel => "icmp_error_tunnel",
    /// Path MTUs learned for a tunnel endpoint that replaced another
    /// endpoint's live one: its set of the director's table (16 sets of 4
    /// endpoints) was full. The one replaced is learned again from its
    /// router's next error.
    PmtuReplaced => "pmtu_replaced",
    /// ICMP "fragmentation needed" (type 3 code 4, with the egress MTU) sent back
    /// to the sender of a DF packet too big for the egress NIC (the packet itself
    /// is counted in `drop_too_big`).
    IcmpFragNeeded => "icmp_frag_needed",
    /// "Fragmentation needed" errors not sent: no TX slot (path MTU errors
    /// are not rate-limited, as the kernel's `icmpv4_mask_allow`).
    IcmpFragNeededLimited => "icmp_frag_needed_limited",
    /// ICMPv6 packet-too-big sent for an IPv6 packet over the egress MTU
    /// (nobody fragments IPv6 on the path: the director must tell the sender).
    Icmp6TooBig => "icmp6_too_big",
    /// Packet-too-big not sent: no TX slot (as `icmp_frag_needed_limited`).
    Icmp6TooBigLimited => "icmp6_too_big_limited",
    /// ICMPv6 parameter problem sent back to the sender of an IPv6
    /// fragment the kernel's reassembly refuses with one (`ipv6_frag_rcv`):
    /// code 0 for M set and a length not a multiple of 8 (pointing at the
    /// payload length), or data ending past 65535 bytes (pointing at the
    /// fragment offset), the fragment counted in `drop_frag_invalid`; code 3
    /// (pointer 0) for a first fragment to us that cuts its header chain
    /// short (RFC 8200 §4.5, RFC 7112), counted in `drop_fragment`; code 2
    /// pointing at an unknown hop-by-hop option of a packet to us whose
    /// type says to tell the sender (`ip6_tlvopt_unknown`; a jumbo payload
    /// option, code 0, as `ipv6_hop_jumbo`), counted in `drop_ext_header`.
    Icmp6ParamProblem => "icmp6_param_problem",
    /// Parameter problems not sent: over the rate limit (as
    /// `icmp_time_exceeded_limited`) or no TX slot.
    Icmp6ParamProblemLimited => "icmp6_param_problem_limited",
    /// ICMP time exceeded (ICMPv6 hop limit exceeded) sent back to the sender
    /// of a packet the director would have forwarded, to a service or on a
    /// connection, whose TTL (hop limit) forwarding would take to 0, as the
    /// kernel's `decrement_ttl` (`ip_vs_xmit.c`) and `ip_forward` do: from the
    /// VIP to a client, so that `traceroute` to the VIP shows the director
    /// (the packet itself is counted in `drop_ttl`).
    IcmpTimeExceeded => "icmp_time_exceeded",
    /// Time exceeded errors not sent: over the rate limit (per worker,
    /// 1000/s with bursts of 50, as the kernel's `icmp_msgs_per_sec`) or no
    /// TX slot.
    IcmpTimeExceededLimited => "icmp_time_exceeded_limited",
    /// ICMP port unreachable (ICMPv6 port unreachable) sent from the VIP to a
    /// client whose new connection no real server could take (`drop_no_dest`:
    /// none available, all weight 0 or overloaded, a hash bucket empty), as
    /// IPVS's `ip_vs_leave` (`ip_vs_core.c`) answers it, so the client fails
    /// at once ("connection refused") instead of retrying.
    IcmpPortUnreach => "icmp_port_unreach",
    /// Port unreachables not sent: over the rate limit (as
    /// `icmp_time_exceeded_limited`) or no TX slot.
    IcmpPortUnreachLimited => "icmp_port_unreach_limited",
    /// ICMP host unreachable (ICMPv6 address unreachable) sent from the VIP
    /// to a client whose packet was dropped because its real server did not
    /// answer ARP (NDP) within 3 s (`drop_neigh_unresolved`), as the kernel's
    /// neighbor layer tells the sender of a packet IPVS queued for it
    /// (`arp_error_report`, `ndisc_error_report`): the client's connect fails
    /// ("no route to host") instead of retrying. A datagram the director cut
    /// into fragments gets one, about its first fragment; a TUN packet (IPv4
    /// in IPv4) one about the client's packet inside, as `ip_vs_in_icmp`
    /// relays the kernel's error about the outer packet; an IPv6 tunnel
    /// packet, or an IPv4 one carrying IPv6, none (as IPVS).
    IcmpHostUnreach => "icmp_host_unreach",
    /// Host unreachables not sent: over the rate limit or no TX slot.
    IcmpHostUnreachLimited => "icmp_host_unreach_limited",
    /// IPv4 fragments sent: a packet without DF (or a fragment received)
    /// over the egress MTU (a tunnel's overhead, a smaller MTU on the other
    /// NIC, the path MTU a router reported for a tunnel's endpoint) goes out
    /// in fragments, and so does a client-side ICMP error passed on through
    /// an IPv4 tunnel, DF or not, as the kernel fragments what IPVS sends
    /// (the packet is counted once, in `fwd_in`, `fwd_out`, ...). Fragments
    /// that wait for their next hop count here as they are queued (also
    /// in `neigh_queued`), as the kernel's FragCreates counts what it hands
    /// to the neighbor layer.
    TxFragments => "tx_fragments",
    /// Packets sent in fragments, each once all of its fragments went: a
    /// packet whose fragments waited for their next hop
    /// (`neigh_queued_fragmented`) when the last of them went, and never if
    /// one of them was dropped (`drop_tx_full`, `drop_neigh_unresolved`,
    /// `drop_neigh_queue`, `drop_standby`).
    TxFragmented => "tx_fragmented",
    /// Fragments of TCP or UDP datagrams received, IPv4 and IPv6 (`frag.rs`):
    /// each is forwarded on its own with its datagram's connection (counted
    /// again in `fwd_in`, `fwd_out`, ...). Counted again by each worker it is
    /// handed to. Not an IPv6 atomic fragment (offset 0, M clear), which is
    /// the whole packet it holds.
    RxFragments => "rx_fragments",
    /// Fragments held because their datagram's first fragment (the one with
    /// the ports) had not come yet, or because the worker owning their
    /// connection had no room in its handoff ring.
    FragHeld => "frag_held",
    /// Held fragments taken up again: sent on once their first came (and
    /// counted again where they went), or dropped (`drop_frag_expired`,
    /// `drop_frag_overlap`, `drop_frag_too_far`).
    FragReleased => "frag_released",
    /// IPv4 datagrams started over because their source sent 64
    /// (`--ipfrag-max-dist`) fragments of other datagrams between two of
    /// theirs (its count more than `ipfrag_max_dist` on; never with 0), as
    /// the kernel's `ip_frag_too_far` (counted by
    /// the worker tracking them): their held fragments dropped
    /// (`drop_frag_too_far`), the fragment that came starting them afresh
    /// (a first goes on, another waits for one).
    FragTooFar => "frag_too_far",
    /// Frames handed to the worker that owns their flow (ICMP errors; with
    /// `--io xdp` on several queues, any TCP/UDP frame RSS gave another worker).
    HandoffOut => "handoff_out",
    /// Frames received from another worker.
    HandoffIn => "handoff_in",
    /// Frames of `handoff_out` handed over by their descriptor, not copied
    /// (`--io xdp`: every worker's sockets on one UMEM).
    HandoffZeroCopy => "handoff_zero_copy",
    /// Frames queued while their next hop was being resolved. Such a frame
    /// counts in `fwd_in` (`fwd_out`, ...) only once it goes, or as a drop
    /// (`drop_tx_full`, `drop_neigh_unresolved`, `drop_neigh_queue`,
    /// `drop_standby`).
    NeighQueued => "neigh_queued",
    /// Packets cut into fragments here (`tx_fragments`) whose fragments
    /// were all queued while their next hop was being resolved (each in
    /// `neigh_queued`): such a packet counts in `tx_fragmented` (and
    /// `fwd_in`, ...) only once all of its fragments went.
    NeighQueuedFragmented => "neigh_queued_fragmented",
    /// Frames of `neigh_queued` dropped from their next hop's full queue
    /// (4 frames) to make room for a newer frame, as the kernel's
    /// `__neigh_event_send` drops the oldest of a full queue: the oldest
    /// packet goes, with the fragments cut here from it that follow it.
    /// Counted in `drop_neigh_queue` too.
    NeighEvicted => "neigh_evicted",
    /// Frames the kernel dropped before a worker saw them: our RX ring was full;
    /// with `--io xdp` also frames longer than a UMEM frame holds (1792 bytes,
    /// Ethernet header included; the kernel's `xsk_rcv_check`), which no MTU
    /// clamp keeps out and `drop_oversize` never sees, and in copy mode frames
    /// that found the fill ring empty (`xdp_fill_empty`).
    KernelDrop => "kernel_drop",
    /// `--io xdp`: RX or completion descriptors naming an address outside the
    /// UMEM (never from a sound kernel): dropped; an RX one's fill slot refilled.
    XdpBadAddr => "xdp_bad_addr",
    /// `--io xdp`: times the kernel wanted a frame from a fill ring and found
    /// it empty (`rx_fill_ring_empty_descs`, Linux 5.9 or later): the workers
    /// did not give frames back fast enough. In copy mode the frame it was for
    /// is also in `kernel_drop`; in zero-copy mode the driver posts no buffer
    /// and the NIC drops for want of one, in its own statistics only.
    XdpFillEmpty => "xdp_fill_empty",
    /// `--io xdp`: TX descriptors the kernel refused as invalid
    /// (`tx_invalid_descs`; never from a sound queue): not sent, and their
    /// frames never come back to the UMEM's free frames.
    XdpTxInvalid => "xdp_tx_invalid",
    /// Frames not sent, though counted in `fwd_in` (`fwd_out`, ...) and
    /// `tx_bytes_*`: with `--io ring`, refused before the kernel saw them,
    /// longer than a TX ring slot (never from a sound worker, which sends
    /// nothing past the NIC's MTU); with `--io xdp` in copy mode, taken by
    /// the kernel and refused by the device (`sendto` fails with EBUSY:
    /// `NET_XMIT_DROP` in `__xsk_generic_xmit`), also counted in
    /// `tx_ext`/`tx_int`.
    TxRejected => "tx_rejected",
    /// Ring frame shorter than the frame on the wire (GRO/GSO super-frame or snaplen).
    DropTruncated => "drop_truncated",
    /// Frame longer than the NIC's MTU allows.
    DropOversize => "drop_oversize",
    /// 802.1Q-tagged frame (VLANs are not supported).
    DropVlan => "drop_vlan",
    /// Unicast frame for another MAC address; a multicast frame that is not
    /// for us (an MLD query about a group not ours, say).
    DropNotForUs => "drop_not_for_us",
    /// Neither IPv4, ARP nor IPv6.
    DropEthertype => "drop_ethertype",
    /// Malformed ARP, or ARP for an address we do not own.
    DropArp => "drop_arp",
    /// Invalid neighbor discovery (RFC 4861 §7.1 checks: hop limit, code,
    /// length, options); from a multicast Ethernet source, or a solicitation
    /// whose source link-layer address is multicast; a solicitation for an
    /// address we do not own; an advertisement for one we do (another node's
    /// duplicate, or a forgery).
    DropNdp => "drop_ndp",
    /// Router solicitations, advertisements and redirects: ignored (the
    /// director's routes are configured, never learned).
    DropRouterAdvert => "drop_router_advert",
    /// MLD queries refused (RFC 3810 §6.2, the kernel's `__mld_query_work`):
    /// a source that is not link-local, a hop limit other than 1, no Router
    /// Alert option for MLD, a wrong checksum or length, a group that is
    /// not multicast, or a general query naming sources (outside MLDv1
    /// compatibility mode, which reads any query of 24 bytes or more as
    /// MLDv1, as the kernel does).
    DropMld => "drop_mld",
    /// Truncated IPv4 or IPv6 header, bad version, IHL, total or payload length.
    DropIpMalformed => "drop_ip_malformed",
    /// IPv4 header checksum wrong.
    DropIpChecksum => "drop_ip_checksum",
    /// IPv4 options present.
    DropIpOptions => "drop_ip_options",
    /// A fragment not forwarded: of another protocol than TCP, UDP or SCTP
    /// (ICMP other than an echo request to us, which is answered, ...; an
    /// IPv6 atomic fragment counts as the whole packet it holds, but for
    /// neighbor or router discovery, counted here as the kernel drops it,
    /// RFC 6980), or a
    /// first fragment too short for its whole TCP or UDP header, or for
    /// SCTP's common header and first chunk header (IPv6: one to us that
    /// cuts its header chain short, without its whole TCP or UDP header or
    /// any byte of SCTP, with `icmp6_param_problem` code 3), or one the
    /// ring marks with a partial checksum (which one fragment cannot
    /// complete; no sender fragments such a packet). (A later
    /// fragment of such a datagram to us cannot tell: it waits for a first
    /// fragment that never starts it, then counts in `drop_frag_expired`.)
    DropFragment => "drop_fragment",
    /// A fragment of an SCTP datagram whose connection changes its port (NAT
    /// to a real server port other than the virtual one): its CRC32c covers
    /// the whole datagram, which no one fragment holds, so it cannot be
    /// computed again (IPVS reassembles the datagram first). A first
    /// fragment that would open such a connection opens none.
    DropSctpFragPort => "drop_sctp_frag_port",
    /// A held fragment whose datagram's first fragment did not come within
    /// 30 s (IPv6: 60 s), or pushed out for a newer one when all 32 of a
    /// worker's places were taken.
    DropFragExpired => "drop_frag_expired",
    /// A fragment the kernel's reassembly refuses, and its datagram with it
    /// (`frag.rs`): IPv6 with M set and a length not a multiple of 8, or
    /// ending past 65535 bytes (its sender gets `icmp6_param_problem`); an
    /// IPv4 datagram that would be over 65535 bytes; an empty fragment; a
    /// last fragment ending before data already come or elsewhere than an
    /// earlier last, or a fragment past the last's end.
    DropFragInvalid => "drop_frag_invalid",
    /// A fragment overlapping part of the fragments of its datagram already
    /// forwarded (RFC 5722; the kernel does the same for IPv4): the datagram
    /// is refused. Also every fragment of a datagram so refused (or by
    /// `drop_frag_invalid`): those held, and those that come within its
    /// 30 s (IPv6: 60 s).
    DropFragOverlap => "drop_frag_overlap",
    /// A fragment whose data came already, in fragments forwarded one after
    /// the other (a duplicate): dropped alone, its datagram goes on, as the
    /// kernel's reassembly drops it.
    DropFragDup => "drop_frag_dup",
    /// A held fragment of an IPv4 datagram started over (`frag_too_far`):
    /// dropped as the kernel's `ip_frag_reinit` drops the queue's.
    DropFragTooFar => "drop_frag_too_far",
    /// IPv6 extension headers refused: a chain too long, hop-by-hop options
    /// not first, an unknown hop-by-hop option whose type says to discard
    /// (with `icmp6_param_problem` code 2 when its type says so and the
    /// packet is to us, as `ip6_tlvopt_unknown`), hop-by-hop options the
    /// kernel's `ip6_parse_tlv` refuses (more than 7 bytes of padding in a
    /// row, PadN data not zero, a router alert not 2 bytes long, more than
    /// 8 options besides padding), a routing header with segments left, or
    /// a truncated or inconsistent header length (destination options are
    /// the real server's to act on).
    DropExtHeader => "drop_ext_header",
    /// TTL (IPv6: hop limit) would reach 0 on forwarding (the sender of a
    /// packet the director would forward is told: `icmp_time_exceeded`).
    DropTtl => "drop_ttl",
    /// Not TCP, UDP, SCTP or ICMP (ICMPv6 over IPv6).
    DropProto => "drop_proto",
    /// Truncated or inconsistent TCP/UDP header, or an SCTP packet without a
    /// chunk.
    DropL4Malformed => "drop_l4_malformed",
    /// TCP or UDP checksum or SCTP CRC32c wrong, or a UDP checksum of 0 over
    /// IPv6 (RFC 8200
    /// §8.1: mandatory there); frames whose sender left it to an offload are
    /// completed instead, never checked.
    DropL4Checksum => "drop_l4_checksum",
    /// Not for a virtual service, a connection or the director (not a router).
    DropNoService => "drop_no_service",
    /// New connection (or a packet to a service whose TTL ran out: no ICMP
    /// error for it) from a source that cannot be a client here (ours, the
    /// internal segment, loopback, multicast, the external prefix's broadcast
    /// address, unreachable without a gateway); an echo request to us (each
    /// fragment of one), an ICMP error (neither translated nor passed on),
    /// or an IPv6 packet with an unknown hop-by-hop option, from a source
    /// the kernel drops before ICMP or IPVS sees it (IPv4: 0/8, loopback,
    /// multicast, limited or a prefix's broadcast, ours, as
    /// `ip_route_input_slow` and `__fib_validate_source`; IPv6:
    /// unspecified, loopback, multicast, as `ip6_rcv_core`, and link-local
    /// for an error to be forwarded from the inside, as `ip6_forward`).
    DropBadSource => "drop_bad_source",
    /// Packet of an unknown connection (not a SYN for TCP, or arrived from the inside).
    DropNoConn => "drop_no_conn",
    /// No real server available (none, or all with weight 0 or
    /// overloaded): a new connection's client is told
    /// (`icmp_port_unreach`). Also, untold: a packet whose chosen server
    /// the director cannot reach (not on the DIP's segment, no route); a
    /// packet of a connection the sync daemon installed that this director
    /// has no next hop for (a client off-link with no `--gateway`, a server
    /// off the DIP's prefix: its master's differ); an FTP data connection whose server is gone or which a persistent FTP
    /// service has no server for; a SIP datagram whose call's server is
    /// gone.
    DropNoDest => "drop_no_dest",
    /// Packets of a persistent service with `--pe sip` that were not
    /// scheduled because its engine read no Call-ID: not UDP, or no valid
    /// `Call-ID`/`i` header in the datagram (or in its first fragment), as
    /// IPVS's `ip_vs_sip_fill_param` fails and `ip_vs_sched_persist` gives up.
    DropNoCallId => "drop_no_callid",
    /// Connection table full.
    DropTableFull => "drop_table_full",
    /// Connection key taken by another connection.
    DropConnClash => "drop_conn_clash",
    /// A datagram of no connection from a real server address and port of a
    /// one-packet-scheduling or `--pe sip` NAT service that also serves
    /// another UDP service: which VIP it answers for cannot be told.
    DropOpsAmbiguous => "drop_ops_ambiguous",
    /// A fragment past the first of a one-packet-scheduling (`-o`) datagram
    /// whose first fragment's real server is gone since: removed from the
    /// service, or its id given to another server, which the fragment is
    /// not sent to (it goes only to the address and port the first went
    /// to). The datagram was scheduled, so its client is not told (unlike
    /// `drop_no_dest`).
    DropOpsGone => "drop_ops_gone",
    /// Malformed ICMP, or an ICMP message the director does not handle.
    DropIcmp => "drop_icmp",
    /// ICMP error about no connection we know, or about one of ours but not
    /// addressed where it goes (to its client from the inside, to its VIP
    /// from the outside).
    DropIcmpNoConn => "drop_icmp_no_conn",
    /// An ICMP error about a tunnel packet of ours not passed on to the
    /// client: over the rate limit of the errors the director makes (the
    /// limit `icmp_time_exceeded_limited` counts for its own; "fragmentation
    /// needed" is never limited).
    DropIcmpLimited => "drop_icmp_limited",
    /// Next hop did not answer ARP.
    DropNeighUnresolved => "drop_neigh_unresolved",
    /// No room to queue a frame for a next hop being resolved: the oldest
    /// frames of a full queue (`neigh_evicted`), a frame to a next hop that
    /// finds the worker's 16 queues taken by others, or a packet to cut into
    /// more fragments than a queue holds.
    DropNeighQueue => "drop_neigh_queue",
    /// TX ring full. Also counted by the control thread for an announcement
    /// (gratuitous ARP, unsolicited NA) or a probe (ARP request, neighbor
    /// solicitation) its own ring had no slot for (under `control` in
    /// `--json`, `worker="control"` in `--metrics`).
    DropTxFull => "drop_tx_full",
    /// Handoff ring to the owning worker full: as many frames in flight to it
    /// as the ring holds.
    DropHandoffFull => "drop_handoff_full",
    /// A handoff that could not be made or read: no ring to the owning
    /// worker, or a frame lent by descriptor that lies outside this worker's
    /// UMEM. Internal errors the senders' checks rule out: never expected.
    DropHandoffBad => "drop_handoff_bad",
    /// Frames handed to a worker after it stopped taking them (at exit):
    /// given back to their UMEM, not sent.
    DropHandoffStopped => "drop_handoff_stopped",
    /// Packet larger than the egress MTU that cannot go in fragments (with
    /// DF, the sender is told: `icmp_frag_needed`; IPv6: `icmp6_too_big`);
    /// an IPv4 packet without DF, or an ICMP error passed on through an IPv4
    /// tunnel, is fragmented instead (`tx_fragments`).
    DropTooBig => "drop_too_big",
    /// Packet of a connection whose real server was removed: a client packet
    /// (the connection kept, IPVS's `expire_nodest_conn` 0), or with
    /// `--expire-nodest-conn` a reply (the connection expired).
    DropNoDestConn => "drop_nodest_conn",
    /// Packets sent to a real server encapsulated (`-i`: IPIP, GUE or GRE):
    /// client packets (counted in `fwd_in` too) and client-side ICMP errors
    /// about the connection (in `icmp_error_direct` too).
    TunnelEncap => "tunnel_encap",
    /// Frames not answered or forwarded because the director is a standby
    /// (`--ha standby`): it answers no ARP or ping and forwards nothing, not
    /// even the frames it queued for their next hop while it was active
    /// (dropped when it became a standby, their clients not told).
    DropStandby => "drop_standby",
    /// Connection changes reported to the master sync daemon (a persistent
    /// connection's template counts as one more).
    SyncReported => "sync_reported",
    /// Connection changes not reported: the queue to the master sync daemon
    /// was full.
    SyncQueueFull => "sync_queue_full",
    /// Synced connections installed in this worker's table.
    SyncInstalled => "sync_installed",
    /// Synced connections this standby already had, their state updated.
    SyncUpdated => "sync_updated",
    /// Synced connections kept as they are: on an active director, those it
    /// already had (its own packets are newer than the message); on a
    /// standby, those a message names with another real server but not
    /// active, the late expiry of the connection this one replaced
    /// (`ip_vs_proc_conn`).
    SyncKept => "sync_kept",
    /// Synced connections that found no room (table full) or a clashing
    /// entry, or whose real server the worker's rules, at least as new as
    /// those the backup daemon resolved the message against, no longer have
    /// (the server removed since, its id maybe another's).
    SyncInstallFailed => "sync_install_failed",
    /// Synced connections whose real server the worker's rules did not have
    /// yet (the backup daemon resolved the message against rules published
    /// after the worker's last load): held back, with those queued behind,
    /// until the worker loads the rules again, then handled as any entry
    /// (installed, updated, kept, or counted in `sync_install_failed`).
    SyncInstallWaited => "sync_install_waited",
    /// Frames `ringvs capture` matched but could not copy because its reader was
    /// behind (the frame itself was handled as usual).
    CaptureDropped => "capture_dropped",
    /// Packets `ringvs trace` matched but could not describe because its
    /// reader was behind (the packet itself was handled as usual).
    TraceDropped => "trace_dropped",
    /// Bytes of the frames received on the external NIC (Ethernet header included).
    RxExtBytes => "rx_ext_bytes",
    /// Bytes of the frames received on the internal NIC (Ethernet header included).
    RxIntBytes => "rx_int_bytes",
    /// Bytes of the frames written to the external NIC's TX ring.
    TxExtBytes => "tx_ext_bytes",
    /// Bytes of the frames written to the internal NIC's TX ring.
    TxIntBytes => "tx_int_bytes",
}

impl Ctr {
    /// The counters the control thread keeps (`Shared::control`), not the
    /// workers.
    pub const CONTROL: &[Ctr] = &[
        Ctr::MldReport,
        Ctr::DropTxFull,
        Ctr::NeighMoved,
        Ctr::NeighRefuted,
        Ctr::NeighTableFull,
    ];

    /// The received-bytes counter of `nic`.
    #[inline]
    pub fn rx_bytes(nic: crate::Nic) -> Ctr {
        match nic {
            crate::Nic::Ext => Ctr::RxExtBytes,
            crate::Nic::Int => Ctr::RxIntBytes,
        }
    }

    /// The sent-bytes counter of `nic`.
    #[inline]
    pub fn tx_bytes(nic: crate::Nic) -> Ctr {
        match nic {
            crate::Nic::Ext => Ctr::TxExtBytes,
            crate::Nic::Int => Ctr::TxIntBytes,
        }
    }
}

// Trace records mark the counters a packet moved in a `u128`.
const _: () = assert!(Ctr::ALL.len() <= 128);

pub const NCTR: usize = Ctr::ALL.len();

/// A worker's own counters.
#[derive(Clone, Debug)]
pub struct Counters(pub [u64; NCTR]);

impl Default for Counters {
    fn default() -> Self {
        Self([0; NCTR])
    }
}

impl Counters {
    #[inline]
    pub fn inc(&mut self, c: Ctr) {
        self.0[c as usize] += 1;
    }

    #[inline]
    pub fn add(&mut self, c: Ctr, n: u64) {
        self.0[c as usize] += n;
    }

    #[inline]
    pub fn get(&self, c: Ctr) -> u64 {
        self.0[c as usize]
    }
}

/// The copy of a worker's counters that other threads read, and the size of
/// its IPv6 connection table (the published connections by state count both
/// families; this splits them for `ringvs stats` and `--metrics`).
#[derive(Debug)]
pub struct SharedCounters {
    ctr: [AtomicU64; NCTR],
    conns6: AtomicU64,
}

impl Default for SharedCounters {
    fn default() -> Self {
        Self {
            ctr: std::array::from_fn(|_| AtomicU64::new(0)),
            conns6: AtomicU64::new(0),
        }
    }
}

impl SharedCounters {
    pub fn publish(&self, c: &Counters) {
        for (s, v) in self.ctr.iter().zip(c.0.iter()) {
            s.store(*v, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> Counters {
        Counters(std::array::from_fn(|i| self.ctr[i].load(Ordering::Relaxed)))
    }

    /// Publish the number of IPv6 connections in the worker's table (the
    /// worker, next to [`SharedCounters::publish`]).
    pub fn publish_conns6(&self, n: usize) {
        self.conns6.store(n as u64, Ordering::Relaxed);
    }

    /// IPv6 connections of the worker, as last published.
    pub fn conns6(&self) -> u64 {
        self.conns6.load(Ordering::Relaxed)
    }
}

/// Traffic of one real server as IPVS counts it; defined in `config::listing`,
/// which listings read it from without importing `stats`.
pub use crate::config::listing::DestStats;

mod dest;
pub use dest::{DestGauges, DestTraffic, MAX_DESTS};

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn batch_times_are_summarized_in_microseconds() {
        use std::time::Duration;
        let mut r = BatchRecorder::default();
        for us in 1..=1000u64 {
            r.record(Duration::from_micros(us));
        }
        r.record(Duration::from_secs(100)); // clamped, not lost
        let p = BatchLatency::default();
        r.publish(&p);
        let s = batch_summary([&p.snapshot()]);
        assert_eq!(s.batches, 1001);
        assert!((s.p50_us - 500.0).abs() < 2.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 3.0, "{s:?}");
        assert!(s.max_us >= 9_990_000.0, "{s:?}");
        assert_eq!(batch_summary([]).batches, 0);
    }

    #[test]
    fn names_are_unique_and_documented() {
        let mut names: Vec<_> = Ctr::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NCTR);
        assert!(Ctr::ALL.iter().all(|c| !c.doc().is_empty()));
    }
}
