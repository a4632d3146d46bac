"""Exact parameter counts of a model spec without building its weights (the meta device).

The encoder is built from the model folder's config.json under accelerate's
init_empty_weights, so no weight is loaded or allocated; peft then adds its adapters there (also
empty). Counts are what parameter_counts (model/multitask.py) reports for the trained model.
"""

from __future__ import annotations

import dataclasses
import warnings

from model.spec import ModelSpec


def meta_encoder(model_path: str = ""):  # noqa: ANN201 - a BertModel without storage
    """A BertModel of the folder's architecture whose parameters live on the meta device."""
    from accelerate import init_empty_weights
    from transformers import BertConfig, BertModel

    from model.encoder import check_model_folder

    config = BertConfig.from_dict(check_model_folder(model_path))
    with init_empty_weights(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BertModel(config, add_pooling_layer=False)


def count_parameters(spec: ModelSpec, model_path: str = "") -> dict[str, float | int | None]:
    """parameter_counts of the model `spec` describes, plus stored_params (VeRA's shared
    projections) and, for AdaLoRA, its final budget (adapter_params_final, adapter_pct_final:
    target_r kept ranks, each d_in + d_out + 1 parameters, per adapted layer)."""
    from model.adapters import adapted_in_features, stored_parameter_count
    from model.multitask import build_model, parameter_counts

    # PiSSA/OLoRA decompose W at init, which needs real weights; the counts are LoRA's.
    adapter = dataclasses.replace(spec.adapter, init="default")
    encoder = meta_encoder(model_path)
    adapted = set(adapted_in_features(encoder, adapter.targets))
    shapes = [(m.in_features, m.out_features) for n, m in encoder.named_modules() if n in adapted]
    biases = sum(p.numel() for n, p in encoder.named_parameters() if n.endswith("bias"))
    model = build_model(dataclasses.replace(spec, adapter=adapter), encoder)
    for name, p in model.named_parameters():  # init_empty_weights loses AdaLoRA's frozen flag
        if "ranknum" in name:
            p.requires_grad_(False)
    counts: dict[str, float | int | None] = dict(parameter_counts(model))
    counts["stored_params"] = stored_parameter_count(model.encoder_for("sst"))
    counts["adapter_params_final"] = counts["adapter_pct_final"] = None
    if adapter.method == "adalora":  # exact when the adapted layers share one shape: the
        # budget keeps target_r ranks per layer on average, allocated across layers
        final = sum(adapter.target_r * (d_in + d_out + 1) for d_in, d_out in shapes)
        final += biases if adapter.bias == "all" else 0
        counts["adapter_params_final"] = final
        counts["adapter_pct_final"] = 100.0 * final / counts["base_params"]
    return counts
