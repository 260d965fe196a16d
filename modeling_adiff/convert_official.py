"""Convert a checkpoint of the official ADIFF code (github.com/soham97/ADIFF) into an `AdiffForConditionalGeneration`
folder (safetensors weights, config and processor) that `AutoModel` / `AutoProcessor` load.

Every official key is either mapped onto exactly one model key (HTSAT's fused `qkv` onto three) or dropped for a
stated reason; tensors that are dropped because this implementation recomputes them (the STFT kernels, the mel filter
bank, Swin's index and mask buffers) are compared with the recomputed values first, and the conversion fails if they
differ. Every model key must be filled.

Command line::

    python -m modeling_adiff.convert_official CKPT OUT_DIR [--config OFFICIAL_JSON] [--tokenizer TOKENIZER_DIR]
"""

import argparse
import csv
import json
import logging as std_logging
import math
import pickle
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from transformers import ClapAudioConfig, GPT2Config
from transformers.utils import logging

from configuration_adiff.configuration_adiff import GPT2_PROMPT_PAD_TOKEN_ID, AdiffConfig

logger = logging.get_logger(__name__)

HTSAT_PREFIX = "audio_encoder.base.htsat."
ENCODER_PREFIX = "model.audio_encoder.audio_encoder."  # ClapAudioModel.audio_encoder (ClapAudioEncoder)
DECODER_PREFIX = "caption_decoder."
LM_HEAD_KEY = "lm_head.weight"
EMBEDDINGS_KEY = "model.language_model.wte.weight"
FRONT_END_TOLERANCE = 1e-5  # the frozen STFT kernels / mel matrix must equal the recomputed ones to this

# Renames inside one Swin block (official HTSAT -> transformers' ClapAudioLayer).
_BLOCK_RENAMES = {
    "norm1.": "layernorm_before.",
    "norm2.": "layernorm_after.",
    "attn.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "attn.proj.": "attention.output.dense.",
    "mlp.fc1.": "intermediate.dense.",
    "mlp.fc2.": "output.dense.",
}
_DECODER_RENAMES = {
    "gpt.transformer.": "model.language_model.",
    "audio_project1.": "model.audio_mapper_1.",
    "audio_project2.": "model.audio_mapper_2.",
    "text_project.": "model.prompt_mapper.",
    "cross_project.": "model.cross_projection.",
}
_GPT2_LEGACY_BUFFER = re.compile(r"gpt\.transformer\.h\.\d+\.attn\.(bias|masked_bias)")
_SWIN_BLOCK = re.compile(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)")


# --------------------------------------------------------------------------------------------------------------------
# Key plan: what happens to each official key
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapped:
    """The official tensor fills `targets`: one key, or several equal chunks along dim 0 (a fused projection)."""

    targets: tuple[str, ...]


@dataclass(frozen=True)
class Dropped:
    """The official tensor is not loaded, for `reason`.

    `recomputed` names the model key that holds the recomputed equivalent (its shape must match); `verify`, when
    given, returns the max abs difference between the official tensor and what this implementation computes.
    """

    reason: str
    recomputed: str | None = None
    verify: Callable | None = field(default=None, compare=False)


def _windowed_dft(n_fft: int, part: str) -> torch.Tensor:
    """torchlibrosa's STFT kernels: the periodic-Hann-windowed DFT, (n_fft // 2 + 1, 1, n_fft)."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft  # (freqs, n_fft)
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    kernel = torch.cos(angle) if part == "real" else -torch.sin(angle)
    return (kernel * window).unsqueeze(1)


def _stft_kernel_difference(part: str, value: torch.Tensor, model, feature_extractor) -> float:
    expected = _windowed_dft(feature_extractor.n_fft, part)
    if value.shape != expected.shape:
        raise ValueError(f"The official STFT kernel has shape {tuple(value.shape)}, but the feature extractor's n_fft="
                         f"{feature_extractor.n_fft} gives {tuple(expected.shape)}; pass the official config JSON.")
    return (value.double() - expected).abs().max().item()


def _mel_difference(value: torch.Tensor, model, feature_extractor) -> float:
    expected = feature_extractor.mel_filters
    if value.shape != expected.shape:
        raise ValueError(f"The official melW has shape {tuple(value.shape)}, the feature extractor's filter bank "
                         f"{tuple(expected.shape)}; the front-end settings differ (pass the official config JSON).")
    return (value.double() - expected.double()).abs().max().item()


def _buffer_difference(target: str, value: torch.Tensor, model, feature_extractor) -> float:
    return (value.double() - model.get_buffer(target).double()).abs().max().item()


def _attn_mask_difference(block: str, value: torch.Tensor, model, feature_extractor) -> float:
    layer = model.get_submodule(block)
    mask = layer.get_attn_mask(*layer.input_resolution, dtype=value.dtype, device=value.device)
    if mask is None or mask.shape != value.shape:
        raise ValueError(f"{block} builds no shifted-window mask of shape {tuple(value.shape)}; the Swin geometry "
                         "(spec_size, window_size, patch_stride) differs from the official one.")
    return (value - mask).abs().max().item()


def _map_htsat_key(key: str) -> Mapped | Dropped | None:
    """Map a key below `audio_encoder.base.htsat.` (given without that prefix)."""
    if key.startswith("spectrogram_extractor.stft.conv_"):
        part = "real" if "conv_real" in key else "imag"
        return Dropped("torchlibrosa's frozen DFT kernels; AdiffFeatureExtractor computes the STFT with torch.stft",
                       verify=partial(_stft_kernel_difference, part))
    if key == "logmel_extractor.melW":
        return Dropped("frozen Slaney mel filter bank; AdiffFeatureExtractor recomputes it", verify=_mel_difference)
    if key.startswith("bn0."):
        return Mapped((ENCODER_PREFIX + "batch_norm." + key[len("bn0."):],))
    if key.startswith("tscam_conv."):
        return Mapped(("model.event_head." + key,))
    if key.startswith("head."):
        return Dropped("HTSAT builds `head` but never applies it when TSCAM is on (clipwise output = sigmoid of the "
                       "time-averaged tscam_conv logits), so it affects no output")
    block = _SWIN_BLOCK.fullmatch(key)
    if block is None:  # patch_embed.*, layers.N.downsample.*, norm.*: same names
        return Mapped((ENCODER_PREFIX + key,))
    stage, index, rest = block.groups()
    ours = f"{ENCODER_PREFIX}layers.{stage}.blocks.{index}"
    if rest == "attn_mask":
        return Dropped("shifted-window mask buffer; ClapAudioLayer rebuilds it at run time",
                       verify=partial(_attn_mask_difference, ours))
    if rest == "attn.relative_position_index":
        target = f"{ours}.attention.self.relative_position_index"
        return Dropped("index buffer; ClapAudioSelfAttention recomputes it", recomputed=target,
                       verify=partial(_buffer_difference, target))
    if rest.startswith("attn.qkv."):
        name = rest.rsplit(".", 1)[1]  # weight or bias
        return Mapped(tuple(f"{ours}.attention.self.{part}.{name}" for part in ("query", "key", "value")))
    for old, new in _BLOCK_RENAMES.items():
        if rest.startswith(old):
            return Mapped((f"{ours}.{new}{rest[len(old):]}",))
    return None


def map_official_key(key: str) -> Mapped | Dropped | None:
    """What becomes of one official state_dict key (after any `module.` prefix is stripped); `None` if unknown."""
    if key.startswith(HTSAT_PREFIX):
        return _map_htsat_key(key[len(HTSAT_PREFIX):])
    if key.startswith("audio_encoder.projection."):
        return Mapped(("model.audio_projection." + key[len("audio_encoder.projection."):],))
    if not key.startswith(DECODER_PREFIX):
        return None
    rest = key[len(DECODER_PREFIX):]
    if rest == "gpt.lm_head.weight":
        return Mapped((LM_HEAD_KEY,))
    if _GPT2_LEGACY_BUFFER.fullmatch(rest):
        return Dropped("GPT-2 causal-mask buffer persisted by transformers < 4.31; GPT2Model builds its mask itself")
    for old, new in _DECODER_RENAMES.items():
        if rest.startswith(old):
            return Mapped((new + rest[len(old):],))
    return None


@dataclass
class ConversionPlan:
    """The fate of every official key, checked against the model's keys and shapes.

    Attributes:
        mapped (`dict[str, tuple[str, ...]]`): official key -> model key(s).
        dropped (`dict[str, str]`): official key -> reason.
        unknown (`list[str]`): official keys no rule covers.
        shape_mismatches (`list[str]`): descriptions of official/model shape disagreements.
        unfilled (`list[str]`): model keys that no official key fills.
    """

    mapped: dict[str, tuple[str, ...]]
    dropped: dict[str, str]
    unknown: list[str]
    shape_mismatches: list[str]
    unfilled: list[str]
    rules: dict[str, Mapped | Dropped] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.unknown or self.shape_mismatches or self.unfilled)

    def raise_for_problems(self) -> None:
        if self.ok:
            return
        problems = []
        for title, items in (("official keys no rule maps", self.unknown), ("shape mismatches", self.shape_mismatches),
                             ("model keys left unfilled", self.unfilled)):
            if items:
                problems.append(f"{len(items)} {title}: " + ", ".join(items[:8]) + (" ..." if len(items) > 8 else ""))
        raise ValueError("The official checkpoint does not match the model built from its config. " + "; ".join(
            problems) + ". Pass the official config JSON (--config) that produced the checkpoint.")


def plan_conversion(official_shapes: Mapping[str, tuple[int, ...]], model_shapes: Mapping[str, tuple[int, ...]],
                    tied_keys: Mapping[str, str] | None = None) -> ConversionPlan:
    """Map every official key and check shapes and coverage, from shapes alone (no tensors needed).

    Args:
        official_shapes: official key -> shape.
        model_shapes: model state_dict key -> shape.
        tied_keys: model key -> key it is tied to (a tied key counts as filled when its source is).
    """
    mapped, dropped, unknown, mismatches, filled, rules = {}, {}, [], [], set(), {}
    for key, shape in official_shapes.items():
        rule = map_official_key(key)
        if rule is None:
            unknown.append(key)
            continue
        rules[key] = rule
        shape = tuple(shape)
        if isinstance(rule, Dropped):
            dropped[key] = rule.reason
            targets, target_shape = ((rule.recomputed,), shape) if rule.recomputed else ((), shape)
        else:
            mapped[key] = rule.targets
            targets = rule.targets
            target_shape = (shape[0] // len(targets),) + shape[1:] if shape else shape
            if len(targets) > 1 and shape[0] % len(targets):
                mismatches.append(f"{key} {shape} does not split into {len(targets)} equal parts")
        for target in targets:
            if target not in model_shapes:
                unknown.append(f"{key} -> {target} (no such model key)")
            elif tuple(model_shapes[target]) != target_shape:
                mismatches.append(f"{key} {target_shape} vs {target} {tuple(model_shapes[target])}")
            filled.add(target)
    for key, source in (tied_keys or {}).items():
        if source in filled:
            filled.add(key)
    unfilled = sorted(set(model_shapes) - filled)
    return ConversionPlan(mapped, dropped, unknown, mismatches, unfilled, rules)


# --------------------------------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------------------------------

_GPT2_FIELDS = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
                "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
                "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "bos_token_id",
                "eos_token_id")
OFFICIAL_SEPARATOR_ID = 50256  # hard-coded in the official decoder
OFFICIAL_MAPPER_HEADS = 8  # hard-coded in the official TransformerMapper / TransformerMapperSeq
OFFICIAL_CROSS_HEADS = 4  # hard-coded in the official cross_project
OFFICIAL_HTSAT_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.1)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def configs_from_official_json(official: Mapping | str | Path) -> tuple[AdiffConfig, dict]:
    """An `AdiffConfig` and the `AdiffFeatureExtractor` keyword arguments from the official JSON config.

    The JSON is the plain description written next to the reference fixtures (`official_tiny_config.json`): HTSAT's
    constructor arguments and `model/config.py` values, the decoder sizes and the GPT-2 config.
    """
    if not isinstance(official, Mapping):
        path = Path(official)
        if not path.is_file():
            raise FileNotFoundError(f"Official config JSON {path} does not exist.")
        official = json.loads(path.read_text(encoding="utf-8"))
    try:
        htsat, front = official["htsat"]["constructor_kwargs"], official["htsat"]["config_py_values_read"]
        decoder, text = official["decoder"], official["text"]
        d_proj = official["audio_encoder"]["d_proj"]
    except KeyError as missing:
        raise ValueError(f"The official config JSON lacks {missing}; expected the layout of "
                         "official_tiny_config.json (htsat, audio_encoder, decoder, text sections).") from None
    _require(not htsat.get("ape", False), "Official HTSAT with ape=True (absolute position embedding) is not "
             "supported by ClapAudioModel.")
    _require(htsat.get("qk_scale") is None, "Official HTSAT with a custom qk_scale is not supported.")
    _require(htsat.get("norm_before_mlp", "ln") == "ln", "Only norm_before_mlp='ln' HTSAT checkpoints are supported.")
    mappers = [decoder[name] for name in ("audio_project1", "audio_project2", "text_project")]
    _require(all(m["layers"] == mappers[0]["layers"] and m["heads"] == mappers[0]["heads"] for m in mappers),
             f"The official mappers differ in depth or heads ({mappers}); AdiffConfig has one setting for all three.")
    num_classes = htsat["num_classes"] if front.get("enable_tscam", True) else 0
    audio_config = ClapAudioConfig(
        patch_embeds_hidden_size=htsat["embed_dim"], hidden_size=official["htsat"]["num_features"],
        depths=list(htsat["depths"]), num_attention_heads=list(htsat["num_heads"]), window_size=htsat["window_size"],
        spec_size=htsat["spec_size"], patch_size=htsat["patch_size"], patch_stride=list(htsat["patch_stride"]),
        patch_embed_input_channels=htsat["in_chans"], mlp_ratio=htsat["mlp_ratio"], qkv_bias=htsat["qkv_bias"],
        num_mel_bins=front["mel_bins"], num_classes=num_classes, enable_patch_layer_norm=htsat["patch_norm"],
        hidden_dropout_prob=htsat["drop_rate"], attention_probs_dropout_prob=htsat["attn_drop_rate"],
        drop_path_rate=htsat["drop_path_rate"], hidden_act="gelu", layer_norm_eps=1e-5, enable_fusion=False)
    gpt2 = decoder["gpt2_config"]
    text_config = GPT2Config(**{name: gpt2[name] for name in _GPT2_FIELDS if name in gpt2},
                             pad_token_id=GPT2_PROMPT_PAD_TOKEN_ID)  # the prompts' "!", declared for Trainer
    config = AdiffConfig(
        audio_config=audio_config, text_config=text_config, projection_dim=d_proj,
        normalize_audio_embeddings=decoder["normalize_prefix"], prefix_length=decoder["prefix_length"],
        clip_length=decoder["clip_length"], prompt_length=text["ip_text_len"],
        mapper_num_layers=mappers[0]["layers"], mapper_num_heads=mappers[0]["heads"],
        mapper_mlp_ratio=mappers[0]["mlp_ratio"], cross_projection_num_layers=decoder["cross_project"]["layers"],
        cross_projection_num_heads=decoder["cross_project"]["heads"], separator_token_id=decoder["sep_token_id"],
        num_event_classes=num_classes)
    feature_kwargs = dict(feature_size=front["mel_bins"], sampling_rate=front["sample_rate"],
                          n_fft=front["window_size"], hop_length=front["hop_size"], f_min=float(front["fmin"]),
                          f_max=float(front["fmax"]))
    if "segment_seconds" in official.get("wrapper_yaml", {}).get("data", {}):
        feature_kwargs["max_length_s"] = float(official["wrapper_yaml"]["data"]["segment_seconds"])
    return config, feature_kwargs


def _count(shapes: Mapping[str, tuple], pattern: str) -> int:
    """Number of distinct integers captured by `pattern` (one group) over the keys."""
    regex = re.compile(pattern)
    return len({match.group(1) for key in shapes if (match := regex.fullmatch(key))})


def config_from_official_shapes(shapes: Mapping[str, tuple[int, ...]]) -> AdiffConfig:
    """Infer an `AdiffConfig` from the shapes of an official state_dict (no JSON needed).

    Sizes come from the weights; what weights cannot tell is taken from the official code: mapper heads 8,
    cross-projection heads 4, separator id 50256, HTSAT's dropout settings, spectrogram size 256 / patch stride 4, and
    GPT-2's 12 heads (the official decoder always loads GPT-2 124M).
    """
    h = HTSAT_PREFIX
    d = DECODER_PREFIX
    try:
        embed_dim, _, patch_size, _ = shapes[h + "patch_embed.proj.weight"]
        num_stages = _count(shapes, re.escape(h) + r"layers\.(\d+)\..*")
        depths = [_count(shapes, re.escape(f"{h}layers.{i}.blocks.") + r"(\d+)\..*") for i in range(num_stages)]
        heads = [shapes[f"{h}layers.{i}.blocks.0.attn.relative_position_bias_table"][1] for i in range(num_stages)]
        table_rows = shapes[f"{h}layers.0.blocks.0.attn.relative_position_bias_table"][0]
        mlp_hidden = shapes[f"{h}layers.0.blocks.0.mlp.fc1.weight"][0]
        vocab_size, n_embd = shapes[d + "gpt.transformer.wte.weight"]
        mapper_hidden = shapes[d + "audio_project1.transformer.layers.0.mlp.fc1.weight"][0]
        clip_tokens = shapes[d + "audio_project1.linear.weight"][0]
    except KeyError as missing:
        raise ValueError(f"Cannot infer the model size: the checkpoint lacks {missing}. Is it an official ADIFF "
                         "checkpoint? Pass its config JSON with --config.") from None
    num_classes = shapes[h + "tscam_conv.weight"][0] if h + "tscam_conv.weight" in shapes else 0
    if n_embd != GPT2Config().n_embd:
        raise ValueError(f"GPT-2 width {n_embd} is not GPT-2 124M's {GPT2Config().n_embd}: the head count cannot be "
                         "read from weights. Pass the official config JSON with --config.")
    window = (math.isqrt(table_rows) + 1) // 2
    audio_config = ClapAudioConfig(
        patch_embeds_hidden_size=embed_dim, hidden_size=embed_dim * 2 ** (num_stages - 1), depths=depths,
        num_attention_heads=heads, window_size=window, patch_size=patch_size, mlp_ratio=mlp_hidden / embed_dim,
        num_mel_bins=shapes[h + "bn0.weight"][0], num_classes=num_classes, hidden_act="gelu", layer_norm_eps=1e-5,
        enable_fusion=False, **OFFICIAL_HTSAT_DROPOUT)
    text_config = GPT2Config(vocab_size=vocab_size, n_embd=n_embd,
                             n_positions=shapes[d + "gpt.transformer.wpe.weight"][0],
                             n_layer=_count(shapes, re.escape(d + "gpt.transformer.h.") + r"(\d+)\..*"),
                             bos_token_id=OFFICIAL_SEPARATOR_ID, eos_token_id=OFFICIAL_SEPARATOR_ID,
                             pad_token_id=GPT2_PROMPT_PAD_TOKEN_ID)
    clip_length = clip_tokens // n_embd
    return AdiffConfig(
        audio_config=audio_config, text_config=text_config,
        projection_dim=shapes["audio_encoder.projection.linear1.weight"][0],
        prefix_length=shapes[d + "audio_project1.prefix_const"][0], clip_length=clip_length, prompt_length=clip_length,
        mapper_num_layers=_count(shapes, re.escape(d + "audio_project1.transformer.layers.") + r"(\d+)\..*"),
        mapper_num_heads=OFFICIAL_MAPPER_HEADS, mapper_mlp_ratio=mapper_hidden / n_embd,
        cross_projection_num_layers=_count(shapes, re.escape(d + "cross_project.layers.") + r"(\d+)\..*"),
        cross_projection_num_heads=OFFICIAL_CROSS_HEADS, separator_token_id=OFFICIAL_SEPARATOR_ID,
        num_event_classes=num_classes)


# --------------------------------------------------------------------------------------------------------------------
# Loading, converting, saving
# --------------------------------------------------------------------------------------------------------------------


def load_official_state_dict(ckpt_path: str | Path) -> dict[str, torch.Tensor]:
    """Load an official checkpoint safely (`weights_only=True`) as a flat {key: tensor} dict without `module.`."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"Official checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path} holds Python objects besides tensors, and loading it would run code from the file. Only plain "
            "state_dicts (torch.save(model.state_dict())) are accepted. If you trust the file, re-save its "
            "state_dict: torch.save(torch.load(path, weights_only=False)['<key>'], 'clean.ckpt').") from error
    if isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        nested = [name for name in ("state_dict", "model") if isinstance(state.get(name), Mapping)]
        if nested:
            state = state[nested[0]]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state_dict ({{key: tensor}}); got {type(state).__name__}.")
    return {key.removeprefix("module."): value for key, value in state.items()}


@dataclass
class ConversionReport:
    """What the conversion did.

    Attributes:
        mapped (`dict[str, tuple[str, ...]]`): official key -> model key(s) it filled.
        dropped (`dict[str, str]`): official key -> why it was not loaded.
        checks (`dict[str, float]`): official key -> max abs difference to the recomputed tensor (dropped keys that
            this implementation recomputes).
        config (`AdiffConfig`): the configuration the model was built from.
        output_dir (`Path` or `None`): where the model was saved.
        processor_saved (`bool`): whether a processor (feature extractor + tokenizer) was saved too.
        model (`AdiffForConditionalGeneration`): the converted model, in eval mode.
    """

    mapped: dict[str, tuple[str, ...]]
    dropped: dict[str, str]
    checks: dict[str, float]
    config: AdiffConfig
    output_dir: Path | None = None
    processor_saved: bool = False
    model: torch.nn.Module | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"mapped": {k: list(v) for k, v in self.mapped.items()}, "dropped": self.dropped,
                "checks_max_abs_diff": self.checks, "output_dir": str(self.output_dir) if self.output_dir else None,
                "processor_saved": self.processor_saved}

    def summary(self) -> str:
        worst = max(self.checks.values(), default=0.0)
        reasons = {}
        for reason in self.dropped.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        lines = [f"mapped {len(self.mapped)} official keys onto "
                 f"{sum(len(t) for t in self.mapped.values())} model keys; dropped {len(self.dropped)}:"]
        lines += [f"  {count} x {reason}" for reason, count in reasons.items()]
        lines.append(f"recomputed tensors checked: {len(self.checks)}, worst max abs difference {worst:.3g}")
        return "\n".join(lines)


def convert_state_dict(official: Mapping[str, torch.Tensor], model,
                       feature_extractor) -> tuple[dict, ConversionReport]:
    """Rename / split the official tensors for `model` and verify the dropped-but-recomputed ones.

    Returns the model state_dict to load (float tensors cast to the model's dtype) and the report.
    """
    model_state = model.state_dict()
    plan = plan_conversion({k: tuple(v.shape) for k, v in official.items()},
                           {k: tuple(v.shape) for k, v in model_state.items()}, {LM_HEAD_KEY: EMBEDDINGS_KEY})
    plan.raise_for_problems()
    converted, checks = {}, {}
    for key, rule in plan.rules.items():
        value = official[key]
        if isinstance(rule, Dropped):
            if rule.verify is not None:
                checks[key] = rule.verify(value, model, feature_extractor)
            continue
        parts = value.chunk(len(rule.targets), dim=0) if len(rule.targets) > 1 else (value,)
        for target, part in zip(rule.targets, parts):
            converted[target] = part.to(model_state[target].dtype).contiguous().clone()
    too_far = {key: diff for key, diff in checks.items() if diff > FRONT_END_TOLERANCE}
    if too_far:
        raise ValueError(f"These official tensors differ from the ones this implementation recomputes (max abs "
                         f"difference > {FRONT_END_TOLERANCE}): {too_far}. The checkpoint's front end or Swin "
                         "geometry is not the one the config describes; pass the matching official config JSON.")
    if LM_HEAD_KEY in converted and not torch.equal(converted[LM_HEAD_KEY], converted[EMBEDDINGS_KEY]):
        raise ValueError("The official lm_head.weight differs from wte.weight, but ADIFF ties them (as the official "
                         "GPT2LMHeadModel does); this checkpoint was not produced by the official code.")
    return converted, ConversionReport(plan.mapped, plan.dropped, checks, model.config)


def _load_strictly(model, converted: dict[str, torch.Tensor], recomputed: set[str]) -> None:
    result = model.load_state_dict(converted, strict=False)
    missing = set(result.missing_keys) - recomputed - {LM_HEAD_KEY}
    if missing or result.unexpected_keys:
        raise RuntimeError(f"Loading the converted weights left {sorted(missing)} unfilled and "
                           f"{sorted(result.unexpected_keys)} unused; the key plan is out of date with the model.")
    if model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        raise RuntimeError("lm_head is not tied to the GPT-2 input embeddings after loading.")


def _load_gpt2_tokenizer(tokenizer_dir: str | Path):
    """A saved tokenizer folder (`tokenizer_config.json` / `tokenizer.json`), or just GPT-2's own `vocab.json` and
    `merges.txt` (the files the GPT-2 release ships), which `AutoTokenizer` cannot load on its own."""
    from transformers import AutoTokenizer, GPT2Tokenizer

    folder = Path(tokenizer_dir)
    if (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(folder)
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    if vocab.is_file() and merges.is_file():
        return GPT2Tokenizer.from_pretrained(folder)  # <|endoftext|> as bos/eos/unk, GPT-2's defaults
    found = sorted(path.name for path in folder.iterdir()) if folder.is_dir() else "no such folder"
    raise ValueError(f"--tokenizer {folder} holds neither a saved tokenizer (tokenizer_config.json or tokenizer.json) "
                     f"nor GPT-2's vocab.json and merges.txt (found: {found}). Pass the folder of GPT-2's tokenizer "
                     "files (scripts/build_gpt2_tokenizer.py builds one offline).")


def _build_processor(tokenizer_dir: str | Path, feature_extractor, config: AdiffConfig):
    from processing_adiff.processing_adiff import AdiffProcessor

    tokenizer = _load_gpt2_tokenizer(tokenizer_dir)
    if len(tokenizer) != config.text_config.vocab_size:
        raise ValueError(f"The tokenizer in {tokenizer_dir} has {len(tokenizer)} tokens but the checkpoint's GPT-2 "
                         f"vocabulary has {config.text_config.vocab_size}. Use the real GPT-2 tokenizer "
                         "(scripts/build_gpt2_tokenizer.py builds it offline).")
    if tokenizer.eos_token_id != config.separator_token_id:
        raise ValueError(f"The tokenizer's <|endoftext|> id is {tokenizer.eos_token_id}, the official separator id "
                         f"{config.separator_token_id}; use the real GPT-2 tokenizer.")
    if tokenizer.pad_token != "!":
        logger.info("Setting the tokenizer's pad token to '!' (id %d), as the official wrapper does.",
                    tokenizer.convert_tokens_to_ids("!"))
        tokenizer.pad_token = "!"
    return AdiffProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer,
                          prompt_length=config.prompt_length)


def convert_official_checkpoint(ckpt_path: str | Path, output_dir: str | Path | None,
                                config_json: str | Path | Mapping | None = None,
                                tokenizer_dir: str | Path | None = None) -> ConversionReport:
    """Convert an official ADIFF checkpoint and save it as a Transformers folder.

    Args:
        ckpt_path: the official `torch.save(model.state_dict())` file (a `module.` prefix is stripped).
        output_dir: folder for `save_pretrained` (safetensors), the processor and `conversion_report.json`;
            `None` converts and checks without saving.
        config_json: the official config in JSON (as `official_tiny_config.json`); without it the sizes are inferred
            from the weights (the base model's settings otherwise).
        tokenizer_dir: a folder with the real GPT-2 tokenizer; when given, an `AdiffProcessor` is saved too.

    Returns:
        `ConversionReport`: mapped and dropped keys, the recomputed-tensor checks, the config.
    """
    from processing_adiff.feature_extraction_adiff import AdiffFeatureExtractor

    from .modeling_adiff import AdiffForConditionalGeneration

    official = load_official_state_dict(ckpt_path)
    if config_json is not None:
        config, feature_kwargs = configs_from_official_json(config_json)
    else:
        config, feature_kwargs = config_from_official_shapes({k: tuple(v.shape) for k, v in official.items()}), {}
    feature_extractor = AdiffFeatureExtractor(**feature_kwargs)
    model = AdiffForConditionalGeneration(config).eval()
    converted, report = convert_state_dict(official, model, feature_extractor)
    recomputed = {rule.recomputed for rule in (map_official_key(k) for k in official)
                  if isinstance(rule, Dropped) and rule.recomputed}
    _load_strictly(model, converted, recomputed)
    report.model = model
    logger.info("Converted %s:\n%s", ckpt_path, report.summary())
    if output_dir is None:
        return report
    output_dir = Path(output_dir)
    # The tokenizer is checked before anything is written: a wrong folder leaves no half-converted output.
    processor = None if tokenizer_dir is None else _build_processor(tokenizer_dir, feature_extractor, config)
    model.save_pretrained(output_dir)
    if processor is not None:
        processor.save_pretrained(output_dir)
        report.processor_saved = True
    else:
        feature_extractor.save_pretrained(output_dir)
        logger.warning("No tokenizer_dir given: %s holds the model and feature extractor but no tokenizer, so "
                       "AutoProcessor cannot load it. Pass the real GPT-2 tokenizer folder.", output_dir)
    report.output_dir = output_dir
    (output_dir / "conversion_report.json").write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    logger.info("Saved the converted model%s to %s", " and processor" if report.processor_saved else "", output_dir)
    return report


def read_manifest(tsv_path: str | Path) -> dict[str, tuple[int, ...]]:
    """{key: shape} from an official state_dict manifest TSV (`key`, `shape` as `AxBxC` or `scalar`, ...)."""
    path = Path(tsv_path)
    if not path.is_file():
        raise FileNotFoundError(f"Manifest {path} does not exist.")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if not rows or not {"key", "shape"} <= set(rows[0]):
        raise ValueError(f"{path} is not a state_dict manifest: expected tab-separated columns 'key' and 'shape'.")
    return {row["key"]: () if row["shape"] == "scalar" else tuple(int(n) for n in row["shape"].split("x"))
            for row in rows}


def check_manifest_coverage(tsv_path: str | Path, config: AdiffConfig | None = None) -> ConversionPlan:
    """Plan the conversion of the checkpoint a manifest describes, without any weights.

    The model is built on the meta device from `config` (default: `AdiffConfig()`, the official base model), so
    shapes are compared for every key at no memory cost. Check `plan.ok` or call `plan.raise_for_problems()`.
    """
    from .modeling_adiff import AdiffForConditionalGeneration

    official_shapes = {k.removeprefix("module."): v for k, v in read_manifest(tsv_path).items()}
    with torch.device("meta"):
        model = AdiffForConditionalGeneration(config if config is not None else AdiffConfig())
    model_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return plan_conversion(official_shapes, model_shapes, {LM_HEAD_KEY: EMBEDDINGS_KEY})


def main(argv: list[str] | None = None) -> ConversionReport:
    parser = argparse.ArgumentParser(description="Convert an official ADIFF checkpoint into a Transformers folder.")
    parser.add_argument("checkpoint", type=Path, help="official state_dict checkpoint (.ckpt / .pt)")
    parser.add_argument("output_dir", type=Path, help="folder to write the converted model into")
    parser.add_argument("--config", type=Path, default=None, help="official config JSON (sizes); default: inferred")
    parser.add_argument("--tokenizer", type=Path, default=None,
                        help="folder with the real GPT-2 tokenizer: a saved tokenizer, or GPT-2's own vocab.json "
                             "and merges.txt")
    args = parser.parse_args(argv)
    std_logging.basicConfig(format="%(message)s")
    logger.setLevel(std_logging.INFO)  # show this module's conversion summary, not every library's INFO chatter
    return convert_official_checkpoint(args.checkpoint, args.output_dir, args.config, args.tokenizer)


__all__ = ["ConversionPlan", "ConversionReport", "Dropped", "Mapped", "check_manifest_coverage",
           "config_from_official_shapes", "configs_from_official_json", "convert_official_checkpoint",
           "convert_state_dict", "load_official_state_dict", "map_official_key", "plan_conversion", "read_manifest"]


if __name__ == "__main__":
    main()
