"""Checks a recipe's `init.*` sources (previous-stage folders, Hub ids) before anything loads, so a missing folder is
one clear error instead of transformers' "Repo id must be in the form ..." from deep inside `from_pretrained`."""

import re
from pathlib import Path

INIT_SOURCE_KEYS = ("from_pretrained", "audio_encoder", "language_model", "tokenizer", "pretrained")
# What the Hub accepts as a model id: "name" or "owner/name" (letters, digits, "-", "_", ".").
_HUB_ID = re.compile(r"[\w][\w.-]*(/[\w][\w.-]*)?")


def check_init_sources(init: dict, stage: str) -> None:
    """Raises `FileNotFoundError` for an `init.<key>` that is neither an existing folder nor a Hub id (`gpt2`,
    `owner/name`), naming the key and how to produce the folder."""
    for key in INIT_SOURCE_KEYS:
        value = init.get(key)
        if not value or not isinstance(value, (str, Path)):
            continue
        path = Path(value)
        if path.exists() or (isinstance(value, str) and _HUB_ID.fullmatch(value) and not value.startswith(".")):
            continue
        raise FileNotFoundError(
            f"Stage {stage!r}: init.{key} is {str(value)!r}, which is no folder (resolved to {path.resolve()}) and no "
            "Hub id (name or owner/name). Run the previous stage first (its output_dir/final is the folder to give), "
            f"or fix the path with --set init.{key}=PATH.")


__all__ = ["check_init_sources", "INIT_SOURCE_KEYS"]
