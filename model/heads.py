"""Task heads: the paper's Section 4.1.1 (Equations 1-5), and a cosine variant that starts
from the encoder's own sentence geometry.

F is the encoder's hidden size, d the projection size. Shapes are per batch of B examples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.spec import HeadSpec

N_SENTIMENT = 5
STS_ALPHA, STS_BETA = 1.0, 2.5  # Eq. 5: (cos + 1) * 2.5 maps [-1, 1] to [0, 5]


class SentimentHead(nn.Module):
    """SST: a 5-way classifier on the sentence vector. (B, F) -> logits (B, 5)."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, N_SENTIMENT)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(u))


class PairHead(nn.Module):
    """Para / STS last layer. Returns one scalar per pair, shape (B,).

    design 1 (Eq. 1): [B(x1); B(x2)] W + b, W in R^{2F x 1}.
    design 2 (Eq. 2): A(B(x1) W1 + b1, B(x2) W2 + b2), W1, W2 in R^{F x d}.
    design 3 (Eq. 3): A(B([x1; x2]) W1 + b1, B([x1; x2]) W2 + b2), one joint encoding.
    aggregate "dot" is Eq. 4 (a logit for Para); "cosine" is Eq. 5 (a score in [0, 5] for STS).
    """

    def __init__(
        self, design: int, hidden: int, proj_dim: int, aggregate: str, dropout: float
    ) -> None:
        super().__init__()
        if aggregate not in ("dot", "cosine"):
            raise ValueError(f"aggregate={aggregate!r}: must be dot or cosine")
        self.design, self.aggregate = design, aggregate
        self.dropout = nn.Dropout(dropout)
        if design == 1:
            self.affine = nn.Linear(2 * hidden, 1)
        else:
            self.proj1 = nn.Linear(hidden, proj_dim)
            self.proj2 = nn.Linear(hidden, proj_dim)

    def forward(self, u: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """u: (B, F), the first sentence (design 1, 2) or the joint pair (design 3); v: (B, F)."""
        if self.design == 3:
            v = u  # both projections read the same joint [CLS]
        if v is None:
            raise ValueError(f"design {self.design} encodes the sentences separately: pass v")
        u, v = self.dropout(u), self.dropout(v)
        if self.design == 1:
            return self.affine(torch.cat([u, v], dim=-1)).squeeze(-1)
        p1, p2 = self.proj1(u), self.proj2(v)  # (B, d) each
        if self.aggregate == "dot":
            return (p1 * p2).sum(-1)  # Eq. 4
        # Eq. 5. Rounding can put cos a hair outside [-1, 1] (e.g. 1 + 6e-8): clamp, so the
        # score stays in [0, 5].
        cos = F.cosine_similarity(p1, p2, dim=-1).clamp(-1.0, 1.0)
        return (cos + STS_ALPHA) * STS_BETA


class CosinePairHead(nn.Module):
    """Para / STS on the cosine of the two sentence vectors themselves (Eq. 2 with W1 = W2 = I,
    not trained), so an untrained model scores what the encoder's own embeddings do.

    para: logit = a · (cos(u, v) − b), Eq. 4's role with the cosine for the inner product.
    sts:  score = (cos + a) · b, Eq. 5 with α = a and β = b trainable.
    a and b start where a fit on training rows puts them (study/train/baseline.py calibrate):
    starting from Eq. 5's 1 and 2.5, the first steps would spend the encoder's updates on
    moving every cosine toward the labels' scale, scrambling the geometry the floor rests on;
    trained projections would scramble it too, so the encoder's adapter learns the task. No
    dropout: noise shrinks every cosine, which a fixed threshold cannot follow between
    training and evaluation. design 3 (one joint encoding) has no pair of vectors: refused.
    """

    def __init__(self, design: int, aggregate: str, a: float, b: float) -> None:
        super().__init__()
        if design == 3:
            raise ValueError("the cosine head needs two sentence vectors: use head design 1 or 2")
        self.design, self.aggregate = design, aggregate
        self.a, self.b = nn.Parameter(torch.tensor(float(a))), nn.Parameter(torch.tensor(float(b)))

    def forward(self, u: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """u, v: (B, F), the two sentences' vectors -> (B,)."""
        if v is None:
            raise ValueError("the cosine head encodes the sentences separately: pass v")
        cos = F.cosine_similarity(u, v, dim=-1).clamp(-1.0, 1.0)
        if self.aggregate == "dot":
            return self.a * (cos - self.b)
        return (cos + self.a) * self.b


def build_heads(hidden: int, spec: HeadSpec) -> nn.ModuleDict:
    """One head per task: sst (classifier), para (Eq. 4 aggregation), sts (Eq. 5); with
    spec.pair_head "cosine", Para and STS read the cosine of the unprojected geometry."""
    design, d, p = spec.design, spec.proj_dim, spec.dropout
    if spec.pair_head == "cosine":
        para = CosinePairHead(design, "dot", spec.para_scale, spec.para_shift)
        sts = CosinePairHead(design, "cosine", spec.sts_alpha, spec.sts_beta)
    else:
        para = PairHead(design, hidden, d, "dot", p)
        sts = PairHead(design, hidden, d, "cosine", p)
    return nn.ModuleDict({"sst": SentimentHead(hidden, p), "para": para, "sts": sts})


def task_loss(task: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (SST), BCE with logits (Para), MSE (STS)."""
    output = output.float()
    if task == "sst":
        return F.cross_entropy(output, labels)
    if task == "para":
        return F.binary_cross_entropy_with_logits(output, labels.float())
    return F.mse_loss(output, labels.float())
