#!/bin/sh
# keepalived notify script for a ringvs director (docs/ha.md).
# usage: notify.sh EVENT RINGVS CONTROL [LOG]
#   EVENT    master | backup | fault | stop (keepalived's transition)
#   RINGVS   the ringvs binary; CONTROL its control socket
#   LOG      a file that gets one line per call: START_EPOCH EVENT ROLE rc=N
# master makes this director active; every other event makes it standby.
event=$1 ringvs=$2 control=$3 log=${4:-/dev/null}
case "$event" in
    master) role=active ;;
    backup | fault | stop) role=standby ;;
    *)
        echo "notify.sh: unknown event '$event'" >&2
        exit 2
        ;;
esac
start=$(date +%s.%N)
"$ringvs" adm --control "$control" --ha "$role"
rc=$?
echo "$start $event $role rc=$rc" >>"$log"
exit $rc
