#!/usr/bin/env bash
# CREMA-D: 91 actors, 12 sentences, 6 emotions (4 intensity levels on one sentence), 16 kHz -> 22.05 kHz.
#   recipes/cremad/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=cremad
corpus=cremad
# Twelve sentences said by every actor: hold out sentences so that the evaluation speaks unseen text.
prep_opts=(--split-by text --dev 0.1 --test 0.1)
sample_text="I would like a new alarm clock."
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
