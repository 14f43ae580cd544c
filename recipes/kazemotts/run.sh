#!/usr/bin/env bash
# KazEmoTTS: 3 Kazakh narrators, 6 emotions, official train/eval/test folders; Kazakh phonemes from espeak-ng.
#   recipes/kazemotts/run.sh --data DIR [--stage N] [--stop-stage N] [--exp DIR] … (README.md; --help)
recipe=kazemotts
corpus=kazemotts
sample_text="Сәлем, әлем! Бүгін ауа райы жақсы."
# Whisper tiny.en cannot transcribe Kazakh: no WER.
eval_opts=${eval_opts:-"--asr none"}
# shellcheck source-path=SCRIPTDIR source=../_common/stages.sh
source "$(dirname "$0")/../_common/stages.sh"
parse_args "$@"
run_standard_stages
