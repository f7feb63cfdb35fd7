#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# PID 1 of the cgroup v2 VM (tests/vm/run-vm.py packs it as /init): mounts proc, sys and cgroup2,
# runs the scenarios and prints machine-readable lines on the serial console, then powers off.
#   AP-OUT case LINE / AP-ERR case LINE / AP-EXIT case N   a command's stdout, stderr, exit status
#   AP-RAW case key value                                  a raw fact read here (cpu.stat, ...)
#   AP-RESULT case ok|fail|skip detail                     a case judged here
#   AP-DONE                                                the last line
# The host (checks.py) judges what is not judged here.  Cgroups are named autoprocs-test-*.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
# /tmp stays the initramfs' own (writable): a tmpfs over it would hide a build tree below /tmp
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
. /etc/ap-vm.env
CLI=$AP_BUILD/daemon/autoprocs
DAEMON=$AP_BUILD/daemon/autoprocsd
EXAMPLE=$AP_BUILD/examples/autoprocs-example
LOAD=$AP_BUILD/tests/bench/throttle-load
CG=/sys/fs/cgroup
UNSHARE=/ul/unshare
SETPRIV=/ul/setpriv
ONLY=$(sed -n 's/.*ap\.only=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')

result() {
        local name=$1 status=$2
        shift 2
        echo "AP-RESULT $name $status $*"
}
raw() { echo "AP-RAW $1 $2 $3"; }
# Run one case's command: its output, errors and status go to the host.
cap() {
        local c=$1 rc
        shift
        "$@" >/tmp/out 2>/tmp/err </dev/null
        rc=$?
        sed "s/^/AP-OUT $c /" /tmp/out
        sed "s/^/AP-ERR $c /" /tmp/err
        echo "AP-EXIT $c $rc"
}
# incg CGROUP CMD...: run CMD as a member of $CG/CGROUP.
incg() {
        g=$1
        shift
        sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG/$g" "$@"
}
mkcg() {
        mkdir -p "$CG/$1" && echo "$2" >"$CG/$1/cpu.max"
}
wanted() {
        [ -z "$ONLY" ] && return 0
        for p in $ONLY; do
                case $1 in $p*) return 0 ;; esac
        done
        return 1
}
# wait_for FILE PATTERN SECONDS: poll until FILE has a line matching PATTERN.
wait_for() {
        i=0
        while [ $i -lt $(($3 * 10)) ]; do
                grep -q "$2" "$1" 2>/dev/null && return 0
                usleep 100000
                i=$((i + 1))
        done
        return 1
}
# busy SECONDS: one CPU-bound shell for SECONDS.
busy() {
        timeout "$1" sh -c 'while :; do :; done'
        return 0
}
subtree() { cat "$CG/$1cgroup.subtree_control" | tr ' ' ','; }
# Every autoprocs cgroup left anywhere (run's and the tests').
leftovers() { find $CG -name 'autoprocs-run-*' -type d | tr '\n' ' '; }

raw boot kernel "$(uname -r)"
raw boot cmdline "$(cat /proc/cmdline)"
if [ "$(cat /proc/self/cgroup)" = "0::/" ] && grep -qw cpu $CG/cgroup.controllers; then
        result boot ok "cgroup2 only, controllers: $(cat $CG/cgroup.controllers)"
else
        result boot fail "/proc/self/cgroup: $(cat /proc/self/cgroup | tr '\n' ' '); controllers: $(cat $CG/cgroup.controllers)"
fi
echo "+cpu +cpuset" >$CG/cgroup.subtree_control

# ---------------------------------------------------------------- detect
if wanted detect; then
        cap detect-root $CLI detect --json

        mkcg autoprocs-test-leaf "50000 100000"
        cap detect-leaf incg autoprocs-test-leaf $CLI detect --json
        cap detect-leaf-ceil incg autoprocs-test-leaf $CLI detect --json --policy ceil
        cap detect-leaf-text incg autoprocs-test-leaf $CLI detect

        mkcg autoprocs-test-parent "100000 100000"
        echo "+cpu" >$CG/autoprocs-test-parent/cgroup.subtree_control
        mkcg autoprocs-test-parent/child "150000 100000"
        cap detect-parent incg autoprocs-test-parent/child $CLI detect --json

        mkcg autoprocs-test-nest "200000 100000"
        echo "+cpu" >$CG/autoprocs-test-nest/cgroup.subtree_control
        mkcg autoprocs-test-nest/a "70000 100000"
        echo "+cpu" >$CG/autoprocs-test-nest/a/cgroup.subtree_control
        mkcg autoprocs-test-nest/a/b "max 100000"
        cap detect-nested incg autoprocs-test-nest/a/b $CLI detect --json

        mkcg autoprocs-test-cpuset "250000 100000"
        echo 0 >$CG/autoprocs-test-cpuset/cpuset.cpus
        cap detect-cpuset incg autoprocs-test-cpuset $CLI detect --json
        cap detect-cpuset-automaxprocs incg autoprocs-test-cpuset $CLI detect --json --policy automaxprocs

        mkcg autoprocs-test-p10ms "5000 10000"
        cap detect-period-10ms incg autoprocs-test-p10ms $CLI detect --json
        mkcg autoprocs-test-p1s "1500000 1000000"
        cap detect-period-1s incg autoprocs-test-p1s $CLI detect --json

        # A new cgroup namespace, the host's cgroup2 mount still in place: root shows as /..
        cap detect-cgroupns incg autoprocs-test-leaf $UNSHARE -C $CLI detect --json
        # The container view: new cgroup and mount namespaces, cgroup2 mounted again.
        cap detect-container incg autoprocs-test-leaf $UNSHARE -C -m sh -c \
                "umount $CG && mount -t cgroup2 none $CG && exec $CLI detect --json"
        # A limit above the namespace root cannot be seen (README limits).
        mkcg autoprocs-test-ctp "50000 100000"
        echo "+cpu" >$CG/autoprocs-test-ctp/cgroup.subtree_control
        mkcg autoprocs-test-ctp/app "max 100000"
        cap detect-container-above incg autoprocs-test-ctp/app $UNSHARE -C -m sh -c \
                "umount $CG && mount -t cgroup2 none $CG && exec $CLI detect --json"

        mkcg autoprocs-test-pid "25000 100000"
        sh -c 'echo $$ >"$0/cgroup.procs" && exec sleep 600' $CG/autoprocs-test-pid &
        spid=$!
        wait_for $CG/autoprocs-test-pid/cgroup.procs "^$spid\$" 10
        cap detect-pid $CLI detect --json --pid $spid
        kill $spid
        wait $spid 2>/dev/null

        cap detect-unpriv incg autoprocs-test-leaf $SETPRIV --reuid=1000 --regid=1000 --clear-groups \
                $CLI detect --json

        cap detect-cgroup-dir $CLI detect --json --cgroup $CG/autoprocs-test-leaf
        cap detect-cgroup-printed $CLI detect --json --cgroup /autoprocs-test-leaf
        cap detect-cgroup-missing $CLI detect --json --cgroup /nonexistent
fi

# ---------------------------------------------------------------- throttling and PSI vs raw files
if wanted stat; then
        mkcg autoprocs-test-thr "20000 100000"
        incg autoprocs-test-thr sh -c 'timeout 3 sh -c "while :; do :; done"; exit 0'
        # The bandwidth timer counts a period or two after the last task left: wait until still.
        prev=
        i=0
        while [ $i -lt 50 ]; do
                cur=$(cat $CG/autoprocs-test-thr/cpu.stat)
                [ "$cur" = "$prev" ] && break
                prev=$cur
                usleep 300000
                i=$((i + 1))
        done
        while read -r k v; do raw stat-throttling "$k" "$v"; done <$CG/autoprocs-test-thr/cpu.stat
        while read -r kind rest; do
                raw stat-throttling "$kind" "$rest"
        done <$CG/autoprocs-test-thr/cpu.pressure
        cap stat-throttling $CLI detect --json --cgroup $CG/autoprocs-test-thr
fi

# ---------------------------------------------------------------- exec
if wanted exec; then
        cap exec-ceil incg autoprocs-test-leaf $CLI exec --policy ceil -- \
                sh -c 'echo "GOMAXPROCS=$GOMAXPROCS AUTOPROCS_PROCS=$AUTOPROCS_PROCS"'
        cap exec-cpuset incg autoprocs-test-cpuset $CLI exec -- sh -c 'echo "GOMAXPROCS=$GOMAXPROCS"'
fi

# ---------------------------------------------------------------- autoprocs_init() follows cpu.max
if wanted init; then
        mkcg autoprocs-test-init "max 100000"
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' $CG/autoprocs-test-init \
                $EXAMPLE --seconds 120 --policy ceil --interval-ms 100 >/tmp/ex.out 2>/tmp/ex.err &
        epid=$!
        s=ok
        d="started at 2"
        wait_for /tmp/ex.out "^procs 2 " 60 || { s=fail; d="never reported procs 2"; }
        if [ $s = ok ]; then
                echo "50000 100000" >$CG/autoprocs-test-init/cpu.max
                if wait_for /tmp/ex.out "^procs 1 " 60; then d="$d, 1 after cpu.max 0.5"; else s=fail; d="$d, no procs 1 after cpu.max 0.5"; fi
        fi
        if [ $s = ok ]; then
                echo "max 100000" >$CG/autoprocs-test-init/cpu.max
                if wait_for /tmp/ex.out "^procs-changed 1 2 " 60; then d="$d, 2 again after max"; else s=fail; d="$d, not back to 2 after max"; fi
        fi
        kill $epid 2>/dev/null
        wait $epid
        rc=$?
        sed "s/^/AP-OUT init-follow /" /tmp/ex.out
        sed "s/^/AP-ERR init-follow /" /tmp/ex.err
        grep -q '^done ' /tmp/ex.out || { s=fail; d="$d; no clean shutdown (exit $rc)"; }
        result init-follow $s "$d"
fi

# ---------------------------------------------------------------- the daemon follows cpu.max
if wanted daemon; then
        mkcg autoprocs-test-dmn "50000 100000"
        sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' $CG/autoprocs-test-dmn $DAEMON --listen 127.0.0.1:9464 --target self \
                --target cgroup:$CG/autoprocs-test-dmn --interval 250ms >/tmp/d.log 2>&1 &
        dpid=$!
        scrape() {
                wget -q -O - http://127.0.0.1:9464/metrics 2>/dev/null | grep '^autoprocs_cpu_limit_cores' >/tmp/m.txt
                grep -q "$1" /tmp/m.txt
        }
        wait_metric() {
                i=0
                while [ $i -lt $(($2 * 4)) ]; do
                        scrape "$1" && return 0
                        usleep 250000
                        i=$((i + 1))
                done
                return 1
        }
        s=ok
        d=
        if wait_metric 'target="self"} 0.5$' 60; then d="0.5 served"; else s=fail; d="0.5 never served"; fi
        if [ $s = ok ]; then
                echo "150000 100000" >$CG/autoprocs-test-dmn/cpu.max
                if wait_metric 'target="self"} 1.5$' 30 && wait_metric 'target="cgroup:.*} 1.5$' 30; then
                        d="$d, 1.5 after cpu.max changed (self and cgroup target)"
                else
                        s=fail
                        d="$d, 1.5 not served after cpu.max changed"
                fi
        fi
        sed "s/^/AP-OUT daemon-follow /" /tmp/m.txt
        # Mount-table changes that change no answer must log nothing.
        mkdir -p /mnt/ap
        wait_for /tmp/d.log "autoprocsd: limit 1.500" 30 # the library's watcher of self saw it too
        n0=$(grep -c 'limit-changed\|mounts changed\|limit 1.5' /tmp/d.log)
        for k in 1 2 3; do
                mount -t tmpfs none /mnt/ap && usleep 400000 && umount /mnt/ap && usleep 400000
        done
        sleep 1
        n1=$(grep -c 'limit-changed\|mounts changed\|limit 1.5' /tmp/d.log)
        kill $dpid
        wait $dpid
        sed "s/^/AP-ERR daemon-quiet /" /tmp/d.log
        if [ "$n1" = "$n0" ]; then
                result daemon-quiet ok "3 mount/umount cycles: no log line ($n0 limit lines before)"
        else
                result daemon-quiet fail "3 mount/umount cycles logged $((n1 - n0)) limit lines"
        fi
        result daemon-follow $s "$d"
fi

# ---------------------------------------------------------------- autoprocs run
if wanted run; then
        before=$(cat $CG/cgroup.subtree_control)
        cap run-json $CLI run --cpus 0.5 --json -- $LOAD --procs 1 --workers 1 --seconds 1
        raw run-json left "$(leftovers)"
        # Without cpuset in the root's subtree_control, --cpuset must add it and take it away again.
        echo "-cpuset" >$CG/cgroup.subtree_control
        nocpuset=$(cat $CG/cgroup.subtree_control)
        cap run-cpuset $CLI run --cpus 0.5 --cpuset 0 --json -- sh -c 'grep Cpus_allowed_list /proc/self/status'
        raw run-cpuset left "$(leftovers)"
        raw run-cpuset subtree_before "$nocpuset"
        raw run-cpuset subtree_after "$(cat $CG/cgroup.subtree_control)"
        echo "+cpuset" >$CG/cgroup.subtree_control
        cap run-exit $CLI run --cpus 0.5 -- sh -c 'exit 3'
        raw run-exit left "$(leftovers)"
        cap run-unpriv $SETPRIV --reuid=1000 --regid=1000 --clear-groups $CLI run --cpus 0.5 -- true
        raw run-unpriv left "$(leftovers)"
        # A container: new cgroup and mount namespaces, cgroup2 remounted, us alone in its root.
        mkdir -p $CG/autoprocs-test-rc
        ctr_before=$(cat $CG/autoprocs-test-rc/cgroup.subtree_control)
        cap run-container incg autoprocs-test-rc $UNSHARE -C -m sh -c \
                "umount $CG && mount -t cgroup2 none $CG && exec $CLI run --cpus 0.5 --json -- sh -c 'cat /proc/self/cgroup; cat $CG\$(cut -d: -f3 /proc/self/cgroup)/cpu.max'"
        raw run-container left "$(find $CG/autoprocs-test-rc -mindepth 1 -type d | tr '\n' ' ')"
        raw run-container subtree_before "$ctr_before"
        raw run-container subtree_after "$(cat $CG/autoprocs-test-rc/cgroup.subtree_control)"
        # The same with another process in the container's root: refused in one line.
        cap run-container-busy incg autoprocs-test-rc $UNSHARE -C -m sh -c \
                "umount $CG && mount -t cgroup2 none $CG || exit 1; sleep 30 & $CLI run --cpus 0.5 -- true; rc=\$?; kill \$!; exit \$rc"
        raw run-container-busy left "$(find $CG/autoprocs-test-rc -mindepth 1 -type d | tr '\n' ' ')"
        raw run-container-busy subtree_before "$ctr_before"
        raw run-container-busy subtree_after "$(cat $CG/autoprocs-test-rc/cgroup.subtree_control)"
        raw run-json subtree_before "$before"
        raw run-json subtree_after "$(cat $CG/cgroup.subtree_control)"
fi

# ---------------------------------------------------------------- the project's real-cgroup Check suites
if wanted check; then
        for t in test-run test-init-cgroup; do
                exe=$AP_BUILD/tests/$t
                if [ ! -x "$exe" ]; then
                        result check-$t skip "$exe not built"
                        continue
                fi
                # As meson runs them (tests/meson.build: env AP_CLI / AP_EXAMPLE), slower under TCG.
                AP_CLI=$CLI AP_EXAMPLE=$EXAMPLE CK_DEFAULT_TIMEOUT=120 CK_TIMEOUT_MULTIPLIER=3 \
                        $exe >/tmp/ck.out 2>&1
                rc=$?
                sed "s/^/AP-OUT check-$t /" /tmp/ck.out
                case $rc in
                0) result check-$t ok "$(grep -E '^[0-9]+%' /tmp/ck.out | tail -1)" ;;
                77) result check-$t fail "skipped on v2 as root: $(tail -1 /tmp/ck.out)" ;;
                *) result check-$t fail "exit $rc: $(grep -E '^[0-9]+%' /tmp/ck.out | tail -1)" ;;
                esac
        done
fi

# Remove every test cgroup, deepest first.
for d in $(find $CG -depth -type d -name 'autoprocs-test-*') $(find $CG -depth -type d -path '*autoprocs-test-*'); do
        rmdir "$d" 2>/dev/null
done
left=$(find $CG -type d -name 'autoprocs-*' | tr '\n' ' ')
if [ -z "$left" ]; then result cleanup ok "no autoprocs-* cgroup left"; else result cleanup fail "left: $left"; fi
echo "AP-DONE"
sync
poweroff -f
