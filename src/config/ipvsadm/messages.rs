//! What the parser says besides a command: the `-h` and `-v` texts and the
//! kinds of error ipvsadm reports (usage errors, "try -h", and ringvs's
//! "not supported").

use super::super::AdmError;
use super::super::listing::IPVS_VERSION;

pub(super) fn usage_text() -> String {
    let p = "ringvs adm";
    format!(
        "{version}\
         Usage:\n\
         \x20 {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n\
         \x20 {p} -D virtual-service\n\
         \x20 {p} -C\n\
         \x20 {p} -R\n\
         \x20 {p} -S [-n]\n\
         \x20 {p} -a|e virtual-service -r server-address [options]\n\
         \x20 {p} -d virtual-service -r server-address\n\
         \x20 {p} -L|l [virtual-service] [options]\n\
         \x20 {p} -Z [virtual-service]\n\
         \x20 {p} --set tcp tcpfin udp\n\
         \x20 {p} --start-daemon {{master|backup}} [daemon-options]\n\
         \x20 {p} --stop-daemon {{master|backup}}\n\
         \x20 {p} --ha {{active|standby}}\n\
         \x20 {p} -h\n\
         \n\
         Commands:\n\
         Either long or short options are allowed.\n\
         \x20 --add-service     -A        add virtual service with options\n\
         \x20 --edit-service    -E        edit virtual service with options\n\
         \x20 --delete-service  -D        delete virtual service\n\
         \x20 --clear           -C        clear the whole table\n\
         \x20 --restore         -R        restore rules from stdin\n\
         \x20 --save            -S        save rules to stdout\n\
         \x20 --add-server      -a        add real server with options\n\
         \x20 --edit-server     -e        edit real server with options\n\
         \x20 --delete-server   -d        delete real server\n\
         \x20 --list            -L|-l     list the table\n\
         \x20 --zero            -Z        zero counters in a service or all services\n\
         \x20 --set tcp tcpfin udp        set connection timeout values\n\
         \x20 --start-daemon              start connection sync daemon\n\
         \x20 --stop-daemon               stop connection sync daemon\n\
         \x20 --ha active|standby         the director's role in an active/standby pair (ringvs)\n\
         \x20 --help            -h        display this help message\n\
         \n\
         virtual-service:\n\
         \x20 --tcp-service|-t  service-address   service-address is host[:port]\n\
         \x20 --udp-service|-u  service-address   service-address is host[:port]\n\
         \x20 --sctp-service    service-address   service-address is host[:port]\n\
         \x20 --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n\
         \n\
         Options:\n\
         \x20 --ipv6         -6                   fwmark entry uses IPv6\n\
         \x20 --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos,\n\
         \x20                                     the default scheduler is wlc.\n\
         \x20 --pe            engine              alternate persistence engine may be sip,\n\
         \x20                                     not set by default.\n\
         \x20 --persistent   -p [timeout]         persistent service\n\
         \x20 --netmask      -M netmask           persistent granularity mask\n\
         \x20 --real-server  -r server-address    server-address is host (and port)\n\
         \x20 --gatewaying   -g                   gatewaying (direct routing)\n\
         \x20 --ipip         -i                   ipip encapsulation (tunneling)\n\
         \x20 --masquerading -m                   masquerading (NAT) (default)\n\
         \x20 --tun-type      type                one of ipip|gue|gre,\n\
         \x20                                     the default tunnel type is ipip.\n\
         \x20 --tun-port      port                tunnel destination port\n\
         \x20 --tun-nocsum                        tunnel encapsulation without checksum\n\
         \x20 --tun-csum                          tunnel encapsulation with checksum\n\
         \x20 --tun-remcsum                       tunnel encapsulation with remote checksum\n\
         \x20 --weight       -w weight            capacity of real server\n\
         \x20 --u-threshold  -x uthreshold        upper threshold of connections\n\
         \x20 --l-threshold  -y lthreshold        lower threshold of connections\n\
         \x20 --connection   -c                   output of current IPVS connections\n\
         \x20 --timeout                           output of timeout (tcp tcpfin udp)\n\
         \x20 --daemon                            output of daemon information\n\
         \x20 --stats                             output of statistics information\n\
         \x20 --rate                              output of rate information\n\
         \x20 --exact                             expand numbers (display exact values)\n\
         \x20 --thresholds                        output of thresholds information\n\
         \x20 --persistent-conn                   output of persistent connection info\n\
         \x20 --tun-info                          output of tunnel information\n\
         \x20 --nosort                            disable sorting output of service/server entries\n\
         \x20 --sort                              does nothing, for backwards compatibility\n\
         \x20 --ops          -o                   one-packet scheduling\n\
         \x20 --numeric      -n                   numeric output of addresses and ports\n\
         \x20 --sched-flags  -b flags             scheduler flags (comma-separated)\n\
         \x20 --mark-dest proto:addr[/len][:ports]\n\
         \x20                                     -f service: the packets its mark is on (ringvs's stand-in\n\
         \x20                                     for an iptables MARK rule; ports 80,443,8000-8099)\n\
         \n\
         Daemon Options:\n\
         \x20 --syncid sid                        syncid for connection sync (default=0)\n\
         \x20 --sync-maxlen length                Max sync message length (master default=1472, 1452 over IPv6)\n\
         \x20 --mcast-interface interface         multicast interface for connection sync (default=eth0)\n\
         \x20 --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n\
         \x20 --mcast-port port                   UDP port (default=8848)\n\
         \x20 --mcast-ttl ttl                     Multicast TTL (default=1)\n\
         \n\
         Health checks (ringvs, with -A|E; keepalived's names and defaults, see docs/health.md):\n\
         \x20 --check tcp|http|https|udp|ping|dns|smtp|misc\n\
         \x20                                     check the real servers: connect, HTTP GET (over TLS),\n\
         \x20                                     a UDP datagram, an ICMP echo, a DNS query, SMTP HELO,\n\
         \x20                                     a command's exit status\n\
         \x20 --check-path path                   HTTP path to get (default /)\n\
         \x20 --check-status code[-code][,...]    HTTP status(es) expected (default 200)\n\
         \x20 --check-digest md5                  HTTP: the body's MD5, 32 hex digits (default none)\n\
         \x20 --check-virtualhost name            HTTP: the Host header (default address:port)\n\
         \x20 --check-sni                         https: the TLS handshake names the virtualhost\n\
         \x20 --check-http-protocol 1.0|1.0C|1.1  HTTP: the request's version; 1.0C and 1.1 say\n\
         \x20                                     Connection: close (default 1.0C)\n\
         \x20 --check-cert file --check-key file  https: the client certificate (PEM chain) and its\n\
         \x20                                     key (PEM, unencrypted) sent to a server that asks\n\
         \x20 --check-port port                   check this port of every server (default its own)\n\
         \x20 --check-ip address                  -a|e: check this server at this address (default its own)\n\
         \x20 --misc-path command                 misc: the command run for each server (-A|E; -a|e: its own)\n\
         \x20 --misc-timeout secs                 misc: seconds the command may run (default delay-loop)\n\
         \x20 --misc-dynamic                      misc: exit 2-255 passes with weight = exit - 2\n\
         \x20 --payload hex                       the UDP datagram's bytes (default none)\n\
         \x20 --require-reply[=hex]               UDP: an answer (starting so; x: any nibble) needed\n\
         \x20 --min-reply-length n                UDP: shortest answer matched (default 0)\n\
         \x20 --max-reply-length n                UDP: longest answer matched (default 255)\n\
         \x20 --dns-type type                     DNS: A|NS|CNAME|SOA|MX|TXT|AAAA|RRSIG|DNSKEY (default SOA)\n\
         \x20 --dns-name name                     DNS: the name asked for (default .)\n\
         \x20 --helo-name name                    SMTP: the name HELO gives (default smtpchecker.keepalived.org)\n\
         \x20 --delay-loop secs                   seconds between checks (default 60)\n\
         \x20 --connect-timeout secs              seconds a check may take (default 5)\n\
         \x20 --retry n                           retries before a server is down (default 1; dns 3, misc 0)\n\
         \x20 --delay-before-retry secs           seconds before a retry (default 1; http/https 3, dns: delay-loop)\n\
         \x20 --warmup secs                       a server's first check waits 0..secs, at random (default 0)\n\
         \x20 --inhibit-on-failure                weight 0 instead of removal when down\n\
         \x20 --alpha                             a server starts down until its first check passes\n\
         \n\
         Sorry server (ringvs, with -A|E; keepalived's sorry_server, see docs/health.md):\n\
         \x20 --sorry-server server-address       serves while the service is without its quorum\n\
         \x20 --sorry-gatewaying                  reached by direct routing (default masquerading)\n\
         \x20 --sorry-inhibit                     kept at weight 0 while not needed\n\
         \x20 --quorum weight                     it serves while the weight up is below this (default 1)\n\
         \x20 --hysteresis weight                 back at quorum+hysteresis, out below quorum-hysteresis\n\
         \n\
         Notify scripts (ringvs; keepalived's, run without a shell, see docs/health.md):\n\
         \x20 --notify-up command                 -a|e: run when the real server comes back up\n\
         \x20 --notify-down command               -a|e: run when its check takes it out\n\
         \x20 --quorum-up command                 -A|E: run when the service gains its quorum\n\
         \x20 --quorum-down command               -A|E: run when the service loses it\n\
         \x20 --notify-up-user user[:group]       -a|e: run --notify-up as this user (--notify-down-user too)\n\
         \x20 --quorum-up-user user[:group]       -A|E: run --quorum-up as this user (--quorum-down-user too)\n\
         \x20 --misc-path-user user[:group]       -A|E, -a|e: run that --misc-path as this user\n\
         \n\
         File checks (ringvs, with -a|e; keepalived's FILE_CHECK, see docs/health.md):\n\
         \x20 --file-check name                   a track_file the server follows (repeatable; -e\n\
         \x20                                     without any keeps the server's; '': none)\n\
         \x20 --file-path path                    that file-check's file (its number votes)\n\
         \x20 --file-weight weight                that file-check's weight (default 1; 0: up or down)\n\
         \x20 --file-reverse                      that file-check's value counts the other way\n\
         \x20 --file-inhibit                      weight 0 instead of removal when a file says down\n",
        version = version_text()
    )
}

pub(super) fn version_text() -> String {
    format!(
        "ringvs {} (ipvsadm-compatible, IPVS v{IPVS_VERSION})\n",
        env!("CARGO_PKG_VERSION")
    )
}

pub(super) fn try_help() -> AdmError {
    AdmError::Option("Try `ringvs adm -h' or 'ringvs adm --help' for more information.".into())
}

pub(super) fn unsupported(what: &str) -> AdmError {
    AdmError::Unsupported(format!("ringvs does not support {what}"))
}

pub(super) fn usage(msg: impl Into<String>) -> AdmError {
    AdmError::Usage(msg.into())
}
