"""Training recipes: one YAML or JSON file per stage, loaded into typed, validated dataclasses.

A recipe names its `stage` (`tagger`, `lm`, `grounding`, `finetune`), where its weights come from (`init`), the model
shape for stages that build towers (`model`), the data (`data`), the loop (`train`), the optimizer and schedule
(`optim`), periodic evaluation (`eval`) and optional LoRA (`lora`). Any value can be overridden from the command line
with `--set section.key=value` (the value is parsed as YAML, so `--set train.epochs=2` gives an int).
"""

import copy
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STAGES = ("tagger", "lm", "grounding", "finetune")
SCHEDULES = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr")
PRECISIONS = ("no", "fp16", "bf16")


@dataclass
class TrainConfig:
    """The loop: sizes, seed, precision and how often to log, evaluate and checkpoint.

    `batch_size` is the global batch (all processes together) per micro-step; each optimizer step consumes
    `gradient_accumulation_steps` of them. The run lasts `epochs` epochs unless `max_steps` (optimizer steps) is set.
    `group_by_length` batches items of similar length together (stages whose data reports lengths: 1b, 2, 3), which
    cuts the padding a batch computes on. `num_workers` > 0 reads audio and computes log-mels in that many DataLoader
    worker processes, each keeping `prefetch_factor` batches ready (`training.data.loader`); batches stay the same.
    """

    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 16
    eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    group_by_length: bool = False
    seed: int = 0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    log_every: int = 10
    eval_every: int | None = None
    save_every: int | None = None
    keep_checkpoints: int = 2
    num_workers: int = 0
    prefetch_factor: int = 2
    tensorboard: bool = True


@dataclass
class OptimConfig:
    """AdamW with decay / no-decay groups and a warmup + decay schedule (`transformers.get_scheduler` names)."""

    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    schedule: str = "cosine"
    warmup_steps: int | None = None
    warmup_ratio: float = 0.0
    min_lr_ratio: float = 0.0
    max_grad_norm: float | None = 1.0


@dataclass
class EvalConfig:
    """Periodic evaluation: loss on `max_batches` validation batches, `num_samples` generated texts and, when
    `evaluator` (`"module:function"`) is given and importable, its scores on those samples."""

    max_batches: int | None = 20
    num_samples: int = 4
    max_new_tokens: int = 64
    evaluator: str | None = None


@dataclass
class LoraConfig:
    """LoRA on GPT-2 (`c_attn`, `c_proj`, `c_fc`) and, with `mappers: true`, on the mapper / cross-projection
    layers."""

    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    mappers: bool = False
    merge_on_export: bool = True


@dataclass
class Recipe:
    """One training stage. See `training/recipes/` for complete examples.

    Args:
        stage (`str`): `tagger` (stage 1a), `lm` (stage 1b), `grounding` (stage 2) or `finetune` (stage 3).
        output_dir (`str`): where checkpoints, logs and the final `save_pretrained` folder (`<output_dir>/final`) go.
        name (`str`, *optional*): a label for logs.
        init (`dict`): where the weights come from (stage specific, see `training/stages.py`).
        model (`dict`): model-shape settings for stages that build towers or the ADIFF model.
        data (`dict`): corpus folder, splits and stage-specific data settings.
        train, optim, eval, lora: see their classes.
    """

    stage: str
    output_dir: str
    name: str | None = None
    init: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {"train": TrainConfig, "optim": OptimConfig, "eval": EvalConfig, "lora": LoraConfig}


def _build_section(name: str, cls, values) -> object:
    if values is None:
        return cls()
    if not isinstance(values, dict):
        raise ValueError(f"Recipe section {name!r} must be a mapping, got {type(values).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Unknown key(s) {unknown} in recipe section {name!r}; valid keys: {sorted(known)}.")
    values = dict(values)
    if "betas" in values:
        values["betas"] = tuple(float(b) for b in values["betas"])
    for f in dataclasses.fields(cls):
        # YAML 1.1 reads "1e-4" (no dot) as a string; accept it as the number it obviously is.
        if f.name in values and isinstance(values[f.name], str) and "float" in str(f.type):
            try:
                values[f.name] = float(values[f.name])
            except ValueError:
                raise ValueError(f"Recipe value {name}.{f.name} must be a number, got {values[f.name]!r}.") from None
    return cls(**values)


def _validate(recipe: Recipe) -> None:
    if recipe.stage not in STAGES:
        raise ValueError(f"Recipe stage must be one of {STAGES}, got {recipe.stage!r}.")
    train, optim = recipe.train, recipe.optim
    for section in ("train", "optim", "eval", "lora"):
        for key, value in dataclasses.asdict(getattr(recipe, section)).items():
            values = value if isinstance(value, (tuple, list)) else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                raise ValueError(f"Recipe value {section}.{key} must be a finite number, got {value!r}.")
    for name in ("batch_size", "gradient_accumulation_steps", "log_every", "keep_checkpoints", "prefetch_factor"):
        value = getattr(train, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"train.{name} must be an integer >= 1, got {value!r}.")
    if isinstance(train.num_workers, bool) or not isinstance(train.num_workers, int) or train.num_workers < 0:
        raise ValueError(f"train.num_workers must be an integer >= 0 (0 reads the data in the training process), got "
                         f"{train.num_workers!r}.")
    for name in ("eval_every", "save_every", "max_steps", "eval_batch_size"):
        value = getattr(train, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"train.{name} must be an integer >= 1 or null, got {value!r}.")
    if not isinstance(train.epochs, (int, float)) or train.epochs <= 0:
        raise ValueError(f"train.epochs must be > 0, got {train.epochs!r}.")
    if train.mixed_precision not in PRECISIONS:
        raise ValueError(f"train.mixed_precision must be one of {PRECISIONS}, got {train.mixed_precision!r}.")
    on_device = recipe.data.get("features_on_device", False)
    if not isinstance(on_device, bool):
        raise ValueError(f"data.features_on_device must be true or false, got {on_device!r}.")
    if on_device and recipe.stage != "tagger":
        raise ValueError(f"data.features_on_device computes stage 1a's log-mels on the training device; stage "
                         f"{recipe.stage!r} does not support it (stages 2-3 compute clip embeddings once, in the "
                         "embedding cache, which batches its log-mels on a GPU by itself). Remove the key.")
    if optim.schedule not in SCHEDULES:
        raise ValueError(f"optim.schedule must be one of {SCHEDULES}, got {optim.schedule!r}.")
    if not optim.lr > 0:
        raise ValueError(f"optim.lr must be > 0, got {optim.lr!r}.")
    if not 0.0 <= optim.warmup_ratio < 1.0:
        raise ValueError(f"optim.warmup_ratio must be in [0, 1), got {optim.warmup_ratio!r}.")
    if optim.max_grad_norm is not None and not optim.max_grad_norm > 0:
        raise ValueError(f"optim.max_grad_norm must be > 0 or null (no clipping), got {optim.max_grad_norm!r}.")


def recipe_from_dict(values: dict) -> Recipe:
    """Build and validate a `Recipe` from a plain mapping (the parsed YAML / JSON)."""
    if not isinstance(values, dict):
        raise ValueError(f"A recipe must be a mapping at the top level, got {type(values).__name__}.")
    known = {f.name for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"Unknown top-level recipe key(s) {unknown}; valid keys: {sorted(known)}.")
    for required in ("stage", "output_dir"):
        if required not in values:
            raise ValueError(f"The recipe has no {required!r}; every recipe names its stage ({', '.join(STAGES)}) "
                             "and its output_dir.")
    kwargs = {k: v for k, v in values.items() if k not in _SECTIONS}
    for name in ("init", "model", "data"):
        if kwargs.get(name) is None:
            kwargs[name] = {}
        elif not isinstance(kwargs[name], dict):
            raise ValueError(f"Recipe section {name!r} must be a mapping, got {type(kwargs[name]).__name__}.")
    for name, cls in _SECTIONS.items():
        kwargs[name] = _build_section(name, cls, values.get(name))
    recipe = Recipe(**kwargs)
    _validate(recipe)
    return recipe


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply `section.key=value` overrides (values parsed as YAML) to a recipe mapping; returns a new mapping."""
    values = copy.deepcopy(values)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Override {item!r} must look like section.key=value, e.g. train.epochs=2.")
        parts = key.strip().split(".")
        target = values
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ValueError(f"Override {item!r}: {part!r} is not a section.")
        target[parts[-1]] = yaml.safe_load(raw)
    return values


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a YAML (`.yaml`/`.yml`) or JSON recipe, apply `--set` overrides and validate it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Recipe {str(path)!r} does not exist. Recipes live in training/recipes/, e.g. "
                                "training/recipes/synth_small/stage2.yaml.")
    text = path.read_text(encoding="utf-8")
    values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return recipe_from_dict(apply_overrides(values or {}, overrides or []))


__all__ = ["STAGES", "TrainConfig", "OptimConfig", "EvalConfig", "LoraConfig", "Recipe", "recipe_from_dict",
           "apply_overrides", "load_recipe"]
