#!/bin/sh
# keepalived track script for a ringvs director (docs/ha.md): succeeds while
# the director at CONTROL answers on its control socket in the role the
# notify script of this keepalived last gave it (CONTROL.role; any role
# before the first, or when the file is an earlier keepalived's). A
# director that should be standby and is not is made standby again; one that
# should be active and is not (its ringvs restarted, `ringvs adm --ha active`
# failed) fails the check, so that keepalived puts the group in FAULT and
# the peer takes over.
# usage: check.sh RINGVS CONTROL
ringvs=$1 control=$2
exec 9>"$control.lock"
# A notify script switching the role takes milliseconds: one that holds
# the lock longer has a ringvs that does not answer.
flock -w 0.5 9 || exit 1
stats=$("$ringvs" stats --json --control "$control" 2>/dev/null) || exit 1
role=$(echo "$stats" | grep -o '"role":"[a-z]*"' | cut -d'"' -f4)
read -r wanted by 2>/dev/null <"$control.role" || exit 0
[ "$by" = "$PPID" ] || exit 0
[ "$role" = "$wanted" ] && exit 0
[ "$wanted" = standby ] && exec "$ringvs" adm --control "$control" --ha standby
exit 1
