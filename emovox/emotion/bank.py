"""The emotion bank and its algebra: every emotion control becomes one vector ``z`` (DESIGN.md).

After training, the reference encoder embeds the training utterances. The bank stores

- the neutral centre ``c0`` (mean ``z`` of neutral utterances; of all utterances when there are none),
- per emotion ``e`` the direction ``d_e = mean(z | e) - c0`` (EmoKnob, Chen et al. 2024), globally and per
  speaker (``mean(z | s, e) - mean(z | s, neutral)``),
- a linear map ``M`` from arousal/dominance/valence to ``z`` offsets, fitted by ridge regression on the
  utterances that have ADV values and on the emotions' canonical anchors (UDDETTS-style unification),
- per emotion whose utterances carry an intensity, an **intensity curve** ``o_e(α)``: the offset from ``c0`` of
  that emotion's utterances at intensity ``α`` (local-linear regression at knots 0.25, 0.5, …; ``α`` is each
  utterance's intensity over the emotion's mean intensity, so ``α = 1`` is "as in the data" and ``o_e(1) ≈ d_e``).
  The encoder's ``z`` is not linear in intensity — it moves fast at first and slowly once the emotion is clear —
  so the straight line ``α·d_e`` overshoots every rendering the model saw long before ``α = 2``; the curve follows
  the data to its strongest renderings and continues along its last segment beyond them.

Then, with ``α`` the intensity (1 = as in the data, 0 = neutral, < 0 = the opposite, up to 2):

- label ``e:α``             ``z = c0 + o_e(α)``  (``α·d_e`` for an emotion without a curve; ``o_e(-α) = -o_e(α)``)
- mixture ``Σ wᵢ·eᵢ:αᵢ``      ``z = c0 + Σ wᵢ·o_eᵢ(αᵢ)``        (weights normalised to sum to 1)
- ``adv:a,d,v`` / ``va:v,a``  ``z = c0 + M·(adv − adv_neutral)`` (VA keeps dominance neutral)
- reference clip            ``z = encoder(mel_ref)``, optionally ``c0 + α·(z_ref − c0)``.

Beyond intensity 1 an emotion may also carry a **prosody trend** ``t_e`` (``[6]``: log duration scale, F0 shift
in speaker standard deviations, energy shift in the model's normalised log-energy, vocal effort as a spectral
tilt of the mel in dB per octave above 500 Hz, the log of the F0 range's scale, and the final F0 movement in
semitones, each per unit of intensity): the acoustic model's own move from intensity 0.5 to 1, continued, the
flatter spectrum of more effortful speech, a wider (or narrower) melody and a sentence end that falls or rises.
``e:α`` with ``|α| > 1`` then also scales durations by ``exp((|α| − 1)·t_e[0])``, shifts the predicted F0 and
energy by ``(|α| − 1)·t_e[1:3]``, tilts the mel by ``(|α| − 1)·t_e[3]``, scales the F0 contour around the
speaker's mean by ``exp((|α| − 1)·t_e[4])`` and bends the F0 of the sentence's last phonemes by
``(|α| − 1)·t_e[5]`` semitones, in a ramp that reaches it on the last one (mirrored for ``α < −1``; weighted like
``z`` in a mixture), so the emotion's rate, pitch, level, effort and melody keep moving the way they move up to 1
even where ``z`` saturates (:meth:`EmotionBank.prosody`). A bank without trends has none; a table with fewer
columns (banks written before effort, range or the final movement) reads as zeros in the missing ones.

An emotion may also carry a **prosody offset** ``p_e`` (``[6]``, the same cues) applied along the whole curve in
proportion to intensity: ``e:α`` adds ``α·p_e`` (``|α|``, mirrored, for every ``α``, weighted like ``z`` in a
mixture). It moves a cue the acoustic model renders the wrong way from intensity 0 on, where a trend beyond 1
cannot reach: the shipped voice's fear is faster than neutral because the corpus's fear rule says so, while
actors of real speech say fear slightly slower, and its happy sentences end level at intensity 2 where actors'
strong happy ends falling. A bank without offsets has none; a narrower table reads as zeros in the missing
columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from emovox.emotion.labels import CANONICAL, adv_anchor

__all__ = ["FINAL_SYMBOLS", "NO_PROSODY", "EmotionBank", "Prosody", "final_ramp"]

NO_PROSODY = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
""":meth:`EmotionBank.prosody` of a spec without a trend: (log duration scale, F0 shift, energy shift, tilt, log F0
range scale, final F0 movement in semitones)."""

Prosody = tuple[float, float, float, float, float, float]
"""The prosody controls of a spec, in the order of :data:`NO_PROSODY`."""

FINAL_SYMBOLS = 6
"""An emotion's final F0 movement ramps over a sentence's last six sounds (phoneme symbols: about 0.3 s)."""


def final_ramp(spoken: Sequence[bool]) -> list[float]:
    """Per symbol, the share of a sentence's final F0 movement it takes: a linear ramp over the last
    :data:`FINAL_SYMBOLS` sounds (``spoken``), 1 on the last one and on the silent symbols after it, 0 before."""
    ramp = [0.0] * len(spoken)
    positions = [i for i, s in enumerate(spoken) if s][-FINAL_SYMBOLS:]
    for k, i in enumerate(positions, start=1):
        ramp[i] = k / len(positions)
    for i in range(positions[-1] + 1 if positions else len(spoken), len(spoken)):
        ramp[i] = 1.0
    return ramp


@dataclass
class EmotionBank:
    emotions: list[str]  # emotions with a direction (neutral included, with a zero direction)
    center: torch.Tensor  # [Dz] the neutral centre c0
    directions: torch.Tensor  # [E, Dz]
    speaker_directions: torch.Tensor  # [S, E, Dz]
    speaker_has: torch.Tensor  # [S, E] bool: the speaker has data for the emotion
    adv_map: torch.Tensor  # [Dz, 3] M
    adv_low: torch.Tensor  # [3] lowest ADV seen in the data (or anchors)
    adv_high: torch.Tensor  # [3] highest
    counts: torch.Tensor  # [E] utterances per emotion
    curve_knots: torch.Tensor | None = None  # [K] intensities of the curve's knots (increasing, > 0)
    curves: torch.Tensor | None = None  # [E, K, Dz] offsets from c0 at the knots (0 where not curve_has)
    curve_has: torch.Tensor | None = None  # [E] bool: the emotion has an intensity curve
    prosody_trend: torch.Tensor | None = None  # [E, 6] per unit of intensity beyond 1 (see the module docs)
    prosody_offset: torch.Tensor | None = None  # [E, 6] per unit of intensity from 0 (see the module docs)

    # --------------------------------------------------------------------------------------------- building

    @classmethod
    def compute(
        cls,
        z: torch.Tensor,
        emotions: Sequence[str | None],
        speakers: torch.Tensor,
        n_speakers: int,
        adv: torch.Tensor | None = None,
        adv_mask: torch.Tensor | None = None,
        ridge: float = 1e-2,
        intensity: torch.Tensor | None = None,
        adv_fit: str = "data",
    ) -> EmotionBank:
        """Fit the bank from embedded utterances.

        Args:
            z: ``[U, Dz]`` emotion vectors of the training utterances.
            emotions: ``U`` canonical labels (None = unlabelled).
            speakers: ``[U]`` speaker indices.
            n_speakers: number of speakers of the model.
            adv: ``[U, 3]`` ADV values; adv_mask ``[U]`` True where known.
            intensity: ``[U]`` each utterance's intensity (any positive scale; NaN where unknown): gives the
                intensity curves of the emotions that have enough of them.
            adv_fit: what the ADV map ``M`` is fitted on: ``"data"``, the ADV-annotated utterances with the
                emotions' anchors as a few extra points; ``"anchors"``, the canonical anchors alone (each
                emotion's direction at its literature ADV point), for corpora whose ADV values come from
                rendering rules rather than from listeners.
        """
        check_adv_fit(adv_fit)
        z = z.float()
        dz = z.shape[1]
        names = sorted(
            {e for e in emotions if e is not None},
            key=lambda n: list(CANONICAL).index(n) if n in CANONICAL else 99,
        )
        if "neutral" not in names:
            names.insert(0, "neutral")
        label_idx = torch.tensor(
            [names.index(e) if e is not None else -1 for e in emotions], dtype=torch.long
        )
        neutral = label_idx == names.index("neutral")
        center = z[neutral].mean(0) if neutral.any() else z.mean(0)
        e_count = len(names)
        directions = torch.zeros(e_count, dz)
        counts = torch.zeros(e_count, dtype=torch.long)
        for i in range(e_count):
            sel = label_idx == i
            counts[i] = int(sel.sum())
            if sel.any():
                directions[i] = z[sel].mean(0) - center
        spk_dirs = torch.zeros(n_speakers, e_count, dz)
        spk_has = torch.zeros(n_speakers, e_count, dtype=torch.bool)
        for s in range(n_speakers):
            mine = speakers == s
            s_neutral = mine & neutral
            s_center = z[s_neutral].mean(0) if s_neutral.any() else center
            for i in range(e_count):
                sel = mine & (label_idx == i)
                if sel.any():
                    spk_dirs[s, i] = z[sel].mean(0) - s_center
                    spk_has[s, i] = True
        adv_map, low, high = cls._fit_adv(
            z, center, names, directions, counts, adv, adv_mask, ridge, anchors_only=adv_fit == "anchors"
        )
        curves = _fit_curves(z - center, label_idx, intensity, e_count) if intensity is not None else None
        return cls(names, center, directions, spk_dirs, spk_has, adv_map, low, high, counts, *(curves or ()))

    @staticmethod
    def _fit_adv(z, center, names, directions, counts, adv, adv_mask, ridge, anchors_only=False):
        """Ridge fit of ``z - c0 = M·(adv - adv_neutral)`` on ADV-annotated utterances and emotion anchors (on the
        anchors alone with ``anchors_only``); the ADV range spans both either way."""
        xs, ys, seen = [], [], []
        if adv is not None and adv_mask is not None and adv_mask.any():
            seen.append(adv[adv_mask].float())
            if not anchors_only:
                xs.append(seen[-1])
                ys.append(z[adv_mask] - center)
        anchors = [
            (adv_anchor(n), directions[i]) for i, n in enumerate(names) if n in CANONICAL and counts[i] > 0
        ]
        if anchors:
            # Each emotion's mean direction sits at its anchor; weight anchors like a handful of utterances.
            weight = max(1, int(sum(len(x) for x in xs) // (10 * len(anchors)))) if xs else 1
            for a, d in anchors:
                xs.append(torch.tensor([a] * weight, dtype=torch.float32))
                ys.append(d.unsqueeze(0).repeat(weight, 1))
        x = torch.cat(xs) if xs else torch.zeros(1, 3)
        y = torch.cat(ys) if ys else torch.zeros(1, z.shape[1])
        xtx = x.T @ x + ridge * torch.eye(3)
        m = torch.linalg.solve(xtx, x.T @ y).T  # [Dz, 3]
        span = torch.cat([x, *seen])
        return m, span.min(0).values, span.max(0).values

    # --------------------------------------------------------------------------------------------- algebra

    def direction(self, name: str, speaker: int | None = None) -> torch.Tensor:
        if name not in self.emotions:
            raise ValueError(f"unknown emotion '{name}'; this model knows: {', '.join(self.emotions)}")
        i = self.emotions.index(name)
        if (
            speaker is not None
            and 0 <= speaker < self.speaker_has.shape[0]
            and bool(self.speaker_has[speaker, i])
        ):
            return self.speaker_directions[speaker, i]
        return self.directions[i]

    def offset(self, name: str, intensity: float = 1.0, speaker: int | None = None) -> torch.Tensor:
        """``z - c0`` of emotion ``name`` at ``intensity``: its curve where it has one, else ``α·d_e``; a speaker's
        own direction adds its difference from the global one, scaled by ``α``."""
        d = self.direction(name, speaker)
        i = self.emotions.index(name)
        if self.curves is None or self.curve_has is None or not bool(self.curve_has[i]):
            return intensity * d
        sign = -1.0 if intensity < 0 else 1.0
        return sign * _interpolate(self.curve_knots, self.curves[i], abs(intensity)) + intensity * (
            d - self.directions[i]
        )

    def label(self, name: str, intensity: float = 1.0, speaker: int | None = None) -> torch.Tensor:
        return self.center + self.offset(name, intensity, speaker)

    def mixture(self, parts: Sequence[tuple[str, float, float]], speaker: int | None = None) -> torch.Tensor:
        """``parts`` = (name, weight, intensity); weights are normalised to sum to 1."""
        total = sum(w for _, w, _ in parts)
        if not parts or total <= 0:
            raise ValueError("an emotion mixture needs at least one component with a positive weight")
        z = self.center.clone()
        for name, w, a in parts:
            z = z + (w / total) * self.offset(name, a, speaker)
        return z

    def prosody(self, spec: Any) -> Prosody:
        """The prosody controls of a parsed spec: (log duration scale, F0 shift in speaker standard deviations,
        normalised energy shift, mel tilt in dB per octave above 500 Hz, log F0 range scale, final F0 movement in
        semitones), the emotions' offsets in proportion to intensity plus their trends beyond intensity 1;
        :data:`NO_PROSODY` for ADV/VA specs and banks with neither."""
        if (self.prosody_trend is None and self.prosody_offset is None) or spec.kind != "label":
            return NO_PROSODY
        total = sum(c.weight for c in spec.components)
        out = torch.zeros(len(NO_PROSODY), dtype=torch.float64)
        for c in spec.components:
            if c.name not in self.emotions or total <= 0:
                continue
            i = self.emotions.index(c.name)
            sign = -1.0 if c.intensity < 0 else 1.0
            beyond = abs(c.intensity) - 1.0
            move = torch.zeros(len(NO_PROSODY), dtype=torch.float64)
            if self.prosody_offset is not None:
                move += abs(c.intensity) * self.prosody_offset[i].double()
            if self.prosody_trend is not None and beyond > 0:
                move += beyond * self.prosody_trend[i].double()
            out += (c.weight / total) * sign * move
        return tuple(float(x) for x in out)  # type: ignore[return-value]

    def from_adv(self, adv: Sequence[float]) -> torch.Tensor:
        """``z`` for an (arousal, dominance, valence) point; neutral is the origin."""
        a = torch.as_tensor(adv, dtype=torch.float32)
        return self.center + self.adv_map @ a

    def from_reference(self, z_ref: torch.Tensor, intensity: float = 1.0) -> torch.Tensor:
        return self.center + intensity * (z_ref - self.center)

    def resolve(self, spec: Any, speaker: int | None = None) -> torch.Tensor:
        """``z`` ``[Dz]`` for a parsed :class:`emovox.emotion.spec.EmotionSpec`."""
        if spec.kind in ("adv", "va"):
            return self.from_adv(spec.adv)
        return self.mixture([(c.name, c.weight, c.intensity) for c in spec.components], speaker)

    # --------------------------------------------------------------------------------------------- storage

    def to_tensors(self, prefix: str = "bank") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {
            f"{prefix}.{k}": getattr(self, k)
            for k in (
                "center",
                "directions",
                "speaker_directions",
                "speaker_has",
                "adv_map",
                "adv_low",
                "adv_high",
                "counts",
                "curve_knots",
                "curves",
                "curve_has",
                "prosody_trend",
                "prosody_offset",
            )
            if getattr(self, k) is not None
        }
        return tensors, {"emotions": list(self.emotions)}

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str = "bank"
    ) -> EmotionBank:
        p = prefix + "."
        try:
            fields = {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}
            bank = cls(emotions=list(meta["emotions"]), **fields)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the checkpoint's emotion bank is incomplete ({exc})") from exc
        if bank.directions.shape[0] != len(bank.emotions):
            raise ValueError("the checkpoint's emotion bank is inconsistent (directions vs emotion names)")
        parts = (bank.curve_knots, bank.curves, bank.curve_has)
        if any(p is not None for p in parts):
            e, dz = bank.directions.shape
            ok = all(p is not None for p in parts) and (
                bank.curve_knots.dim() == 1
                and bank.curve_knots.numel() >= 1
                and bool((bank.curve_knots > 0).all())
                and bool((bank.curve_knots.diff() > 0).all())
                and tuple(bank.curves.shape) == (e, bank.curve_knots.numel(), dz)
                and tuple(bank.curve_has.shape) == (e,)
                and bool(torch.isfinite(bank.curves).all())
            )
            if not ok:
                raise ValueError("the checkpoint's emotion bank is inconsistent (intensity curves)")
        for field, what in (("prosody_trend", "prosody trends"), ("prosody_offset", "prosody offsets")):
            table = getattr(bank, field)
            if table is None:
                continue
            table = pad_prosody_trend(table)
            if table.shape[:-1] != (bank.directions.shape[0],) or not prosody_trend_ok(table):
                raise ValueError(f"the checkpoint's emotion bank is inconsistent ({what})")
            setattr(bank, field, table)
        return bank


ADV_FITS = ("data", "anchors")  # what EmotionBank.compute fits the ADV map on


def check_adv_fit(adv_fit: str) -> None:
    if adv_fit not in ADV_FITS:
        raise ValueError(f"adv_fit must be one of {', '.join(ADV_FITS)}, got {adv_fit!r}")


MAX_PROSODY_TREND = 4.0
"""Largest rate, pitch or energy entry of a prosody trend a checkpoint may carry (per unit of intensity: e^4 in
duration, 4 standard deviations of F0 or energy); anything larger is a damaged or hostile file."""

MAX_EFFORT_TREND = 12.0
"""Largest effort entry (mel tilt, dB per octave above 500 Hz per unit of intensity) a checkpoint may carry."""

MAX_RANGE_TREND = 1.5
"""Largest F0-range entry (log of the range's scale per unit of intensity: e^1.5 ≈ 4.5 times) a checkpoint may
carry."""

MAX_FINAL_TREND = 6.0
"""Largest final-movement entry (semitones per unit of intensity) a checkpoint may carry."""

PROSODY_TREND_LIMITS = (
    MAX_PROSODY_TREND,
    MAX_PROSODY_TREND,
    MAX_PROSODY_TREND,
    MAX_EFFORT_TREND,
    MAX_RANGE_TREND,
    MAX_FINAL_TREND,
)
"""The bound of each column of a prosody trend."""


def pad_prosody_trend(trend: torch.Tensor) -> torch.Tensor:
    """A trend or offset table (``[..., C]``) with 3, 4 or 5 cues (written before the effort, range or final cues)
    padded with zeros to all of :data:`NO_PROSODY`'s; any other width is returned as it is (for
    :func:`prosody_trend_ok` to refuse)."""
    missing = len(NO_PROSODY) - (trend.shape[-1] if trend.dim() else 0)
    if trend.dim() and missing in (1, 2, 3):
        trend = torch.cat([trend, trend.new_zeros(*trend.shape[:-1], missing)], dim=-1)
    return trend


def prosody_trend_ok(trend: Any) -> bool:
    """Whether ``trend`` (one emotion's ``[6]`` or a table ``[E, 6]``) is finite and within
    :data:`PROSODY_TREND_LIMITS`, cue by cue."""
    trend = torch.as_tensor(trend, dtype=torch.float64)
    return (
        trend.dim() in (1, 2)
        and trend.shape[-1] == len(NO_PROSODY)
        and bool(torch.isfinite(trend).all())
        and bool((trend.abs() <= torch.tensor(PROSODY_TREND_LIMITS, dtype=torch.float64)).all())
    )


CURVE_STEP = 0.25  # spacing of the intensity curves' knots
CURVE_BANDWIDTH = 0.25  # Gaussian kernel width of the local-linear fit, in units of intensity
CURVE_MIN_UTTERANCES = 20  # fewer utterances with an intensity: the emotion keeps its straight direction


def _fit_curves(
    offsets: torch.Tensor, label_idx: torch.Tensor, intensity: torch.Tensor, n_emotions: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``(knots [K], curves [E, K, Dz], has [E])`` by local-linear regression of each emotion's offsets on its
    relative intensity (intensity / the emotion's mean intensity), or None when no emotion has enough data.

    Knots run from ``CURVE_STEP`` to the largest relative intensity of any emotion (at least 1); a knot past an
    emotion's own data continues its last supported segment (linear extrapolation)."""
    intensity = intensity.float()
    rel = {}
    for i in range(n_emotions):
        sel = (label_idx == i) & torch.isfinite(intensity) & (intensity > 0)
        if int(sel.sum()) < CURVE_MIN_UTTERANCES:
            continue
        r = intensity[sel]
        if float(r.max() - r.min()) <= 1e-6 * float(r.mean()):
            continue  # one intensity only: no curve to follow
        rel[i] = (r / r.mean(), offsets[sel])
    if not rel:
        return None
    top = max(1.0, max(float(a.max()) for a, _ in rel.values()))
    knots = torch.arange(1, int(top / CURVE_STEP + 1e-6) + 1, dtype=torch.float32) * CURVE_STEP
    curves = torch.zeros(n_emotions, len(knots), offsets.shape[1])
    has = torch.zeros(n_emotions, dtype=torch.bool)
    for i, (a, y) in rel.items():
        # a's mean is 1, so its maximum is at least 1 and the knots up to 1 are always supported
        supported = int((knots <= float(a.max()) + CURVE_STEP / 2).sum())
        for k in range(supported):
            curves[i, k] = _local_linear(a, y, float(knots[k]))
        last = supported - 1
        prev = curves[i, last - 1] if last > 0 else torch.zeros_like(curves[i, 0])
        slope = (curves[i, last] - prev) / CURVE_STEP  # knots are CURVE_STEP apart, the first one from 0
        for k in range(supported, len(knots)):
            curves[i, k] = curves[i, last] + (k - last) * CURVE_STEP * slope
        has[i] = True
    return knots, curves, has


def _local_linear(a: torch.Tensor, y: torch.Tensor, x: float) -> torch.Tensor:
    """Gaussian-weighted local-linear estimate of ``y`` at ``a = x`` (``a [N]``, ``y [N, D]``)."""
    w = torch.exp(-0.5 * ((a - x) / CURVE_BANDWIDTH) ** 2)
    w = w / w.sum().clamp(min=1e-12)
    mean_a = (w * a).sum()
    mean_y = (w[:, None] * y).sum(0)
    var = (w * (a - mean_a) ** 2).sum()
    if float(var) < 1e-8:
        return mean_y
    slope = (w[:, None] * (a - mean_a)[:, None] * (y - mean_y)).sum(0) / var
    return mean_y + (x - mean_a) * slope


def _interpolate(knots: torch.Tensor, values: torch.Tensor, x: float) -> torch.Tensor:
    """Piecewise-linear ``values [K, D]`` at ``x >= 0``, through the origin at 0 and extrapolated past the last
    knot along the last segment."""
    xs = torch.cat([knots.new_zeros(1), knots])
    ys = torch.cat([values.new_zeros(1, values.shape[1]), values])
    j = int(torch.searchsorted(xs, torch.tensor(float(x), dtype=xs.dtype), right=True)) - 1
    j = min(max(j, 0), len(xs) - 2)
    t = (x - float(xs[j])) / float(xs[j + 1] - xs[j])
    return ys[j] + t * (ys[j + 1] - ys[j])
