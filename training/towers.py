"""Assembling ADIFF from its towers: an HTSAT encoder folder (stage 1a output or a Hub CLAP/HTSAT checkpoint), a GPT-2
folder (stage 1b output or `gpt2`) and a tokenizer; plus the processor a final folder ships with."""

import json
import logging
from pathlib import Path

from transformers import AutoModel, AutoTokenizer, ClapAudioConfig, ClapAudioModel, GPT2Config
from transformers.utils import FEATURE_EXTRACTOR_NAME, PROCESSOR_NAME

from configuration_adiff import AdiffConfig
from modeling_adiff import AdiffEventHead, AdiffForConditionalGeneration
from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

from .tagger import read_event_head

logger = logging.getLogger(__name__)


def load_tokenizer(source: str | Path):
    """A GPT-2-style tokenizer from a folder (or Hub id); it must define an EOS and a pad token."""
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    if tokenizer.eos_token_id is None:
        raise ValueError(f"The tokenizer from {source} has no eos_token; ADIFF needs <|endoftext|> as EOS and "
                         "separator.")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = "!"  # the official prompt padding token
    return tokenizer


def load_audio_encoder(source: str | Path) -> ClapAudioModel:
    """`ClapAudioModel.from_pretrained(source)`: a stage-1a tagger folder, any saved `ClapAudioModel`, or a Hub id; or
    the audio encoder of an ADIFF folder (e.g. the shipped model, to continue training its encoder)."""
    return load_audio_tower(source)[0]


def load_audio_tower(source: str | Path) -> tuple[ClapAudioModel, tuple[list[str], dict] | None]:
    """The encoder of `source` (as `load_audio_encoder`) and its event head as `(class names, state dict)`, or None:
    a stage-1a tagger folder's head files, or an ADIFF folder's own head (the shipped model has one)."""
    if _is_adiff_folder(source):
        model = AdiffForConditionalGeneration.from_pretrained(str(source)).model
        head = model.event_head
        return model.audio_encoder, (list(model.config.event_labels), head.state_dict()) if head is not None else None
    return ClapAudioModel.from_pretrained(str(source)), read_event_head(source)


def _is_adiff_folder(source: str | Path) -> bool:
    config = Path(source) / "config.json"
    if not config.is_file():
        return False
    return json.loads(config.read_text(encoding="utf-8")).get("model_type") == AdiffConfig.model_type


def load_language_model(source: str | Path):
    """The headless GPT-2 (`AutoModel.from_pretrained`) of a stage-1b folder, a saved GPT-2 or a Hub id (`gpt2`)."""
    return AutoModel.from_pretrained(str(source))


def build_adiff(tokenizer, model_settings: dict, audio_encoder: str | Path | None = None,
                language_model: str | Path | None = None) -> AdiffForConditionalGeneration:
    """A fresh ADIFF model whose towers are loaded from `audio_encoder` / `language_model` (or built from
    `model_settings["audio_config"]` / `["text_config"]` when a source is None), with the event head of a stage-1a
    tagger folder when the model has one. `model_settings` holds the remaining `AdiffConfig` fields."""
    settings = dict(model_settings)
    encoder, head = load_audio_tower(audio_encoder) if audio_encoder else (None, None)
    lm = load_language_model(language_model) if language_model else None
    audio_config = encoder.config if encoder is not None else ClapAudioConfig(**settings.pop("audio_config", {}))
    settings.pop("audio_config", None)
    if lm is not None:
        text_config = lm.config
        settings.pop("text_config", None)
    else:
        text_kwargs = dict(settings.pop("text_config", {}))
        text_kwargs.setdefault("vocab_size", len(tokenizer))
        text_config = GPT2Config(bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                                 **text_kwargs)
    # The prompts are padded with the tokenizer's pad token ("!"), which the prompt mapper reads: the model declares
    # it, so Trainer(processing_class=processor) finds the special tokens aligned and leaves the generation settings
    # (which then pad finished rows with it) as they are.
    text_config.pad_token_id = tokenizer.pad_token_id
    if text_config.vocab_size < len(tokenizer):
        raise ValueError(f"The language model has vocab_size {text_config.vocab_size} but the tokenizer has "
                         f"{len(tokenizer)} tokens; train the LM with this tokenizer (stage 1b) or pass its "
                         "tokenizer.")
    if head is not None:
        settings.setdefault("num_event_classes", len(head[0]))
        settings.setdefault("event_labels", head[0])
    settings.setdefault("num_event_classes", 0)
    config = AdiffConfig(audio_config=audio_config.to_dict(), text_config=text_config.to_dict(),
                         separator_token_id=tokenizer.eos_token_id, **settings)
    model = AdiffForConditionalGeneration(config)
    if encoder is not None:
        model.model.audio_encoder.load_state_dict(encoder.state_dict())
    if lm is not None:
        model.model.language_model.load_state_dict(lm.state_dict())
    event_head = getattr(model.model, "event_head", None)
    if head is not None and event_head is not None:
        event_head.load_state_dict(head[1])
    model.tie_weights()
    logger.info("Built ADIFF (%.2f M parameters) from encoder=%s, language model=%s",
                model.num_parameters() / 1e6, audio_encoder or "config", language_model or "config")
    return model


def load_feature_extractor(audio_encoder: str | Path | None) -> AdiffFeatureExtractor:
    """The front end an encoder was trained with: a stage-1a folder's `preprocessor_config.json` (written when the
    tagger recipe sets `data.feature_extractor`) or an ADIFF model folder's `processor_config.json` (e.g. the shipped
    model, whose encoder learned on a `top_db` floor), else the official one (a Hub HTSAT/CLAP): stages 2-3 must feed
    the encoder what it learned on."""
    folder = Path(audio_encoder) if audio_encoder is not None else None
    if folder is not None and any((folder / name).is_file() for name in (FEATURE_EXTRACTOR_NAME, PROCESSOR_NAME)):
        return AdiffFeatureExtractor.from_pretrained(str(folder))
    return AdiffFeatureExtractor()


def replace_audio_tower(model: AdiffForConditionalGeneration, processor: AdiffProcessor,
                        audio_encoder: str | Path) -> None:
    """Puts the encoder of a stage-1a folder into a trained ADIFF `model` (in place): its weights, its event head (or
    none) and the front end it was trained with (into `processor`), so that stage 2 can retrain the projection and
    mappers of an existing model on a continued encoder. The encoder's architecture must be the model's."""
    encoder, head = load_audio_tower(audio_encoder)
    ours, theirs = model.config.audio_config.to_dict(), encoder.config.to_dict()
    differing = sorted(k for k in ("hidden_size", "depths", "num_attention_heads", "patch_embeds_hidden_size",
                                   "num_mel_bins", "spec_size", "window_size") if ours.get(k) != theirs.get(k))
    if differing:
        raise ValueError(f"init.audio_encoder {audio_encoder} has another architecture than init.from_pretrained "
                         f"({', '.join(f'{k}: {theirs.get(k)} vs {ours.get(k)}' for k in differing)}); continue the "
                         "model's own encoder in stage 1a (init.audio_encoder: the model folder).")
    model.model.audio_encoder.load_state_dict(encoder.state_dict())
    labels = head[0] if head is not None else []
    model.config.num_event_classes, model.config.event_labels = len(labels), list(labels) or None
    model.model.event_head = AdiffEventHead(model.config.audio_config, len(labels)) if labels else None
    if head is not None:
        model.model.event_head.load_state_dict(head[1])
    processor.feature_extractor = load_feature_extractor(audio_encoder)
    logger.info("Audio tower replaced by %s (%d event classes)", audio_encoder, len(labels))


def build_processor(tokenizer, config: AdiffConfig, max_answer_length: int = 256,
                    feature_extractor: AdiffFeatureExtractor | None = None) -> AdiffProcessor:
    """The processor saved next to the model (prompt length from the config)."""
    return AdiffProcessor(feature_extractor=feature_extractor or AdiffFeatureExtractor(), tokenizer=tokenizer,
                          prompt_length=config.prompt_length, max_answer_length=max_answer_length)


__all__ = ["load_tokenizer", "load_audio_encoder", "load_feature_extractor", "load_language_model", "build_adiff",
           "build_processor", "replace_audio_tower"]
