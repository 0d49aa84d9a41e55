#!/bin/sh
# keepalived notify script for a ringvs director (docs/ha.md).
# usage: notify.sh EVENT RINGVS CONTROL [LOG]
#   EVENT    master | backup | fault | stop (keepalived's transition), or
#            master_rx_lower_pri (a master heard a lower priority's advert:
#            a split brain ended)
#   RINGVS   the ringvs binary; CONTROL its control socket
#   LOG      a file that gets one line per call: START_EPOCH EVENT ROLE rc=N
# master and master_rx_lower_pri make this director active (again: it
# announces its addresses anew); every other event makes it standby. The
# role is also written to CONTROL.role, with keepalived's process (the
# parent of both scripts), where check.sh compares it with ringvs's own
# (both under the lock CONTROL.lock).
event=$1 ringvs=$2 control=$3 log=${4:-/dev/null}
case "$event" in
    master | master_rx_lower_pri) role=active ;;
    backup | fault | stop) role=standby ;;
    *)
        echo "notify.sh: unknown event '$event'" >&2
        exit 2
        ;;
esac
start=$(date +%s.%N)
exec 9>"$control.lock"
flock 9
echo "$role $PPID" >"$control.role"
"$ringvs" adm --control "$control" --ha "$role"
rc=$?
echo "$start $event $role rc=$rc" >>"$log"
exit $rc
