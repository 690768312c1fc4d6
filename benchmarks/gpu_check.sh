#!/usr/bin/env bash
# GPU check: the `gpu`-marked tests, then the full grid on one GPU, with per-phase times, peak GPU
# memory and utilization. Installs nothing: run it where dfbench and its dependencies import
# (`make install` on a machine with the registries; on a closed machine, carry the wheels).
#   bash benchmarks/gpu_check.sh [OUTDIR]      (well under 10 minutes on one modern GPU)
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${1:-gpu-check}
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
mkdir -p "$OUTDIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DFBENCH_CACHE="$OUTDIR/checkpoints"
"$PY" -c "import sys, torch, dfbench; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
  || { echo "gpu_check: needs a CUDA device and dfbench with a CUDA build of torch importable here"; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 1000 \
  > "$OUTDIR/gpu_samples.csv" 2>/dev/null &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null' EXIT

start=$(date +%s)
"$PY" -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tail -5
tests_s=$(( $(date +%s) - start ))

start=$(date +%s)
"$PY" -c "from dfbench.cli import main; main()" run --grid full --device cuda --out "$OUTDIR/results" --cache "$OUTDIR/checkpoints" \
  2>"$OUTDIR/run.stderr" | tail -40
status=$?
run_s=$(( $(date +%s) - start ))
kill $SAMPLER 2>/dev/null

echo "gpu tests: ${tests_s} s; full grid: ${run_s} s (exit ${status})"
"$PY" benchmarks/phases.py "$OUTDIR/results/results.sqlite" --wall "$run_s"
"$PY" - "$OUTDIR/gpu_samples.csv" <<'PYEOF'
import sys
rows = [line.split(", ") for line in open(sys.argv[1]) if line.count(",") == 2]
util = [float(r[1].split()[0]) for r in rows]
mem = [float(r[2].split()[0]) for r in rows]
if rows:
    print(f"GPU utilization: mean {sum(util) / len(util):.0f}%, peak memory used {max(mem):.0f} MiB "
          f"({len(rows)} samples, 1 s apart)")
PYEOF
exit $status
