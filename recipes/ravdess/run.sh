#!/usr/bin/env bash
# RAVDESS (speech): 24 actors, 2 sentences, 8 emotions at normal and strong intensity, 48 kHz -> 22.05 kHz.
#   recipes/ravdess/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=ravdess
corpus=ravdess
# Two sentences only: held-out actors, not held-out sentences, make a test set.
prep_opts=(--split-by speaker --dev 0.1 --test 0.1)
sample_text="Kids are talking by the door."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
