#!/usr/bin/env bash
# IEMOCAP: 5 sessions of dyadic dialogue (10 speakers), categorical labels and valence/arousal/dominance.
#   recipes/iemocap/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=iemocap
corpus=iemocap
# Held-out speakers (sessions are pairs of speakers); spontaneous speech with overlaps: drop long turns.
prep_opts=(--split-by speaker --dev 0.1 --test 0.1 --max-duration 12)
sample_text="I don't know what you want me to say."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
