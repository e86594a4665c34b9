#!/usr/bin/env bash
# Reproduces the shipped weights: every model trained on synthetic S5P-like scenes with the
# commands below (2-core CPU). Run from the repository root:
#     bash weights/train_shipped.sh [RUN_DIR]
# Each run checkpoints after every epoch into RUN_DIR/<model>_band<b>/ and resumes when re-run.
# Finished weights and model cards are copied into weights/ and the pooch registry is updated.
set -euo pipefail
runs=${1:-runs}
common=(--tile 160 160 --synthetic-scenes 40 --validation-scenes 6 --noise-fraction 0.3
        --lr-patch 16 --lr-stride 4 --lr-margin 4 --residual signed
        --validation-patches 48)

train() {  # train MODEL BAND [extra args...]
    local model=$1 band=$2; shift 2
    local out="$runs/${model}_band${band}"
    if [ -f "weights/${model}_band${band}.safetensors" ] && [ -z "${RETRAIN:-}" ]; then
        echo "skip ${model} band ${band}: weights/${model}_band${band}.safetensors exists"; return
    fi
    echo "$(date -u +%FT%TZ) train ${model} band ${band}"
    python -m xr_s5sr.train --band "$band" --model "$model" --out "$out" "${common[@]}" "$@"
    cp "$out/${model}_band${band}.safetensors" "$out/${model}_band${band}.json" weights/
    python -c "from xr_s5sr.weights import update_registry; update_registry('weights', 'xr_s5sr/registry.txt')"
}

# Budget of one 2-core CPU session (shared with other work): short runs, warm starts between
# bands of the same detector family. Settings used are recorded in each model card (the first
# two S5-DSCR-S runs, bands 3 and 7, used --epochs 4).
# bf16 autocast speeds up S5-DSCR-S; for S5-DSCR with 64x64 HR patches PyTorch 2.13's CPU bf16
# backward was ~15x slower than float32 on this machine, so S5-DSCR trains in float32.
small=(--batch-size 4 --epochs 3 --steps-per-epoch 100 --autocast bfloat16)
full=(--batch-size 2 --epochs 3 --steps-per-epoch 50)
# Warm starts from the model of a band with the same channel count (and, for bands 3-6, the
# same GNyq): short runs on fresh scenes of the new band.
warm_small=(--batch-size 4 --epochs 1 --steps-per-epoch 100 --autocast bfloat16 --synthetic-scenes 16)
warm=(--batch-size 2 --epochs 3 --steps-per-epoch 30 --synthetic-scenes 16)
train s5dscr_s 3 "${small[@]}"
train s5dscr_s 7 "${small[@]}"
train s5dscr 3 "${full[@]}"
train s5dscr 7 "${full[@]}"
for band in 5 4 6 2; do
    train s5dscr_s "$band" "${warm_small[@]}" --init-from weights/s5dscr_s_band3.safetensors
done
train s5dscr_s 8 "${warm_small[@]}" --init-from weights/s5dscr_s_band7.safetensors
for band in 5 4 6 2; do
    train s5dscr "$band" "${warm[@]}" --init-from weights/s5dscr_band3.safetensors
done
train s5dscr 8 "${warm[@]}" --init-from weights/s5dscr_band7.safetensors
