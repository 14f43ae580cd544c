#!/usr/bin/env bash
# EMNS: one British English speaker, 8 emotions with an expressiveness level; the release ships WebM clips.
#   recipes/emns/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=emns
corpus=emns
prep_opts=(--split-by text --dev 0.05 --test 0.05)
sample_text="I can't believe you did that!"
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"

# libsndfile cannot read WebM: stage 0 first converts every clip without a .wav beside it (ffmpeg), next to it,
# where the EMNS parser prefers the .wav.
stage_prepare() {
  local webm todo=0
  while IFS= read -r webm; do
    [ -f "${webm%.webm}.wav" ] && continue
    command -v ffmpeg >/dev/null || { echo "$webm needs converting to WAV: install ffmpeg" >&2; exit 1; }
    ffmpeg -nostdin -loglevel error -i "$webm" -ac 1 "${webm%.webm}.wav"
    todo=$((todo + 1))
  done < <(find -L "$data" -name '*.webm')
  echo "converted $todo WebM clips to WAV"
  emovox prep emns --root "$data" --out "$exp/data" "${prep_opts[@]}" --no-progress
}

parse_args "$@"
run_standard_stages
