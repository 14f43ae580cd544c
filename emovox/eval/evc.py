"""How well voice conversion works on real recordings: ``emovox eval evc``.

The neutral clips of a real corpus (a manifest from ``emovox prep``, e.g. RAVDESS actors) are converted to each
basic emotion at several intensities, then judged:

- **emotion**: a speech-emotion recogniser trained on real speech scores the source and every conversion; per
  emotion the mean P(target) before and after, the accuracy of the main emotions at intensity 1 and over all
  intensities, and the Spearman ρ between intensity and P(target) (each source's values centred first). A
  speaker-normalised recogniser gets each actor's own recordings (all emotions) as that actor's reference set.
- **speaker**: resemblyzer similarity of each conversion to its source; against the same-speaker mean of the
  corpus (different clips of one actor) and the similarity to the nearest other actor (centroids of their
  recordings): a conversion should still be closest to its own actor.
- **words**: WER of Whisper tiny.en on conversions over the WER on the sources (ratio).
- **timing**: duration of each conversion over its source's.
- **naturalness**: Distill-MOS of sources and conversions.
- **parallel pairs** (a parallel corpus such as emosynth, where each speaker says the same text neutral and in
  emotions at known intensities): each neutral source is also converted to every emotional rendering of its
  text by its speaker, at that rendering's emotion and intensity, and the mel-cepstral distortion (DTW, dB) to
  that real target is reported beside the source's own distance to it (no conversion), with the F0 error.
  Use a corpus of voices the conversion model never saw (held-out synthetic speakers).

The WORLD analysis of each source is made once and rendered for every (emotion, intensity), exactly as
:meth:`emovox.conversion.VoiceConversion.convert` would for a clip that fits one chunk.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emovox.eval.stats import centred_by_group, spearman

__all__ = ["EvcPlan", "evaluate_evc", "render_markdown"]

logger = logging.getLogger(__name__)

MAIN_EMOTIONS = ("happy", "sad", "angry", "fear")
WER_FLOOR = 0.01


@dataclass
class EvcPlan:
    emotions: Sequence[str] = ("happy", "sad", "angry", "fear", "surprise", "disgust", "calm")
    main: Sequence[str] = MAIN_EMOTIONS  # converted at every intensity; the others at 1 only
    intensities: Sequence[float] = (0.5, 1.0, 1.5, 2.0)
    sources_per_speaker: int = 4  # neutral clips per actor
    speakers: Sequence[str] = ()  # only these actors (empty: all)
    held_out: Sequence[str] = ()  # actors the recogniser never saw: reported separately
    speaker_similarity: bool = True
    parallel: bool = True  # MCD to parallel emotional renderings, where the manifest has them
    wer: bool = True
    mos: bool = True
    seed: int = 0
    method: str = "prosody"  # the conversion method evaluated: prosody or neural
    targets: dict[str, float] = field(
        default_factory=lambda: {"accuracy_main": 0.5, "min_rho": 0.9, "wer_ratio": 1.3, "duration_dev": 0.25}
    )


@dataclass
class _Source:
    record: dict[str, Any]
    audio: np.ndarray
    analysis: Any


def _specs(plan: EvcPlan, known: Sequence[str]) -> list[tuple[str, float]]:
    out = []
    for e in plan.emotions:
        if e not in known:
            continue
        for a in plan.intensities if e in plan.main else (1.0,):
            out.append((e, float(a)))
    return out


def evaluate_evc(
    vc: Any,
    records: Sequence[dict[str, Any]],
    ser: Any,
    plan: EvcPlan | None = None,
    *,
    sample_rate: int = 22050,
    progress: bool = True,
) -> dict[str, Any]:
    """Convert the neutral clips of ``records`` (manifest rows of a real corpus) and judge them; returns the
    report as a dict (see the module docs)."""
    from tqdm import tqdm

    from emovox.audio.io import load_audio
    from emovox.evc.prosody import analyse_chunk, render_chunk

    plan = plan or EvcPlan()
    speakers = sorted({r["speaker"] for r in records if not plan.speakers or r["speaker"] in plan.speakers})
    rng = np.random.default_rng(plan.seed)
    sources: list[_Source] = []
    for spk in speakers:
        neutral = [r for r in records if r["speaker"] == spk and r.get("emotion") == "neutral"]
        if not neutral:
            logger.warning("speaker %s has no neutral clip: skipped", spk)
            continue
        pick = rng.choice(len(neutral), size=min(plan.sources_per_speaker, len(neutral)), replace=False)
        for i in sorted(pick):
            audio, _ = load_audio(neutral[i]["audio"], sample_rate)
            sources.append(_Source(neutral[i], audio, None))
    if not sources:
        raise ValueError("no neutral clip to convert: the manifest needs records with emotion 'neutral'")
    emotions_known = [e for e in vc.emotions if e in getattr(ser, "emotions", vc.emotions)]
    specs = _specs(plan, emotions_known)
    jobs = len(sources) * (1 + len(specs))
    logger.info("evc eval: %d sources × %d conversions", len(sources), len(specs))
    targets = _parallel_targets(records, sources, emotions_known) if plan.parallel else {}
    jobs += sum(len(v) for v in targets.values())
    bar = tqdm(total=jobs, desc="convert", disable=not progress, unit="clip")
    clips: dict[tuple[int, str], np.ndarray] = {}
    params_of = {f"{e}:{a:g}": vc.prosody_change(f"{e}:{a:g}") for e, a in specs}
    parallel: list[tuple[int, dict[str, Any], np.ndarray]] = []
    neural = plan.method == "neural"
    for i, s in enumerate(sources):
        if neural:  # the whole conversion, as `emovox convert --method neural` does it

            def render(spec: str, i: int = i, s: _Source = s) -> np.ndarray:
                return vc.convert(s.audio, sample_rate, spec, method="neural", seed=plan.seed + i)[0]
        else:  # the prosody path, with one WORLD analysis of the source for all its conversions
            s.analysis = analyse_chunk(s.audio, sample_rate)

            def render(spec: str, i: int = i, s: _Source = s) -> np.ndarray:
                params = params_of.get(spec) or vc.prosody_change(spec)
                return render_chunk(s.audio, s.analysis, params, np.random.default_rng(plan.seed + i))

        clips[i, "source"] = s.audio
        bar.update(1)
        for spec in params_of:
            clips[i, spec] = render(spec)
            bar.update(1)
        for target in targets.get(i, []):
            parallel.append((i, target, render(f"{target['emotion']}:{float(target['intensity']):g}")))
            bar.update(1)
        s.analysis = None  # free it
    bar.close()
    keys = list(clips)
    result: dict[str, Any] = {
        "sources": len(sources),
        "speakers": speakers,
        "held_out": [s for s in plan.held_out if s in speakers],
        "specs": list(params_of),
        "method": plan.method,
        "prosody": {} if neural else {k: v.as_dict() for k, v in params_of.items()},
        "conversion_model": vc.neural().meta.get("path") if neural else vc.meta.get("path"),
    }
    result["emotion"] = _emotion_section(
        ser, sources, clips, keys, specs, plan, sample_rate, records, progress
    )
    result["timing"] = _timing_section(sources, clips, keys, sample_rate)
    if plan.speaker_similarity:
        result["speaker"] = _speaker_section(sources, clips, keys, records, speakers, sample_rate)
    if plan.wer:
        result["wer"] = _wer_section(sources, clips, keys, sample_rate)
    if plan.mos:
        result["mos"] = _mos_section(sources, clips, keys, sample_rate)
    if parallel:
        result["parallel"] = _parallel_section(sources, parallel, sample_rate)
    result["targets"] = _targets(result, plan)
    return result


# ----------------------------------------------------------------------------------------------------- sections


def _emotion_section(
    ser, sources, clips, keys, specs, plan, sample_rate, records, progress
) -> dict[str, Any]:
    from emovox.ser.infer import add_manifest_references

    add_manifest_references(ser, records, [s.record["speaker"] for s in sources], sample_rate)
    preds = ser.predict_batch(
        [clips[k] for k in keys], sample_rate, speakers=[sources[i].record["speaker"] for i, _ in keys]
    )
    prob = {k: p.probs for k, p in zip(keys, preds)}
    label = {k: p.label for k, p in zip(keys, preds)}
    held = set(plan.held_out)
    out: dict[str, Any] = {"recogniser_classes": list(getattr(ser, "emotions", [])), "per_emotion": {}}
    for e in sorted({e for e, _ in specs}):
        intensities = [a for x, a in specs if x == e]
        before = [prob[i, "source"].get(e, math.nan) for i in range(len(sources))]
        row: dict[str, Any] = {"p_before": float(np.nanmean(before)), "by_intensity": {}}
        for a in intensities:
            spec = f"{e}:{a:g}"
            p = [prob[i, spec].get(e, math.nan) for i in range(len(sources))]
            hit = [label[i, spec] == e for i in range(len(sources))]
            hit_held = [h for i, h in enumerate(hit) if sources[i].record["speaker"] in held]
            row["by_intensity"][f"{a:g}"] = {
                "p_target": float(np.nanmean(p)),
                "accuracy": float(np.mean(hit)),
                "accuracy_held_out": float(np.mean(hit_held)) if hit_held else math.nan,
                "heard_as": _top_labels([label[i, spec] for i in range(len(sources))]),
            }
        one = row["by_intensity"].get("1", next(iter(row["by_intensity"].values())))
        row["p_after"] = one["p_target"]
        row["accuracy"] = one["accuracy"]
        row["accuracy_held_out"] = one["accuracy_held_out"]
        row["accuracy_all_intensities"] = float(
            np.mean([v["accuracy"] for v in row["by_intensity"].values()])
        )
        row["raised"] = bool(row["p_after"] > row["p_before"])
        if len(intensities) > 1:
            alphas, groups, values = [], [], []
            for i in range(len(sources)):
                for a in intensities:
                    alphas.append(a)
                    groups.append(i)
                    values.append(prob[i, f"{e}:{a:g}"].get(e, math.nan))
            row["rho"] = spearman(alphas, centred_by_group(values, groups))
            row["rho_of_means"] = spearman(
                intensities, [row["by_intensity"][f"{a:g}"]["p_target"] for a in intensities]
            )
        out["per_emotion"][e] = row
    main = [e for e in plan.main if e in out["per_emotion"]]
    out["accuracy_main"] = (
        float(np.mean([out["per_emotion"][e]["accuracy"] for e in main])) if main else math.nan
    )
    out["min_accuracy_main"] = (
        float(min(out["per_emotion"][e]["accuracy"] for e in main)) if main else math.nan
    )
    rhos = [out["per_emotion"][e].get("rho", math.nan) for e in main]
    out["min_rho"] = float(np.nanmin(rhos)) if rhos and not all(map(math.isnan, rhos)) else math.nan
    out["all_raised"] = all(r["raised"] for r in out["per_emotion"].values())
    out["source_heard_as"] = _top_labels([label[i, "source"] for i in range(len(sources))])
    return out


def _parallel_targets(
    records: Sequence[dict[str, Any]], sources: Sequence[_Source], emotions: Sequence[str]
) -> dict[int, list[dict[str, Any]]]:
    """Per source index: the records of the same speaker and text in a known emotion at a numeric intensity in
    (0, 2] (the source's parallel emotional renderings)."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        a = r.get("intensity")
        if r.get("emotion") in emotions and isinstance(a, (int, float)) and 0.0 < a <= 2.0:
            by_key[r["speaker"], r.get("text", "")].append(r)
    out = {}
    for i, s in enumerate(sources):
        text = s.record.get("text", "")
        if text and by_key.get((s.record["speaker"], text)):
            out[i] = by_key[s.record["speaker"], text]
    return out


def _parallel_section(
    sources: Sequence[_Source], parallel: Sequence[tuple[int, dict[str, Any], np.ndarray]], sample_rate: int
) -> dict[str, Any]:
    """MCD (dB) and F0 RMSE (cents) of each conversion to its parallel target, beside the source's own."""
    from emovox.audio.io import load_audio
    from emovox.audio.mel import MelConfig, mel_spectrogram
    from emovox.eval.mcd import f0_rmse_cents, mel_cepstral_distortion
    from emovox.eval.prosody import track_f0

    cfg = MelConfig()
    if sample_rate != cfg.sample_rate:
        return {"available": False, "reason": f"MCD is computed at {cfg.sample_rate} Hz"}

    def distance(
        ref: np.ndarray, ref_mel: np.ndarray, ref_f0: np.ndarray, syn: np.ndarray
    ) -> dict[str, float]:
        res = mel_cepstral_distortion(ref_mel, mel_spectrogram(syn, cfg).numpy())
        f0s = track_f0(syn, sample_rate).f0
        n_r, n_s = min(len(ref_f0), res.n_ref), min(len(f0s), res.n_syn)
        path = res.path[(res.path[:, 0] < n_r) & (res.path[:, 1] < n_s)]
        return {"mcd_db": res.mcd_db, "f0_rmse_cents": f0_rmse_cents(ref_f0, f0s, path)["rmse_cents"]}

    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    for i, target, converted in parallel:
        ref, _ = load_audio(target["audio"], sample_rate)
        ref_mel = mel_spectrogram(ref, cfg).numpy()
        ref_f0 = track_f0(ref, sample_rate).f0
        before = distance(ref, ref_mel, ref_f0, sources[i].audio)
        after = distance(ref, ref_mel, ref_f0, converted)
        rows[target["emotion"]].append({
            "mcd_before": before["mcd_db"], "mcd_after": after["mcd_db"],
            "f0_before": before["f0_rmse_cents"], "f0_after": after["f0_rmse_cents"],
        })  # fmt: skip
    per = {
        e: {"pairs": len(v), **{k: float(np.nanmean([r[k] for r in v])) for k in v[0]}}
        for e, v in sorted(rows.items())
    }
    every = [r for v in rows.values() for r in v]
    return {
        "available": True,
        "pairs": len(every),
        "per_emotion": per,
        "mcd_before": float(np.mean([r["mcd_before"] for r in every])),
        "mcd_after": float(np.mean([r["mcd_after"] for r in every])),
        "closer_share": float(np.mean([r["mcd_after"] < r["mcd_before"] for r in every])),
    }


def _top_labels(labels: Sequence[str]) -> dict[str, float]:
    counts: dict[str, int] = defaultdict(int)
    for x in labels:
        counts[x] += 1
    return {k: round(v / len(labels), 3) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:3]}


def _timing_section(sources, clips, keys, sample_rate) -> dict[str, Any]:
    ratios: dict[str, list[float]] = defaultdict(list)
    for i, spec in keys:
        if spec != "source":
            ratios[spec].append(clips[i, spec].size / clips[i, "source"].size)
    return {spec: float(np.mean(v)) for spec, v in ratios.items()}


def _speaker_section(sources, clips, keys, records, speakers, sample_rate) -> dict[str, Any]:
    from emovox.audio.io import load_audio
    from emovox.eval.speaker import cosine_similarity, load_speaker_encoder, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return {"available": False, "reason": reason}
    enc = load_speaker_encoder()
    source_paths = {s.record["audio"] for s in sources}
    real: dict[str, np.ndarray] = {}
    same_pairs = []
    for spk in speakers:
        mine = [r for r in records if r["speaker"] == spk and r["audio"] not in source_paths]
        emb = enc.embed_batch([load_audio(r["audio"], sample_rate)[0] for r in mine], sample_rate)
        if len(emb) >= 2:
            sims = cosine_similarity(emb[:, None, :], emb[None, :, :])
            same_pairs.append(float(sims[np.triu_indices(len(emb), 1)].mean()))
        real[spk] = emb.mean(axis=0)
    emb = {k: enc.embed(clips[k], sample_rate) for k in keys}
    to_source, own, nearest_other, identified = defaultdict(list), [], [], []
    for i, spec in keys:
        if spec == "source":
            continue
        spk = sources[i].record["speaker"]
        to_source[spec.split(":")[0]].append(float(cosine_similarity(emb[i, spec], emb[i, "source"])))
        sims = {s: float(cosine_similarity(emb[i, spec], c)) for s, c in real.items()}
        own.append(sims[spk])
        others = [v for s, v in sims.items() if s != spk]
        nearest_other.append(max(others) if others else math.nan)
        identified.append(bool(not others or sims[spk] > max(others)))
    all_to_source = [v for vs in to_source.values() for v in vs]
    return {
        "available": True,
        "encoder": "resemblyzer VoiceEncoder (GE2E d-vector, 16 kHz)",
        "to_source_mean": float(np.mean(all_to_source)),
        "to_source_min": float(np.min(all_to_source)),
        "to_source_per_emotion": {e: float(np.mean(v)) for e, v in to_source.items()},
        "same_speaker_corpus_mean": float(np.mean(same_pairs)) if same_pairs else math.nan,
        "to_own_actor_mean": float(np.mean(own)),
        "to_nearest_other_actor_mean": float(np.nanmean(nearest_other)),
        "identified": float(np.mean(identified)),
    }


def _wer_section(sources, clips, keys, sample_rate) -> dict[str, Any]:
    from emovox.eval.asr import load_asr, word_error_rate

    asr, name = load_asr("whisper")
    if asr is None:
        return {"available": False, "reason": name}
    hyps = {k: asr.transcribe(clips[k], sample_rate) for k in keys}
    text = {i: s.record.get("text", "") for i, s in enumerate(sources)}
    src = word_error_rate(
        [text[i] for i, sp in keys if sp == "source"], [h for (i, sp), h in hyps.items() if sp == "source"]
    )
    conv_keys = [k for k in keys if k[1] != "source"]
    conv = word_error_rate([text[i] for i, _ in conv_keys], [hyps[k] for k in conv_keys])
    per = defaultdict(list)
    for k in conv_keys:
        per[k[1].split(":")[0]].append(k)
    per_emotion = {
        e: word_error_rate([text[i] for i, _ in ks], [hyps[k] for k in ks]).wer for e, ks in per.items()
    }
    # A floor of one error per 100 words on the source's WER keeps the ratio finite when Whisper gets every source
    # word right (RAVDESS's two sentences are short and clear).
    ratio = conv.wer / max(src.wer, WER_FLOOR)
    return {"available": True, "backend": name, "source": src.wer, "converted": conv.wer, "ratio": ratio,
            "ratio_floor": WER_FLOOR,
            "per_emotion": per_emotion}  # fmt: skip


def _mos_section(sources, clips, keys, sample_rate) -> dict[str, Any]:
    from emovox.eval.mos import predict_mos, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return {"available": False, "reason": reason}
    scores = dict(zip(keys, predict_mos([clips[k] for k in keys], sample_rate)))
    per = defaultdict(list)
    for (_, spec), v in scores.items():
        per[spec.split(":")[0]].append(v)
    return {
        "available": True,
        "model": "Distill-MOS",
        "per_emotion": {e: float(np.mean(v)) for e, v in per.items()},
    }


def _targets(res: dict[str, Any], plan: EvcPlan) -> dict[str, dict[str, Any]]:
    t = plan.targets
    emo = res["emotion"]
    out = {
        "P(target) raised for every emotion": {"value": emo["all_raised"], "target": True},
        "accuracy, main emotions at 1 (each)": {
            "value": emo["min_accuracy_main"],
            "target": t["accuracy_main"],
        },
        "intensity ρ (lowest main emotion)": {"value": emo["min_rho"], "target": t["min_rho"]},
    }
    if res.get("speaker", {}).get("available"):
        sp = res["speaker"]
        out["speaker sim. to source ≥ corpus same-speaker mean − 0.05"] = {
            "value": sp["to_source_mean"],
            "target": sp["same_speaker_corpus_mean"] - 0.05,
        }
        out["closest to its own actor"] = {"value": sp["identified"], "target": 1.0}
    if res.get("wer", {}).get("available"):
        out["WER ratio converted / source (≤)"] = {
            "value": res["wer"]["ratio"],
            "target": t["wer_ratio"],
            "le": True,
        }
    for row in out.values():
        v, target = row["value"], row["target"]
        row["met"] = (
            bool(v is True)
            if isinstance(target, bool)
            else (bool(v <= target) if row.get("le") else bool(v >= target))
            if isinstance(v, (int, float)) and math.isfinite(v)
            else False
        )
    return out  # fmt: skip


# ----------------------------------------------------------------------------------------------------- report


def _f(x: Any, digits: int = 2) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        return "–" if not math.isfinite(x) else f"{x:.{digits}f}"
    return str(x)


def render_markdown(res: dict[str, Any]) -> str:
    emo = res["emotion"]
    lines = [
        "# Voice conversion evaluation",
        "",
        f"{res['sources']} neutral source clips of {len(res['speakers'])} speakers ({', '.join(res['speakers'])}); "
        f"held out from the recogniser: {', '.join(res['held_out']) or 'none stated'}. Conversion method: "
        f"{res.get('method', 'prosody')} (model {res.get('conversion_model')}).",
        "",
        "## Targets",
        "",
        "| check | value | target | met |",
        "|---|---|---|---|",
    ]
    for name, row in res["targets"].items():
        lines.append(
            f"| {name} | {_f(row['value'])} | {_f(row['target'])} | {'yes' if row['met'] else 'no'} |"
        )
    lines += ["", "## Emotion (real-speech recogniser)", "",
              "| emotion | P before | P after (1) | accuracy (1) | accuracy held-out (1) | ρ | heard as (1) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for e, row in emo["per_emotion"].items():
        one = row["by_intensity"].get("1", {})
        heard = ", ".join(f"{k} {v:.2f}" for k, v in one.get("heard_as", {}).items())
        lines.append(f"| {e} | {_f(row['p_before'])} | {_f(row['p_after'])} | {_f(row['accuracy'])} | "
                     f"{_f(row['accuracy_held_out'])} | {_f(row.get('rho', math.nan))} | {heard} |")  # fmt: skip
    lines += [
        "",
        f"Sources heard as: {', '.join(f'{k} {v:.2f}' for k, v in emo['source_heard_as'].items())}.",
        "",
    ]
    main = [e for e in emo["per_emotion"] if len(emo["per_emotion"][e]["by_intensity"]) > 1]
    if main:
        ints = list(emo["per_emotion"][main[0]]["by_intensity"])
        lines += [
            "P(target) by intensity:",
            "",
            "| emotion | " + " | ".join(ints) + " |",
            "|---" * (len(ints) + 1) + "|",
        ]
        for e in main:
            bi = emo["per_emotion"][e]["by_intensity"]
            lines.append(f"| {e} | " + " | ".join(_f(bi[a]["p_target"]) for a in ints) + " |")
        lines.append("")
    if res.get("speaker", {}).get("available"):
        sp = res["speaker"]
        lines += ["## Speaker", "",
                  f"Similarity to the source: mean {_f(sp['to_source_mean'])}, lowest {_f(sp['to_source_min'])}; "
                  f"same speaker in the corpus (different clips): {_f(sp['same_speaker_corpus_mean'])}; to the own "
                  f"actor's centroid {_f(sp['to_own_actor_mean'])} vs the nearest other actor "
                  f"{_f(sp['to_nearest_other_actor_mean'])}; closest to its own actor: {_f(sp['identified'])}.", ""]  # fmt: skip
    if res.get("wer", {}).get("available"):
        w = res["wer"]
        lines += ["## Words", "", f"WER ({w['backend']}): sources {_f(w['source'], 3)}, conversions "
                  f"{_f(w['converted'], 3)}, ratio {_f(w['ratio'])} (source WER floored at {w['ratio_floor']}).", ""]  # fmt: skip
    if res.get("mos", {}).get("available"):
        m = res["mos"]["per_emotion"]
        lines += ["## Naturalness (Distill-MOS)", "", "| " + " | ".join(m) + " |", "|---" * len(m) + "|",
                  "| " + " | ".join(_f(v) for v in m.values()) + " |", ""]  # fmt: skip
    if res.get("parallel", {}).get("available"):
        par = res["parallel"]
        lines += ["## Parallel targets", "",
                  f"{par['pairs']} conversions of a neutral source to an emotional rendering of the same text by the "
                  f"same speaker, at that rendering's emotion and intensity. Mel-cepstral distortion to the "
                  f"rendering: {_f(par['mcd_before'])} dB for the unconverted source, {_f(par['mcd_after'])} dB "
                  f"after conversion; closer after conversion for {_f(100 * par['closer_share'], 0)} % of pairs.",
                  "", "| emotion | pairs | MCD source (dB) | MCD converted (dB) | F0 RMSE source (cents) | "
                  "F0 RMSE converted (cents) |", "|---|---|---|---|---|---|"]  # fmt: skip
        for e, r in par["per_emotion"].items():
            lines.append(f"| {e} | {r['pairs']} | {_f(r['mcd_before'])} | {_f(r['mcd_after'])} | "
                         f"{_f(r['f0_before'], 0)} | {_f(r['f0_after'], 0)} |")  # fmt: skip
        lines.append("")
    lines += ["## Duration (converted / source)", "", "| spec | ratio |", "|---|---|"]
    lines += [f"| {k} | {_f(v)} |" for k, v in res["timing"].items()]
    return "\n".join(lines) + "\n"


def write_report(res: dict[str, Any], out_dir: str | os.PathLike) -> None:
    import json
    from pathlib import Path

    from emovox.fileio import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "evc_report.json", json.dumps(res, indent=1, default=float) + "\n")
    atomic_write_text(out / "evc_report.md", render_markdown(res))
