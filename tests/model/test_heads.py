"""Task heads (paper Sec. 4.1.1, Eq. 1-5): shapes per design, and Eq. 5's [0, 5] range."""

from __future__ import annotations

import pytest
import torch

from model.heads import N_SENTIMENT, PairHead, SentimentHead, build_heads, task_loss
from model.multitask import build_model
from model.spec import HeadSpec
from study.config import TrialConfig

HIDDEN, PROJ, BATCH = 48, 16, 7


@pytest.mark.parametrize("design", [1, 2, 3])
@pytest.mark.parametrize("task", ["para", "sts"])
def test_pair_head_shapes(design, task):
    torch.manual_seed(0)
    heads = build_heads(HIDDEN, HeadSpec(design, PROJ, dropout=0.3))
    u, v = torch.randn(BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    out = heads[task](u, None if design == 3 else v)
    assert out.shape == (BATCH,)
    if design == 1:
        assert heads[task].affine.weight.shape == (1, 2 * HIDDEN)  # W in R^{2F x 1}
    else:
        assert heads[task].proj1.weight.shape == (PROJ, HIDDEN)  # W1 in R^{F x d}
        assert heads[task].proj2.weight.shape == (PROJ, HIDDEN)


def test_sentiment_head_shape():
    out = SentimentHead(HIDDEN, dropout=0.3)(torch.randn(BATCH, HIDDEN))
    assert out.shape == (BATCH, N_SENTIMENT) == (BATCH, 5)


@pytest.mark.parametrize("design", [1, 2])
def test_separate_designs_need_second_sentence(design):
    head = PairHead(design, HIDDEN, PROJ, "dot", dropout=0.0)
    with pytest.raises(ValueError, match="pass v"):
        head(torch.randn(BATCH, HIDDEN))


def test_design_3_reads_one_joint_vector():
    torch.manual_seed(0)
    head = PairHead(3, HIDDEN, PROJ, "dot", dropout=0.0)
    u = torch.randn(BATCH, HIDDEN)
    expected = (head.proj1(u) * head.proj2(u)).sum(-1)  # Eq. 3 + Eq. 4
    assert torch.allclose(head(u), expected)
    assert torch.allclose(head(u, torch.randn(BATCH, HIDDEN)), expected)  # v is ignored


def test_eq5_matches_formula():
    torch.manual_seed(0)
    head = PairHead(2, HIDDEN, PROJ, "cosine", dropout=0.0)
    u, v = torch.randn(BATCH, HIDDEN), torch.randn(BATCH, HIDDEN)
    cos = torch.nn.functional.cosine_similarity(head.proj1(u), head.proj2(v), dim=-1)
    assert torch.allclose(head(u, v), (cos + 1.0) * 2.5)


def _adversarial_inputs() -> list[torch.Tensor]:
    torch.manual_seed(1)
    scales = torch.logspace(-20, 20, 41)[:, None]
    return [
        torch.zeros(4, HIDDEN),
        torch.full((4, HIDDEN), 1e20),
        torch.full((4, HIDDEN), -1e-30),
        torch.randn(41, HIDDEN) * scales,
        torch.randn(2000, HIDDEN) * torch.logspace(-3, 3, 2000)[:, None],
    ]


@pytest.mark.parametrize("design", [2, 3])
@pytest.mark.parametrize("tie", ["same", "opposite", "random"])
@pytest.mark.parametrize("bf16", [False, True])
def test_eq5_stays_in_0_5(design, tie, bf16):
    """Identical (cos = 1) and opposite (cos = -1) projections are where rounding escapes."""
    torch.manual_seed(0)
    head = PairHead(design, HIDDEN, PROJ, "cosine", dropout=0.0).eval()
    with torch.no_grad():
        if tie != "random":
            sign = 1.0 if tie == "same" else -1.0
            head.proj2.weight.copy_(sign * head.proj1.weight)
            head.proj2.bias.copy_(sign * head.proj1.bias)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    with torch.no_grad(), autocast:
        for u in _adversarial_inputs():
            out = head(u, u).float()
            assert torch.isfinite(out).all()
            assert out.min() >= 0.0 and out.max() <= 5.0, (out.min(), out.max())


def test_losses():
    torch.manual_seed(0)
    logits = torch.randn(BATCH, 5)
    assert task_loss("sst", logits, torch.randint(0, 5, (BATCH,))).shape == ()
    para = task_loss("para", torch.randn(BATCH), torch.randint(0, 2, (BATCH,)).float())
    assert para.item() > 0
    target = torch.rand(BATCH) * 5
    assert task_loss("sts", target.clone(), target).item() == 0.0


def _batch(vocab: int, design: int, pair: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (BATCH, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # one padded row
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    if pair and design in (1, 2):
        batch.update(
            input_ids_b=torch.randint(5, vocab, (BATCH, 5), generator=g),
            attention_mask_b=torch.ones(BATCH, 5, dtype=torch.long),
            token_type_ids_b=torch.zeros(BATCH, 5, dtype=torch.long),
        )
    return batch


@pytest.mark.parametrize(("design", "pooling"), [(1, "cls"), (2, "cls"), (3, "cls"), (3, "mean")])
def test_model_output_shapes(tiny_bert_config, design, pooling):
    from transformers import BertModel

    config = TrialConfig(mode="sequential", head_design=design, pooling=pooling, r=2)
    model = build_model(
        config.model_spec(), BertModel(tiny_bert_config, add_pooling_layer=False)
    ).eval()
    vocab = tiny_bert_config.vocab_size
    with torch.no_grad():
        assert model("sst", _batch(vocab, design, pair=False)).shape == (BATCH, 5)
        assert model("para", _batch(vocab, design, pair=True)).shape == (BATCH,)
        sts = model("sts", _batch(vocab, design, pair=True))
    assert sts.shape == (BATCH,)
    if design in (2, 3):
        assert sts.min() >= 0 and sts.max() <= 5


def test_4d_key_padding_mask_gives_what_the_2d_mask_gives():
    """The real encoder (SDPA) on padded real sentences: the (B, 1, 1, T) bool mask used on CUDA
    (no per-step mask.all() sync) yields the states transformers' own mask yields."""
    from model.encoder import load_encoder, load_tokenizer
    from model.multitask import key_padding_mask_4d

    tokenizer = load_tokenizer()
    batch = tokenizer(
        ["a gripping, funny film", "dull.", "the plot never quite comes together , sadly"],
        padding=True,
        return_tensors="pt",
    )
    assert not bool(batch["attention_mask"].all())  # padding present: the mask matters
    encoder = load_encoder().eval()
    with torch.no_grad():
        ref = encoder(**batch).last_hidden_state
        mask = key_padding_mask_4d(batch["attention_mask"])
        out = encoder(
            input_ids=batch["input_ids"],
            attention_mask=mask,
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
    assert mask.shape == (3, 1, 1, batch["input_ids"].shape[1]) and mask.dtype == torch.bool
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(out[real], ref[real], rtol=1e-5, atol=1e-5)
