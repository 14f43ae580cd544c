"""The emotion bank and its algebra: every emotion control becomes one vector ``z`` (DESIGN.md).

After training, the reference encoder embeds the training utterances. The bank stores

- the neutral centre ``c0`` (mean ``z`` of neutral utterances; of all utterances when there are none),
- per emotion ``e`` the direction ``d_e = mean(z | e) - c0`` (EmoKnob, Chen et al. 2024), globally and per
  speaker (``mean(z | s, e) - mean(z | s, neutral)``),
- a linear map ``M`` from arousal/dominance/valence to ``z`` offsets, fitted by ridge regression on the
  utterances that have ADV values and on the emotions' canonical anchors (UDDETTS-style unification).

Then, with ``α`` the intensity (1 = as in the data, 0 = neutral, < 0 = the opposite, up to 2):

- label ``e:α``             ``z = c0 + α·d_e``
- mixture ``Σ wᵢ·eᵢ:αᵢ``      ``z = c0 + Σ wᵢ·αᵢ·d_eᵢ``        (weights normalised to sum to 1)
- ``adv:a,d,v`` / ``va:v,a``  ``z = c0 + M·(adv − adv_neutral)`` (VA keeps dominance neutral)
- reference clip            ``z = encoder(mel_ref)``, optionally ``c0 + α·(z_ref − c0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from emovox.emotion.labels import CANONICAL, adv_anchor

__all__ = ["EmotionBank"]


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
    ) -> EmotionBank:
        """Fit the bank from embedded utterances.

        Args:
            z: ``[U, Dz]`` emotion vectors of the training utterances.
            emotions: ``U`` canonical labels (None = unlabelled).
            speakers: ``[U]`` speaker indices.
            n_speakers: number of speakers of the model.
            adv: ``[U, 3]`` ADV values; adv_mask ``[U]`` True where known.
        """
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
        adv_map, low, high = cls._fit_adv(z, center, names, directions, counts, adv, adv_mask, ridge)
        return cls(names, center, directions, spk_dirs, spk_has, adv_map, low, high, counts)

    @staticmethod
    def _fit_adv(z, center, names, directions, counts, adv, adv_mask, ridge):
        """Ridge fit of ``z - c0 = M·(adv - adv_neutral)`` on ADV-annotated utterances and emotion anchors."""
        xs, ys = [], []
        if adv is not None and adv_mask is not None and adv_mask.any():
            xs.append(adv[adv_mask].float())
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
        return m, x.min(0).values, x.max(0).values

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

    def label(self, name: str, intensity: float = 1.0, speaker: int | None = None) -> torch.Tensor:
        return self.center + intensity * self.direction(name, speaker)

    def mixture(self, parts: Sequence[tuple[str, float, float]], speaker: int | None = None) -> torch.Tensor:
        """``parts`` = (name, weight, intensity); weights are normalised to sum to 1."""
        total = sum(w for _, w, _ in parts)
        if not parts or total <= 0:
            raise ValueError("an emotion mixture needs at least one component with a positive weight")
        z = self.center.clone()
        for name, w, a in parts:
            z = z + (w / total) * a * self.direction(name, speaker)
        return z

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
            )
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
        return bank
