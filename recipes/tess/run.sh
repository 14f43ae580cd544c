#!/usr/bin/env bash
# TESS: 2 speakers say "Say the word <word>" with 200 target words in 7 emotions; 24.4 kHz -> 22.05 kHz.
#   recipes/tess/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=tess
corpus=tess
prep_opts=(--split-by text --dev 0.05 --test 0.05)
sample_text="Say the word home."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
