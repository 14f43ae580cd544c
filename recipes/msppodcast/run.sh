#!/usr/bin/env bash
# MSP-Podcast: podcast segments with consensus categories and arousal/valence/dominance; official splits.
#   recipes/msppodcast/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=msppodcast
corpus=msppodcast
# Official Train/Development/Test1 splits are kept; segments without a transcript cannot train TTS (skipped by
# the feature store's loader).
prep_opts=(--max-duration 12)
sample_text="So that is what we did last week."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
