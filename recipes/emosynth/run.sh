#!/usr/bin/env bash
# emosynth: a synthetic emotional speech corpus from open Debian TTS voices + published emotion-prosody rules,
# then the default voice's acoustic model trained on it. Stages are idempotent (.done sentinels); rerun to resume.
#
#   recipes/emosynth/run.sh [--stage N] [--stop-stage N] [--workers N] [--hours H] [--data DIR] [--rules R]
#   (--rules: calibrated (default), tuned, literature or a rules table from `emovox tune-rules`)
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=100
workers=2
hours=6.2
seed=0
data=../../data/emosynth                       # the built corpus (outside git; no audio is committed)
exp=exp                                        # features, checkpoints, reports
sentences=../../../shared/data/text/ljspeech_sentences.txt   # public-domain text; any file works
voices="slt_hts flite_slt flite_rms flite_awb kal ked espeak_m"
rules=calibrated

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --sentences) sentences=$2; shift 2 ;;
    --voices) voices=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$exp"

run_stage() {  # run_stage N name command...
  local n=$1 name=$2; shift 2
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    if [ -f "$exp/.done.$n.$name" ]; then echo "stage $n ($name): done"; return 0; fi
    echo "stage $n ($name)"
    "$@"
    touch "$exp/.done.$n.$name"
  fi
}

# 0. voices: Debian main has festival (+festvox-us-slt-hts, festvox-kallpc16k, festvox-kdlpc16k), flite, espeak-ng.
check_voices() {
  emovox synthesize-corpus --list-voices
  for v in $voices; do
    emovox synthesize-corpus --list-voices | grep -q "^$v .*installed" || {
      echo "voice $v missing: sudo apt-get install festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k flite espeak-ng" >&2
      exit 1
    }
  done
}
run_stage 0 voices check_voices

# 1. corpus: neutral TTS -> WORLD analysis -> emotional renderings with the prosody rules calibrated on real
#    emotional speech (emovox/data_prep/calibrated_rules.json, remade with
#    `emovox eval corpus RAVDESS_MANIFEST --rules-out emovox/data_prep/calibrated_rules.json`; add
#    `--set rules=literature` for the literature-only rules). Resumable; same seed, same corpus.
# shellcheck disable=SC2086
run_stage 1 corpus nice -n 10 emovox synthesize-corpus --voices $voices --sentences "$sentences" \
  --hours "$hours" --seed "$seed" --out "$data" --workers "$workers" --set "rules=$rules"

# 2. check that the emotions are there: measured F0/range/rate/energy/tilt per emotion and ADV axis + plot
run_stage 2 eval emovox eval corpus "$data" --out "$exp/eval_corpus" --workers "$workers"

# 3. manifest: the generic corpus reader (metadata.csv: audio|text|speaker|emotion|intensity|a|d|v)
# held-out sentences: every rendering of a test sentence stays out of training
run_stage 3 prep emovox prep generic --root "$data" --out "$exp/manifest" --split-by text --dev 0.02 --test 0.04

# 4. features: mels (HiFi-GAN definition), pitch, energy, phonemes; resumable store. --loudness keep: every
#    voice's neutral speech is already at one level and the emotions' level differences are the point.
run_stage 4 features emovox features "$exp/manifest/manifest.jsonl" --out "$exp/features" --workers "$workers" \
  --loudness keep

# 5. acoustic model of the default voice (conf/acoustic.yaml: overrides for this corpus; resumes when rerun)
run_stage 5 acoustic emovox train acoustic --config conf/acoustic.yaml --set data.store="$exp/features" \
  --out "$exp/acoustic"

# 6. the diffusion decoder, second stage on the frozen FastSpeech2 of stage 5 (conf/denoiser.yaml: preconditioned
#    around the FastSpeech2 mel; CPU, about 35 minutes for 3,000 steps on 2 idle cores)
run_stage 6 denoiser emovox train acoustic --config conf/acoustic.yaml --config conf/denoiser.yaml \
  --set data.store="$exp/features" --set diffusion.init_from="$exp/acoustic/model.safetensors" --out "$exp/denoiser"

# 7. the emotion bank: neutral centre, per-emotion/per-speaker directions, ADV -> z map, stored in the model
run_stage 7 bank emovox bank "$exp/denoiser/model.safetensors" "$exp/features"

# 8. the speech-emotion recogniser the evaluation uses (train split only; never used by the synthesiser).
#    Raw log-mels (model.norm=none, now the default: per-utterance normalisation hides level and tilt cues) and
#    6 s crops: 0.73 on the held-out recordings, against 0.59 with per-utterance normalisation and 3,000 steps.
run_stage 8 ser emovox train ser --out "$exp/ser" --set data.manifest="$exp/manifest/manifest.jsonl" \
  --set data.feature_store="$exp/features" --set "data.splits=[train]" --set train.max_steps=6000 \
  --set model.norm=none --set data.crop_frames=512

# 9. evaluation of the voice on held-out sentences: report.md, report.json and plots
run_stage 9 eval_model emovox eval model "$exp/denoiser/model.safetensors" --corpus "$exp/features" \
  --ser "$exp/ser/model.safetensors" --out "$exp/eval_model"

# 10. the shipped file: float16 weight matrices, the bank in float32, slt_hts as the default speaker; the
#     diffusion decoder opt-in (--steps 4: with it, stage 9's polarity flips fell from 27 to 23 of 30) and
#     deterministic (noise scale 0: the lowest held-out L1 in `emovox bench synth --store`)
run_stage 10 ship emovox bank "$exp/denoiser/model.safetensors" "$exp/features" --half --default-speaker slt_hts \
  --default-steps 0 --noise-scale 0 -o ../../emovox/assets/default_voice.safetensors

# 11. the neural conversion path's content encoder: the voice's own phonemes read from a log-mel, trained on the
#     voice's alignments of this corpus (`emovox convert --method neural --neural-model exp/content`)
run_stage 11 content emovox train content --set data.store="$exp/features" \
  --set data.acoustic="$exp/denoiser/model.safetensors" --out "$exp/content"
