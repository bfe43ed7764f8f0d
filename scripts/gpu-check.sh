#!/usr/bin/env bash
# The GPU check: what the CPU tests cannot show, run on a real accelerator and compared with the
# CPU on the same checkpoints. For a lent GPU (the `device` tool), the self-hosted CUDA runner
# and the self-hosted Apple-silicon runner (.github/workflows/ci.yml):
#   scripts/gpu-check.sh [cuda|metal|cpu] [OUT_DIR]  (default: cuda, results/checks/gpu-check-<device>)
# (`cpu` runs the same script against the CPU itself: a dry run of the script, no GPU needed.)
# Builds `--features <device>` (CUDA: nvcc on PATH, else PyPI's as scripts/cuda-check.sh),
# then on the device:
#   1. trains every kind for one short epoch;
#   2. evaluates each at 0/50/90 % with compensation, on the device and on the CPU: every
#      level's accuracy within half a point; each level compensated in one call equal to the
#      level alone, exactly, as on the CPU (a shared bias snapshot fails this);
#   3. fine-tunes one with --init-from, trains one with --prune-during 80 (the selection on the
#      device), evaluates a self-pruning checkpoint (the kept count on the host) and a pruned
#      one further (`prune`, then `eval --prune 90`);
# and writes OUT_DIR/checks.jsonl (one line per comparison) and OUT_DIR/summary.json. Exits
# non-zero on the first comparison that fails, after writing what it has. Sized to finish in
# under 8 minutes on one H100 with a cold build (16 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda}
out=${2:-results/checks/gpu-check-$device}
case "$device" in
    cuda)
        source scripts/cuda-env.sh
        features=(--features cuda)
        ;;
    metal) features=(--features metal) ;;
    cpu) features=() ;;
    *)
        echo "usage: scripts/gpu-check.sh [cuda|metal|cpu] [OUT_DIR]" >&2
        exit 2
        ;;
esac
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
cargo build --release "${features[@]}" --bin neuropos
bin=target/release/neuropos
build_s=$(($(date +%s) - start))
export RUST_LOG=${RUST_LOG:-warn}
# 50 batches: enough to lift every kind well above chance, so the comparisons mean something
# (the CPU dry run takes fewer: NEUROPOS_GPU_CHECK_TRAIN=6000).
data=(--train-limit "${NEUROPOS_GPU_CHECK_TRAIN:-30000}" --test-limit 2000)
: >"$out/checks.jsonl"

# compare NAME DEVICE_JSON CPU_JSON: the rows' accuracies within half a point, same kept counts.
compare() {
    python3 - "$1" "$2" "$3" "$out/checks.jsonl" <<'PY'
import json, sys
name, dev, cpu, log = sys.argv[1:]
d, c = json.load(open(dev)), json.load(open(cpu))
ok = len(d) == len(c) and all(
    abs(a["accuracy"] - b["accuracy"]) <= 0.005 and a["kept_weights"] == b["kept_weights"]
    for a, b in zip(d, c))
rows = [{"prune_percent": a["prune_percent"], "device": a["accuracy"], "cpu": b["accuracy"],
         "kept_device": a["kept_weights"], "kept_cpu": b["kept_weights"]} for a, b in zip(d, c)]
open(log, "a").write(json.dumps({"check": name, "ok": ok, "rows": rows}) + "\n")
print(("ok   " if ok else "FAIL ") + name, rows)
sys.exit(0 if ok else 1)
PY
}

# levels_alone NAME CKPT: compensation at 50 and 90 in one call equals each level alone.
levels_alone() {
    local name=$1 ckpt=$2
    "$bin" eval "$ckpt" --device "$device" --prune 50,90 --compensate 1000 --test-limit 2000 \
        --format json >"$work/together.json"
    for p in 50 90; do
        "$bin" eval "$ckpt" --device "$device" --prune "$p" --compensate 1000 --test-limit 2000 \
            --format json >"$work/alone-$p.json"
    done
    python3 - "$name" "$work" "$out/checks.jsonl" <<'PY'
import json, sys
name, work, log = sys.argv[1:]
together = json.load(open(f"{work}/together.json"))
alone = [json.load(open(f"{work}/alone-{p}.json"))[0] for p in (50, 90)]
ok = [t["accuracy"] for t in together] == [a["accuracy"] for a in alone]
open(log, "a").write(json.dumps({"check": name, "ok": ok,
    "together": [t["accuracy"] for t in together], "alone": [a["accuracy"] for a in alone]}) + "\n")
print(("ok   " if ok else "FAIL ") + name)
sys.exit(0 if ok else 1)
PY
}

# eval_both NAME CKPT [EVAL ARGS…]: eval on the device and on the CPU, compared.
eval_both() {
    local name=$1 ckpt=$2
    shift 2
    "$bin" eval "$ckpt" --device "$device" --test-limit 2000 --format json "$@" >"$work/dev.json"
    "$bin" eval "$ckpt" --device cpu --test-limit 2000 --format json "$@" >"$work/cpu.json"
    compare "$name" "$work/dev.json" "$work/cpu.json"
}

for kind in mlp3d mlp3d-gaps mlp3d-relaxed mlp snn3d snn3d-gaps snn3d-relaxed snn; do
    "$bin" train --model "$kind" --hidden 256 --epochs 1 "${data[@]}" --device "$device" \
        --out "$work/$kind"
    eval_both "$kind: eval 0/50/90 with compensation" "$work/$kind" --prune 0,50,90 \
        --compensate 1000
    levels_alone "$kind: compensated levels in one call = each alone" "$work/$kind"
done

"$bin" train --init-from "$work/mlp3d" --epochs 1 "${data[@]}" --device "$device" \
    --out "$work/finetuned"
eval_both "mlp3d: fine-tuned with --init-from" "$work/finetuned"

"$bin" train --model mlp3d --hidden 256 --prune-during 80 --epochs 1 "${data[@]}" \
    --device "$device" --out "$work/during"
eval_both "mlp3d --prune-during 80: as stored" "$work/during"
eval_both "mlp3d --prune-during 80: pruned further to 90" "$work/during" --prune 90

"$bin" prune "$work/snn3d" --percent 80 --compensate 1000 "${data[@]}" --device "$device" \
    --out "$work/snn3d-p80"
eval_both "snn3d pruned 80 with compensation: as stored" "$work/snn3d-p80"
eval_both "snn3d pruned 80: pruned further to 90" "$work/snn3d-p80" --prune 90 --compensate 1000

python3 - "$out" "$device" "$build_s" "$(($(date +%s) - start))" <<'PY'
import json, sys, platform, subprocess
out, device, build_s, total_s = sys.argv[1:]
checks = [json.loads(l) for l in open(f"{out}/checks.jsonl")]
gpu = ""
if device == "cuda":
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
summary = {"device": device, "gpu": gpu or platform.platform(), "checks": len(checks),
           "failed": [c["check"] for c in checks if not c["ok"]],
           "build_s": int(build_s), "total_s": int(total_s),
           "command": f"scripts/gpu-check.sh {device} {out}"}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=1)
print(json.dumps(summary))
PY
