#!/usr/bin/env bash
# EmoV-DB (sorted): 4 speakers read CMU ARCTIC prompts as neutral, amused, angry, sleepy, disgusted; 16 kHz.
#   recipes/emovdb/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=emovdb
corpus=emovdb
prep_opts=(--split-by text --dev 0.03 --test 0.03)
sample_text="Author of the danger trail, Philip Steels, etc."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
