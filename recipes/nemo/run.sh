#!/usr/bin/env bash
# nEMO: 9 Polish actors, 6 emotions, 24 kHz -> 22.05 kHz; Polish phonemes from espeak-ng.
#   recipes/nemo/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=nemo
corpus=nemo
prep_opts=(--split-by text --dev 0.05 --test 0.05)
sample_text="Dzień dobry, jak się masz?"
# Whisper tiny.en cannot transcribe Polish: no WER.
eval_opts=${eval_opts:-"--asr none"}
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
