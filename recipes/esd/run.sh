#!/usr/bin/env bash
# ESD: 10 English (0011-0020) and 10 Mandarin (0001-0010) speakers, 350 parallel sentences in 5 emotions, 16 kHz
# -> 22.05 kHz. One language per run (--lang en|zh; default en); the official train/evaluation/test folders are
# kept. Mandarin is phonemised by espeak-ng's cmn voice (the manifest's lang zh).
#   recipes/esd/run.sh --data DIR [--lang en|zh] [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
lang=en
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lang) lang=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$lang" in
  en) sample_text="The nine the eggs, I keep." ;;
  zh) sample_text="今天天气很好，我们去公园散步吧。"; eval_opts=${eval_opts:-"--asr none"} ;;  # tiny.en: no Mandarin
  *) echo "$0: --lang is en or zh, not $lang" >&2; exit 2 ;;
esac
recipe=esd
corpus=esd
exp=$(cd "$(dirname "$0")" && pwd)/exp/$lang
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
[ -f "$recipe_dir/conf/$lang.yaml" ] && extra_conf=("$recipe_dir/conf/$lang.yaml")

# Stage 0 reads only this language's speakers: links to them in $exp/esd_$lang.
stage_prepare() {
  local sel=$exp/esd_$lang d n
  rm -rf "$sel" && mkdir -p "$sel"
  while IFS= read -r d; do
    n=$((10#$(basename "$d")))
    if { [ "$lang" = en ] && [ "$n" -ge 11 ]; } || { [ "$lang" = zh ] && [ "$n" -le 10 ]; }; then
      ln -s "$(cd "$d" && pwd)" "$sel/"
    fi
  done < <(find -L "$data" -maxdepth 2 -type d -regex '.*/00[0-2][0-9]' | sort)
  emovox prep esd --root "$sel" --out "$exp/data" "${prep_opts[@]}" --no-progress
}

parse_args "${args[@]}"
run_standard_stages
