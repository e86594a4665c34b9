#!/usr/bin/env bash
# Reproduces the shipped weights: every model trained on synthetic S5P-like scenes with the
# commands below (2-core CPU, bf16 autocast). Run from the repository root:
#     bash weights/train_shipped.sh [RUN_DIR]
# Each run checkpoints after every epoch into RUN_DIR/<model>_band<b>/ and resumes when re-run.
# Finished weights and model cards are copied into weights/ and the pooch registry is updated.
set -euo pipefail
runs=${1:-runs}
common=(--tile 160 160 --synthetic-scenes 40 --validation-scenes 6 --noise-fraction 0.3
        --lr-patch 16 --lr-stride 4 --lr-margin 4 --autocast bfloat16 --residual signed
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
# bands of the same detector family. Settings used are recorded in each model card.
small=(--batch-size 4 --epochs 3 --steps-per-epoch 100)
full=(--batch-size 2 --epochs 6 --steps-per-epoch 50)
warm=(--batch-size 2 --epochs 2 --steps-per-epoch 30)
train s5dscr_s 3 "${small[@]}"
train s5dscr_s 7 "${small[@]}"
train s5dscr 3 "${full[@]}"
train s5dscr 7 "${full[@]}"
for band in 5 2 4 6 8; do train s5dscr_s "$band" "${small[@]}"; done
train s5dscr 5 "${warm[@]}" --init-from weights/s5dscr_band3.safetensors
train s5dscr 2 "${warm[@]}" --init-from weights/s5dscr_band3.safetensors
train s5dscr 8 "${warm[@]}" --init-from weights/s5dscr_band7.safetensors
train s5dscr 4 "${warm[@]}" --init-from weights/s5dscr_band3.safetensors
train s5dscr 6 "${warm[@]}" --init-from weights/s5dscr_band5.safetensors
