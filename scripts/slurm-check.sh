#!/usr/bin/env bash
# A real single-node Slurm (Debian's slurm-wlm + munge, no systemd) runs specs/smoke.toml as a
# job array: `neuropos sweep --emit slurm`, sbatch, wait, `--collect`, and the summary must
# hold both seeds. Then the same script is submitted again and every task must find its run
# complete (the skip rule). Installs the packages if they are missing (root, apt).
#   scripts/slurm-check.sh            (NEUROPOS_BIN picks the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; }
fi
work=$(mktemp -d /tmp/neuropos-slurm.XXXXXX)
host=$(hostname -s)
conf=$work/slurm.conf
pids=()
cleanup() {
    for f in "$work"/slurmd.pid "$work"/slurmctld.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/state" "$work/spool"
cat > "$conf" <<CONF
ClusterName=neuropos
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$conf
mkdir -p /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    munged --force 2>/dev/null || true
    sleep 1
fi
munge -n | unmunge >/dev/null
slurmctld -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 1
done
sinfo -h -o "%N %T %c"

out=$work/out
args=(specs/smoke.toml --epochs 1 --train-limit 3000 --test-limit 1000 --out "$out" --jobs 2)
"$bin" sweep "${args[@]}" --emit slurm
submit() {
    local job
    job=$(sbatch --parsable "$out/sweep.sbatch")
    for _ in $(seq 300); do
        [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && return 0
        sleep 1
    done
    echo "job $job did not finish in 300 s" >&2
    squeue
    return 1
}
submit
cat "$out"/logs/*.out
"$bin" sweep "${args[@]}" --collect
python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["rows"]
assert rows[0]["seeds"] == [0, 1], rows[0]
assert all(r["mean"] is not None and r["std"] is not None for r in rows), rows
print("slurm: summary rows", [(r["name"], r.get("prune_percent"), round(r["mean"], 4)) for r in rows])
PY
# Resubmitted, every task must find its run complete.
rm -f "$out"/logs/*.out
submit
grep -h "already trained" "$out"/logs/*.out | wc -l | grep -qx 2
echo "slurm: the resubmitted array reused both runs"
