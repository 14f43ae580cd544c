# shellcheck shell=bash disable=SC2154  # recipe, corpus, data: set by the run.sh that sources this file
# The stage runner every corpus recipe sources (recipes/<name>/run.sh). Each run.sh sets what is particular to its
# corpus, then calls `parse_args "$@"` and `run_standard_stages`:
#
#   recipe=ravdess                 # name in the registry (`emovox recipes`)
#   corpus=ravdess                 # `emovox prep` parser
#   data=/path/to/RAVDESS          # default --data
#   prep_opts=(--split-by speaker) # extra `emovox prep` options
#   sample_text="Dogs are sitting by the door."   # the sentence the packaged model says in stage 10
#
# Stages (each skipped when its .done sentinel exists in $exp; rerun the same command to resume):
#    0 prepare   corpus -> manifest ($exp/data)             6 vocoder   optional HiFi-GAN fine-tuning (--vocoder-ft)
#    1 features  mels, F0, energy, phonemes ($exp/features) 7 evc       emotional voice conversion model
#    2 pseudo_adv ADV for label-only clips (--pseudo-adv)   8 ser       the recogniser the evaluation uses
#    3 acoustic  FastSpeech2 + emotion space                9 eval      emovox eval model -> $exp/eval/report.md
#    4 denoiser  the diffusion decoder (second stage)      10 package   $exp/package, loaded by `emovox synth --model`
#    5 bank      the emotion bank (directions, ADV map)
#
# Options: --stage N --stop-stage N --data DIR --exp DIR --workers N --conf FILE (more YAML overrides for stages
# 3, 4; repeatable) --tiny (miniature models and steps: a smoke run) --vocoder-ft --pseudo-adv --no-denoiser
# --evc-corpus DIR --eval-opts "ARGS". Multi-GPU training: NGPU=N run.sh … (torchrun, one process per GPU).

set -euo pipefail

common_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe_dir=$(cd "$(dirname "$0")" && pwd)

stage=0
stop_stage=100
exp=${exp:-$recipe_dir/exp}
workers=${workers:-2}
tiny=false
vocoder_ft=${vocoder_ft:-false}
pseudo_adv=${pseudo_adv:-false}
denoiser=${denoiser:-true}
evc_corpus=${evc_corpus:-$recipe_dir/../../data/emosynth}  # parallel renderings from recipes/emosynth stage 1
eval_opts=${eval_opts:-}
extra_conf=()
NGPU=${NGPU:-1}
[ -n "${prep_opts+set}" ] || prep_opts=()
[ -n "${features_opts+set}" ] || features_opts=()
default_speaker=${default_speaker:-}
sample_text=${sample_text:-"The quick brown fox jumps over the lazy dog."}
sample_emotion=${sample_emotion:-angry}  # every supported corpus has angry (EmoV-DB has no happy)

usage() {
  sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --stage) stage=$2; shift 2 ;;
      --stop-stage) stop_stage=$2; shift 2 ;;
      --data) data=$2; shift 2 ;;
      --exp) exp=$2; shift 2 ;;
      --workers) workers=$2; shift 2 ;;
      --conf) extra_conf+=("$2"); shift 2 ;;
      --tiny) tiny=true; shift ;;
      --vocoder-ft) vocoder_ft=true; shift ;;
      --pseudo-adv) pseudo_adv=true; shift ;;
      --no-denoiser) denoiser=false; shift ;;
      --evc-corpus) evc_corpus=$2; shift 2 ;;
      --eval-opts) eval_opts=$2; shift 2 ;;
      --ngpu) NGPU=$2; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) echo "$0: unknown option $1 (--help lists them)" >&2; exit 2 ;;
    esac
  done
  mkdir -p "$exp"
  exp=$(cd "$exp" && pwd)
  [ -n "${data:-}" ] || { echo "$0: give the corpus folder: --data DIR" >&2; exit 2; }
}

# run_stage N NAME COMMAND...: run COMMAND unless stage N is outside --stage/--stop-stage or already done.
run_stage() {
  local n=$1 name=$2; shift 2
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    if [ -f "$exp/.done.$n.$name" ]; then echo "stage $n ($name): done"; return 0; fi
    echo "stage $n ($name): $(date +%H:%M:%S)"
    "$@"
    touch "$exp/.done.$n.$name"
  fi
}

# skip_stage N NAME REASON: say why a stage does not run (no sentinel: it runs once its reason is gone).
skip_stage() {
  if [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; then echo "stage $1 ($2): skipped: $3"; fi
}

# conf_args COMPONENT: --config for the recipe's conf/COMPONENT.yaml, the --conf files (acoustic), then with --tiny
# the miniature one (last, so that a smoke run stays small whatever the recipe sets).
conf_args() {
  local c=$1 f
  [ -f "$recipe_dir/conf/$c.yaml" ] && printf -- '--config\n%s\n' "$recipe_dir/conf/$c.yaml"
  if [ "$c" = acoustic ]; then
    for f in "${extra_conf[@]}"; do printf -- '--config\n%s\n' "$f"; done
  fi
  if [ "$tiny" = true ] && [ -f "$common_dir/conf/tiny/$c.yaml" ]; then
    printf -- '--config\n%s\n' "$common_dir/conf/tiny/$c.yaml"
  fi
  return 0
}

# train TARGET ARGS...: `emovox train`, or torchrun with NGPU processes.
train() {
  if [ "$NGPU" -gt 1 ]; then
    torchrun --standalone --nproc_per_node "$NGPU" -m emovox.cli train "$@"
  else
    emovox train "$@"
  fi
}

acoustic_model() {  # the checkpoint stages 5-10 use
  if [ "$denoiser" = true ]; then echo "$exp/denoiser/model.safetensors"; else echo "$exp/acoustic/model.safetensors"; fi
}

# ------------------------------------------------------------------------------------------------ the stages

stage_prepare() {
  emovox prep "$corpus" --root "$data" --out "$exp/data" "${prep_opts[@]}" --no-progress
}

stage_features() {
  emovox features "$exp/data/manifest.jsonl" --out "$exp/features" --workers "$workers" "${features_opts[@]}" \
    --no-progress
}

# Pseudo-ADV: a feature recogniser fitted on the whole mixture (ADV heads learn from the clips that have ADV, and
# from each label's canonical anchor on the others) gives every label-only clip an arousal/dominance/valence.
stage_pseudo_adv() {
  emovox ser fit --manifest "$exp/data/manifest.jsonl" --features stats --normalise none --out "$exp/ser_mix" \
    --no-progress
  emovox recipes pseudo-adv "$exp/features" --ser "$exp/ser_mix/model.safetensors"
}

stage_acoustic() {
  local confs; mapfile -t confs < <(conf_args acoustic)
  train acoustic "${confs[@]}" --set data.store="$exp/features" --out "$exp/acoustic"
}

stage_denoiser() {
  local confs; mapfile -t confs < <(conf_args acoustic; conf_args denoiser)
  train acoustic "${confs[@]}" --set data.store="$exp/features" \
    --set diffusion.init_from="$exp/acoustic/model.safetensors" --out "$exp/denoiser"
}

stage_bank() {
  local opts=()
  [ -n "$default_speaker" ] && opts=(--default-speaker "$default_speaker")
  emovox bank "$(acoustic_model)" "$exp/features" "${opts[@]}"
}

# Fine-tunes the universal HiFi-GAN on this corpus's recordings (their own mels: the trainer reads audio).
stage_vocoder() {
  local confs; mapfile -t confs < <(conf_args vocoder)
  train vocoder "${confs[@]}" --set data.path="$exp/data/manifest.jsonl" \
    --set data.split=train --out "$exp/vocoder"
}

evc_available() {  # is there an `emovox train evc`?
  emovox train --help 2>/dev/null | grep -qE '^\s+evc\s'
}

evc_data_args() {  # how this emovox's EVC trainer takes its data (see README: the EVC stage)
  local cfg; cfg=$(emovox train evc --print-config --out "$exp/evc")
  if grep -qE '^\s+store:' <<<"$cfg"; then
    printf -- '--set\ndata.store=%s\n' "$exp/features"
  elif grep -qE '^\s+corpus:' <<<"$cfg" && [ -f "$evc_corpus/prosody.jsonl" ]; then
    printf -- '--set\ndata.corpus=%s\n' "$evc_corpus"
  fi
}

stage_evc() {
  local confs; mapfile -t confs < <(conf_args evc)
  train evc "${confs[@]}" "${evc_data[@]}" --set data.acoustic="$(acoustic_model)" --out "$exp/evc"
}

stage_ser() {
  local confs; mapfile -t confs < <(conf_args ser)
  train ser "${confs[@]}" --set data.manifest="$exp/data/manifest.jsonl" --set data.feature_store="$exp/features" \
    --set "data.splits=[train]" --out "$exp/ser"
}

stage_eval() {
  local opts=()
  [ -f "$exp/vocoder/model.safetensors" ] && opts=(--vocoder "$exp/vocoder/model.safetensors")
  [ "$tiny" = true ] && opts+=(--quick --sentences 1 --asr none)
  # shellcheck disable=SC2086  # eval_opts is a list of options
  emovox eval model "$(acoustic_model)" --corpus "$exp/features" --ser "$exp/ser/model.safetensors" \
    --out "$exp/eval" "${opts[@]}" $eval_opts
}

# The model directory: the acoustic model with its bank, the EVC and vocoder when trained, and model.json; then
# it says a sentence and converts a recording, as a user would.
stage_package() {
  local opts=() pkg=$exp/package
  [ -f "$exp/evc/model.safetensors" ] && opts+=(--evc "$exp/evc/model.safetensors")
  [ -f "$exp/vocoder/model.safetensors" ] && opts+=(--vocoder "$exp/vocoder/model.safetensors")
  [ -f "$exp/eval/report.json" ] && opts+=(--report "$exp/eval/report.json")
  emovox recipes package "$recipe" --model "$(acoustic_model)" "${opts[@]}" --out "$pkg"
  local voc=(); [ -f "$pkg/vocoder.safetensors" ] && voc=(--vocoder "$pkg/vocoder.safetensors")
  emovox synth "$sample_text" -e "$sample_emotion" --model "$pkg" "${voc[@]}" -o "$pkg/sample_synth.wav"
  if [ -f "$pkg/evc.safetensors" ]; then
    local clip; clip=$(awk 'NR == 1 { $1 = ""; sub(/^ /, ""); print }' "$exp/data/kaldi/wav.scp")
    emovox convert "$clip" -e "$sample_emotion" --model "$pkg/evc.safetensors" --acoustic "$pkg/model.safetensors" \
      -o "$pkg/sample_converted.wav"
  else
    echo "stage 10 (package): no conversion model to try (stage 7 was skipped)"
  fi
}

run_standard_stages() {
  run_stage 0 prepare stage_prepare
  run_stage 1 features stage_features
  if [ "$pseudo_adv" = true ]; then run_stage 2 pseudo_adv stage_pseudo_adv
  else skip_stage 2 pseudo_adv "not configured (--pseudo-adv)"; fi
  run_stage 3 acoustic stage_acoustic
  if [ "$denoiser" = true ]; then run_stage 4 denoiser stage_denoiser
  else skip_stage 4 denoiser "--no-denoiser: FastSpeech2's mel only"; fi
  run_stage 5 bank stage_bank
  if [ "$vocoder_ft" = true ]; then run_stage 6 vocoder stage_vocoder
  else skip_stage 6 vocoder "off (--vocoder-ft): the pretrained universal HiFi-GAN is used"; fi
  # EVC: only when this emovox has `emovox train evc` and it has data to learn from (checked once, before the stage)
  evc_data=()
  if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ] && [ ! -f "$exp/.done.7.evc" ]; then
    if ! evc_available; then
      skip_stage 7 evc "this emovox has no 'emovox train evc'"
    else
      mapfile -t evc_data < <(evc_data_args)
      if [ ${#evc_data[@]} -eq 0 ]; then
        skip_stage 7 evc "emovox train evc needs parallel renderings: no $evc_corpus/prosody.jsonl (build it with recipes/emosynth stage 1, or pass --evc-corpus DIR)"
      else
        run_stage 7 evc stage_evc
      fi
    fi
  else
    run_stage 7 evc stage_evc
  fi
  run_stage 8 ser stage_ser
  run_stage 9 eval stage_eval
  run_stage 10 package stage_package
}
