"""The four training stages: what each builds, freezes, trains on, computes its loss from and saves.

- `tagger` (stage 1a): HTSAT + event head as a multi-label tagger on labelled clips. `init.pretrained` (a folder or
  Hub id of a `ClapAudioModel`/CLAP checkpoint) skips training and exports that encoder instead.
- `lm` (stage 1b): GPT-2 as a language model on explanation text. `init.pretrained` (e.g. `gpt2`) skips training and
  exports that model and its tokenizer instead.
- `grounding` (stage 2): ADIFF assembled from the two towers (`init.audio_encoder`, `init.language_model`) or loaded
  from `init.from_pretrained`; encoder and LM frozen; projection, mappers, prompt mapper and cross-projection trained;
  clip embeddings cached on disk. `init.acoustic_summary: true` gives a model loaded from `init.from_pretrained` the
  acoustic summary (`AdiffModel.enable_acoustic_summary`; a fresh model takes `model.acoustic_summary`).
- `finetune` (stage 3): ADIFF from `init.from_pretrained`; the LM trained as well (the encoder too with
  `trainable: [..., audio_encoder]`, which turns the embedding cache off).

Every stage's `loss(model, batch)` returns `(mean loss, number of loss terms)`: the loop weights by the count, so
N-process training computes exactly the single-process global-batch loss.
"""

import abc
import functools
import json
import logging
from pathlib import Path

import torch
from transformers import ClapAudioConfig, GPT2Config, GPT2LMHeadModel

from modeling_adiff import AdiffForConditionalGeneration
from modeling_adiff.event_head import tscam_time_steps
from processing_adiff import PROMPT_PARAPHRASES, AdiffFeatureExtractor, AdiffProcessor

from .clip_properties import property_scores, read_clip_facts, select_properties
from .data import AdiffCollator
from .data.eval_set import read_facts
from .data.stage_data import (ClipTaggingData, ExplanationTextData, PairData, background_label, read_texts,
                              split_file)
from .embedding_cache import EmbeddingCache
from .freezing import ADIFF_GROUPS, DEFAULT_TRAINABLE, set_trainable
from .init_sources import check_init_sources
from .loss import adiff_forward, adiff_loss
from .recipe import Recipe
from .synthdiff.interface import FACTS_SUFFIX, PairFactHead, fact_targets, pair_fact_loss
from .tagger import AdiffAudioTagger
from .towers import (build_adiff, build_processor, load_audio_encoder, load_feature_extractor, load_tokenizer,
                     replace_audio_tower)

logger = logging.getLogger(__name__)



def _split(recipe: Recipe, name: str, default: str) -> str:
    return recipe.data.get(name, default)


def _corpus(recipe: Recipe) -> Path:
    corpus = recipe.data.get("corpus")
    if not corpus:
        raise ValueError(f"Recipe for stage {recipe.stage!r} needs data.corpus (a corpus folder with <split>.csv).")
    return Path(corpus)


def average_precisions(scores: torch.Tensor, targets: torch.Tensor) -> list:
    """Average precision of each class (column), `None` for a class without positives."""
    out = []
    for column in range(targets.shape[1]):
        positives = targets[:, column] > 0.5
        if not positives.any():
            out.append(None)
            continue
        order = scores[:, column].argsort(descending=True)
        hits = positives[order].float()
        precision_at = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        out.append(float((precision_at * hits).sum() / hits.sum()))
    return out


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mean average precision over the classes that have at least one positive."""
    precisions = [ap for ap in average_precisions(scores, targets) if ap is not None]
    return sum(precisions) / len(precisions) if precisions else float("nan")


class Stage(abc.ABC):
    """Base class: one stage of the recipe. Subclasses fill in model, data, loss and export."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe

    @property
    def pretrained_only(self) -> bool:
        """True when the stage only exports `init.pretrained` instead of training."""
        return False

    @abc.abstractmethod
    def build_model(self) -> torch.nn.Module:
        """Implemented by every stage."""

    def set_train_mode(self, model: torch.nn.Module) -> None:
        model.train()

    @abc.abstractmethod
    def build_data(self, model, accelerator) -> tuple:
        """Implemented by every stage."""

    @abc.abstractmethod
    def loss(self, model, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Implemented by every stage."""

    def eval_extras(self, model, eval_data, accelerator) -> dict:
        """Extra evaluation: metrics and generated samples (main process gets a `samples` list)."""
        return {}

    @abc.abstractmethod
    def save_final(self, model, folder: Path, accelerator) -> None:
        """Implemented by every stage."""


class TaggerStage(Stage):
    """Stage 1a: the HTSAT encoder trained as a multi-label event tagger."""

    @property
    def pretrained_only(self) -> bool:
        return bool(self.recipe.init.get("pretrained"))

    def class_names(self, corpus: Path) -> list[str] | None:
        """The tagger's classes: `data.labels`, else the corpus catalogue (`corpus.json` `sound_classes`, plus
        `background:<name>` per `backgrounds` entry with `data.background_labels`, so classes absent from the training
        split still get an output), else the training split's labels."""
        if self.recipe.data.get("labels"):
            return list(self.recipe.data["labels"])
        catalogue = corpus / "corpus.json"
        if catalogue.is_file():
            info = json.loads(catalogue.read_text(encoding="utf-8"))
            names = info.get("sound_classes")
            if names is not None and self.recipe.data.get("background_labels", False):
                names = names + [background_label(b) for b in info.get("backgrounds", [])]
            return names
        return None

    def front_end(self) -> AdiffFeatureExtractor:
        """The log-mel front end: `AdiffFeatureExtractor(**data.feature_extractor)` (e.g. `{floor_db: -60}`), saved
        with the encoder so that stages 2-3 and the shipped processor use the same."""
        settings = self.recipe.data.get("feature_extractor") or {}
        if not isinstance(settings, dict):
            raise ValueError(f"data.feature_extractor must be a mapping of AdiffFeatureExtractor settings (e.g. "
                             f"{{floor_db: -60}}), got {settings!r}.")
        return AdiffFeatureExtractor(**settings)

    def build_model(self):
        if self.pretrained_only:
            return load_audio_encoder(self.recipe.init["pretrained"])
        self.feature_extractor = self.front_end()
        corpus = _corpus(self.recipe)
        encoder = self.warm_start_encoder()
        if encoder is not None:
            config = encoder.config
        else:
            audio = dict(self.recipe.model.get("audio_config", {}))
            audio.setdefault("num_mel_bins", self.feature_extractor.feature_size)
            config = ClapAudioConfig(**audio)
        self.clip_options = {"background_labels": bool(self.recipe.data.get("background_labels", False)),
                             "frame_steps": tscam_time_steps(config)
                             if self.recipe.data.get("frame_labels", True) else None}
        self.properties = self.clip_properties()
        train_split = _split(self.recipe, "train_split", "train")
        self.train_clips = ClipTaggingData(split_file(corpus, train_split, "_clips.csv"), self.feature_extractor,
                                           training=True, label_names=self.class_names(corpus), **self.clip_options,
                                           **self.property_options(corpus, train_split))
        return AdiffAudioTagger(config, self.train_clips.label_names, encoder=encoder,
                                frame_positive_weight=self.recipe.model.get("frame_positive_weight", 1.0),
                                properties=self.properties,
                                property_loss_weight=self.recipe.model.get("property_loss_weight", 0.0))

    def warm_start_encoder(self):
        """The encoder to continue training, from `init.audio_encoder` (a stage-1a folder, a saved `ClapAudioModel` or
        an ADIFF folder such as the shipped model), or None to train one from `model.audio_config`. The event head
        always starts afresh: its classes are this corpus's."""
        source = self.recipe.init.get("audio_encoder")
        if not source:
            return None
        if self.recipe.model.get("audio_config"):
            raise ValueError(f"Stage 'tagger' got both init.audio_encoder ({source}) and model.audio_config; the "
                             "architecture comes from the encoder it continues, so drop model.audio_config.")
        encoder = load_audio_encoder(source)
        if encoder.config.num_mel_bins != self.feature_extractor.feature_size:
            raise ValueError(f"init.audio_encoder {source} reads {encoder.config.num_mel_bins} mel bins but the front "
                             f"end (data.feature_extractor) makes {self.feature_extractor.feature_size}; make them "
                             "agree.")
        logger.info("Stage 1a continues the encoder of %s", source)
        return encoder

    def clip_properties(self) -> tuple:
        """The clip properties the encoder also learns (`training.clip_properties`): `data.properties` (default: all)
        when `model.property_loss_weight` > 0, else none."""
        weight = self.recipe.model.get("property_loss_weight", 0.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"model.property_loss_weight must be a number >= 0 (0: no property targets), got "
                             f"{weight!r}.")
        if weight == 0 and self.recipe.data.get("properties"):
            raise ValueError(f"data.properties {self.recipe.data['properties']} are only trained with "
                             "model.property_loss_weight > 0 (e.g. 1.0); set it, or remove data.properties.")
        return select_properties(self.recipe.data.get("properties")) if weight > 0 else ()

    def property_options(self, corpus: Path, split: str) -> dict:
        """`ClipTaggingData` arguments for the property targets of `split` (its `<split>_facts.jsonl`)."""
        if not self.properties:
            return {}
        return {"properties": self.properties,
                "clip_facts": read_clip_facts(split_file(corpus, split, FACTS_SUFFIX))}

    def build_data(self, model, accelerator):
        self.train_clips.features_on_device = self.recipe.data.get("features_on_device", False)
        eval_split = self.recipe.data.get("eval_split", "validation")
        eval_data = None
        if eval_split:
            corpus = _corpus(self.recipe)
            eval_data = ClipTaggingData(split_file(corpus, eval_split, "_clips.csv"), self.feature_extractor,
                                        training=False, label_names=self.train_clips.label_names, **self.clip_options,
                                        **self.property_options(corpus, eval_split))
        return self.train_clips, eval_data

    def loss(self, model, batch):
        # the count made on the device (torch.full): torch.tensor(n, device=...) is a blocking copy from the host
        return model(**batch).loss, batch["labels"].new_full((), batch["labels"].shape[0])

    @torch.no_grad()
    def eval_extras(self, model, eval_data, accelerator):
        if eval_data is None:
            return {}
        limit = self.recipe.eval.max_batches
        size = self.recipe.train.eval_batch_size or self.recipe.train.batch_size
        scores, targets, properties = [], [], []
        for start in range(0, len(eval_data), size):
            if limit is not None and start // size >= limit:
                break
            batch = eval_data.collate([(item, 0) for item in eval_data.items[start:start + size]])
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            output = model(input_features=batch["input_features"])
            scores.append(output.logits.float().cpu())
            targets.append(batch["labels"].cpu())
            if output.property_outputs is not None:
                properties.append((output.property_outputs.float().cpu(), batch["property_targets"].cpu(),
                                   batch["property_known"].cpu()))
        scores, targets = torch.cat(scores), torch.cat(targets)
        property_metrics = {}
        if properties:  # accuracy (classes, yes / no) or R^2 (regressions) of the property head
            outputs, values, known = (torch.cat(parts) for parts in zip(*properties))
            property_metrics = {f"eval/property/{name}": score for name, score in
                                property_scores(self.properties, outputs, values, known).items() if score is not None}
        # Per class too: a from-scratch encoder learns some sounds much later than others (SynthDiff's short tonal
        # sounds), and the mean hides which.
        labels = accelerator_unwrap(model).labels
        per_class = {f"eval/AP/{name}": ap for name, ap in zip(labels, average_precisions(scores, targets))
                     if ap is not None}
        return {"eval/mAP": mean_average_precision(scores, targets), **per_class, **property_metrics}

    def save_final(self, model, folder, accelerator):
        model.save_pretrained(folder, is_main_process=accelerator.is_main_process)
        if accelerator.is_main_process and not self.pretrained_only:
            self.feature_extractor.save_pretrained(folder)  # read back by towers.load_feature_extractor in stage 2


class LanguageModelStage(Stage):
    """Stage 1b: GPT-2 trained as a language model on explanation text."""

    @property
    def pretrained_only(self) -> bool:
        return bool(self.recipe.init.get("pretrained"))

    def build_model(self):
        init = self.recipe.init
        source = init.get("tokenizer") or init.get("pretrained")
        if not source:
            raise ValueError("Stage 'lm' needs init.tokenizer (a tokenizer folder, e.g. from `python -m "
                             "training.tokenizer`) or init.pretrained (a GPT-2 folder or Hub id).")
        self.tokenizer = load_tokenizer(source)
        if self.pretrained_only:
            return GPT2LMHeadModel.from_pretrained(str(init["pretrained"]))
        text = dict(self.recipe.model.get("text_config", {}))
        text.setdefault("vocab_size", len(self.tokenizer))
        config = GPT2Config(bos_token_id=self.tokenizer.eos_token_id, eos_token_id=self.tokenizer.eos_token_id, **text)
        return GPT2LMHeadModel(config)

    def build_data(self, model, accelerator):
        corpus = _corpus(self.recipe)
        columns = tuple(self.recipe.data.get("text_columns", ("answer",)))
        max_length = self.recipe.data.get("max_length", model.config.n_positions)
        train = ExplanationTextData(read_texts([split_file(corpus, _split(self.recipe, "train_split", "train"))],
                                               columns), self.tokenizer, max_length)
        eval_split = self.recipe.data.get("eval_split", "validation")
        eval_data = None
        if eval_split:
            eval_data = ExplanationTextData(read_texts([split_file(corpus, eval_split)], columns), self.tokenizer,
                                            max_length)
        return train, eval_data

    def loss(self, model, batch):
        count = (batch["labels"][:, 1:] != -100).sum()  # GPT-2 shifts the labels by one inside its loss
        return model(**batch).loss, count

    @torch.no_grad()
    def eval_extras(self, model, eval_data, accelerator):
        if not accelerator.is_main_process or self.recipe.eval.num_samples < 1:
            return {}
        start = torch.full((1, 1), self.tokenizer.eos_token_id, device=accelerator.device)
        out = accelerator.unwrap_model(model).generate(
            start, max_new_tokens=self.recipe.eval.max_new_tokens, do_sample=False,
            pad_token_id=self.tokenizer.eos_token_id)
        return {"samples": [{"generated": self.tokenizer.decode(out[0, 1:], skip_special_tokens=True).strip()}]}

    def save_final(self, model, folder, accelerator):
        model.save_pretrained(folder, is_main_process=accelerator.is_main_process)
        if accelerator.is_main_process:
            self.tokenizer.save_pretrained(folder)


def longest_prompt(tokenizer) -> int:
    """Tokens of the longest canonical or paraphrased prompt, encoded as the processor does (`prompt + " " + EOS`)."""
    return max(len(tokenizer(f"{text} {tokenizer.eos_token}", add_special_tokens=False)["input_ids"])
               for texts in PROMPT_PARAPHRASES.values() for text in texts)


def resolve_prompt_length(settings: dict, tokenizer) -> None:
    """`prompt_length: auto` (and `clip_length: auto`, which the config ties to it) -> the longest prompt's length, so
    no training paraphrase is ever cut."""
    if settings.get("prompt_length") == "auto" or settings.get("clip_length") == "auto":
        length = longest_prompt(tokenizer)
        for key in ("prompt_length", "clip_length"):
            if settings.get(key, "auto") == "auto":
                settings[key] = length
        logger.info("prompt_length = clip_length = %d (longest prompt paraphrase, EOS included)", length)


class AdiffStage(Stage):
    """Stages 2 and 3: the ADIFF model trained on audio pairs."""

    def trainable_groups(self) -> tuple:
        groups = tuple(self.recipe.model.get("trainable", DEFAULT_TRAINABLE[self.recipe.stage]))
        unknown = sorted(set(groups) - set(ADIFF_GROUPS))
        if unknown:
            raise ValueError(f"model.trainable has unknown group(s) {unknown}; valid groups: {sorted(ADIFF_GROUPS)}.")
        return groups

    def build_model(self):
        init = self.recipe.init
        settings = {k: v for k, v in self.recipe.model.items() if k != "trainable"}
        if init.get("from_pretrained"):
            source = Path(init["from_pretrained"])
            model = AdiffForConditionalGeneration.from_pretrained(str(source))
            self.processor = AdiffProcessor.from_pretrained(str(source))
            self.tokenizer = self.processor.tokenizer
            if init.get("audio_encoder"):  # a continued stage-1a encoder in an existing model
                replace_audio_tower(model, self.processor, init["audio_encoder"])
            summary = init.get("acoustic_summary", False)
            if not isinstance(summary, bool):
                raise ValueError(f"init.acoustic_summary must be true or false, got {summary!r}.")
            if summary and not model.config.acoustic_summary:
                model.model.enable_acoustic_summary()  # the projection reads the summary too, from zero weights
            if settings:
                logger.warning("model settings %s are ignored: the architecture comes from %s", sorted(settings),
                               source)
        else:
            if not init.get("audio_encoder") or not init.get("language_model"):
                raise ValueError(f"Stage {self.recipe.stage!r} needs init.from_pretrained (an ADIFF folder) or both "
                                 "init.audio_encoder and init.language_model (stage-1 folders or Hub ids).")
            self.tokenizer = load_tokenizer(init.get("tokenizer") or init["language_model"])
            resolve_prompt_length(settings, self.tokenizer)
            model = build_adiff(self.tokenizer, settings, init["audio_encoder"], init["language_model"])
            self.processor = build_processor(self.tokenizer, model.config,
                                             self.recipe.data.get("max_answer_length", 256),
                                             load_feature_extractor(init["audio_encoder"]))
        groups = self.trainable_groups()
        self.frozen = set_trainable(model, groups)
        if self.fact_loss_weight:
            if self.recipe.lora.enabled:
                raise ValueError("data.fact_loss_weight trains a head next to the model, which LoRA would freeze; "
                                 "use one of data.fact_loss_weight and lora.enabled.")
            # Training only: the optimizer and checkpoints hold it; save_final leaves it out of the model folder.
            model.pair_fact_head = PairFactHead(model.config.total_prefix_length, model.config.text_config.n_embd)
        self.cache_embeddings = bool(self.recipe.data.get("cache_embeddings", True)) and "audio_encoder" not in groups
        if self.recipe.train.gradient_checkpointing:
            model.gradient_checkpointing_enable()
        return model

    @functools.cached_property
    def fact_loss_weight(self) -> float:
        """Weight of the auxiliary pair-fact loss (`training.synthdiff.pair_facts`); 0 (the default) turns it off.
        Read and checked once (the loss uses it every step)."""
        weight = self.recipe.data.get("fact_loss_weight") or 0.0
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"data.fact_loss_weight must be a number >= 0, got {weight!r}.")
        return float(weight)

    def set_train_mode(self, model):
        """Trained modules in train mode; frozen towers in eval mode (no dropout in what does not learn)."""
        model.train()
        modules = dict(accelerator_unwrap(model).named_modules())
        for name in self.frozen:
            modules[name].eval()

    def build_data(self, model, accelerator):
        corpus = _corpus(self.recipe)
        data, seed = self.recipe.data, self.recipe.train.seed
        splits = _split(self.recipe, "train_split", "train")  # a split or a list, e.g. [train, train_reversed]
        splits = [splits] if isinstance(splits, str) else list(splits)
        train = PairData.from_csv([split_file(corpus, s) for s in splits],
                                  AdiffCollator(self.processor, training=True, seed=seed), tiers=data.get("tiers"),
                                  caption_ratio=data.get("caption_ratio"), seed=seed,
                                  max_rows=data.get("max_train_rows"), mirror_ratio=data.get("mirror_ratio", 0.0),
                                  embedding_noise=data.get("embedding_noise", 0.0))
        if self.fact_loss_weight:
            train.fact_targets = self.read_fact_targets(corpus, splits, train.items)
        eval_data = None
        eval_split = data.get("eval_split", "validation")
        if eval_split:
            eval_data = PairData.from_csv(split_file(corpus, eval_split),
                                          AdiffCollator(self.processor, training=False), tiers=data.get("tiers"),
                                          caption_ratio=None,
                                          max_rows=data.get("max_eval_rows"))
        if train.embedding_noise and not self.cache_embeddings:
            raise ValueError("data.embedding_noise perturbs cached clip embeddings, but this stage reads audio (its "
                             "audio encoder trains, or data.cache_embeddings is false). Remove data.embedding_noise "
                             "or set data.cache_embeddings: true with a frozen encoder.")
        if self.cache_embeddings:
            encoder = accelerator_unwrap(model).model.audio_encoder
            cache_dir = data.get("embedding_cache") or str(Path(self.recipe.output_dir) / "embedding_cache")
            config = accelerator_unwrap(model).config
            segments = config.acoustic_summary_segments if config.acoustic_summary else None
            cache = EmbeddingCache(cache_dir, encoder, self.processor.feature_extractor,
                                   batch_size=data.get("embedding_batch_size", 16), summary_segments=segments)
            paths = train.filepaths() + (eval_data.filepaths() if eval_data else [])
            table = cache.embed_files(paths, accelerator)
            train.audio_embeds = table
            if eval_data:
                eval_data.audio_embeds = table
        return train, eval_data

    def read_fact_targets(self, corpus: Path, splits: list[str], rows: list[dict]) -> dict:
        """`{(filepath1, filepath2): fact targets}` for every training row, from the splits' `_facts.jsonl` files."""
        if self.recipe.data.get("mirror_ratio"):
            raise ValueError("data.fact_loss_weight needs the pairs in their own order, and data.mirror_ratio swaps "
                             "them; train on reversed splits instead (data.train_split: [train, train_reversed]).")
        targets = {}
        for split in splits:
            path = split_file(corpus, split, FACTS_SUFFIX)
            targets.update({pair: fact_targets(record) for pair, record in read_facts(path).items()})
        missing = [r for r in rows if (r["filepath1"], r["filepath2"]) not in targets]
        if missing:
            raise ValueError(f"data.fact_loss_weight needs SynthDiff facts for every training row; {len(missing)} of "
                             f"{len(rows)} rows have none in the splits' _facts.jsonl files, e.g. "
                             f"{missing[0]['filepath1']!r} / {missing[0]['filepath2']!r}. Set "
                             "data.fact_loss_weight: 0 for data without facts.")
        return targets

    def loss(self, model, batch):
        targets = batch.get("pair_fact_targets")
        if targets is None:
            return adiff_loss(model, batch)
        outputs, count = adiff_forward(model, {k: v for k, v in batch.items() if k != "pair_fact_targets"})
        fact_logits = accelerator_unwrap(model).pair_fact_head(outputs.prefix_embeds)
        return outputs.loss + self.fact_loss_weight * pair_fact_loss(fact_logits, targets), count

    @torch.no_grad()
    def eval_extras(self, model, eval_data, accelerator):
        settings = self.recipe.eval
        if eval_data is None or settings.num_samples < 1 or not accelerator.is_main_process:
            return {}
        rows = [r for r in eval_data.items if r.get("task") is None][: settings.num_samples]
        batch = eval_data.collate([(row, 0) for row in rows])
        batch = {k: v.to(accelerator.device) for k, v in batch.items() if k != "labels"}
        unwrapped = accelerator_unwrap(model)
        generated = unwrapped.generate(**batch, max_new_tokens=settings.max_new_tokens, do_sample=False)
        predictions = self.processor.batch_decode(generated)
        samples = [{"prompt": r["input"], "reference": r["answer"], "generated": p} for r, p in zip(rows, predictions)]
        metrics = {"samples": samples}
        if settings.evaluator:
            from .periodic_eval import run_evaluator

            metrics.update(run_evaluator(settings.evaluator, predictions, [r["answer"] for r in rows], rows))
        return metrics

    def save_final(self, model, folder, accelerator):
        accelerator_unwrap(model)._modules.pop("pair_fact_head", None)  # training only, not part of ADIFF
        model.save_pretrained(folder, is_main_process=accelerator.is_main_process)
        if accelerator.is_main_process:
            self.processor.save_pretrained(folder)


def accelerator_unwrap(model):
    """The bare model inside DDP / compile / PEFT wrappers (modules are shared, so changing them changes the
    wrapper)."""
    while hasattr(model, "module"):
        model = model.module
    model = getattr(model, "_orig_mod", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


STAGE_CLASSES = {"tagger": TaggerStage, "lm": LanguageModelStage, "grounding": AdiffStage, "finetune": AdiffStage}


def build_stage(recipe: Recipe) -> Stage:
    check_init_sources(recipe.init, recipe.stage)
    return STAGE_CLASSES[recipe.stage](recipe)


__all__ = ["Stage", "TaggerStage", "LanguageModelStage", "AdiffStage",
           "STAGE_CLASSES", "build_stage", "mean_average_precision",
           "average_precisions", "accelerator_unwrap", "longest_prompt",
           "resolve_prompt_length"]
