"""ADIFF: explain how two audio clips differ, in natural language.

HTSAT (transformers' `ClapAudioModel`) encodes both clips of a pair in one batched call; each clip embedding is
projected, L2-normalised and mapped to `prefix_length` GPT-2 embeddings by its own mapper; the prompt's GPT-2
embeddings go through a prompt mapper; `[audio 1 | separator | audio 2 | prompt]` passes through the
cross-projection and GPT-2 continues that prefix.
"""

import copy
import numbers
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, ClapAudioModel, GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache
from transformers.modeling_outputs import ModelOutput
from transformers.utils import logging

from configuration_adiff.configuration_adiff import AdiffConfig
from configuration_adiff.remote_code import (MODEL_AUTO_MAP, folder_custom_pipelines, folder_pipeline_modules,
                                             write_remote_code)

from .acoustic_summary import append_acoustic_summary
from .event_head import AdiffEventHead, AdiffEventHeadOutput
from .generation_presets import default_generation_config, generation_config_for
from .mapper import AdiffAudioMapper, AdiffAudioSegmentEmbedding, AdiffPrefixMapper, AdiffTransformer
from .onednn_linear import use_onednn_linear
from .weight_pages import release_resident_pages
from .projection import AdiffAudioProjection

logger = logging.get_logger(__name__)


@dataclass
class AdiffModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, prefix + tokens, hidden_size)`):
            GPT-2's last hidden states over the prefix and the text tokens.
        cache (`Cache`, *optional*): GPT-2's KV cache.
        prefix_embeds (`torch.FloatTensor` of shape `(batch_size, total_prefix_length, hidden_size)`, *optional*):
            the prefix GPT-2 was given (only when it was computed in this call).
        audio_embeds (`torch.FloatTensor` of shape `(batch_size, 2, audio_feature_dim)`, *optional*):
            HTSAT clip embeddings of audio 1 and audio 2.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, with `output_hidden_states=True`): GPT-2's input
            embeddings and each layer's output, each `(batch_size, prefix + tokens, hidden_size)`.
        attentions (`tuple(torch.FloatTensor)`, *optional*, with `output_attentions=True`): GPT-2's attention weights
            per layer, each `(batch_size, num_heads, query_length, key_length)`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    cache: Cache | None = None
    prefix_embeds: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class AdiffCausalLMOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): mean cross-entropy over answer tokens (labels != -100).
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`): next-token logits.
        cache (`Cache`, *optional*): GPT-2's KV cache.
        prefix_embeds (`torch.FloatTensor` of shape `(batch_size, total_prefix_length, hidden_size)`, *optional*).
        audio_embeds (`torch.FloatTensor` of shape `(batch_size, 2, audio_feature_dim)`, *optional*).
        hidden_states, attentions (*optional*): GPT-2's, as in `AdiffModelOutput`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: Cache | None = None
    prefix_embeds: torch.FloatTensor | None = None
    audio_embeds: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class AdiffPreTrainedModel(PreTrainedModel):
    config_class = AdiffConfig
    config: AdiffConfig
    base_model_prefix = "model"
    main_input_name = "input_features"
    input_modalities = ("audio", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["GPT2Block", "ClapAudioLayer", "AdiffTransformerLayer"]
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module):
        # Only ADIFF's own modules: the towers are sub-models and initialise themselves.
        std = self.config.text_config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, AdiffPrefixMapper):
            nn.init.normal_(module.prefix_const, mean=0.0, std=1.0)
        elif isinstance(module, AdiffAudioSegmentEmbedding):
            nn.init.zeros_(module.weight)

    def post_init(self):
        """transformers' `post_init`, then oneDNN linear products for fp32 CPU inference in every layer, the towers'
        included (`onednn_linear.py`: 2-3x faster products, same weights; training and GPUs keep PyTorch's own)."""
        super().post_init()
        use_onednn_linear(self)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained` (which `push_to_hub` calls too), plus the library code and `auto_map`
        so that `AutoModel.from_pretrained(folder, trust_remote_code=True)` works without this package installed,
        and the code and `custom_pipelines` entry of every registered folder pipeline (`import adiff` registers
        "audio-difference") so that `pipeline(task, model=folder, trust_remote_code=True)` does too."""
        self.config.auto_map = dict(MODEL_AUTO_MAP)
        for sub_config in (self.config.audio_config, self.config.text_config):
            sub_config._name_or_path = ""  # the towers' build-machine folders; from_pretrained sets the model's own
        pipelines = folder_custom_pipelines()
        if pipelines:
            self.config.custom_pipelines = pipelines
        elif getattr(self.config, "custom_pipelines", None):  # loaded from a folder; its pipeline code is not here
            logger.warning("The saved folder will not serve pipeline(%s): no pipeline is registered in this process. "
                           "`import adiff` before saving to include it.", ", ".join(self.config.custom_pipelines))
            del self.config.custom_pipelines
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            write_remote_code(save_directory, ["configuration_adiff.configuration_adiff",
                                               "modeling_adiff.modeling_adiff", *folder_pipeline_modules()])


class AdiffModel(AdiffPreTrainedModel):
    """The headless ADIFF model: audio encoder, projection, mappers, cross-projection and GPT-2 without its LM head.

    Args:
        config (`AdiffConfig`): the model configuration; towers are built from it (never downloaded).

    Example:

    ```python
    >>> import torch
    >>> from configuration_adiff import AdiffConfig
    >>> from modeling_adiff import AdiffModel
    >>> model = AdiffModel(AdiffConfig()).eval()
    >>> features = torch.zeros(1, 2, 1001, 64)  # (pairs, 2 audios, frames, mel bins)
    >>> prompt_ids = torch.zeros(1, 40, dtype=torch.long)
    >>> model.get_prefix_embeddings(features, prompt_ids).shape
    torch.Size([1, 121, 768])
    ```
    """

    # Clips per HTSAT call: encoding a batch a few clips at a time bounds the encoder's activation memory (base size,
    # 8 pairs: the process peak while encoding fell from 1,137 to 854 MiB); the results do not depend on it.
    encoder_clips_per_call = 4

    def __init__(self, config: AdiffConfig):
        super().__init__(config)
        hidden = config.text_config.n_embd
        self.audio_encoder = ClapAudioModel(config.audio_config)
        # HTSAT's TSCAM head: sound-event probabilities per clip and over time (for plots and hallucination checks).
        self.event_head = (AdiffEventHead(config.audio_config, config.num_event_classes)
                           if config.num_event_classes > 0 else None)
        self.audio_projection = AdiffAudioProjection(config.audio_feature_dim, config.projection_dim,
                                                     config.projection_dropout)
        mapper_kwargs = dict(num_heads=config.mapper_num_heads, num_layers=config.mapper_num_layers,
                             mlp_ratio=config.mapper_mlp_ratio)
        self.audio_mapper_1 = AdiffAudioMapper(config.projection_dim, hidden, config.clip_length,
                                               config.prefix_length, **mapper_kwargs)
        # With share_audio_mapper, audio 2 goes through audio_mapper_1 too (no audio_mapper_2 weights).
        self.audio_mapper_2 = (None if config.share_audio_mapper else
                               AdiffAudioMapper(config.projection_dim, hidden, config.clip_length,
                                                config.prefix_length, **mapper_kwargs))
        self.prompt_mapper = AdiffPrefixMapper(hidden, config.prefix_length, **mapper_kwargs)
        self.audio_segment_embeddings = (AdiffAudioSegmentEmbedding(hidden)
                                         if config.use_audio_segment_embeddings else None)
        self.cross_projection = (
            AdiffTransformer(hidden, config.cross_projection_num_heads, config.cross_projection_num_layers,
                             config.mapper_mlp_ratio)
            if config.use_cross_projection else None
        )
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    # Towers whose running statistics or dropout must not move when nothing in them learns.
    _towers = ("audio_encoder", "event_head", "language_model")

    def train(self, mode: bool = True):
        """`nn.Module.train`, except that a tower (`audio_encoder`, `event_head`, `language_model`) whose parameters
        are all frozen (`requires_grad=False`) stays in eval mode: HTSAT's BatchNorm running statistics would
        otherwise drift and its dropout fire under `Trainer`, peft or any loop that calls `model.train()`. Freeze a
        tower with `tower.requires_grad_(False)` (peft does so for everything it does not adapt); a tower with a
        trainable parameter (e.g. a LoRA adapter) follows `mode` like any module."""
        super().train(mode)
        for name in self._towers:
            tower = getattr(self, name)
            if mode and tower is not None and not any(p.requires_grad for p in tower.parameters()):
                tower.eval()
        return self

    def get_input_embeddings(self) -> nn.Embedding:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding):
        self.language_model.set_input_embeddings(value)

    def _encode_clips(self, input_features: torch.Tensor, output: str) -> torch.Tensor:
        """Runs HTSAT over both audios of every pair, `encoder_clips_per_call` clips at a time: `(B, 2, T, M)` ->
        the `output` field of `ClapAudioModel`'s output, over the 2B clips in order."""
        if input_features.dim() != 4 or input_features.shape[1] != 2:
            raise ValueError(
                "input_features must have shape (batch_size, 2, frames, mel_bins) -- audio 1 and audio 2 of each "
                f"pair -- but got {tuple(input_features.shape)}. Build it with AdiffProcessor(audio=[(a, b), ...]).")
        batch, pair, frames, mels = input_features.shape
        clips = input_features.reshape(batch * pair, 1, frames, mels).to(self.audio_encoder.dtype)  # (2B, 1, T, M)
        return torch.cat([getattr(self.audio_encoder(input_features=chunk), output)
                          for chunk in clips.split(self.encoder_clips_per_call)])

    def encode_audio(self, input_features: torch.Tensor) -> torch.Tensor:
        """HTSAT clip embeddings of both audios of every pair, in one encoder call, each followed by the clip's
        acoustic summary when `config.acoustic_summary` is on.

        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, 2, frames, mel_bins)`): log-mels from
                `AdiffFeatureExtractor` (audio 1 then audio 2).

        Returns: `torch.FloatTensor` of shape `(batch_size, 2, audio_feature_dim)` (`audio_embedding_dim` without
        the summary).
        """
        pooled = self._encode_clips(input_features, "pooler_output")  # (2B, D)
        if self.config.acoustic_summary:
            pooled = append_acoustic_summary(pooled, input_features.flatten(0, 1),  # (2B, T, M)
                                             self.config.acoustic_summary_segments)  # (2B, D + S)
        return pooled.view(input_features.shape[0], 2, -1)  # (B, 2, D [+ S])

    def enable_acoustic_summary(self, segments: int | None = None) -> "AdiffModel":
        """Turns `config.acoustic_summary` on in a model trained without it, keeping what it computes: the
        projection's first layer gets one input per summary feature, with zero weights, so the model's outputs are
        unchanged until training gives them weight (continue training with the summary from a trained model).

        Args:
            segments (`int`, *optional*): envelope segments (default `config.acoustic_summary_segments`).
        """
        if self.config.acoustic_summary:
            raise ValueError("This model already reads the acoustic summary (config.acoustic_summary is True).")
        # Checked on a copy first: a refused setting leaves the model as it was.
        wanted = copy.deepcopy(self.config)
        wanted.acoustic_summary = True
        wanted.acoustic_summary_segments = self.config.acoustic_summary_segments if segments is None else segments
        wanted._validate_adiff()
        self.config.acoustic_summary = True
        self.config.acoustic_summary_segments = wanted.acoustic_summary_segments
        old = self.audio_projection.linear1
        wider = nn.Linear(self.config.audio_feature_dim, old.out_features, bias=False,
                          device=old.weight.device, dtype=old.weight.dtype)
        with torch.no_grad():
            wider.weight.zero_()
            wider.weight[:, :old.in_features] = old.weight  # (P, D) of (P, D + S); the summary's columns stay 0
        wider.weight.requires_grad_(old.weight.requires_grad)
        self.audio_projection.linear1 = wider
        return self

    def get_audio_events(self, input_features: torch.Tensor) -> AdiffEventHeadOutput:
        """Sound-event probabilities of both audios from HTSAT's event head.

        Returns: `AdiffEventHeadOutput` with `logits` and `clip_probs` of shape `(batch_size, 2, num_event_classes)`
        and `frame_probs` of shape `(batch_size, 2, frames, num_event_classes)`.
        """
        if self.event_head is None:
            raise ValueError("This model has no event head (config.num_event_classes == 0), so it cannot report "
                             "event probabilities. Use a model trained or converted with an event head.")
        grid = self._encode_clips(input_features, "last_hidden_state")
        events = self.event_head(grid)
        batch = input_features.shape[0]
        return AdiffEventHeadOutput(
            logits=events.logits.view(batch, 2, -1),  # (B, 2, C)
            clip_probs=events.clip_probs.view(batch, 2, -1),  # (B, 2, C)
            frame_probs=events.frame_probs.view(batch, 2, *events.frame_probs.shape[1:]),  # (B, 2, F, C)
        )

    def get_audio_features(self, input_features: torch.Tensor | None = None,
                           audio_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Projected clip embeddings (before L2 normalisation), shape `(batch_size, 2, projection_dim)`.

        Give either `input_features` (log-mels) or precomputed HTSAT `audio_embeds` `(batch_size, 2, D)`.
        """
        if audio_embeds is None:
            if input_features is None:
                raise ValueError("Pass input_features (from AdiffProcessor) or precomputed audio_embeds.")
            audio_embeds = self.encode_audio(input_features)
        elif audio_embeds.shape[-1] != self.config.audio_feature_dim:
            summary = (f"the {self.config.audio_embedding_dim}-d HTSAT embedding and the "
                       f"{self.config.acoustic_summary_dim}-d acoustic summary" if self.config.acoustic_summary
                       else "the HTSAT embedding alone (config.acoustic_summary is off)")
            raise ValueError(f"audio_embeds must have {self.config.audio_feature_dim} features per clip ({summary}), "
                             f"got shape {tuple(audio_embeds.shape)}. Compute them with model.model.encode_audio.")
        return self.audio_projection(audio_embeds.to(self.audio_projection.linear1.weight.dtype))

    def get_prefix_embeddings(
        self,
        input_features: torch.Tensor | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The prefix GPT-2 continues: `[audio 1 | separator | audio 2 | prompt]` after the cross-projection.

        Accepts the processor's outputs as keywords. `prompt_attention_mask` and `labels` are accepted and not used:
        like the official model, the prompt mapper reads the padded prompt as is.

        Returns: `torch.FloatTensor` of shape `(batch_size, total_prefix_length, hidden_size)`.
        """
        if prompt_input_ids is None:
            raise ValueError("prompt_input_ids is required: encode a prompt with AdiffProcessor(text=... or "
                             "tier=...).")
        if prompt_input_ids.shape[-1] != self.config.prompt_length:
            raise ValueError(
                f"prompt_input_ids must have {self.config.prompt_length} tokens (config.prompt_length), got "
                f"{prompt_input_ids.shape[-1]}. Encode prompts with this model's AdiffProcessor.")
        audio = self.get_audio_features(input_features, audio_embeds)  # (B, 2, P)
        if self.config.normalize_audio_embeddings:
            # In float32: in float16 the 1e-12 floor underflows, and an all-zero projection would give 0 / 0 = NaN.
            audio = F.normalize(audio.float(), p=2, dim=-1, eps=1e-12).to(audio.dtype)
        audio_prefix_1 = self.audio_mapper_1(audio[:, 0])  # (B, prefix_length, E)
        mapper_2 = self.audio_mapper_1 if self.audio_mapper_2 is None else self.audio_mapper_2
        audio_prefix_2 = mapper_2(audio[:, 1])  # (B, prefix_length, E)
        if self.audio_segment_embeddings is not None:
            audio_prefix_1, audio_prefix_2 = self.audio_segment_embeddings(audio_prefix_1, audio_prefix_2)
        embeddings = self.get_input_embeddings()
        # A batch usually asks every pair the same prompt (one tier): map each distinct prompt once.
        prompts, prompt_of_pair = torch.unique(prompt_input_ids, dim=0, return_inverse=True)  # (U, L_prompt), (B,)
        prompt_prefix = self.prompt_mapper(embeddings(prompts))[prompt_of_pair]  # (B, prefix_length, E)
        parts = [audio_prefix_1, audio_prefix_2, prompt_prefix]
        if self.config.use_separator:
            separator = embeddings.weight[self.config.separator_token_id]  # (E,)
            parts.insert(1, separator.expand(audio.shape[0], 1, -1))  # (B, 1, E)
        prefix = torch.cat(parts, dim=1)  # (B, total_prefix_length, E)
        if self.cross_projection is not None:
            prefix = self.cross_projection(prefix)
        return prefix

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> AdiffModelOutput:
        """Runs GPT-2 over `[prefix | input_ids]`.

        With audio (`input_features` or `audio_embeds`) and `prompt_input_ids`, the prefix is computed and prepended to
        the embeddings of `input_ids` (teacher-forced answer tokens, may be omitted). Without audio, `inputs_embeds` or
        `input_ids` go to GPT-2 as they are (cached decoding steps).
        """
        prefix = None
        has_audio = input_features is not None or audio_embeds is not None
        if has_audio and inputs_embeds is None:
            if input_features is not None and audio_embeds is None:
                audio_embeds = self.encode_audio(input_features)
            prefix = self.get_prefix_embeddings(prompt_input_ids=prompt_input_ids, audio_embeds=audio_embeds)
            batch, prefix_len = prefix.shape[:2]
            prefix_mask = torch.ones(batch, prefix_len, dtype=torch.long, device=prefix.device)
            if input_ids is not None:
                inputs_embeds = torch.cat((prefix, self.get_input_embeddings()(input_ids)), dim=1)  # (B, Lp + Lt, E)
                if attention_mask is None:
                    attention_mask = torch.ones_like(input_ids)
                attention_mask = torch.cat((prefix_mask, attention_mask.to(prefix_mask.dtype)), dim=1)
            else:
                inputs_embeds, attention_mask = prefix, prefix_mask
            input_ids = None
        elif has_audio:
            raise ValueError("Pass either audio (input_features / audio_embeds) or inputs_embeds, not both.")
        attention = self.language_model.config._attn_implementation
        if kwargs.get("output_attentions") and attention != "eager":
            raise ValueError(
                f"output_attentions=True needs GPT-2's eager attention, but it runs {attention!r}, which computes no "
                "attention weights; load the model with attn_implementation={'text_config': 'eager'}.")
        return_dict = kwargs.pop("return_dict", None)
        outputs = self.language_model(
            input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
            cache=cache, use_cache=use_cache, return_dict=True, **kwargs,
        )
        output = AdiffModelOutput(last_hidden_state=outputs.last_hidden_state, cache=outputs.cache,
                                  prefix_embeds=prefix, audio_embeds=audio_embeds,
                                  hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return output if return_dict is not False else output.to_tuple()


class AdiffForConditionalGeneration(AdiffPreTrainedModel, GenerationMixin):
    """ADIFF with GPT-2's LM head: computes the answer loss and generates explanations.

    Args:
        config (`AdiffConfig`): the model configuration.

    Example:

    ```python
    >>> import numpy as np
    >>> from transformers import AutoModel, AutoProcessor
    >>> model = AutoModel.from_pretrained("path/to/adiff")  # doctest: +SKIP
    >>> processor = AutoProcessor.from_pretrained("path/to/adiff")  # doctest: +SKIP
    >>> inputs = processor(audio=(clip_a, clip_b), tier=2, sampling_rate=32000, return_tensors="pt")  # doctest: +SKIP
    >>> processor.batch_decode(model.generate(**inputs, max_new_tokens=60))  # doctest: +SKIP
    ```
    """

    _tied_weights_keys = {"lm_head.weight": "model.language_model.wte.weight"}
    # The loss is a mean over answer tokens and ignores `num_items_in_batch`: tell `Trainer` so, or it skips its own
    # gradient-accumulation scaling of the logged loss (and `**kwargs` in `forward` would make it assume otherwise).
    accepts_loss_kwargs = False

    def __init__(self, config: AdiffConfig):
        super().__init__(config)
        self.model = AdiffModel(config)
        self.lm_head = nn.Linear(config.text_config.n_embd, config.text_config.vocab_size, bias=False)
        self.post_init()
        # Greedy, stop at <|endoftext|>, pad finished pairs with it; a generation_config.json in a loaded folder wins.
        self.generation_config = default_generation_config(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear):
        self.lm_head = value

    def get_audio_features(self, input_features=None, audio_embeds=None) -> torch.Tensor:
        return self.model.get_audio_features(input_features, audio_embeds)

    def get_prefix_embeddings(self, **inputs) -> torch.Tensor:
        return self.model.get_prefix_embeddings(**inputs)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        prompt_attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> AdiffCausalLMOutput:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, 2, frames, mel_bins)`): log-mels of both audios.
            prompt_input_ids (`torch.LongTensor` of shape `(batch_size, prompt_length)`): the encoded prompt.
            input_ids (`torch.LongTensor` of shape `(batch_size, answer_length)`, *optional*): answer tokens; when
                omitted during training they are taken from `labels` (padding -> the separator id, masked out).
            labels (`torch.LongTensor` of shape `(batch_size, answer_length)`, *optional*): answer tokens followed by
                <|endoftext|>, -100 where padded. The loss covers only these; the prefix never enters it.
            audio_embeds (`torch.FloatTensor` of shape `(batch_size, 2, audio_feature_dim)`, *optional*): cached
                HTSAT embeddings to use instead of `input_features` (frozen-encoder training).
        """
        if labels is not None and input_ids is None:
            # Teacher forcing: the model reads the answer it has to predict, shifted inside the loss below.
            input_ids = labels.masked_fill(labels == -100, self.config.separator_token_id)
            attention_mask = (labels != -100).long()
        return_dict = kwargs.pop("return_dict", None)
        outputs = self.model(
            input_features=input_features, prompt_input_ids=prompt_input_ids, input_ids=input_ids,
            attention_mask=attention_mask, audio_embeds=audio_embeds, inputs_embeds=inputs_embeds,
            cache=cache, use_cache=use_cache, **kwargs,
        )
        hidden = outputs.last_hidden_state
        slice_from = -logits_to_keep if logits_to_keep else 0
        logits = self.lm_head(hidden[:, slice_from:])  # (B, L, V)
        loss = None
        if labels is not None:
            loss = self.answer_loss(logits, labels)
        output = AdiffCausalLMOutput(loss=loss, logits=logits, cache=outputs.cache,
                                     prefix_embeds=outputs.prefix_embeds, audio_embeds=outputs.audio_embeds,
                                     hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return output if return_dict is not False else output.to_tuple()

    @staticmethod
    def answer_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the answer tokens: position `t` of the full sequence predicts token `t + 1`, so the
        logits that predict `labels` are the `answer_length` positions ending one before the last."""
        answer_length = labels.shape[1]
        predicting = logits[:, -answer_length - 1:-1]  # (B, answer_length, V)
        return F.cross_entropy(predicting.float().reshape(-1, predicting.shape[-1]), labels.reshape(-1),
                               ignore_index=-100)

    def _prepare_model_inputs(self, inputs=None, bos_token_id=None, model_kwargs=None):
        """GenerationMixin starts decoding from `inputs_embeds` only for models whose main input is `input_ids`; the
        main input here is `input_features`, which `generate` has already turned into the prefix `inputs_embeds`."""
        if inputs is None and model_kwargs.get("inputs_embeds") is not None:
            model_kwargs["input_ids"] = self._maybe_initialize_input_ids_for_generation(None, bos_token_id,
                                                                                        model_kwargs=model_kwargs)
            return model_kwargs["inputs_embeds"], "inputs_embeds", model_kwargs
        return super()._prepare_model_inputs(inputs, bos_token_id, model_kwargs)

    @torch.no_grad()
    def generate(
        self,
        input_features: torch.Tensor | None = None,
        prompt_input_ids: torch.LongTensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        preset: str | None = None,
        tier: int | None = None,
        labels: torch.Tensor | None = None,
        release_weight_memory: bool = True,
        **kwargs,
    ):
        """Generates explanations for a batch of pairs; returns only the new tokens,
        `(batch_size * num_return_sequences, new_tokens)` (a `GenerateDecoderOnlyOutput` with
        `return_dict_in_generate=True`, whose `sequences` are those tokens and whose `hidden_states` / `attentions` /
        `scores` / `logits` come with the usual `output_*` flags).
        Takes the processor's outputs (`**inputs`) and any `GenerationMixin.generate` keyword (`max_new_tokens`,
        `num_beams`, `do_sample`, `top_k`, `top_p`, `temperature`, `num_return_sequences`, ...). Both audios of every
        pair are encoded once, in one encoder call, before decoding starts.

        `preset` (`"greedy"`, `"paper"`: top-k 3 / top-p 0.8 sampling, `"beam"`) and `tier` (1, 2, 3: shorthand for
        that tier's `max_new_tokens`, `configuration_adiff.tiers`; the pipeline and `processor.max_new_tokens_for`
        pick it from the prompt instead) start from `model.generation_config`; explicit keywords still win.
        The prefix is embeddings, not tokens, so `max_length` counts the returned tokens: without `max_new_tokens`,
        `max_length=N` means at most N new tokens (the configured `max_new_tokens` would otherwise override it).
        `labels` (what `Seq2SeqTrainer(predict_with_generate=True)` passes along) are ignored.

        `release_weight_memory` (on by default): each phase gives back the memory-mapped weight pages it has read once
        it is done -- the prefix modules before decoding starts, GPT-2 when it ends -- so a call never holds both
        resident (`release_weight_pages`). `False` keeps everything resident (saves about 0.15 s per call at base
        size, costs about 0.6 GiB of peak RSS).
        """
        del labels  # the references of an evaluation batch; decoding never reads them
        if kwargs.get("max_length") is not None and kwargs.get("max_new_tokens") is None:
            kwargs["max_new_tokens"] = kwargs.pop("max_length")
        if preset is not None or tier is not None:
            generation_config = generation_config_for(
                preset, tier=tier, base=kwargs.pop("generation_config", None) or self.generation_config)
            kwargs = generation_config.update(**kwargs)  # explicit keywords win; the unused ones are model inputs
            kwargs["generation_config"] = generation_config
        # The prefix (audio + prompt) is computed once here and enters GPT-2 as `inputs_embeds` at the first step;
        # GenerationMixin's default `prepare_inputs_for_generation` then feeds only new tokens, the KV cache holding
        # the prefix, so the audio is never encoded again.
        if inputs_embeds is None:
            inputs_embeds = self.model.get_prefix_embeddings(input_features=input_features,
                                                             prompt_input_ids=prompt_input_ids,
                                                             audio_embeds=audio_embeds)
            attention_mask = None
            if release_weight_memory:
                self.release_weight_pages("prefix")
        max_new_tokens = kwargs.get("max_new_tokens",
                                    (kwargs.get("generation_config") or self.generation_config).max_new_tokens)
        whole = isinstance(max_new_tokens, numbers.Integral) and not isinstance(max_new_tokens, bool)
        if max_new_tokens is not None and not (whole and max_new_tokens >= 1):
            raise ValueError(f"max_new_tokens must be a positive whole number of tokens, got {max_new_tokens!r}; "
                             "e.g. max_new_tokens=60.")
        context = self.config.text_config.n_positions
        if max_new_tokens is not None and inputs_embeds.shape[1] + max_new_tokens > context:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} after the {inputs_embeds.shape[1]}-token prefix exceeds the "
                f"language model's context of {context} positions (text_config.n_positions); ask for at most "
                f"{context - inputs_embeds.shape[1]} new tokens.")
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        generation_config = kwargs.get("generation_config") or self.generation_config
        caller_cache = kwargs.get("cache", kwargs.get("past_key_values"))  # the latter: transformers' older name
        if caller_cache is None and kwargs.get("cache_implementation", generation_config.cache_implementation) is None:
            # A KV cache allocated once for prefix + new tokens: the default cache grows by concatenation and so
            # copies itself at every step (a fifth of a batch-8 decoding step on CPU). Compiling the decoding step,
            # which transformers would otherwise do on GPUs for such a cache, stays opt-in (compile_config=...).
            settings = {"cache_implementation": "static"}
            if "compile_config" not in kwargs:
                settings["disable_compile"] = kwargs.pop("disable_compile", True)
            if kwargs.get("generation_config") is not None:  # transformers warns when both come as keywords
                kwargs["generation_config"] = copy.deepcopy(kwargs["generation_config"])
                kwargs["generation_config"].update(**settings)
            else:
                kwargs.update(settings)
        output = super().generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)
        if release_weight_memory:
            self.release_weight_pages("language_model")
        return output

    def release_weight_pages(self, part: str) -> int:
        """Gives back the resident pages of the memory-mapped weights of one `part` of the model: `"prefix"` (HTSAT,
        projection, mappers, cross-projection: everything but GPT-2) or `"language_model"` (GPT-2 and its LM head).
        Values never change: only unmodified pages of a weights file mapped on the CPU are unmapped, and they are
        mapped again from the page cache when next read (`weight_pages.py`). Returns the bytes released."""
        language_model = [self.model.language_model, self.lm_head]
        if part == "prefix":
            modules = [module for name, module in self.model.named_children() if name != "language_model"]
            return release_resident_pages(modules, keep=language_model)
        if part == "language_model":
            return release_resident_pages(language_model)
        raise ValueError(f"part must be 'prefix' or 'language_model', got {part!r}.")

__all__ = ["AdiffPreTrainedModel", "AdiffModel", "AdiffForConditionalGeneration", "AdiffModelOutput",
           "AdiffCausalLMOutput"]
