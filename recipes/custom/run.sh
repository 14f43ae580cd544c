#!/usr/bin/env bash
# Your own recordings: a table audio|text|speaker|emotion|intensity|a|d|v (CSV, TSV or pipe; header optional).
#   recipes/custom/run.sh --data TABLE_OR_FOLDER [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=custom
corpus=generic
prep_opts=(--split-by utterance --dev 0.05 --test 0.05)
sample_text=${sample_text:-"The quick brown fox jumps over the lazy dog."}
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
