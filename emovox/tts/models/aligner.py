"""The learned text-to-mel aligner of "One TTS Alignment To Rule Them All" (Badlani et al., ICASSP 2022).

Keys come from the phoneme embeddings, queries from the mel frames; the soft alignment is a softmax over
phonemes of ``-temperature * ||q - k||^2`` plus a beta-binomial prior that favours the diagonal early in
training. Monotonic alignment search (MAS, Kim et al. 2020) turns it into a hard alignment (durations); the
forward-sum loss trains the soft alignment and the binarisation loss pulls it towards the hard one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def beta_binomial_log_prior(
    x_lengths: torch.Tensor, y_lengths: torch.Tensor, scaling: float = 1.0
) -> torch.Tensor:
    """Log beta-binomial alignment prior, ``[B, T_mel, T_text]`` (−inf-free; padded cells are 0).

    Row ``i`` (1-based) of an utterance with ``N`` phonemes and ``M`` frames is BetaBinomial(N - 1, a, b) over
    the phoneme index with ``a = scaling * i`` and ``b = scaling * (M + 1 - i)`` (Badlani et al. 2022, eq. 7).
    """
    b_size = x_lengths.shape[0]
    t_text, t_mel = int(x_lengths.max()), int(y_lengths.max())
    device = x_lengths.device
    k = torch.arange(t_text, device=device, dtype=torch.float32)[None, None, :]  # phoneme index
    i = torch.arange(1, t_mel + 1, device=device, dtype=torch.float32)[None, :, None]  # frame index (1-based)
    n = (x_lengths.float() - 1).clamp(min=0)[:, None, None]
    m = y_lengths.float()[:, None, None]
    a = scaling * i
    b = scaling * (m + 1 - i).clamp(min=1e-3)

    def lbeta(p, q):
        return torch.lgamma(p) + torch.lgamma(q) - torch.lgamma(p + q)

    kk = torch.minimum(k, n)
    log_comb = torch.lgamma(n + 1) - torch.lgamma(kk + 1) - torch.lgamma(n - kk + 1)
    logp = log_comb + lbeta(kk + a, n - kk + b) - lbeta(a, b)
    valid = (k <= n) & (i <= m)
    return torch.where(valid, logp, torch.zeros((), device=device)).expand(b_size, t_mel, t_text)


class AlignmentEncoder(nn.Module):
    """Soft alignment between phoneme embeddings and mel frames.

    Args:
        n_mels: mel channels of the queries.
        text_channels: channels of the phoneme embeddings (keys).
        attn_channels: size of the shared key/query space.
        temperature: scale of the negative squared distance.
    """

    def __init__(self, n_mels: int, text_channels: int, attn_channels: int = 80, temperature: float = 5e-4):
        super().__init__()
        self.temperature = temperature
        self.key_proj = nn.Sequential(
            nn.Conv1d(text_channels, 2 * text_channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(2 * text_channels, attn_channels, 1),
        )
        self.query_proj = nn.Sequential(
            nn.Conv1d(n_mels, 2 * n_mels, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(2 * n_mels, n_mels, 1),
            nn.ReLU(),
            nn.Conv1d(n_mels, attn_channels, 1),
        )

    def forward(
        self,
        mel: torch.Tensor,
        text: torch.Tensor,
        x_mask: torch.Tensor,
        log_prior: torch.Tensor | None = None,
        g: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft alignment.

        Args:
            mel: ``[B, n_mels, T_mel]`` (zero on padding).
            text: ``[B, C, T_text]`` phoneme embeddings.
            x_mask: ``[B, T_text]`` True on valid phonemes.
            log_prior: ``[B, T_mel, T_text]`` or None.
            g: optional ``[B, C]`` added to the keys (speaker-dependent alignment).

        Returns:
            ``(soft [B, T_mel, T_text], log_probs [B, T_mel, T_text])``: the soft alignment (rows sum to 1 over
            valid phonemes) and the unnormalised-by-mask log scores used by the forward-sum loss.
        """
        if g is not None:
            text = text + g.unsqueeze(-1)
        keys = self.key_proj(text)  # [B, A, N]
        queries = self.query_proj(mel)  # [B, A, T]
        # ||q - k||^2 = ||q||^2 - 2 q.k + ||k||^2, without the [B, A, T, N] intermediate.
        dist = (
            queries.pow(2).sum(1).unsqueeze(-1)
            - 2 * torch.bmm(queries.transpose(1, 2), keys)
            + keys.pow(2).sum(1).unsqueeze(1)
        )
        scores = -self.temperature * dist  # [B, T, N]
        log_probs = F.log_softmax(scores.masked_fill(~x_mask[:, None, :], -1e4), dim=-1)
        if log_prior is not None:
            log_probs = log_probs + log_prior
        masked = log_probs.masked_fill(~x_mask[:, None, :], float("-inf"))
        soft = torch.softmax(masked, dim=-1)
        return soft, log_probs


def forward_sum_loss(
    log_probs: torch.Tensor, x_lengths: torch.Tensor, y_lengths: torch.Tensor, blank_logprob: float = -1.0
) -> torch.Tensor:
    """CTC-style forward-sum loss over all monotonic alignments (Badlani et al. 2022, eq. 4).

    ``log_probs [B, T, N]``. One batched CTC call: each item's text positions beyond its length are masked
    out of the softmax, so the result equals the per-item loss averaged over the batch.
    """
    b, _, n_max = log_probs.shape
    padded = F.pad(log_probs.float(), (1, 0), value=blank_logprob)  # blank at index 0: [B, T, N+1]
    classes = torch.arange(n_max + 1, device=log_probs.device)
    padded = padded.masked_fill(classes[None, None, :] > x_lengths[:, None, None], -1e4)
    lp = F.log_softmax(padded, dim=-1).transpose(0, 1)  # [T, B, N+1]
    targets = classes[1:].unsqueeze(0).expand(b, n_max)
    return F.ctc_loss(
        lp, targets, y_lengths.cpu(), x_lengths.cpu(), blank=0, reduction="mean", zero_infinity=True
    )


def binarization_loss(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``-mean(log soft)`` over the cells of the hard alignment (Badlani et al. 2022, eq. 10)."""
    log_soft = torch.log(soft.clamp(min=1e-12))
    return -(hard * log_soft).sum() / hard.sum().clamp(min=1)
