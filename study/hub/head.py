"""Score text with this folder's peft adapter and task head. Needs only torch, transformers,
peft and safetensors (no peft-study); written by `python -m study export TRIAL --hub DIR`.

    python head.py "a sentence"                    # sst: the 5 class probabilities
    python head.py "first sentence" "second one"   # para: P(duplicate); sts: similarity 0-5
    python head.py --base PATH ...                 # a local copy of the base model
    python head.py --csv rows.csv                  # columns text_a[, text_b]: a score per row

In Python: `head = TaskHead.load(folder)`, then `head.score(["..."], ["..."])`.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from peft import PeftModel
from safetensors.torch import load_file
from transformers import BertModel, BertTokenizerFast

HERE = Path(__file__).resolve().parent
BATCH = 64


class TaskHead:
    """The encoder with this folder's adapter, and the task's head (paper Eq. 1-5)."""

    def __init__(self, config: dict, tokenizer, encoder, weights: dict) -> None:  # noqa: ANN001
        self.config, self.tokenizer, self.encoder, self.w = config, tokenizer, encoder, weights

    @classmethod
    def load(cls, folder: str | Path = HERE, base: str | None = None) -> TaskHead:
        folder = Path(folder)
        config = json.loads((folder / "head_config.json").read_text())
        name = base or config["base_model"]
        tokenizer = BertTokenizerFast.from_pretrained(name)
        encoder = BertModel.from_pretrained(name, add_pooling_layer=False, dtype=torch.float32)
        encoder = PeftModel.from_pretrained(encoder, str(folder)).eval()
        return cls(config, tokenizer, encoder, load_file(str(folder / "head.safetensors")))

    def _vectors(self, a: list[str], b: list[str] | None = None) -> torch.Tensor:
        """(B, F): the [CLS] state or the masked mean of the last layer; b: a joint pair."""
        batch = self.tokenizer(
            a,
            b,
            truncation=True,
            max_length=self.config["max_len"],
            padding=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            states = self.encoder(**batch).last_hidden_state
        if self.config["pooling"] == "cls":
            return states[:, 0]
        m = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        return (states * m).sum(1) / m.sum(1).clamp(min=1)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"])

    def raw(self, a: list[str], b: list[str] | None = None) -> torch.Tensor:
        """sst: logits (B, 5); para: the logit (B,); sts: the score (B,)."""
        task, design = self.config["task"], self.config["design"]
        if task == "sst":
            return self._linear(self._vectors(a), "classifier")
        u = v = self._vectors(a, b) if design == 3 else None  # Eq. 3: one joint encoding
        if design in (1, 2):
            u, v = self._vectors(a), self._vectors(b)
        if self.config["pair_head"] == "cosine":  # Eq. 2 with W = I, a and b trained
            cos = F.cosine_similarity(u, v, dim=-1).clamp(-1.0, 1.0)
            k, c = self.w["a"], self.w["b"]
            return k * (cos - c) if task == "para" else (cos + k) * c
        if design == 1:  # Eq. 1
            return self._linear(torch.cat([u, v], dim=-1), "affine").squeeze(-1)
        p1, p2 = self._linear(u, "proj1"), self._linear(v, "proj2")
        if task == "para":  # Eq. 4
            return (p1 * p2).sum(-1)
        return (F.cosine_similarity(p1, p2, dim=-1).clamp(-1.0, 1.0) + 1.0) * 2.5  # Eq. 5

    def score(self, a: list[str], b: list[str] | None = None) -> torch.Tensor:
        """sst: class probabilities (B, 5); para: P(duplicate) (B,); sts: similarity (B,)."""
        out = []
        for i in range(0, len(a), BATCH):
            y = self.raw(a[i : i + BATCH], None if b is None else b[i : i + BATCH])
            out.append(y.softmax(-1) if self.config["task"] == "sst" else y)
        y = torch.cat(out)
        return torch.sigmoid(y) if self.config["task"] == "para" else y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="*", help="a sentence, or the two of a pair")
    parser.add_argument("--base", help="a local folder of the base model")
    parser.add_argument("--csv", help="a CSV with text_a (and text_b): prints one score per row")
    args = parser.parse_args()
    head = TaskHead.load(HERE, args.base)
    if args.csv:
        with open(args.csv, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        a = [r["text_a"] for r in rows]
        b = [r["text_b"] for r in rows] if rows and "text_b" in rows[0] else None
    else:
        a = [args.text[0]]
        b = [args.text[1]] if len(args.text) > 1 else None
    scores = head.score(a, b)
    for row in scores.tolist():
        print(json.dumps(row))


if __name__ == "__main__":
    main()
