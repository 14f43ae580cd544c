"""One parser per corpus, all with the same signature.

Each module has ``NAME`` and ``list_utterances(root, skipped=None, **options) -> Iterator[Utterance]``: it yields
manifest records (labels normalised to the canonical emotions, the raw label kept) and appends to ``skipped`` (a
:class:`~emovox.data_prep.manifest.SkipLog`) every file or line it leaves out, with the reason. Parsers read names
and label files only; durations are filled in by ``emovox prep`` from the audio headers.
"""

from __future__ import annotations

from types import ModuleType

from emovox.data_prep.corpora import (
    cremad,
    emns,
    emovdb,
    esd,
    generic,
    iemocap,
    kazemotts,
    ljspeech,
    msppodcast,
    nemo,
    ravdess,
    tess,
)
from emovox.data_prep.corpora._common import CorpusError

__all__ = ["CORPORA", "CorpusError", "get_corpus"]

CORPORA: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        cremad,
        emns,
        emovdb,
        esd,
        generic,
        iemocap,
        kazemotts,
        ljspeech,
        msppodcast,
        nemo,
        ravdess,
        tess,
    )
}


def get_corpus(name: str) -> ModuleType:
    """The parser module of a corpus, or a ValueError listing the known names."""
    try:
        return CORPORA[name.lower().replace("-", "").replace("_", "")]
    except KeyError:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(sorted(CORPORA))}") from None
