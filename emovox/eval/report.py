"""The evaluation of an emotional TTS model against a feature store: every number, a Markdown report, plots.

``evaluate(tts, store, ser)`` synthesises held-out sentences of the store under many emotion specs, measures
each clip (prosody: :mod:`emovox.eval.prosody`; the speech-emotion recogniser's posterior and ADV), and computes

1. **accuracy**: the recogniser's accuracy and confusion matrix on synthesised speech for each basic emotion the
   model knows, next to its accuracy on the store's own held-out recordings;
2. **intensity**: Spearman ρ between the requested intensity and the target-emotion probability, F0 level,
   F0 range and energy (values relative to each sentence's mean, so sentence differences do not count);
3. **adv**: per ADV axis swept with the others at neutral, Pearson r and slope between the requested value and
   the recogniser's ADV, F0 level/range, rate and energy (VA specs are the A and V sweeps with D neutral);
4. **mixtures**: the recogniser's posterior along ``a:w+b:(1−w)``;
5. **polarity**: the fraction of ``-e`` renderings that move opposite to ``e`` (from the sentence's neutral
   rendering) in the recogniser's arousal-valence plane, and per measure;
6. **wer**: WER of the synthesised clips and of the store's recordings of the same sentences (offline ASR);
7. **mcd**: MCD (DTW) and F0 RMSE against parallel references (same text, speaker and emotion in the store);
8. **mos**: a MOS proxy (Distill-MOS) per emotion, synthesised and the store's recordings, when installed;
9. **speaker**: speaker similarity (resemblyzer) of each emotional rendering to the neutral rendering of the same
   speaker and sentence, against the similarity between different speakers of the model, when installed.

Each section with a target (:data:`TARGETS`) states it and PASS / MISS (N/A when it could not be measured).
``write_report(result, out_dir)`` writes ``report.md``, ``report.json`` and ``plots/*.png``.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from emovox import __version__
from emovox.emotion.labels import ADV_AXES, BASIC_EMOTIONS
from emovox.emotion.spec import parse_emotion_spec
from emovox.eval.directions import direction_agreement, load_real_directions
from emovox.eval.prosody import frame_hop, frame_levels_db, measure_prosody, track_f0
from emovox.eval.stats import centred_by_group, finite_mean, pearson, slope, spearman
from emovox.fileio import atomic_write_text

__all__ = ["TARGETS", "EvalPlan", "evaluate", "render_markdown", "write_report"]

logger = logging.getLogger(__name__)

# The intensities at which a voice speaks each emotion in a speaker-normalised recogniser's reference set. The
# recognisers emovox evaluates with are fit on RAVDESS-layout sessions, each actor normalised over all of the
# actor's clips: neutral at normal intensity only, every other emotion at normal and strong (4 + 7 x 8 clips).
# The voice's reference mirrors that session: neutral once, every other emotion at intensity 1 and 2 (the emotion
# rules map RAVDESS normal to 1 and strong to 2). A reference at intensity 1 alone puts the voice's mean nearer
# its neutral than an actor's mean is, which pushes neutral renderings towards the aroused classes.
REFERENCE_SESSION: dict[str, tuple[float, ...]] = {"neutral": (1.0,), "other": (1.0, 2.0)}

HELD_OUT_SPLITS = ("test", "dev")
ADV_MEASURES = (
    "ser_arousal",
    "ser_dominance",
    "ser_valence",
    "f0_st",
    "f0_range_st",
    "rate",
    "energy_db",
    "tilt_db",
)
INTENSITY_MEASURES = ("p_target", "f0_st", "f0_range_st", "energy_db")
MAX_REFERENCE_WER = 0.5  # above this WER on the store's own audio, the WER ratio is reported but not judged
POLARITY_MEASURES = ("ser_arousal", "ser_valence", "f0_st", "energy_db")

# name -> (what, threshold, ">=" or "<="): what the default voice is held to, judged by a recogniser trained on
# real speech (recorded actors), never only by one trained on the voice's own corpus.
TARGETS: dict[str, tuple[str, float, str]] = {
    "emotion_accuracy": ("emotion accuracy of synthesised speech (basic emotions)", 0.55, ">="),
    "posterior_dominant": (
        "share of emotions whose recogniser probability is highest when that emotion is requested",
        1.0,
        ">=",
    ),
    "intensity_rho": (
        "lowest Spearman ρ over the emotions, intensity vs recogniser target probability",
        0.90,
        ">=",
    ),
    "arousal_f0_r": ("Pearson r, requested arousal vs measured F0 level", 0.90, ">="),
    "valence_ser_r": ("Pearson r, requested valence vs recogniser valence", 0.70, ">="),
    "polarity_flip": ("fraction of -e renderings moving opposite to e (recogniser A/V)", 0.90, ">="),
    "wer_ratio": ("WER of synthesised speech / WER of the store's recordings", 1.20, "<="),
    "speaker_margin": (
        "lowest same-speaker emotional↔neutral similarity − highest different-speaker one",
        0.0,
        ">=",
    ),
    "real_directions": (
        "share of (emotion, intensity 1 and 2, F0 / loudness / rate) changes against neutral in the direction of "
        "real speech",
        1.0,
        ">=",
    ),
}


@dataclass
class EvalPlan:
    """How much to synthesise. The defaults take minutes for a small CPU model; ``quick()`` seconds."""

    sentences: int = 20  # held-out sentences for accuracy, WER and MCD
    sub_sentences: int = 5  # of those, the ones used for intensity, ADV, mixtures and polarity
    intensities: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # requested intensities (0-2)
    adv_points: int = 5  # grid points per ADV axis
    mixture_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # w in a:w+b:(1-w)
    mixture_pairs: tuple[tuple[str, str], ...] = (("happy", "sad"), ("angry", "sad"), ("happy", "angry"))
    real_per_emotion: int = 20  # store recordings per emotion for the recogniser's own accuracy
    real_per_sentence: int = 7  # store recordings per sentence for the reference WER
    speaker_intensities: tuple[float, ...] = (1.0, 2.0)  # intensities of the speaker-similarity renderings
    max_speakers: int = 10  # the model's first speakers measured for speaker similarity
    # groups of speaker names that are one recorded person (e.g. two synthesisers of one voice talent): their
    # pairs are reported apart, not as "different speakers"
    same_person: tuple[tuple[str, ...], ...] = ()
    seed: int = 0  # sentence and recording selection, synthesis seeds

    @classmethod
    def quick(cls, **overrides: Any) -> EvalPlan:
        """A smoke-test plan: a few sentences, coarse grids."""
        base = cls(sentences=4, sub_sentences=2, adv_points=3, mixture_weights=(0.0, 0.5, 1.0),
                   mixture_pairs=(("happy", "sad"),), real_per_emotion=4, real_per_sentence=2,
                   max_speakers=3)  # fmt: skip
        return replace(base, **overrides)

    def __post_init__(self) -> None:
        if self.sentences < 1 or self.sub_sentences < 1:
            raise ValueError("the evaluation needs at least one sentence (sentences, sub_sentences >= 1)")
        if self.adv_points < 2 or len(self.intensities) < 2 or len(self.mixture_weights) < 2:
            raise ValueError("grids need at least two points (adv_points, intensities, mixture_weights)")


# ----------------------------------------------------------------------------------------------------- the store


@dataclass
class Store:
    """The parts of a feature store (``emovox features``) the evaluation reads."""

    path: Path
    records: list[dict]
    sample_rate: int
    mel_config: dict  # the store's MelConfig as a dict (meta.json "mel"); empty = the default

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        path = Path(path)
        index, meta = path / "items.jsonl", path / "meta.json"
        if not index.is_file() or not meta.is_file():
            raise ValueError(
                f"{path} is not a feature store (needs items.jsonl and meta.json; run `emovox features`)"
            )
        records = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
        if not records:
            raise ValueError(f"{path}: the feature store has no items")
        mel = json.loads(meta.read_text()).get("mel") or {}
        return cls(path, records, int(mel.get("sample_rate", 22050)), mel)

    def audio(self, utt_id: str) -> np.ndarray:
        with np.load(self.path / "items" / f"{utt_id}.npz", allow_pickle=False) as z:
            return z["audio"].astype(np.float32) / 32768.0

    def mel(self, utt_id: str) -> np.ndarray | None:
        """The stored log-mel ``[n_mels, T]`` (None when the item has none)."""
        with np.load(self.path / "items" / f"{utt_id}.npz", allow_pickle=False) as z:
            return z["mel"].astype(np.float32) if "mel" in z.files else None

    def held_out(self) -> tuple[list[dict], str]:
        """Records of the first held-out split that has text (test, then dev; else all, said so)."""
        for split in HELD_OUT_SPLITS:
            recs = [r for r in self.records if r.get("split") == split and (r.get("text") or "").strip()]
            if recs:
                return recs, split
        logger.warning("%s has no test/dev split: evaluating on all items (not held out)", self.path)
        return [r for r in self.records if (r.get("text") or "").strip()], "all items (no held-out split)"


@dataclass
class Sentence:
    index: int
    text: str
    speaker: str | None  # a speaker the model knows, or None (its default)
    records: list[dict]  # the store's held-out recordings of this text


def _pick_sentences(
    held: list[dict], speakers: Sequence[str], n: int, rng: np.random.Generator
) -> list[Sentence]:
    by_text: dict[str, list[dict]] = defaultdict(list)
    for r in held:
        by_text[r["text"].strip()].append(r)
    texts = sorted(by_text)
    chosen = [texts[i] for i in sorted(rng.permutation(len(texts))[:n])]
    out = []
    for i, text in enumerate(chosen):
        known = Counter(r.get("speaker") for r in by_text[text] if r.get("speaker") in speakers)
        out.append(Sentence(i, text, known.most_common(1)[0][0] if known else None, by_text[text]))
    return out


# ----------------------------------------------------------------------------------------------------- rendering


@dataclass
class Rendering:
    """One synthesised clip and what was measured on it."""

    sentence: int
    spec: str
    speaker: str | None
    prosody: dict[str, float]
    ser_label: str
    ser_probs: dict[str, float]
    ser_adv: tuple[float, float, float]
    audio: np.ndarray | None = field(default=None, repr=False)
    others: dict[str, dict[str, Any]] = field(default_factory=dict)  # second-view recognisers: label, probs

    def value(self, measure: str) -> float:
        if measure.startswith("ser_"):
            axis = ("ser_arousal", "ser_dominance", "ser_valence").index(measure)
            return float(self.ser_adv[axis])
        return float(self.prosody[measure])

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("audio")
        d["ser_adv"] = list(self.ser_adv)
        return d


def _normalised(ser: Any) -> bool:
    return bool(getattr(ser, "speaker_normalised", False)) and hasattr(ser, "add_reference")


def _predict(
    ser: Any, audios: Sequence[np.ndarray], speakers: Sequence[str | None], sample_rate: int
) -> list:
    if _normalised(ser):
        return ser.predict_batch(audios, sample_rate=sample_rate, speakers=list(speakers))
    return ser.predict_batch(audios, sample_rate=sample_rate)


class Renderer:
    """Synthesises each (sentence, spec) once, measures it, and keeps audio only where asked."""

    def __init__(
        self,
        tts: Any,
        ser: Any,
        sentences: list[Sentence],
        seed: int,
        batch: int = 8,
        others: dict[str, Any] | None = None,
    ):
        self.tts, self.ser, self.sentences, self.seed, self.batch = tts, ser, sentences, seed, batch
        self.others = dict(others or {})  # name -> a second-view recogniser, scored on the same clips
        self.known = list(tts.emotions)
        self.cache: dict[tuple[int, str], Rendering] = {}
        self.audio: dict[tuple[int, str], np.ndarray] = {}  # synthesised for the reference, not yet measured
        self.sample_rate = 0
        self.references: dict[str, int] = {}  # speaker -> clips in its recogniser reference set

    @property
    def speaker_normalised(self) -> bool:
        return _normalised(self.ser)

    def add_references(self, emotions: Sequence[str], progress: bool) -> None:
        """For a speaker-normalised recogniser: give it, per voice, a reference set that spans the voice's emotions
        as a training actor's session did (:data:`REFERENCE_SESSION`) — that voice saying its held-out sentences
        in every emotion the recogniser knows."""
        for ser in (self.ser, *self.others.values()):
            if _normalised(ser):
                self._add_reference(ser, emotions, progress)

    def _reference_specs(self, ser: Any, emotions: Sequence[str]) -> list[str]:
        known = [e for e in ser.emotions if e in self.known and e in [*emotions, "calm"]]
        return [
            e if level == 1.0 else f"{e}:{level:g}"
            for e in known
            for level in (REFERENCE_SESSION["neutral"] if e == "neutral" else REFERENCE_SESSION["other"])
        ]

    def _add_reference(self, ser: Any, emotions: Sequence[str], progress: bool) -> None:
        from tqdm import tqdm

        specs = self._reference_specs(ser, emotions)
        by_speaker: dict[str, list[int]] = defaultdict(list)
        for s in self.sentences:
            by_speaker[s.speaker].append(s.index)
        jobs = [self.key(i, e) for idx in by_speaker.values() for i in idx for e in specs]
        for key in tqdm(jobs, desc="recogniser reference", unit="clip", disable=not progress):
            if key not in self.audio:
                self.audio[key] = self._synth(*key)
        for spk, idx in by_speaker.items():
            clips = [self.audio[self.key(i, e)] for i in idx for e in specs]
            if len(clips) >= getattr(ser, "min_group", 1):
                ser.add_reference(spk, clips, sample_rate=self.sample_rate)
                if ser is self.ser:
                    self.references[spk] = len(clips)
            else:
                logger.warning(
                    "speaker %s: %d reference clips, fewer than the recogniser needs", spk, len(clips)
                )

    def key(self, sentence: int, spec: str) -> tuple[int, str]:
        return sentence, str(parse_emotion_spec(spec, known=self.known))

    def get(self, sentence: int, spec: str) -> Rendering:
        return self.cache[self.key(sentence, spec)]

    def render_all(
        self, jobs: Sequence[tuple[int, str]], keep_audio: set[tuple[int, str]], progress: bool
    ) -> None:
        from tqdm import tqdm

        todo = list(dict.fromkeys(self.key(i, s) for i, s in jobs if self.key(i, s) not in self.cache))
        keep = {self.key(i, s) for i, s in keep_audio}
        bar = tqdm(total=len(todo), desc="synthesise + measure", unit="clip", disable=not progress)
        for start in range(0, len(todo), self.batch):
            chunk = todo[start : start + self.batch]
            audios = [self.audio.pop((i, spec), None) for i, spec in chunk]
            audios = [a if a is not None else self._synth(i, spec) for a, (i, spec) in zip(audios, chunk)]
            speakers = [self.sentences[i].speaker for i, _ in chunk]
            results = self.predict(audios, speakers, self.sample_rate)
            others = {
                name: _predict(rec, audios, speakers, self.sample_rate) for name, rec in self.others.items()
            }
            for k, ((i, spec), audio, res) in enumerate(zip(chunk, audios, results)):
                sentence = self.sentences[i]
                self.cache[(i, spec)] = Rendering(
                    i, spec, sentence.speaker, measure_prosody(audio, self.sample_rate).to_dict(),
                    res.label, dict(res.probs), tuple(float(v) for v in res.adv),
                    audio if (i, spec) in keep else None,
                    {name: {"label": o[k].label, "probs": dict(o[k].probs)} for name, o in others.items()},
                )  # fmt: skip
            bar.update(len(chunk))
        bar.close()

    def predict(self, audios: Sequence[np.ndarray], speakers: Sequence[str | None], sample_rate: int) -> list:
        """The recogniser's results, normalised per speaker when the recogniser is speaker-normalised."""
        return _predict(self.ser, audios, speakers, sample_rate)

    def _synth(self, i: int, spec: str) -> np.ndarray:
        sentence = self.sentences[i]
        audio, sr = self.tts.synthesize(
            sentence.text, emotion=spec, speaker=sentence.speaker, seed=self.seed + i
        )
        self.sample_rate = int(sr)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
            raise ValueError(f"the model returned unusable audio for {sentence.text!r} ({spec})")
        return audio


# ----------------------------------------------------------------------------------------------------- sections


@dataclass
class Context:
    """What every section needs: the plan, the sentences, the emotion sets and the renderer."""

    plan: EvalPlan
    sentences: list[Sentence]
    emotions: list[str]  # basic emotions the model knows
    ser_emotions: list[str]
    adv_grid: dict[str, list[float]]  # axis -> requested values
    renderer: Renderer

    @property
    def sub(self) -> list[Sentence]:
        return self.sentences[: self.plan.sub_sentences]

    @property
    def non_neutral(self) -> list[str]:
        return [e for e in self.emotions if e != "neutral"]


def _adv_spec(axis: int, value: float) -> str:
    adv = [0.0, 0.0, 0.0]
    adv[axis] = value
    return "adv:" + ",".join(f"{v:.4g}" for v in adv)


def _mixture_spec(a: str, b: str, w: float) -> str:
    if w <= 0:
        return b
    if w >= 1:
        return a
    return f"{a}:{w:.4g}+{b}:{1 - w:.4g}"


def _mixture_pairs(ctx: Context) -> list[tuple[str, str]]:
    ok = set(ctx.emotions) & set(ctx.ser_emotions)
    return [(a, b) for a, b in ctx.plan.mixture_pairs if a in ok and b in ok]


def _jobs(ctx: Context) -> tuple[list[tuple[int, str]], set[tuple[int, str]]]:
    """Every (sentence, spec) the sections need, and those whose audio is kept (for WER, MCD and MOS)."""
    keep = {(s.index, e) for s in ctx.sentences for e in ctx.emotions}
    jobs = list(keep)
    for s in ctx.sub:
        jobs += [(s.index, f"{e}:{a:g}") for e in ctx.non_neutral for a in ctx.plan.intensities]
        jobs += [(s.index, _adv_spec(ax, v)) for ax, axis in enumerate(ADV_AXES) for v in ctx.adv_grid[axis]]
        jobs += [
            (s.index, _mixture_spec(a, b, w))
            for a, b in _mixture_pairs(ctx)
            for w in ctx.plan.mixture_weights
        ]
        jobs += [(s.index, f"-{e}") for e in ctx.non_neutral]
    return sorted(set(jobs)), keep


def _confusion(
    requested: list[str], predicted: list[str], rows: list[str], cols: list[str]
) -> list[list[int]]:
    m = np.zeros((len(rows), len(cols)), dtype=int)
    for r, p in zip(requested, predicted):
        if r in rows and p in cols:
            m[rows.index(r), cols.index(p)] += 1
    return m.tolist()


def _real_items(ctx: Context, store: Store, held: list[dict], ser: Any) -> tuple[list[dict], str]:
    wanted = [e for e in ctx.emotions if e in ctx.ser_emotions]
    pool = [r for r in held if r.get("emotion") in wanted]
    seen = set(getattr(ser, "speakers", ()) or ())
    unseen = [r for r in pool if r.get("speaker") not in seen]
    note = "speakers the recogniser did not see in training"
    if seen and unseen:
        pool = unseen
    elif seen:
        note = "held-out split; all its speakers were in the recogniser's training set"
    else:
        note = "held-out split (the recogniser's checkpoint lists no training speakers)"
    rng = np.random.default_rng(ctx.plan.seed + 1)
    chosen = []
    for e in wanted:
        mine = [r for r in pool if r["emotion"] == e]
        chosen += [mine[i] for i in sorted(rng.permutation(len(mine))[: ctx.plan.real_per_emotion])]
    return chosen, note


def _accuracy_section(ctx: Context, store: Store, held: list[dict], ser: Any) -> dict[str, Any]:
    rows = [e for e in ctx.emotions if e in ctx.ser_emotions]
    synth = [ctx.renderer.get(s.index, e) for s in ctx.sentences for e in rows]
    req = [r.spec for r in synth]
    pred = [r.ser_label for r in synth]
    real, note = _real_items(ctx, store, held, ser)
    real_pred = (
        [
            res.label
            for res in ctx.renderer.predict(
                [store.audio(r["utt_id"]) for r in real], [r.get("speaker") for r in real], store.sample_rate
            )
        ]
        if real
        else []
    )
    real_req = [r["emotion"] for r in real]

    def acc(a: list[str], b: list[str]) -> float:
        return float(np.mean([x == y for x, y in zip(a, b)])) if a else math.nan

    mean_probs = _mean_posteriors(synth, rows, lambda r: r.ser_probs)
    return {
        "synth_mean_probs": mean_probs,
        "posterior_dominant": _dominant_share(mean_probs),
        "emotions": rows,
        "not_classifiable": [e for e in ctx.emotions if e not in ctx.ser_emotions],
        "recogniser_classes": ctx.ser_emotions,
        "synth_accuracy": acc(req, pred),
        "synth_n": len(req),
        "synth_per_emotion": {e: acc([x for x in req if x == e], [p for x, p in zip(req, pred) if x == e]) for e in rows},
        "synth_confusion": _confusion(req, pred, rows, ctx.ser_emotions),
        "real_accuracy": acc(real_req, real_pred),
        "real_n": len(real),
        "real_selection": note,
        "real_per_emotion": {e: acc([x for x in real_req if x == e], [p for x, p in zip(real_req, real_pred) if x == e]) for e in rows},
        "real_confusion": _confusion(real_req, real_pred, rows, ctx.ser_emotions),
    }  # fmt: skip


def _mean_posteriors(clips: Sequence[Rendering], rows: list[str], probs_of) -> dict[str, dict[str, float]]:
    """Mean posterior of each recogniser class (columns) over the clips that requested each emotion (rows)."""
    out = {}
    for e in rows:
        mine = [probs_of(r) for r in clips if r.spec == e]
        out[e] = {c: float(np.mean([p.get(c, 0.0) for p in mine])) if mine else math.nan for c in rows}
    return out


def _dominant_share(mean_probs: dict[str, dict[str, float]]) -> float:
    """Share of emotions e for which mean P(e) is higher when e is requested than when any other emotion is."""
    rows = list(mean_probs)
    if len(rows) < 2:
        return math.nan
    wins = [all(mean_probs[e][e] > mean_probs[f][e] for f in rows if f != e) for e in rows]
    return float(np.mean(wins))


def _others_section(ctx: Context) -> dict[str, Any]:
    """The second-view recognisers on the same clips: accuracy, P(target) dominance, intensity ρ."""
    out: dict[str, Any] = {}
    for name, rec in ctx.renderer.others.items():
        rows = [e for e in ctx.emotions if e in rec.emotions]
        synth = [ctx.renderer.get(s.index, e) for s in ctx.sentences for e in rows]
        hits = [r.others[name]["label"] == r.spec for r in synth]
        per = {e: float(np.mean([h for h, r in zip(hits, synth) if r.spec == e])) for e in rows}
        mean_probs = _mean_posteriors(synth, rows, lambda r, n=name: r.others[n]["probs"])
        rhos = {}
        for e in [x for x in ctx.non_neutral if x in rec.emotions]:
            alphas, groups, values = [], [], []
            for s in ctx.sub:
                for a in ctx.plan.intensities:
                    r = ctx.renderer.get(s.index, f"{e}:{a:g}")
                    alphas.append(a)
                    groups.append(s.index)
                    values.append(r.others[name]["probs"].get(e, math.nan))
            rhos[e] = spearman(alphas, centred_by_group(values, groups))
        out[name] = {"synth_accuracy": float(np.mean(hits)) if hits else math.nan, "per_emotion": per,
                     "posterior_dominant": _dominant_share(mean_probs), "intensity_rho": rhos}  # fmt: skip
    return out


def _intensity_section(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"intensities": list(ctx.plan.intensities), "per_emotion": {}}
    for e in ctx.non_neutral:
        alphas, groups, values = [], [], defaultdict(list)
        for s in ctx.sub:
            for a in ctx.plan.intensities:
                r = ctx.renderer.get(s.index, f"{e}:{a:g}")
                alphas.append(a)
                groups.append(s.index)
                values["p_target"].append(r.ser_probs.get(e, math.nan))
                for m in INTENSITY_MEASURES[1:]:
                    values[m].append(r.value(m))
        table: dict[str, Any] = {"heard_as": _heard_as(ctx, e)}
        for m in INTENSITY_MEASURES:
            centred = centred_by_group(values[m], groups)
            means = [
                float(finite_mean([v for v, x in zip(centred, alphas) if x == a]))
                for a in ctx.plan.intensities
            ]
            table[m] = {"rho": spearman(alphas, centred), "mean_by_intensity": means}
        out["per_emotion"][e] = table
    rhos = [t["p_target"]["rho"] for t in out["per_emotion"].values()]
    finite = [r for r in rhos if math.isfinite(r)]
    out["mean_rho_p_target"] = float(np.mean(finite)) if finite else math.nan
    out["min_rho_p_target"] = float(np.min(finite)) if finite else math.nan
    return out


def _heard_as(ctx: Context, emotion: str) -> list[dict[str, Any]]:
    """Per requested intensity: the class the recogniser gives the highest mean probability over the sentences,
    that probability, and the mean P(emotion) itself (not centred): what a listener model hears as it grows."""
    out = []
    for a in ctx.plan.intensities:
        probs = [ctx.renderer.get(s.index, f"{emotion}:{a:g}").ser_probs for s in ctx.sub]
        mean = {c: float(np.mean([p.get(c, 0.0) for p in probs])) for c in ctx.ser_emotions}
        top = max(mean, key=mean.__getitem__)
        out.append({"intensity": a, "label": top, "p": mean[top], "p_target": mean.get(emotion, math.nan)})
    return out


def _relative_rate(ctx: Context, r: Any) -> float:
    neutral = ctx.renderer.get(r.sentence, "neutral").prosody["active_s"]
    return neutral / r.prosody["active_s"] if r.prosody["active_s"] > 0 else math.nan


def _adv_section(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"grid": ctx.adv_grid, "axes": {}}
    for ax, axis in enumerate(ADV_AXES):
        req, groups, values = [], [], defaultdict(list)
        for s in ctx.sub:
            for v in ctx.adv_grid[axis]:
                r = ctx.renderer.get(s.index, _adv_spec(ax, v))
                req.append(v)
                groups.append(s.index)
                for m in ADV_MEASURES:
                    values[m].append(_relative_rate(ctx, r) if m == "rate" else r.value(m))
        table = {}
        for m in ADV_MEASURES:
            centred = centred_by_group(values[m], groups)
            means = [
                float(finite_mean([c for c, x in zip(centred, req) if x == v])) for v in ctx.adv_grid[axis]
            ]
            table[m] = {"r": pearson(req, centred), "slope": slope(req, centred), "mean_by_value": means}
        out["axes"][axis] = table
    return out


def _mixture_section(ctx: Context) -> dict[str, Any]:
    curves = {}
    for a, b in _mixture_pairs(ctx):
        ws, groups, diff, pa, pb = [], [], [], defaultdict(list), defaultdict(list)
        for s in ctx.sub:
            for w in ctx.plan.mixture_weights:
                r = ctx.renderer.get(s.index, _mixture_spec(a, b, w))
                ws.append(w)
                groups.append(s.index)
                diff.append(r.ser_probs.get(a, 0.0) - r.ser_probs.get(b, 0.0))
                pa[w].append(r.ser_probs.get(a, 0.0))
                pb[w].append(r.ser_probs.get(b, 0.0))
        curves[f"{a}+{b}"] = {
            "a": a, "b": b, "weights": list(ctx.plan.mixture_weights),
            "p_a": [float(np.mean(pa[w])) for w in ctx.plan.mixture_weights],
            "p_b": [float(np.mean(pb[w])) for w in ctx.plan.mixture_weights],
            "rho_w_vs_pa_minus_pb": spearman(ws, centred_by_group(diff, groups)),
        }  # fmt: skip
    return {"pairs": curves}


def _polarity_section(ctx: Context) -> dict[str, Any]:
    flips: dict[str, list[bool]] = defaultdict(list)
    va_flips, per_emotion = [], {}
    for e in ctx.non_neutral:
        mine = []
        for s in ctx.sub:
            n, pos, neg = (ctx.renderer.get(s.index, spec) for spec in ("neutral", e, f"-{e}"))
            d_pos = {m: pos.value(m) - n.value(m) for m in POLARITY_MEASURES}
            d_neg = {m: neg.value(m) - n.value(m) for m in POLARITY_MEASURES}
            for m in POLARITY_MEASURES:
                if math.isfinite(d_pos[m]) and math.isfinite(d_neg[m]) and d_pos[m] != 0:
                    flips[m].append(d_pos[m] * d_neg[m] < 0)
            dot = d_pos["ser_arousal"] * d_neg["ser_arousal"] + d_pos["ser_valence"] * d_neg["ser_valence"]
            mine.append(bool(dot < 0))
        va_flips += mine
        per_emotion[e] = float(np.mean(mine)) if mine else math.nan
    return {
        "va_flip_fraction": float(np.mean(va_flips)) if va_flips else math.nan,
        "n": len(va_flips),
        "per_emotion": per_emotion,
        "per_measure": {m: float(np.mean(v)) if v else math.nan for m, v in flips.items()},
    }


def _wer_section(ctx: Context, store: Store, asr: Any, asr_name: str) -> dict[str, Any]:
    from emovox.eval.asr import word_error_rate

    if asr is None:
        return {"available": False, "reason": asr_name}
    synth = [ctx.renderer.get(s.index, e) for s in ctx.sentences for e in ctx.emotions]
    texts = [ctx.sentences[r.sentence].text for r in synth]
    hyps = [asr.transcribe(r.audio, ctx.renderer.sample_rate) for r in synth]
    real = [(s.text, rec) for s in ctx.sentences for rec in s.records[: ctx.plan.real_per_sentence]]
    real_hyps = [asr.transcribe(store.audio(rec["utt_id"]), store.sample_rate) for _, rec in real]
    w_syn = word_error_rate(texts, hyps)
    w_real = word_error_rate([t for t, _ in real], real_hyps)
    per_emotion = {
        e: word_error_rate([t for t, r in zip(texts, synth) if r.spec == e],
                           [h for h, r in zip(hyps, synth) if r.spec == e]).wer
        for e in ctx.emotions
    }  # fmt: skip
    ratio = w_syn.wer / w_real.wer if w_real.wer > 0 else (1.0 if w_syn.wer == 0 else math.inf)
    return {
        "available": True, "backend": asr_name, "synth": w_syn.to_dict(), "real": w_real.to_dict(),
        "ratio": ratio, "per_emotion": per_emotion,
        # An ASR that cannot follow the store's own recordings makes the ratio meaningless: no PASS from it.
        "informative": bool(w_real.wer <= MAX_REFERENCE_WER),
        "examples": [{"ref": t, "hyp": h, "spec": r.spec} for t, h, r in list(zip(texts, hyps, synth))[:10]],
    }  # fmt: skip


def _trim(audio: np.ndarray, sample_rate: int, top_db: float = 40.0, margin_s: float = 0.05) -> np.ndarray:
    """Cut leading/trailing silence as the feature store does (frames quieter than the loudest by > top_db)."""
    hop = frame_hop(sample_rate)
    level = frame_levels_db(audio.astype(np.float64), hop)
    loud = np.flatnonzero(level >= level.max() - top_db) if level.size else np.zeros(0, int)
    if loud.size == 0:
        return audio
    margin = int(margin_s * sample_rate)
    return audio[max(0, loud[0] * hop - margin) : min(audio.size, (loud[-1] + 1) * hop + margin)]


def _parallel_reference(s: Sentence, emotion: str) -> dict | None:
    recs = [
        r
        for r in s.records
        if r.get("emotion") == emotion and (s.speaker is None or r.get("speaker") == s.speaker)
    ]
    if not recs or s.speaker is None:
        return None
    return min(recs, key=lambda r: abs((r.get("intensity") if r.get("intensity") is not None else 1.0) - 1.0))


def _mcd_section(ctx: Context, store: Store) -> dict[str, Any]:
    from emovox.audio.mel import MelConfig, mel_spectrogram
    from emovox.config import config_from_dict
    from emovox.eval.mcd import f0_rmse_cents, mel_cepstral_distortion

    if ctx.renderer.sample_rate != store.sample_rate:
        return {"available": False, "reason": "the model and the store have different sample rates"}
    cfg = config_from_dict(MelConfig, store.mel_config, source=f"{store.path}/meta.json")
    rows = []
    for s in ctx.sentences:
        for e in ctx.emotions:
            ref = _parallel_reference(s, e)
            if ref is None:
                continue
            ref_audio = store.audio(ref["utt_id"])
            syn_audio = _trim(ctx.renderer.get(s.index, e).audio, store.sample_rate)
            ref_mel = store.mel(ref["utt_id"])
            ref_mel = mel_spectrogram(ref_audio, cfg).numpy() if ref_mel is None else ref_mel
            syn_mel = mel_spectrogram(syn_audio, cfg).numpy()
            res = mel_cepstral_distortion(ref_mel, syn_mel)
            f0r = track_f0(ref_audio, store.sample_rate).f0
            f0s = track_f0(syn_audio, store.sample_rate).f0
            n_r, n_s = min(len(f0r), res.n_ref), min(len(f0s), res.n_syn)
            path = res.path[(res.path[:, 0] < n_r) & (res.path[:, 1] < n_s)]
            rows.append({"sentence": s.index, "emotion": e, "ref": ref["utt_id"], "mcd_db": res.mcd_db,
                         **f0_rmse_cents(f0r, f0s, path)})  # fmt: skip
    if not rows:
        return {
            "available": False,
            "reason": "no parallel references (same text, speaker and emotion) in the store",
        }
    per_emotion = {
        e: float(np.mean([r["mcd_db"] for r in rows if r["emotion"] == e]))
        for e in {r["emotion"] for r in rows}
    }
    f0 = [r["rmse_cents"] for r in rows if math.isfinite(r["rmse_cents"])]
    return {
        "available": True, "n": len(rows), "mcd_db": float(np.mean([r["mcd_db"] for r in rows])),
        "f0_rmse_cents": float(np.mean(f0)) if f0 else math.nan,
        "vuv_error": float(np.mean([r["vuv_error"] for r in rows])), "per_emotion": per_emotion, "pairs": rows,
    }  # fmt: skip


def _mos_section(ctx: Context, store: Store) -> dict[str, Any]:
    """Distill-MOS of every kept rendering (held-out sentences × basic emotions) and of the store's recordings
    of the same sentences, overall and per emotion."""
    from emovox.eval.mos import predict_mos, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return {"available": False, "reason": reason}
    synth = [ctx.renderer.get(s.index, e) for s in ctx.sentences for e in ctx.emotions]
    synth_mos = predict_mos([r.audio for r in synth], ctx.renderer.sample_rate)
    real = [rec for s in ctx.sentences for rec in s.records[: ctx.plan.real_per_sentence]]
    real_mos = predict_mos([store.audio(rec["utt_id"]) for rec in real], store.sample_rate)

    def per_emotion(labels: list[str], scores: list[float]) -> dict[str, float]:
        return {e: finite_mean([x for x, lab in zip(scores, labels) if lab == e]) for e in ctx.emotions}

    return {
        "available": True, "model": "Distill-MOS v7 (distillmos)",
        "synth": finite_mean(synth_mos), "synth_n": len(synth_mos),
        "real": finite_mean(real_mos), "real_n": len(real_mos),
        "synth_per_emotion": per_emotion([r.spec for r in synth], synth_mos),
        "real_per_emotion": per_emotion([rec.get("emotion") for rec in real], real_mos),
    }  # fmt: skip


def _speaker_label(speaker: str | None) -> str:
    return "(default)" if speaker is None else str(speaker)


def _speaker_clip(ctx: Context, s: Sentence, speaker: str | None, spec: str) -> tuple[np.ndarray, bool]:
    """The rendering of sentence ``s`` by ``speaker`` under ``spec``: the kept one when the main renderings
    already have it (same speaker, spec and seed), else synthesised now. Returns (audio, synthesised)."""
    kept = ctx.renderer.cache.get(ctx.renderer.key(s.index, spec))
    if speaker == s.speaker and kept is not None and kept.audio is not None:
        return kept.audio, False
    tts, seed = ctx.renderer.tts, ctx.plan.seed + s.index
    audio, sr = tts.synthesize(s.text, emotion=spec, speaker=speaker, seed=seed)
    audio = np.asarray(audio, dtype=np.float32)
    usable = audio.ndim == 1 and audio.size > 0 and np.isfinite(audio).all()
    if not usable or int(sr) != ctx.renderer.sample_rate:
        raise ValueError(f"the model returned unusable audio for {s.text!r} ({spec}, speaker {speaker})")
    return audio, True


def _speaker_section(ctx: Context) -> dict[str, Any]:
    """Does the voice stay the voice? Per speaker, emotion and intensity: mean cosine similarity (resemblyzer
    d-vectors) between the emotional and the neutral rendering of the same sentence; per pair of speakers: the
    similarity of their neutral renderings of the same sentence. Both over ``ctx.sub``."""
    from emovox.eval.speaker import cosine_similarity, load_speaker_encoder, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return {"available": False, "reason": reason}
    model_speakers = list(ctx.renderer.tts.speakers)
    speakers: list[str | None] = model_speakers[: ctx.plan.max_speakers] or [None]
    specs = [(e, a, f"{e}:{a:g}") for e in ctx.non_neutral for a in ctx.plan.speaker_intensities]
    encoder = load_speaker_encoder()
    logger.info("speaker similarity: %d speakers × %d sentences × %d specs", len(speakers), len(ctx.sub),
                1 + len(specs))  # fmt: skip
    emb: dict[tuple[int, str | None, str], np.ndarray] = {}
    clips = 0
    for s in ctx.sub:
        for spk in speakers:
            for spec in ["neutral", *(spec for _, _, spec in specs)]:
                audio, synthesised = _speaker_clip(ctx, s, spk, spec)
                clips += synthesised
                emb[s.index, spk, spec] = encoder.embed(audio, ctx.renderer.sample_rate)

    def mean_sim(a: tuple[str | None, str], b: tuple[str | None, str]) -> float:
        """Mean over sentences of the similarity of (speaker, spec) renderings a and b."""
        return float(np.mean([cosine_similarity(emb[(s.index, *a)], emb[(s.index, *b)]) for s in ctx.sub]))

    same: dict[str, dict[str, dict[str, float]]] = {}  # speaker -> emotion -> intensity -> similarity
    cells = []  # (similarity, speaker, emotion, intensity)
    for spk in speakers:
        for e, a, spec in specs:
            value = mean_sim((spk, spec), (spk, "neutral"))
            same.setdefault(_speaker_label(spk), {}).setdefault(e, {})[f"{a:g}"] = value
            cells.append((value, _speaker_label(spk), e, f"{a:g}"))
    lowest = min(cells, default=(math.nan, None, None, None))
    person = {name: g for g in ctx.plan.same_person for name in g}
    all_pairs = {
        (a, b): mean_sim((a, "neutral"), (b, "neutral"))
        for i, a in enumerate(speakers)
        for b in speakers[i + 1 :]
    }
    same_person = {f"{_speaker_label(a)} / {_speaker_label(b)}": v for (a, b), v in all_pairs.items()
                   if a in person and person[a] == person.get(b)}  # fmt: skip
    pairs = {f"{_speaker_label(a)} / {_speaker_label(b)}": v for (a, b), v in all_pairs.items()
             if f"{_speaker_label(a)} / {_speaker_label(b)}" not in same_person}  # fmt: skip
    highest = max(pairs.items(), key=lambda kv: kv[1], default=(None, math.nan))
    per_speaker = {}  # each speaker's lowest cell against its nearest other speaker
    for spk in same:
        mine = {k: v for k, v in pairs.items() if spk in k.split(" / ")}
        nearest = max(mine, key=mine.get) if mine else None
        per_speaker[spk] = {"lowest": min(c[0] for c in cells if c[1] == spk),
                            "nearest_other": mine.get(nearest, math.nan),
                            "nearest_pair": nearest}  # fmt: skip
    return {
        "available": True, "encoder": "resemblyzer VoiceEncoder (GE2E d-vector, 16 kHz)",
        "speakers": [_speaker_label(spk) for spk in speakers], "model_speakers": len(model_speakers),
        "sentences": len(ctx.sub), "intensities": list(ctx.plan.speaker_intensities), "clips": clips,
        "same_speaker": same,
        "per_emotion": {e: {f"{a:g}": float(np.mean([same[sp][e][f"{a:g}"] for sp in same]))
                            for a in ctx.plan.speaker_intensities} for e in ctx.non_neutral},
        "same_mean": finite_mean([c[0] for c in cells]),
        "same_min": {"value": lowest[0], "speaker": lowest[1], "emotion": lowest[2], "intensity": lowest[3]},
        "per_speaker": per_speaker,
        "different": {"mean": finite_mean(list(pairs.values())), "max": highest[1], "max_pair": highest[0],
                      "pairs": pairs},
        "same_person_pairs": same_person,
        "above_different_max": float(np.mean([c[0] > highest[1] for c in cells])) if pairs and cells else math.nan,
        "margin": lowest[0] - highest[1],
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------------- evaluate


def _adv_grid(tts: Any, points: int) -> dict[str, list[float]]:
    """Per-axis sweep: within the ADV range the model saw in training (no extrapolation), else [-1, 1]."""
    info = tts.describe() if hasattr(tts, "describe") else {}
    ranges = info.get("adv_range") or {}
    grid = {}
    for axis in ADV_AXES:
        lo, hi = (
            (max(-1.0, float(ranges[axis][0])), min(1.0, float(ranges[axis][1])))
            if axis in ranges
            else (-1, 1)
        )
        if not hi - lo > 0.2:  # a corpus without spread on this axis: sweep the full range
            lo, hi = -1.0, 1.0
        grid[axis] = [float(round(v, 4)) for v in np.linspace(lo, hi, points)]
    return grid


def _target(name: str, value: float) -> dict[str, Any]:
    what, threshold, op = TARGETS[name]
    if value is None or not math.isfinite(value):
        status = "N/A"
    else:
        status = "PASS" if (value >= threshold if op == ">=" else value <= threshold) else "MISS"
    return {"what": what, "value": value, "target": f"{op} {threshold:g}", "status": status}


def _targets(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    adv = res["adv"]["axes"]
    wer = res["wer"]
    return {
        "emotion_accuracy": _target("emotion_accuracy", res["accuracy"]["synth_accuracy"]),
        "posterior_dominant": _target("posterior_dominant", res["accuracy"]["posterior_dominant"]),
        "intensity_rho": _target("intensity_rho", res["intensity"]["min_rho_p_target"]),
        "arousal_f0_r": _target("arousal_f0_r", adv["arousal"]["f0_st"]["r"]),
        "valence_ser_r": _target("valence_ser_r", adv["valence"]["ser_valence"]["r"]),
        "polarity_flip": _target("polarity_flip", res["polarity"]["va_flip_fraction"]),
        "wer_ratio": _target("wer_ratio", wer["ratio"] if wer.get("informative") else math.nan),
        "speaker_margin": _target("speaker_margin", res["speaker"].get("margin", math.nan)),
        "real_directions": _target("real_directions", res["directions"]["agreement"]),
    }


def evaluate(
    tts: Any,
    store: str | os.PathLike,
    ser: Any,
    *,
    sentences: int | None = None,
    seed: int = 0,
    plan: EvalPlan | None = None,
    asr: Any = "auto",
    progress: bool = False,
    others: dict[str, Any] | None = None,
    real_directions: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Evaluate an emotional TTS model; returns every number (JSON-serialisable, NaN for "not measured").

    Args:
        tts: an :class:`emovox.pipelines.EmotionalTTS` (or anything with ``emotions``, ``speakers`` and
            ``synthesize(text, emotion=, speaker=, seed=) -> (audio, sr)``; ``describe()`` is optional).
        store: a feature store (``emovox features``); its test split (else dev) gives the held-out sentences
            and the real recordings.
        ser: an :class:`emovox.ser.EmotionRecognizer` (anything with ``emotions``,
            ``predict_batch(audios, sample_rate=) -> [result with probs, label, adv]``; ``speakers`` optional).
        sentences: held-out sentences (overrides ``plan.sentences``).
        seed: sentence selection and synthesis seed (overrides ``plan.seed``).
        plan: grid sizes (:class:`EvalPlan`; ``EvalPlan.quick()`` for a smoke test).
        asr: ``"auto"``/``"whisper"``/``"pocketsphinx"``/``"none"`` or an object with ``transcribe(audio, sr)``.
        progress: show a progress bar.
        others: second-view recognisers by name (e.g. one trained on the voice's own corpus), scored on the
            same clips beside ``ser``, which stays the headline.
        real_directions: the real-speech direction table the F0, loudness and rate changes are compared with
            (:func:`emovox.eval.directions.load_real_directions`: an ``emovox eval corpus`` prosody_report.json or
            a table; None = the bundled RAVDESS medians).
    """
    plan = replace(plan or EvalPlan(), seed=seed, **({"sentences": sentences} if sentences else {}))
    real = load_real_directions(real_directions)  # read before minutes of synthesis
    st = Store.open(store)
    held, split = st.held_out()
    chosen = _pick_sentences(held, list(tts.speakers), plan.sentences, np.random.default_rng(plan.seed))
    emotions = [e for e in BASIC_EMOTIONS if e in tts.emotions]
    if not emotions or "neutral" not in emotions:
        raise ValueError(
            f"the model must know 'neutral' and basic emotions; it knows: {', '.join(tts.emotions)}"
        )
    renderer = Renderer(tts, ser, chosen, plan.seed, others=others)
    ctx = Context(plan, chosen, emotions, list(ser.emotions), _adv_grid(tts, plan.adv_points), renderer)
    jobs, keep = _jobs(ctx)
    logger.info("evaluation: %d sentences (%s split), %d clips to synthesise", len(chosen), split, len(jobs))
    renderer.add_references(emotions, progress)
    renderer.render_all(jobs, keep, progress)
    asr_backend, asr_name = _load_asr(asr)
    res: dict[str, Any] = {
        "meta": _meta(tts, st, split, chosen, plan, ser, asr_name, renderer),
        "accuracy": _accuracy_section(ctx, st, held, ser),
        "intensity": _intensity_section(ctx),
        "adv": _adv_section(ctx),
        "mixtures": _mixture_section(ctx),
        "polarity": _polarity_section(ctx),
        "wer": _wer_section(ctx, st, asr_backend, asr_name),
        "mcd": _mcd_section(ctx, st),
        "mos": _mos_section(ctx, st),
        "speaker": _speaker_section(ctx),
        "other_recognisers": _others_section(ctx),
        "renderings": [r.row() for r in renderer.cache.values()],
    }
    res["directions"] = direction_agreement(res["renderings"], real, [e for e in emotions if e != "neutral"])
    res["targets"] = _targets(res)
    return res


def _load_asr(asr: Any) -> tuple[Any, str]:
    if not isinstance(asr, str):
        return asr, getattr(asr, "name", type(asr).__name__)
    from emovox.eval.asr import load_asr

    backend, name = load_asr(asr)
    return backend, name


def _meta(tts, st, split, chosen, plan, ser, asr_name, renderer) -> dict[str, Any]:
    info = tts.describe() if hasattr(tts, "describe") else {}
    return {
        "emovox_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "store": str(st.path), "split": split, "sample_rate": renderer.sample_rate,
        "model": {k: info.get(k) for k in ("speakers", "emotions", "adv_range", "diffusion_steps")},
        "recogniser_emotions": list(ser.emotions), "asr": asr_name,
        "recogniser": {"type": getattr(ser, "type", "cnn"), "normalise": getattr(ser, "normalise", "none"),
                       "reference_clips": dict(renderer.references),
                       "reference_session": {k: list(v) for k, v in REFERENCE_SESSION.items()}},
        "plan": asdict(plan), "clips": len(renderer.cache),
        "sentences": [{"index": s.index, "text": s.text, "speaker": s.speaker} for s in chosen],
    }  # fmt: skip


# ----------------------------------------------------------------------------------------------------- output


def _md_recogniser(rec: dict[str, Any]) -> list[str]:
    if not rec.get("reference_clips"):
        return []
    refs = ", ".join(f"{k} {v}" for k, v in rec["reference_clips"].items())
    return [
        f"The recogniser ({rec.get('type')}) normalises each voice's features by that voice's statistics "
        f"({rec.get('normalise')}), as it was trained on each actor: the reference set of a voice is that voice "
        f"saying its held-out sentences in every emotion the recogniser knows, {_session_words(rec)} "
        f"(clips: {refs})."
    ]


def _session_words(rec: dict[str, Any]) -> str:
    session = rec.get("reference_session")
    if not session:  # reports written before the reference mirrored a training session
        return "at intensity 1"
    levels = ", ".join(f"{v:g}" for v in session["other"])
    return (
        f"neutral at intensity {', '.join(f'{v:g}' for v in session['neutral'])} and every other emotion at "
        f"{levels}, as an actor's session spans them"
    )


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _json_safe(x.tolist())
    return x


def write_report(result: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``report.json`` (NaN as null), ``report.md`` and ``plots/*.png``; returns the paths."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    try:
        from emovox.eval.plots import write_plots

        plots = write_plots(result, out / "plots")
    except ImportError as exc:  # matplotlib is in the eval extra; the numbers do not need it
        logger.warning("no plots (%s); install emovox[eval] for them", exc)
        plots = {}
    paths = {"json": out / "report.json", "markdown": out / "report.md"}
    atomic_write_text(paths["json"], json.dumps(_json_safe(result), indent=2, sort_keys=True) + "\n")
    atomic_write_text(
        paths["markdown"], render_markdown(result, {k: p.relative_to(out) for k, p in plots.items()})
    )
    return {**paths, **{f"plot:{k}": p for k, p in plots.items()}}


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]


def _status_line(res: dict[str, Any], name: str) -> str:
    t = res["targets"][name]
    return f"**Target** ({t['what']}) {t['target']}: measured {_f(t['value'])} — **{t['status']}**"


def render_markdown(res: dict[str, Any], plots: dict[str, Path] | None = None) -> str:
    """The report as Markdown (plots referenced by relative path)."""
    plots = plots or {}
    meta = res["meta"]
    lines = [
        "# emovox evaluation report", "",
        f"emovox {meta['emovox_version']}, {meta['created']}. Store `{meta['store']}`, split: {meta['split']}; "
        f"{len(meta['sentences'])} sentences, {meta['clips']} synthesised clips at {meta['sample_rate']} Hz. "
        f"Recogniser classes: {', '.join(meta['recogniser_emotions'])}. ASR: {meta['asr']}.",
        *_md_recogniser(meta.get("recogniser") or {}),
        "",
        "## Summary", "",
        *_table(["target", "measured", "required", "status"],
                [[t["what"], t["value"], t["target"], t["status"]] for t in res["targets"].values()]), "",
    ]  # fmt: skip
    for section in (
        _md_accuracy,
        _md_intensity,
        _md_adv,
        _md_mixtures,
        _md_polarity,
        _md_wer,
        _md_mcd,
        _md_mos,
        _md_speaker,
        _md_directions,
        _md_others,
    ):
        lines += [*section(res, plots), ""]
    return "\n".join(lines)


def _md_directions(res, plots) -> list[str]:
    d = res.get("directions")
    if not d:
        return []

    def table(scored: bool) -> list[list[Any]]:
        return [
            [f"{r['emotion']}:{r['intensity']}", r["cue"], r["synthesised"], r["real"], r["n"],
             "yes" if r["agrees"] else ("no" if r["agrees"] is False else "–")]
            for r in d["rows"] if r.get("scored", True) == scored
        ]  # fmt: skip

    header = ["emotion", "cue", "synthesised", "real", "n", "same direction"]
    shown = table(scored=False)
    return [
        "## 10. Directions of real speech", "",
        _status_line(res, "real_directions"), "",
        "Median change of each emotion against the neutral rendering of the same sentence and speaker (F0 in "
        "semitones, loudness in dB, rate as neutral's active duration over the rendering's: > 1 is faster), beside "
        f"real speech ({d['source'] or 'the given table'}): the real corpus's lower level is compared with "
        "intensity 1, its higher level with intensity 2.", "",
        *_table(header, table(scored=True)), "",
        f"Opposite to real speech: {', '.join(d['mismatches']) or 'none'}.", "",
        *([
            "How sentences end, shown and not scored: the change of the final F0 movement (the median F0 of the "
            "last 250 ms of voicing against the utterance's, semitones; > 0 = the end rises more than in "
            "neutral).", "",
            *_table(header, shown), "",
            f"Opposite to real speech: {', '.join(d.get('shown_mismatches', [])) or 'none'}.",
        ] if shown else []),
    ]  # fmt: skip


def _img(plots: dict[str, Path], key: str) -> list[str]:
    return [f"![{key}]({plots[key].as_posix()})", ""] if key in plots else []


def _md_others(res, plots) -> list[str]:
    others = res.get("other_recognisers") or {}
    if not others:
        return []
    a, i = res["accuracy"], res["intensity"]
    names = list(others)
    emotions = a["emotions"]
    rows = [["accuracy", a["synth_accuracy"], *(others[n]["synth_accuracy"] for n in names)],
            ["P(target) highest when requested", a["posterior_dominant"],
             *(others[n]["posterior_dominant"] for n in names)]]  # fmt: skip
    rows += [[f"accuracy: {e}", a["synth_per_emotion"].get(e), *(others[n]["per_emotion"].get(e) for n in names)]
             for e in emotions]  # fmt: skip
    rows += [[f"intensity ρ: {e}", t["p_target"]["rho"], *(others[n]["intensity_rho"].get(e) for n in names)]
             for e, t in i["per_emotion"].items()]  # fmt: skip
    return [
        "## Second view: other recognisers on the same clips", "",
        "The headline recogniser (first column) beside the others given with `--ser`.", "",
        *_table(["measure", "headline", *names], rows),
    ]  # fmt: skip


def _md_accuracy(res, plots) -> list[str]:
    a = res["accuracy"]
    rows = [[e, a["synth_per_emotion"].get(e), a["real_per_emotion"].get(e)] for e in a["emotions"]]
    notes = []
    if a["not_classifiable"]:
        notes = [f"Not scored (the recogniser has no such class): {', '.join(a['not_classifiable'])}.", ""]
    return [
        "## 1. Emotion accuracy", "", _status_line(res, "emotion_accuracy"), "",
        f"Synthesised: {_f(a['synth_accuracy'])} over {a['synth_n']} clips. The recogniser on the store's own "
        f"recordings ({a['real_selection']}): {_f(a['real_accuracy'])} over {a['real_n']} clips — this bounds "
        "what the synthesised speech can score.", "", *notes,
        *_table(["emotion", "synthesised", "real recordings"], rows), "", *_img(plots, "confusion"),
    ]  # fmt: skip


def _md_intensity(res, plots) -> list[str]:
    i = res["intensity"]
    rows = [[e, *(t[m]["rho"] for m in INTENSITY_MEASURES)] for e, t in i["per_emotion"].items()]
    return [
        "## 2. Intensity", "", _status_line(res, "intensity_rho"), "",
        f"Spearman ρ between requested intensity ({', '.join(f'{x:g}' for x in i['intensities'])}) and each "
        "measure, values relative to each sentence's mean. F0/energy ρ is signed: negative means the emotion "
        f"lowers it (expected for low-arousal emotions). Lowest target-probability ρ: {_f(i['min_rho_p_target'])}.",
        "", *_table(["emotion", "P(target)", "F0 level", "F0 range", "energy"], rows), "",
        *_md_heard_as(i), *_img(plots, "intensity"),
    ]  # fmt: skip


def _md_heard_as(i: dict[str, Any]) -> list[str]:
    """What the recogniser hears at each intensity (reports written before this table have none)."""
    per = {e: t["heard_as"] for e, t in i["per_emotion"].items() if t.get("heard_as")}
    if not per:
        return []
    rows = [
        [e, *(f"{c['label']} {c['p']:.2f} ({c['p_target']:.2f})" for c in cells)] for e, cells in per.items()
    ]
    return [
        "What the recogniser hears at each intensity: the class with the highest mean probability over the "
        "sentences, that probability, and in brackets the mean probability of the requested emotion.", "",
        *_table(["emotion", *(f"{x:g}" for x in i["intensities"])], rows), "",
    ]  # fmt: skip


def _md_adv(res, plots) -> list[str]:
    axes = res["adv"]["axes"]
    rows = [[f"{axis} vs {m}", t[m]["r"], t[m]["slope"]] for axis, t in axes.items() for m in ADV_MEASURES]
    return [
        "## 3. ADV control", "", _status_line(res, "arousal_f0_r"), "", _status_line(res, "valence_ser_r"), "",
        "Each axis swept over the ADV range the model saw in training ("
        + "; ".join(f"{axis} {g[0]:g}..{g[-1]:g}" for axis, g in res["adv"]["grid"].items())
        + ") with the other two at neutral "
        "(a VA spec is the same as the A and V sweeps with D neutral). Pearson r and slope (units per unit of "
        "the axis; F0 in semitones, energy and tilt in dB, rate as neutral duration / duration) against values "
        "relative to each sentence's mean.", "",
        *_table(["axis vs measure", "r", "slope"], rows), "", *_img(plots, "adv"),
    ]  # fmt: skip


def _md_mixtures(res, plots) -> list[str]:
    pairs = res["mixtures"]["pairs"]
    if not pairs:
        return ["## 4. Mixtures", "", "No mixture pair has both emotions in the model and the recogniser."]
    rows = [[k, *(f"{_f(pa, 2)}/{_f(pb, 2)}" for pa, pb in zip(c["p_a"], c["p_b"])), c["rho_w_vs_pa_minus_pb"]]
            for k, c in pairs.items()]  # fmt: skip
    weights = next(iter(pairs.values()))["weights"]
    return [
        "## 4. Mixtures", "",
        "Mean recogniser posterior P(a)/P(b) along `a:w+b:(1-w)`; ρ is Spearman between w and P(a) − P(b). "
        "No target is set for it.", "",
        *_table(["a+b", *(f"w={w:g}" for w in weights), "ρ"], rows), "", *_img(plots, "mixtures"),
    ]  # fmt: skip


def _md_polarity(res, plots) -> list[str]:
    p = res["polarity"]
    rows = [[e, v] for e, v in p["per_emotion"].items()]
    per_m = ", ".join(f"{m} {_f(v)}" for m, v in p["per_measure"].items())
    return [
        "## 5. Polarity", "", _status_line(res, "polarity_flip"), "",
        f"A `-e` rendering flips when its move from the sentence's neutral rendering in the recogniser's "
        f"(arousal, valence) plane points against that of `e` (negative dot product); n = {p['n']}. Per "
        f"measure (sign of the change opposite): {per_m}.", "",
        *_table(["emotion", "flip fraction"], rows), "", *_img(plots, "polarity"),
    ]  # fmt: skip


def _md_wer(res, plots) -> list[str]:
    w = res["wer"]
    if not w.get("available"):
        return [
            "## 6. Intelligibility",
            "",
            _status_line(res, "wer_ratio"),
            "",
            f"WER unavailable: {w['reason']}.",
        ]
    rows = [[e, v] for e, v in w["per_emotion"].items()]
    caveat = [] if w.get("informative", True) else [
        f"The ASR misses more than {MAX_REFERENCE_WER:.0%} of the words of the store's own recordings, so the "
        f"ratio ({_f(w['ratio'])}) says nothing about the model: not judged.", ""]  # fmt: skip
    return [
        "## 6. Intelligibility", "", _status_line(res, "wer_ratio"), "", *caveat,
        f"ASR: {w['backend']}. WER of synthesised speech {_f(w['synth']['wer'])} "
        f"({w['synth']['n_ref_words']} words) vs the store's recordings of the same sentences "
        f"{_f(w['real']['wer'])} ({w['real']['n_ref_words']} words).", "",
        *_table(["emotion", "WER (synthesised)"], rows), "", *_img(plots, "wer"),
    ]  # fmt: skip


def _md_mcd(res, plots) -> list[str]:
    m = res["mcd"]
    if not m.get("available"):
        return ["## 7. MCD and F0 RMSE", "", f"Not computed: {m['reason']}."]
    rows = [[e, v] for e, v in sorted(m["per_emotion"].items())]
    return [
        "## 7. MCD and F0 RMSE", "",
        f"Against {m['n']} parallel references (same text, speaker and emotion): MCD {_f(m['mcd_db'])} dB "
        f"(DTW; 24 DCT cepstra of the log-mel, c0 excluded — see emovox.eval.mcd), F0 RMSE "
        f"{_f(m['f0_rmse_cents'])} cents over frames voiced in both, voicing error {_f(m['vuv_error'])}. "
        "No target is set for it.", "", *_table(["emotion", "MCD (dB)"], rows),
    ]  # fmt: skip


def _md_mos(res, plots) -> list[str]:
    m = res["mos"]
    if not m.get("available"):
        return ["## 8. MOS proxy", "", f"Not computed: {m['reason']}."]
    rows = [[e, v, m.get("real_per_emotion", {}).get(e)] for e, v in m.get("synth_per_emotion", {}).items()]
    return [
        "## 8. MOS proxy", "",
        f"Predicted MOS (1–5) by {m.get('model', 'distillmos')}: synthesised {_f(m['synth'])} over "
        f"{m.get('synth_n', 'n/a')} clips, the store's recordings of the same sentences {_f(m['real'])} over "
        f"{m.get('real_n', 'n/a')} clips. A proxy for naturalness, not a listening test; no target is set for it.",
        "", *_table(["emotion", "synthesised", "store recordings"], rows),
    ]  # fmt: skip


def _md_speaker(res, plots) -> list[str]:
    sp = res.get("speaker") or {"available": False, "reason": "not in this report"}
    head = ["## 9. Speaker similarity", ""]
    if "speaker_margin" in res.get("targets", {}):
        head += [_status_line(res, "speaker_margin"), ""]
    if not sp.get("available"):
        return [*head, f"Not measured: {sp['reason']}."]
    same, diff = sp["same_speaker"], sp["different"]
    rows = [[f"{e}:{a}", *(same[spk][e][a] for spk in same), sp["per_emotion"][e][a]]
            for e in sp["per_emotion"] for a in sp["per_emotion"][e]]  # fmt: skip
    per = sp["per_speaker"]
    rows += [["**lowest**", *(per[spk]["lowest"] for spk in same), sp["same_min"]["value"]],
             ["**nearest other speaker**", *(per[spk]["nearest_other"] for spk in same), diff["max"]]]  # fmt: skip
    low = sp["same_min"]
    n_spk = f"{len(sp['speakers'])} of the model's {sp['model_speakers']} speakers" if sp["model_speakers"] else (
        "the model's only voice")  # fmt: skip
    pair = f" ({diff['max_pair']})" if diff["max_pair"] else ""
    return [
        *head,
        f"Cosine similarity of speaker embeddings ({sp['encoder']}; 1 = same voice; different speakers "
        f"typically still score 0.5–0.8) between each emotional rendering and the neutral rendering of the same "
        f"speaker and sentence, mean over {sp['sentences']} sentences; {n_spk}. The claim: every cell is higher "
        "than the similarity between any two different speakers of the model (neutral, same sentence). The "
        "last rows put each speaker's lowest cell next to its most similar other speaker; the last column is the "
        "mean over speakers, and there the lowest cell and the most similar pair.", "",
        *_table(["emotion:intensity", *same, "all"], rows), "",
        f"Different speakers: mean {_f(diff['mean'])}, max {_f(diff['max'])}{pair} over {len(diff['pairs'])} "
        f"pairs. Lowest same-speaker cell: {_f(low['value'])} ({low['speaker']}, {low['emotion']}:"
        f"{low['intensity']}); fraction of cells above the different-speaker max: {_f(sp['above_different_max'])}.",
        *_md_same_person(sp.get("same_person_pairs") or {}),
        *_md_recorded_people(sp.get("recorded_people")),
    ]  # fmt: skip


def _md_recorded_people(ref: dict | None) -> list[str]:
    """The same check on recordings of real people (``emovox eval model --speaker-reference``)."""
    if not ref:
        return []
    diff = ref["different"]
    rows = [[level, v["cells"], v["mean"], v["lowest"], v["above_different_max"]]
            for level, v in ref["same_speaker"].items()]  # fmt: skip
    return [
        "",
        f"The same check on recordings of people ({ref['manifest']}: {ref['speakers']} speakers, {ref['clips']} "
        f"clips; each cell one speaker's emotion at one of the corpus's intensities against the same speaker's "
        f"neutral takes of the same text). Different people: mean {_f(diff['mean'])}, max {_f(diff['max'])} "
        f"({diff['max_pair']}) over {diff['pairs']} pairs.",
        "",
        *_table(
            ["corpus intensity", "cells", "mean", "lowest", "share above the different-people max"], rows
        ),
    ]


def _md_same_person(pairs: dict[str, float]) -> list[str]:
    if not pairs:
        return []
    listed = ", ".join(f"{k} {_f(v)}" for k, v in pairs.items())
    return [
        "",
        f"Not counted as different speakers (one recorded person, given with --same-person): {listed}.",
    ]
