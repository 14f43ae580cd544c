"""IEMOCAP (Busso et al. 2008): five sessions of dyadic improvised and scripted dialogues.

Labels: ``Session<n>/dialog/EmoEvaluation/<dialog>.txt`` lines
``[start - end]<TAB><utt><TAB><label><TAB>[V, A, D]`` with the consensus category (neu, hap, exc, sad, ang, fru,
fea, sur, dis, oth, xxx = no agreement) and valence/activation/dominance on 1-5, mapped to [-1, 1] and stored in
emovox's (A, D, V) order. Utterances without a category agreement keep their ADV with emotion None. Transcripts:
``Session<n>/dialog/transcriptions/<dialog>.txt`` (``<utt> [start-end]: text``); audio:
``Session<n>/sentences/wav/<dialog>/<utt>.wav``. The speaker is the session plus the gender letter that starts
the last part of the utterance id (``Ses01F_impro01_M003`` is the male speaker of session 1). No official split;
leave-one-session-out is usual (the session is in utt_id and speaker).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from emovox.data_prep.corpora._common import (
    CorpusError,
    emit,
    label,
    read_text,
    require_dir,
    scale_to_unit,
    skiplog,
)
from emovox.data_prep.manifest import SkipLog, Utterance

NAME = "iemocap"
TABLE = {"oth": "", "xxx": ""}  # "other" and "no agreement" have no canonical emotion
_EVAL_RE = re.compile(
    r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(Ses\S+)\s+(\S+)\s+\[\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)\s*\]"
)
_TRANS_RE = re.compile(r"^(Ses\S+)\s+\[[^\]]*\]:\s*(.*)$")


def _session_dirs(root: Path) -> list[Path]:
    for base in (root, root / "IEMOCAP_full_release"):
        sessions = sorted(p for p in base.glob("Session[1-5]") if p.is_dir()) if base.is_dir() else []
        if sessions:
            return sessions
    raise CorpusError(f"IEMOCAP: no Session1 ... Session5 folders in {root}")


def _transcripts(session: Path) -> dict[str, str]:
    out = {}
    for path in sorted((session / "dialog" / "transcriptions").glob("*.txt")):
        text, _ = read_text(path, ("utf-8", "latin-1"))
        for line in text.splitlines():
            m = _TRANS_RE.match(line.strip())
            if m:
                out[m.group(1)] = m.group(2).strip()
    return out


def list_utterances(
    root, skipped: SkipLog | None = None, *, improvised: bool = True, scripted: bool = True
) -> Iterator[Utterance]:
    """Every labelled IEMOCAP utterance; ``improvised`` / ``scripted`` select the dialogue types."""
    root = require_dir(root, "IEMOCAP", "Point --root at IEMOCAP_full_release (Session1 ... Session5).")
    skipped = skiplog(skipped)
    for session in _session_dirs(root):
        texts = _transcripts(session)
        for eval_path in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            text, _ = read_text(eval_path, ("utf-8", "latin-1"))
            for line in text.splitlines():
                m = _EVAL_RE.match(line.strip())
                if not m:
                    continue
                utt, raw, v, a, d = m.groups()
                dialog, _, tail = utt.rpartition("_")
                kind = "script" if "_script" in dialog else "impro"
                if (kind == "impro" and not improvised) or (kind == "script" and not scripted):
                    continue
                gender = tail[:1].upper()
                if gender not in ("M", "F"):
                    skipped.add(utt, "cannot read the speaker's gender from the utterance id")
                    continue
                adv = tuple(scale_to_unit(float(x), 1.0, 5.0) for x in (a, d, v))
                wav = session / "sentences" / "wav" / dialog / f"{utt}.wav"
                yield from emit(
                    Utterance(
                        utt_id=utt,
                        audio=str(wav),
                        text=texts.get(utt),
                        speaker=f"{utt[:5]}{gender}",
                        gender=gender,
                        lang="en",
                        emotion=label(raw, TABLE) or None,
                        emotion_raw=raw,
                        adv=adv,
                    ),
                    skipped,
                )
