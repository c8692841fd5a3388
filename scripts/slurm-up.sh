#!/usr/bin/env bash
# Starts a one-node SLURM cluster on localhost (munged, slurmctld, slurmd) for
# `denovo sweep --slurm` and its integration test (DENOVO_SLURM=1). Debian's slurm-wlm and
# munge must be installed (`apt-get install -y slurm-wlm munge`); run as root (a container
# is fine). Idempotent: daemons already running are left alone. Config: /etc/slurm/slurm.conf
# (written here; an existing one is replaced only when it was written by this script).
set -euo pipefail

for bin in munged slurmctld slurmd sbatch sinfo; do
    command -v "$bin" >/dev/null || { echo "slurm-up: $bin not found; apt-get install -y slurm-wlm munge" >&2; exit 1; }
done

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /var/lib/munge /var/log/munge
chown -R munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge 2>/dev/null || true

if [ ! -f /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! pgrep -x munged >/dev/null; then
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
    else
        /usr/sbin/munged --force
    fi
fi

if [ ! -f "$conf" ] || grep -q '^# written by scripts/slurm-up.sh' "$conf"; then
    cat > "$conf" <<CONF
# written by scripts/slurm-up.sh: a one-node cluster on localhost for denovo's tests
ClusterName=denovo
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MaxArraySize=100000
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    # slurmd 22.05 loads a cgroup plugin even with proctrack/linuxproc and task/none (it
    # has no `CgroupPlugin=disabled`); nothing is constrained, systemd is not asked.
    cat > /etc/slurm/cgroup.conf <<CGROUP
# written by scripts/slurm-up.sh
CgroupPlugin=autodetect
CgroupMountpoint=/sys/fs/cgroup
IgnoreSystemd=yes
ConstrainCores=no
ConstrainRAMSpace=no
CGROUP
fi

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd

for _ in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
        sinfo
        exit 0
    fi
    sleep 1
done
echo "slurm-up: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo >&2 || true
tail -n 20 /var/log/slurm/slurmd.log >&2 || true
exit 1
