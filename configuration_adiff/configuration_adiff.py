"""Configuration of ADIFF: an HTSAT audio encoder, mappers, a cross-projection and GPT-2."""

from transformers import ClapAudioConfig, GPT2Config, PreTrainedConfig
from transformers.utils import logging

from .remote_code import pipelines_without_installed_code

logger = logging.get_logger(__name__)

# GPT-2's "!": the official code pads prompts with it (`tokenizer.pad_token = "!"`); the default LM declares it.
GPT2_PROMPT_PAD_TOKEN_ID = 0


# Newer transformers 5.x build sub-configs from `sub_configs_defaults`; older 5.x releases (5.17 among them) read the
# `sub_configs` ClassVar and leave dicts and None to the composite config, so `__post_init__` builds them itself.
_SUB_CONFIG_CLASSES = {"audio_config": ClapAudioConfig, "text_config": GPT2Config}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class AdiffConfig(PreTrainedConfig):
    r"""
    Configuration of an ADIFF model ("Explaining audio difference using natural language", ICLR 2025).

    Two clips go through one HTSAT encoder (`audio_config`, a `ClapAudioConfig`); each clip embedding is projected to
    `projection_dim`, L2-normalised and expanded by its own mapper into `prefix_length` GPT-2 embeddings. The prompt's
    GPT-2 embeddings go through a prompt mapper. `[audio 1 | separator | audio 2 | prompt]` then passes through the
    cross-projection transformer and is the prefix GPT-2 (`text_config`) continues. The defaults are the official base
    model (HTSAT-tiny, GPT-2 124M, 121-token prefix).

    Args:
        audio_config (`ClapAudioConfig` or `dict`, *optional*): the HTSAT encoder. Its pooled output size
            (`patch_embeds_hidden_size * 2 ** (len(depths) - 1)`) is the clip-embedding size.
        text_config (`GPT2Config` or `dict`, *optional*): the language model; by default GPT-2 124M with
            `pad_token_id=0`, the "!" the official code pads prompts with (so `Trainer` has no pad token to align).
        projection_dim (`int`, defaults to 1024): width of the audio projection.
        projection_dropout (`float`, defaults to 0.5): dropout inside the audio projection.
        normalize_audio_embeddings (`bool`, defaults to `True`): L2-normalise projected clip embeddings.
        prefix_length (`int`, defaults to 40): prefix tokens produced per audio and for the prompt.
        clip_length (`int`, defaults to 40): tokens the audio mapper's linear layer expands a clip embedding into.
        prompt_length (`int`, defaults to 40): prompt tokens (padded) fed to the prompt mapper.
        mapper_num_layers (`int`, defaults to 4): transformer layers in each mapper.
        mapper_num_heads (`int`, defaults to 8): attention heads in each mapper.
        mapper_mlp_ratio (`float`, defaults to 2.0): MLP width ratio in the mappers and the cross-projection.
        share_audio_mapper (`bool`, defaults to `False`): one mapper for both audios instead of one each (the
            official model has two). The cross-projection has no positions, so with a shared mapper swapping the
            audios swaps the two audio blocks of the prefix exactly and two identical audios give identical blocks;
            only GPT-2's positions tell audio 1 from audio 2.
        use_audio_segment_embeddings (`bool`, defaults to `False`): add a learned audio-1 and an audio-2 vector to the
            two audio blocks before the cross-projection (the official model has none). With a shared mapper and no
            positions in the cross-projection, its prompt block is the same for a pair and its swap, so it cannot
            say which audio a difference belongs to; with them it can. Zero at initialisation.
        use_cross_projection (`bool`, defaults to `True`): `False` gives the paper's naive baseline prefix.
        use_separator (`bool`, defaults to `True`): put the separator embedding between the two audio prefixes.
        cross_projection_num_layers (`int`, defaults to 4): layers of the cross-projection transformer.
        cross_projection_num_heads (`int`, defaults to 4): heads of the cross-projection transformer.
        separator_token_id (`int`, defaults to 50256): token whose GPT-2 embedding separates the two audios.
        acoustic_summary (`bool`, defaults to `False`): append each clip's acoustic summary (the mean level of every
            mel band and its loudness envelope over `acoustic_summary_segments` stretches, measured on the log-mel;
            `modeling_adiff.acoustic_summary`) to its HTSAT embedding before the projection, so the model can hear
            spectral balance and timing that the pooled embedding averages away. Off in the official model.
        acoustic_summary_segments (`int`, defaults to 32): stretches of the clip in the summary's envelope.
        num_event_classes (`int`, defaults to 527): classes of HTSAT's event head (0: no event head).
        event_labels (`list[str]`, *optional*): names of the event classes, for plots and reports.

    Example:

    ```python
    >>> from configuration_adiff import AdiffConfig
    >>> config = AdiffConfig()
    >>> config.total_prefix_length
    121
    ```
    """

    model_type = "adiff"
    sub_configs_defaults = dict(_SUB_CONFIG_CLASSES)
    sub_configs = dict(_SUB_CONFIG_CLASSES)

    audio_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    projection_dim: int = 1024
    projection_dropout: float = 0.5
    normalize_audio_embeddings: bool = True
    prefix_length: int = 40
    clip_length: int = 40
    prompt_length: int = 40
    mapper_num_layers: int = 4
    mapper_num_heads: int = 8
    mapper_mlp_ratio: float = 2.0
    share_audio_mapper: bool = False
    use_audio_segment_embeddings: bool = False
    use_cross_projection: bool = True
    use_separator: bool = True
    cross_projection_num_layers: int = 4
    cross_projection_num_heads: int = 4
    separator_token_id: int = 50256
    acoustic_summary: bool = False
    acoustic_summary_segments: int = 32
    num_event_classes: int = 527
    event_labels: list[str] | None = None
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.text_config is None:
            self.text_config = GPT2Config(pad_token_id=GPT2_PROMPT_PAD_TOKEN_ID)
        for key, config_class in _SUB_CONFIG_CLASSES.items():
            value = getattr(self, key)
            if value is None or isinstance(value, dict):
                settings = {name: item for name, item in (value or {}).items() if name != "model_type"}
                setattr(self, key, config_class(**settings))
            elif not isinstance(value, PreTrainedConfig):
                raise TypeError(f"AdiffConfig.{key} must be a {config_class.__name__}, a dict or None, got "
                                f"{type(value).__name__}. Pass {config_class.__name__}(...) or its to_dict().")
        super().__post_init__(**kwargs)
        self._validate_adiff()
        if getattr(self, "custom_pipelines", None):  # a saved folder's pipeline; see pipelines_without_installed_code
            self.custom_pipelines = pipelines_without_installed_code(self.custom_pipelines)
            if not self.custom_pipelines:
                del self.custom_pipelines

    def _validate_adiff(self) -> None:
        for name in ("projection_dim", "prefix_length", "clip_length", "prompt_length", "mapper_num_layers",
                     "mapper_num_heads", "cross_projection_num_layers", "cross_projection_num_heads",
                     "acoustic_summary_segments"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value > 0,
                   f"AdiffConfig.{name} must be a positive integer, got {value!r}.")
        for name in ("share_audio_mapper", "use_audio_segment_embeddings", "use_cross_projection", "use_separator",
                     "normalize_audio_embeddings", "acoustic_summary"):
            value = getattr(self, name)
            _check(isinstance(value, bool), f"AdiffConfig.{name} must be True or False, got {value!r}.")
        _check(0.0 <= self.projection_dropout < 1.0,
               f"AdiffConfig.projection_dropout must be in [0, 1), got {self.projection_dropout!r}.")
        _check(self.mapper_mlp_ratio > 0, f"AdiffConfig.mapper_mlp_ratio must be > 0, got {self.mapper_mlp_ratio!r}.")
        hidden = self.text_config.n_embd
        _check(hidden % self.mapper_num_heads == 0,
               f"The LM width text_config.n_embd={hidden} must be divisible by mapper_num_heads="
               f"{self.mapper_num_heads}; pick a head count that divides it.")
        _check(hidden % self.cross_projection_num_heads == 0,
               f"The LM width text_config.n_embd={hidden} must be divisible by cross_projection_num_heads="
               f"{self.cross_projection_num_heads}; pick a head count that divides it.")
        # The prompt mapper views its input as (batch, clip_length, width): the official code ties the two lengths.
        _check(self.prompt_length == self.clip_length,
               f"AdiffConfig.prompt_length ({self.prompt_length}) must equal clip_length ({self.clip_length}): the "
               "prompt mapper reads exactly clip_length prompt tokens. Set both to the same value.")
        vocab = self.text_config.vocab_size
        _check(isinstance(self.separator_token_id, int) and 0 <= self.separator_token_id < vocab,
               f"AdiffConfig.separator_token_id must be a token id in [0, {vocab}) (text_config.vocab_size), got "
               f"{self.separator_token_id!r}. Use the tokenizer's <|endoftext|> id.")
        _check(isinstance(self.num_event_classes, int) and self.num_event_classes >= 0,
               f"AdiffConfig.num_event_classes must be an integer >= 0 (0 disables the event head), got "
               f"{self.num_event_classes!r}.")
        if self.event_labels is not None:
            _check(len(self.event_labels) == self.num_event_classes,
                   f"AdiffConfig.event_labels has {len(self.event_labels)} names but num_event_classes is "
                   f"{self.num_event_classes}; give one name per class.")
        audio = self.audio_config
        pooled = audio.patch_embeds_hidden_size * 2 ** (len(audio.depths) - 1)
        if audio.hidden_size != pooled:
            # ClapAudioModel's pooled output has `pooled` features whatever hidden_size says; keep them consistent.
            raise ValueError(
                f"audio_config.hidden_size ({audio.hidden_size}) must equal the HTSAT pooled width "
                f"patch_embeds_hidden_size * 2 ** (len(depths) - 1) = {pooled}. Set hidden_size={pooled}.")
        _check(audio.enable_fusion is False,
               "audio_config.enable_fusion must be False: ADIFF encodes fixed 10 s clips without CLAP's feature "
               "fusion.")

    @property
    def audio_embedding_dim(self) -> int:
        """Width of the HTSAT clip embedding (768 for the base model)."""
        return self.audio_config.hidden_size

    @property
    def acoustic_summary_dim(self) -> int:
        """Width of a clip's acoustic summary: one level per mel band and per envelope segment (0 when off)."""
        if not self.acoustic_summary:
            return 0
        return self.audio_config.num_mel_bins + self.acoustic_summary_segments

    @property
    def audio_feature_dim(self) -> int:
        """Width of what the projection reads per clip: the HTSAT embedding, then the acoustic summary if on."""
        return self.audio_embedding_dim + self.acoustic_summary_dim

    @property
    def total_prefix_length(self) -> int:
        """Tokens GPT-2 sees before the answer: audio 1, [separator], audio 2, prompt."""
        return 3 * self.prefix_length + int(self.use_separator)


__all__ = ["AdiffConfig", "GPT2_PROMPT_PAD_TOKEN_ID"]
