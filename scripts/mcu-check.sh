#!/usr/bin/env bash
# The exported C model on a Cortex-M4: QEMU's mps2-an386 board (FPU, semihosting), firmware
# built from mcu/ with the model and the first 100 MNIST test images compiled in. Checks every
# class against the host build of the same export, and prints one JSON line per model and
# precision: flash and RAM of the model's own object file (its code and numbers, no harness),
# the stack the firmware used, and instructions per image (QEMU's -icount shift=0 makes the
# virtual clock count instructions; SysTick runs at 25 MHz of it, one tick = 40 instructions:
# ../shared/notes/mcu-qemu.md). Installs Debian's gcc-arm-none-eabi, libnewlib-arm-none-eabi and
# qemu-system-arm if missing.
#   scripts/mcu-check.sh [BINARY] > results/deploy/mcu.json
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-./target/release/neuropos}")
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    pkgs="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $pkgs >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $pkgs >/dev/null; }
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=100
# The test images, raw IDX: all of them for the host's accuracy, the first 100 for the board;
# and their labels.
python3 - "$work" "$images" <<'PY'
import gzip, sys
work, n = sys.argv[1], int(sys.argv[2])
raw = gzip.open("data/mnist/t10k-images-idx3-ubyte.gz").read()
open(f"{work}/all-idx3-ubyte", "wb").write(raw)
head = bytearray(raw[:16]); head[4:8] = n.to_bytes(4, "big")
open(f"{work}/images-idx3-ubyte", "wb").write(bytes(head) + raw[16:16 + 784 * n])
labels = gzip.open("data/mnist/t10k-labels-idx1-ubyte.gz").read()[8:]
open(f"{work}/labels.txt", "w").write("\n".join(str(b) for b in labels) + "\n")
PY
arch="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
run_one() {
    local name=$1 precision=$2 dir="$work/$1-$2"
    "$bin" export "checkpoints/$name" --format c --precision "$precision" --out "$dir" >/dev/null
    cc -std=c99 -O2 -Wall -Wextra -Werror -o "$dir/host" "$dir/example.c" "$dir/neuropos_model.c" -lm
    "$dir/host" "$work/all-idx3-ubyte" > "$dir/host-all.txt"
    head -n "$images" "$dir/host-all.txt" > "$dir/host.txt"
    python3 - "$work/images-idx3-ubyte" "$dir/host.txt" "$images" > "$dir/images.h" <<'PY'
import sys
raw = open(sys.argv[1], "rb").read()[16:]
host = [int(l) for l in open(sys.argv[2])]
n = int(sys.argv[3])
print(f"#define IMAGES {n}")
print("static const unsigned char image_pixels[IMAGES][784] = {")
for i in range(n):
    print("  {" + ",".join(str(b) for b in raw[784 * i:784 * (i + 1)]) + "},")
print("};")
print("static const int host_class[IMAGES] = {" + ",".join(map(str, host)) + "};")
PY
    # shellcheck disable=SC2086
    arm-none-eabi-gcc $arch -std=c99 -O2 -Wall -Wextra -Werror -c -o "$dir/model.o" "$dir/neuropos_model.c"
    # shellcheck disable=SC2086
    arm-none-eabi-gcc $arch -O2 -nostartfiles --specs=rdimon.specs -T mcu/link.ld -I "$dir" \
        -o "$dir/fw.elf" mcu/startup.c mcu/main.c "$dir/model.o" -lm
    timeout 600 qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -semihosting \
        -icount shift=0 -kernel "$dir/fw.elf" > "$dir/qemu.txt"
    python3 - "$name" "$precision" "$dir" "$work/labels.txt" >> "$work/rows.jsonl" <<'PY'
import json, re, subprocess, sys
name, precision, d, labels = sys.argv[1:5]
out = open(f"{d}/qemu.txt").read()
m = re.search(r"images (\d+) mismatches (\d+) ticks (\d+) stack (\d+)", out)
if not m:
    sys.exit(f"{name} {precision}: the firmware printed no summary:\n{out[-2000:]}")
n, mismatches, ticks, stack = map(int, m.groups())
board = [int(c) for c in re.findall(r"image \d+ class (\d+)", out)]
truth = [int(l) for l in open(labels)]
host = [int(l) for l in open(f"{d}/host-all.txt")]
size = subprocess.run(["arm-none-eabi-size", "-A", f"{d}/model.o"], capture_output=True, text=True).stdout
sections = {l.split()[0]: int(l.split()[1]) for l in size.splitlines() if l.startswith(".")}
flash = sum(v for k, v in sections.items() if k.startswith((".text", ".rodata")))
code = sum(v for k, v in sections.items() if k.startswith(".text"))
ram = sum(v for k, v in sections.items() if k.startswith((".data", ".bss")))
print(json.dumps({
    "model": name, "precision": precision, "images": n, "mismatches_with_host": mismatches,
    "board_accuracy": sum(a == b for a, b in zip(board, truth)) / n,
    "host_test_accuracy": sum(a == b for a, b in zip(host, truth)) / len(truth),
    "model_flash_bytes": flash, "model_code_bytes": code, "model_static_ram_bytes": ram,
    "firmware_stack_bytes": stack, "instructions_per_image": round(ticks * 40 / n),
    "board": "qemu mps2-an386 (Cortex-M4F), -icount shift=0, arm-none-eabi-gcc -O2",
}))
if mismatches:
    sys.exit(f"{name} {precision}: {mismatches} of {n} classes differ from the host's")
PY
    echo "$name $precision: done" >&2
}
for model in mlp3d mlp3d-pd80 snn3d mlp-h14; do
    for precision in f32 f16 int8; do
        run_one "$model" "$precision"
    done
done
# The dense network of the same width, 1,628,170 numbers: at f16 and int8 it fits the board's
# 4 MB of code memory (not a 1 MB part); at f32 (6.5 MB) it does not, so that row is absent.
run_one mlp-h2048 f16
run_one mlp-h2048 int8
python3 -c 'import json, sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])], indent=1))' \
    "$work/rows.jsonl"
