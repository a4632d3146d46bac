"""No-training floors: what a study's rows score before any training, on the dev (or
validation) rows a table reports (a scale's subsample, or the whole dev files).

    SST   the majority class of the training file
    Para  the cosine of mean-pooled embeddings, cut at the threshold that separates paraphrases
          best on the config's training rows, never on dev or validation
    STS   the Pearson correlation of that cosine with the gold similarity

A trial that scores below these learned less than nothing. The same training rows calibrate the
cosine pair heads (model/heads.py) so that training starts at the floor: Para's logit
a·(cos − t) by logistic regression, STS's (cos + α)·β by least squares. Everything is cached on
disk per model sha256, data files and rows (cache_root()/baselines), so a study pays once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from model.encoder import file_sha256, load_encoder, load_tokenizer, weights_sha256
from study.atomic import read_json, write_json_atomic
from study.config import TASKS, TrialConfig
from study.data.batching import Encoded, Ragged, sorted_batches
from study.data.files import cache_root, data_path, load_split
from study.data.splits import task_data
from study.metrics import overall_score, pearson

FORMAT = 2  # bump when what is computed changes
EMBED_BATCH = 128


@dataclass(frozen=True)
class Calibration:
    """Head starting values fitted on the config's training rows (untrained encoder)."""

    para_threshold: float
    """The cosine cut with the best training accuracy (the floor's threshold)."""
    para_scale: float
    para_shift: float
    """The Para head's logit = scale·(cos − shift): shift is the threshold, so the untrained
    head decides as the floor does; scale is fitted by logistic regression."""
    sts_alpha: float
    sts_beta: float
    """Least squares of the similarity on the cosine: score = (cos + alpha)·beta."""


@dataclass(frozen=True)
class Baseline:
    """The floors of one set of dev rows."""

    sst: float
    para: float
    sts: float
    overall: float
    para_threshold: float
    """The cosine above which a pair counts as a paraphrase (chosen on training rows)."""
    majority_class: int
    dev_rows: dict[str, int]
    """Dev rows per task the floors are computed on."""
    model_sha256: str

    def scores(self) -> dict[str, float]:
        return {"sst": self.sst, "para": self.para, "sts": self.sts, "overall": self.overall}


def baseline(config: TrialConfig, split: str = "dev") -> Baseline:
    """The floors on the config's `split` rows (dev | val; dev_per_task=0: the whole dev
    files), cached."""
    sha = weights_sha256(config.model_path)
    files = [data_path(t, s, config.data_dir) for t in TASKS for s in ("train", "dev")]
    key = _key(f"floors-{split}", sha, config, files)
    cached = _read(key)
    if cached is not None:
        return Baseline(**cached)
    threshold = calibrate(config).para_threshold
    tokenizer = load_tokenizer(config.model_path)
    dev = task_data(config, split, tokenizer, sha, joint=False)
    encoder = load_encoder(config.model_path).eval()
    para_cos, sts_cos = (_cosines(encoder, dev[t]) for t in ("para", "sts"))
    majority = int(np.bincount(load_split("sst", "train", config.data_dir).labels).argmax())
    sst = float(np.mean(dev["sst"].labels == majority))
    para = float(np.mean((para_cos > threshold) == (dev["para"].labels > 0.5)))
    sts = pearson(sts_cos, dev["sts"].labels)
    floors = Baseline(
        sst,
        para,
        sts,
        overall_score(sst, para, sts),
        threshold,
        majority,
        {t: len(dev[t]) for t in TASKS},
        sha,
    )
    _write(key, asdict(floors))
    return floors


def study_floors(config: TrialConfig) -> dict:
    """What study.json records: the floors on the study's dev rows and validation rows."""
    splits = ("dev", "val") if config.val_per_task else ("dev",)
    out = {split: baseline(config, split) for split in splits}
    first = out["dev"]
    return {
        **{split: b.scores() for split, b in out.items()},
        "para_threshold": first.para_threshold,
        "majority_class": first.majority_class,
        "dev_rows": first.dev_rows,
    }


def calibrate(config: TrialConfig) -> Calibration:
    """The Para threshold and the cosine heads' starting values, from the config's training
    rows (disjoint from validation and dev), cached."""
    sha = weights_sha256(config.model_path)
    files = [data_path(t, "train", config.data_dir) for t in ("para", "sts")]
    key = _key("calibration", sha, config.replace(dev_per_task=0), files)
    cached = _read(key)
    if cached is not None:
        return Calibration(**cached)
    train = task_data(config, "train", load_tokenizer(config.model_path), sha, joint=False)
    encoder = load_encoder(config.model_path).eval()
    para_cos, sts_cos = (_cosines(encoder, train[t]) for t in ("para", "sts"))
    positive = train["para"].labels > 0.5
    threshold = best_threshold(para_cos, positive)
    scale, shift = _logistic(para_cos, positive, threshold)
    beta, intercept = np.polyfit(sts_cos, train["sts"].labels.astype(np.float64), 1)
    fitted = Calibration(threshold, scale, shift, float(intercept / beta), float(beta))
    _write(key, asdict(fitted))
    return fitted


def _logistic(cos: np.ndarray, positive: np.ndarray, threshold: float) -> tuple[float, float]:
    """(a, threshold), a maximising the likelihood of P(paraphrase) = sigmoid(a·(cos − t))."""
    x = torch.tensor(cos - threshold, dtype=torch.float64)
    y = torch.tensor(positive, dtype=torch.float64)
    a = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([a], max_iter=100, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(a * x, y)
        value.backward()
        return value

    optimizer.step(loss)
    return float(a), float(threshold)


def best_threshold(scores: np.ndarray, positive: np.ndarray) -> float:
    """The cut t maximising accuracy of `score > t` (a midpoint between two sorted scores)."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], positive[order].astype(np.int64)
    # cutting after the first k sorted rows: k - (negatives among them) + positives after them
    correct = np.concatenate([[0], np.cumsum(1 - y)]) + (
        y.sum() - np.concatenate([[0], np.cumsum(y)])
    )
    k = int(np.argmax(correct))
    if k == 0:
        return float(s[0] - 1e-6)
    if k == len(s):
        return float(s[-1])
    return float((s[k - 1] + s[k]) / 2)


def _cosines(encoder: torch.nn.Module, data: Encoded) -> np.ndarray:
    """(N,) cosine of the mean-pooled embeddings of each pair's two sentences, in file order.
    Each distinct sentence is embedded once, in batches sorted by its own length: Quora pairs
    repeat questions, and a pair's two sides differ in length."""
    n = len(data)
    ids = data.ids.concat(data.ids_b)
    side_b_types = Ragged(
        np.zeros_like(data.ids_b.values, dtype=data.types.values.dtype), data.ids_b.offsets
    )
    types = data.types.concat(side_b_types)
    first: dict[bytes, int] = {}
    slot = np.array(  # (2N,) which distinct sentence each side is
        [
            first.setdefault(ids.row(i).tobytes() + types.row(i).tobytes(), len(first))
            for i in range(2 * n)
        ],
        dtype=np.int64,
    )
    rows = np.unique(slot, return_index=True)[1]  # (U,) a row of each distinct sentence
    with torch.inference_mode():
        embedded = torch.zeros(len(rows), encoder.config.hidden_size)  # (U, H)
        for batch in sorted_batches(ids.lengths_at(rows), EMBED_BATCH):
            index = rows[batch]
            (tok, mask), (typ, _) = ids.pad(index), types.pad(index)
            embedded[torch.from_numpy(batch)] = _mean_pooled(
                encoder, *(torch.from_numpy(a.astype(np.int64)) for a in (tok, mask, typ))
            )
    u, v = embedded[torch.from_numpy(slot[:n])], embedded[torch.from_numpy(slot[n:])]
    return torch.nn.functional.cosine_similarity(u, v, dim=-1).double().numpy()


def _mean_pooled(encoder, ids, mask, types) -> torch.Tensor:  # noqa: ANN001
    states = encoder(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1)


def _key(kind: str, sha: str, config: TrialConfig, files: list[Path]) -> str:
    spec = {
        "format": FORMAT,
        "kind": kind,
        "model": sha,
        "files": [file_sha256(p) for p in files],
        "train_per_task": config.train_per_task,
        "val_per_task": config.val_per_task,
        "dev_per_task": config.dev_per_task,
        "data_seed": config.data_seed,
        "max_len": config.max_len,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def _read(key: str) -> dict | None:
    path = cache_root() / "baselines" / f"{key}.json"
    try:
        return read_json(path) if path.is_file() else None
    except Exception:  # noqa: BLE001 - an unreadable cache entry is computed again
        return None


def _write(key: str, data: dict) -> None:
    folder = cache_root() / "baselines"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / f"{key}.json", data)
    except Exception:  # noqa: BLE001 - an unwritable cache only means computing again
        pass
