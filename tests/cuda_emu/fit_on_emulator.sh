#!/usr/bin/env bash
# train_knots end to end on the CUDA emulator (tests/cuda_emu/README.md): renders a small
# class-sorted file, trains `tiny` with --device cuda (the emulated build) and with --device cpu
# (the normal build) from the same seed, and requires the two histories to agree, then evaluates
# the GPU run's checkpoint on both devices. This is the only test of fit's whole GPU path: budget,
# context, reader delivery into device staging, the step with partial batches, checkpoints. Then
# the two budget outcomes: cuDNN offering no algorithm within the workspace the budget allows
# (fit falls back to the implicit GEMM and trains), and a budget too small for any plan (fit
# refuses with the report before anything is allocated or written). A diverging run stops at
# the step the CPU stops at. Last, a GPU run killed
# mid-epoch and resumed must end bit for bit where an uninterrupted one does.
# Usage: fit_on_emulator.sh EMU_TRAIN_KNOTS TRAIN_KNOTS MAKE_KNOTS WORK_DIR
set -euo pipefail
emu=$1 cpu=$2 make=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"

"$make" --per-class 100 --out k.h5 --size 32 --seed 3 >/dev/null
# 210 training images at batch 32: the last batch of each epoch is partial (18 images).
# --conv-algo heuristic: the runs compared digit for digit run the same convolutions without the
# cost of timing them on the emulator (timed choices are checked once, below, and by
# test_cuda_conv_autotune); the CPU ignores the flag.
args=(fit --data k.h5 --model tiny --image-shape 32,32,3 --epochs 2 --batch 32 --seed 5 --conv-algo heuristic)
"$emu" "${args[@]}" --device cuda --out gpu >gpu.log 2>&1 || { cat gpu.log; exit 1; }
"$cpu" "${args[@]}" --device cpu --out cpu >cpu.log 2>&1 || { cat cpu.log; exit 1; }

grep -q '"device": "cuda"' gpu/summary.json || { echo "gpu/summary.json does not say cuda"; exit 1; }
for f in history.csv summary.json best.h5 last.h5; do
  [ -s "gpu/$f" ] || { echo "gpu/$f is missing"; exit 1; }
done

# loss, acc, val_loss, val_acc of every epoch: equal to 1e-4 (float rounding in different orders).
paste -d, gpu/history.csv cpu/history.csv | awk -F, '
  NR == 1 { next }
  { for (i = 2; i <= 5; ++i) { d = $i - $(i + 8); if (d < 0) d = -d;
      if (d > 1e-4) { printf "epoch %s column %d: gpu %s cpu %s\n", $1, i, $i, $(i + 8); bad = 1 } } }
  END { if (NR < 3) { print "history has fewer than 2 epochs"; bad = 1 } exit bad }'

# The GPU run's checkpoint evaluated on each device: the same loss and accuracy.
"$emu" evaluate --checkpoint gpu/best.h5 --data k.h5 --device cuda --conv-algo heuristic --json >eval_gpu.json
"$cpu" evaluate --checkpoint gpu/best.h5 --data k.h5 --device cpu --json >eval_cpu.json
for key in accuracy loss; do
  g=$(grep "\"$key\"" eval_gpu.json | tr -dc '0-9.e-') c=$(grep "\"$key\"" eval_cpu.json | tr -dc '0-9.e-')
  awk -v g="$g" -v c="$c" -v k="$key" 'BEGIN { d = g - c; if (d < 0) d = -d;
    if (d > 1e-5) { printf "evaluate %s: gpu %s cpu %s\n", k, g, c; exit 1 } }'
done
echo "fit and evaluate on the emulated GPU agree with the CPU"

# The other allocation policies hold the same plan differently (a buffer per allocation; one block
# of a fraction of the card): the same training, to the last digit.
for alloc in growth fraction=0.001; do
  "$emu" "${args[@]}" --device cuda --alloc "$alloc" --out "alloc_$alloc" >"alloc_$alloc.log" 2>&1 ||
    { cat "alloc_$alloc.log"; exit 1; }
  cmp <(cut -d, -f1-5 gpu/history.csv) <(cut -d, -f1-5 "alloc_$alloc/history.csv") ||
    { echo "--alloc $alloc trained differently"; exit 1; }
  grep -q "\"alloc\": \"${alloc%%=*}" "alloc_$alloc/summary.json" || { echo "summary.json lacks alloc $alloc"; exit 1; }
done
echo "--alloc growth and fraction train as planned does"

# The stand-in cuDNN's algorithms each want 8 MiB of workspace; a 12 MiB budget lets fit plan
# cuDNN with at most 4 MiB, so building the model finds no algorithm; fit tries the budget's
# smaller rungs (1 MiB, none), then falls back to the implicit GEMM.
short=(fit --data k.h5 --model tiny --image-shape 32,32,3 --epochs 1 --steps-per-epoch 2 --batch 32 --device cuda)

# The default, --conv-algo measured: each convolution direction timed at start, the choice and
# its timings printed per layer and recorded in summary.json.
"$emu" "${short[@]}" --out measured >measured.log 2>&1 || { cat measured.log; exit 1; }
grep -qE '^conv_[0-9]+: fwd: .* ms' measured.log && grep -q '"conv_algorithms"' measured/summary.json &&
  grep -qE '"conv_[0-9]+": "fwd: ' measured/summary.json ||
  { echo "the timed convolutions are not reported"; cat measured.log; exit 1; }
echo "--conv-algo measured: the timed choices are printed and recorded"
short+=(--conv-algo heuristic)
KNOTNET_EMU_CUDNN_WORKSPACE=8388608 "$emu" "${short[@]}" --gpu-mem 12MiB --out fallback >fallback.log 2>&1 ||
  { cat fallback.log; exit 1; }
grep -q 'cuDNN offers no forward algorithm within a workspace of 4194304 bytes' fallback.log &&
  grep -q 'trying cuDNN with workspace up to 1.00 MiB instead' fallback.log &&
  grep -q 'trying cuDNN with no workspace instead' fallback.log &&
  grep -q 'every convolution runs on the implicit GEMM instead' fallback.log &&
  grep -q 'with the implicit GEMM for every convolution: fits' fallback.log &&
  [ -s fallback/summary.json ] || { echo "no fallback to the implicit GEMM:"; cat fallback.log; exit 1; }
echo "cuDNN without an algorithm under the budget's workspace: tried the smaller rungs, fell back to the implicit GEMM and trained"
# The same when the algorithms fit at the planned batch but not at some smaller one (the
# stand-in wants 8 MiB at odd batch sizes only): the plan covers every batch size, so fit falls
# back before training rather than failing at an epoch's partial last batch.
KNOTNET_EMU_CUDNN_WORKSPACE_ODD=8388608 "$emu" "${short[@]}" --gpu-mem 12MiB --out fallback_odd >fallback_odd.log 2>&1 ||
  { cat fallback_odd.log; exit 1; }
grep -q 'at a batch smaller than 32, the chosen algorithms need 8388608 bytes' fallback_odd.log &&
  grep -q 'every convolution runs on the implicit GEMM instead' fallback_odd.log &&
  [ -s fallback_odd/summary.json ] || { echo "no fallback for a smaller batch's workspace:"; cat fallback_odd.log; exit 1; }
echo "cuDNN needing more workspace at a smaller batch: fell back to the implicit GEMM and trained"

# A budget below every plan: refused with the report, nothing written.
if "$emu" "${short[@]}" --gpu-mem 2MiB --out refused >refused.log 2>&1; then
  echo "fit ran under a 2 MiB budget"; cat refused.log; exit 1
fi
grep -q 'does not fit the GPU memory budget' refused.log && grep -q 'largest batch that fits is' refused.log &&
  grep -q 'nothing was allocated and training did not start' refused.log ||
  { echo "the refusal lacks its report:"; cat refused.log; exit 1; }
[ ! -e refused/history.csv ] || { echo "a refused run wrote a history"; exit 1; }
echo "a budget below every plan: refused before training, with the report"

# A run that diverges (SGD at lr 1e10) stops at the same step on both devices, with the same
# message: the GPU's pipeline reads step k's loss after queueing step k+1, yet names step k and
# its update, and the loss kernel keeps the NaN (it once clamped it away and trained on).
for dev in cuda cpu; do
  tool=$emu; [ "$dev" = cpu ] && tool=$cpu
  if "$tool" "${args[@]}" --device "$dev" --optimizer sgd --lr 1e10 --out "nan_$dev" >"nan_$dev.log" 2>&1; then
    echo "a diverging run on $dev completed"; cat "nan_$dev.log"; exit 1
  fi
  grep -q '"status": "diverged"' "nan_$dev/summary.json" || { echo "nan_$dev/summary.json lacks diverged"; exit 1; }
done
g=$(grep -o 'the loss became .*(update [0-9]*)' nan_cuda.log) c=$(grep -o 'the loss became .*(update [0-9]*)' nan_cpu.log)
[ -n "$g" ] && [ "$g" = "$c" ] || { echo "diverged differently: gpu '$g', cpu '$c'"; exit 1; }
echo "a diverging run stops at the same step on both devices: $g"

# Killed with SIGKILL at step 10 (epoch 2 of 3: 7 steps an epoch), resumed: the same step log and
# the same weights as the uninterrupted run. The emulator shuffles threads and blocks differently
# in every process, so this also shows the GPU step does not depend on scheduling.
three=(fit --data k.h5 --model tiny --image-shape 32,32,3 --epochs 3 --batch 32 --seed 5 --device cuda --conv-algo heuristic)
"$emu" "${three[@]}" --out whole >whole.log 2>&1 || { cat whole.log; exit 1; }
set +e
KNOTNET_TEST_KILL_AT_STEP=10 "$emu" "${three[@]}" --out killed >killed.log 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || { echo "expected death by SIGKILL (137), got $rc"; cat killed.log; exit 1; }
"$emu" fit --resume killed >resumed.log 2>&1 || { cat resumed.log; exit 1; }
grep -q resuming resumed.log || { echo "the resumed run does not say so"; cat resumed.log; exit 1; }
cmp whole/batches.csv killed/batches.csv || { echo "the step logs differ"; exit 1; }
"$emu" evaluate --checkpoint whole/last.h5 --data k.h5 --device cuda --conv-algo heuristic --json >eval_whole.json
"$emu" evaluate --checkpoint killed/last.h5 --data k.h5 --device cuda --conv-algo heuristic --json >eval_killed.json
cmp <(grep -v checkpoint eval_whole.json) <(grep -v checkpoint eval_killed.json) ||
  { echo "the resumed run's weights differ"; exit 1; }
echo "a GPU run killed mid-epoch and resumed ends where the uninterrupted one does"
