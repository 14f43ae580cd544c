#!/usr/bin/env bash
# One model on ESD (English) + EmoV-DB + CREMA-D + RAVDESS: 35 speakers, label-only corpora given pseudo
# arousal/dominance/valence by a recogniser fitted on the mixture (stage 2), plus any corpora with annotated ADV
# (--adv-corpus msppodcast=DIR, iemocap=DIR): the semi-supervised path.
#   recipes/multi/run.sh --data DIR [--esd DIR] [--emovdb DIR] [--cremad DIR] [--ravdess DIR]
#                        [--adv-corpus NAME=DIR]… [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
# --data DIR holds the four corpora as esd/, emovdb/, cremad/, ravdess/ (folders or links); --esd etc. override.
declare -A roots=()
adv_corpora=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --esd|--emovdb|--cremad|--ravdess) roots[${1#--}]=$2; shift 2 ;;
    --adv-corpus) adv_corpora+=("$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
recipe=multi
data=$(cd "$(dirname "$0")/../.." && pwd)/data   # default --data: the repository's data/ folder
corpus=ravdess
pseudo_adv=true
sample_text="I would like a new alarm clock."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"

# Stage 0: each corpus's own manifest in $exp/parts/<name> (its own split rule), then one manifest that merges
# them (utt ids and speakers prefixed where two corpora collide).
stage_prepare() {
  local parts=$exp/parts merged=() name root spec sel d
  rm -rf "$parts" && mkdir -p "$parts"
  sel=$parts/esd_en && mkdir -p "$sel"
  while IFS= read -r d; do
    [ "$((10#$(basename "$d")))" -ge 11 ] && ln -s "$(cd "$d" && pwd)" "$sel/"
  done < <(find -L "${roots[esd]:-$data/esd}" -maxdepth 2 -type d -regex '.*/00[0-2][0-9]' | sort)
  emovox prep esd --root "$sel" --out "$parts/esd" --no-progress
  emovox prep emovdb --root "${roots[emovdb]:-$data/emovdb}" --out "$parts/emovdb" --split-by text \
    --dev 0.03 --test 0.03 --no-progress
  emovox prep cremad --root "${roots[cremad]:-$data/cremad}" --out "$parts/cremad" --split-by text \
    --dev 0.1 --test 0.1 --no-progress
  merged=("$parts/esd/manifest.jsonl" "$parts/emovdb/manifest.jsonl" "$parts/cremad/manifest.jsonl")
  for spec in "${adv_corpora[@]}"; do
    name=${spec%%=*} root=${spec#*=}
    emovox prep "$name" --root "$root" --out "$parts/$name" --max-duration 12 --no-progress
    merged+=("$parts/$name/manifest.jsonl")
  done
  emovox prep ravdess --root "${roots[ravdess]:-$data/ravdess}" --out "$exp/data" --split-by speaker \
    --dev 0.1 --test 0.1 --merge "${merged[@]}" --no-progress
}

parse_args "${args[@]}"
run_standard_stages
