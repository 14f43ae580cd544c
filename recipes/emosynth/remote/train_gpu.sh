#!/usr/bin/env bash
# Train the default voice's acoustic model on a GPU machine that cannot see the corpus or the internet.
#
# Run from the repository root there, with the feature store packed by pack_store.py in .pack/train.npz and the
# wheels the machine lacks (omegaconf, diffusers, importlib_metadata) in .whl/. Results land in $OUT
# (model.safetensors split into parts of 15 MiB, log.jsonl, the console log); join them here with
#   cat OUT/model.part_* > model.safetensors
# Budget: MINUTES of training (default 8) plus about a minute of setup; a SIGTERM after MINUTES + 70 s still
# ends training with a checkpoint.
set -uo pipefail
MINUTES=${MINUTES:-8}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee "$OUT/console.log") 2>&1
T0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, numba, numpy; print('torch', torch.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__, 'cuda', torch.cuda.is_available())"
python3 recipes/emosynth/remote/pack_store.py unpack .pack/train.npz /tmp/store || exit 1
echo "setup took $(( $(date +%s) - T0 )) s"

train() {  # train RUN_DIR MINUTES [extra --set ...]
    local run=$1 minutes=$2; shift 2
    (cd recipes/emosynth && timeout -s TERM $(( minutes * 60 + 70 )) python3 -m emovox.cli train acoustic \
        --config conf/acoustic.yaml --config conf/gpu.yaml --set data.store=/tmp/store \
        --set train.max_minutes="$minutes" --out "$run" "$@")
}
RUN=/tmp/run
T1=$(date +%s)
train $RUN "$MINUTES"
rc=$?
if [ $rc -ne 0 ] && [ $(( $(date +%s) - T1 )) -lt 120 ]; then
    echo "== the joint run failed early (rc $rc); retrying FastSpeech2 alone"
    RUN=/tmp/run_fs2
    train $RUN $(( MINUTES > 3 ? MINUTES - 2 : 1 )) --set diffusion.enabled=false
    rc=$?
fi
echo "training rc $rc after $(( $(date +%s) - T1 )) s"
cp $RUN/log.jsonl $RUN/config.yaml "$OUT"/ 2>/dev/null
if [ -f $RUN/model.safetensors ]; then
    split -b 15M -d $RUN/model.safetensors "$OUT/model.part_"
    sha256sum $RUN/model.safetensors | tee "$OUT/model.sha256"
fi
tail -3 $RUN/log.jsonl 2>/dev/null
echo "total $(( $(date +%s) - T0 )) s"
