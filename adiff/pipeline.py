"""`pipeline("audio-difference")`: explain in natural language how two audio clips differ.

This module imports only `torch` and `transformers` (the processor does the audio and prompt work), so it is copied
as is into saved model folders and runs as remote code (`pipeline(..., trust_remote_code=True)`).
"""

import copy
import difflib
import re
import types
from dataclasses import dataclass

import torch
from transformers import GenerationConfig, Pipeline

TASK = "audio-difference"
DEFAULT_TIER = 2  # used when a call names no tier, task or prompt: "explain the difference in a sentence"
PAIR_KEYS = ("audio1", "audio2")
PROMPT_KEYS = ("tier", "task", "prompt")
# Generation parameters may be passed directly (`max_new_tokens=...`) like in `pipeline(...)` itself.
_GENERATION_KEYS = (frozenset(key for key in vars(GenerationConfig()) if not key.startswith("_"))
                    | {"generation_config"})
# Consumed by `transformers.pipeline()` while loading, then handed on to the pipeline's constructor.
_LOADING_KWARGS = ("local_files_only",)


@dataclass(frozen=True)
class _ListItem:
    """A pair of the user's list (generator, dataset) with its index there: the pipeline preprocesses one item at a
    time, so errors would otherwise all name pair 0."""

    index: int
    pair: object
    source: str = "list"


class _IndexedDataset(torch.utils.data.Dataset):
    """A user's `Dataset` (e.g. `KeyDataset(ds, "pair")`) whose items carry their index, so errors name the pair."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return _ListItem(index, self.dataset[index], "dataset")


def _renumber(error: Exception, index: int) -> None:
    """Makes the processor's "the first / second audio of pair 0" (it saw one pair) name the pair's index in the
    user's list instead; the error keeps its type and traceback."""
    if error.args and isinstance(error.args[0], str):
        message = re.sub(r"\b(first|second) audio of pair 0\b", rf"\1 audio of pair {index}", error.args[0])
        error.args = (message, *error.args[1:])


def _unpack_pair(item, index: int | None = None, source: str = "list") -> tuple:
    """`(a, b)`, `[a, b]` or `{"audio1": a, "audio2": b[, "tier" | "task" | "prompt": ...]}` -> (a, b, prompt).
    `index` is the item's place in the user's list or dataset (`source`), named in errors."""
    where = f" (item {index} of the {source})" if index is not None else ""
    if isinstance(item, dict) and any(key in item for key in PAIR_KEYS):
        unknown = sorted(set(item) - set(PAIR_KEYS) - set(PROMPT_KEYS))
        missing = [key for key in PAIR_KEYS if key not in item]
        if unknown or missing:
            raise ValueError(
                f"A pair dict needs the keys 'audio1' and 'audio2' (optionally one of 'tier', 'task', 'prompt'); got "
                f"keys {sorted(item)}{where}. Example: {{'audio1': 'a.wav', 'audio2': 'b.wav', 'tier': 2}}.")
        return item["audio1"], item["audio2"], {key: item[key] for key in PROMPT_KEYS if item.get(key) is not None}
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return item[0], item[1], {}
    kind = type(item).__name__
    got = f"a {kind} of {len(item)} items" if isinstance(item, (list, tuple)) else f"a {kind}"
    raise ValueError(
        f"Each input of the audio-difference pipeline must be a pair of audios, got {got}{where}. Call "
        "pipe(audio1, audio2), pipe({'audio1': a, 'audio2': b}) or pipe([(a1, b1), (a2, b2), ...]); an audio is a "
        "file path, bytes, a 1-D array at the model's sampling rate or {'array': ..., 'sampling_rate': ...}.")


def _processor_prompt(prompt: dict) -> dict:
    """`{"tier" | "task" | "prompt": value}` -> the processor's keyword (`tier=`, `task=` or `text=`)."""
    if len(prompt) > 1:
        raise ValueError(f"Give one of tier= (1, 2 or 3), task= (e.g. 'caption_first') or prompt= (free text); got "
                         f"{' and '.join(sorted(prompt))}.")
    [(name, value)] = (prompt or {"tier": DEFAULT_TIER}).items()
    return {"text" if name == "prompt" else name: value}


def _set_budget(generate_kwargs: dict, budget: int) -> None:
    """Puts a tier's token budget into `generate()`'s keywords, unless they already set `max_new_tokens` (directly or
    in their `generation_config`)."""
    config = generate_kwargs.get("generation_config")
    if "max_new_tokens" in generate_kwargs or (config is not None and config.max_new_tokens is not None):
        return
    if config is None:
        generate_kwargs["max_new_tokens"] = budget
    else:  # generate() takes parameters or a config, not both: the budget goes in a copy of the user's config
        generate_kwargs["generation_config"] = copy.deepcopy(config)
        generate_kwargs["generation_config"].max_new_tokens = budget


class AudioDifferencePipeline(Pipeline):
    r"""
    Explains how two audio clips differ (ADIFF), or captions one or both of them.

    Each audio is a file path, the bytes of an audio file, a 1-D numpy array / torch tensor at the model's sampling
    rate (`pipe.processor.feature_extractor.sampling_rate`), or `{"array" | "raw": ..., "sampling_rate": ...}`
    (resampled). The prompt is one of `tier=` (1: a few words, 2: a sentence, 3: in detail; 2 when nothing is given),
    `task=` (`"caption_first"`, `"caption_second"`, `"caption_both"`) or `prompt=` (free text). Decoding follows the
    model's generation config (greedy) with the token budget of the tier asked for, unless `preset=` (`"greedy"`,
    `"paper"`: the paper's top-k 3 / top-p 0.8 sampling, `"beam"`) or generation parameters (`max_new_tokens=`,
    `do_sample=`, ..., or `generate_kwargs={...}`) say otherwise.

    Example:

    ```python
    >>> import adiff  # registers the task
    >>> from transformers import pipeline
    >>> pipe = pipeline("audio-difference", model="path/to/adiff")  # doctest: +SKIP
    >>> pipe("a.wav", "b.wav", tier=2)  # doctest: +SKIP
    {'generated_text': 'Audio 1 has a loud siren, while Audio 2 is a calm scene with rain.'}
    >>> pipe([("a.wav", "b.wav"), ("c.wav", "d.wav")], task="caption_first", batch_size=8)  # doctest: +SKIP
    [{'generated_text': '...'}, {'generated_text': '...'}]
    ```
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False
    _pipeline_calls_generate = True

    def __call__(self, audio1, audio2=None, **kwargs):
        """
        Args:
            audio1: the first audio of a pair when `audio2` is given; otherwise one pair (`(a, b)` or
                `{"audio1": a, "audio2": b}`, which may carry its own `"tier"` / `"task"` / `"prompt"`) or a list of
                pairs.
            audio2 (*optional*): the second audio.
            tier (`int`, *optional*): 1, 2 or 3.
            task (`str`, *optional*): `"caption_first"`, `"caption_second"` or `"caption_both"`.
            prompt (`str`, *optional*): a free-text instruction.
            preset (`str`, *optional*): decoding preset of the model: `"greedy"`, `"paper"` or `"beam"`.
            generate_kwargs (`dict`, *optional*): keywords for `model.generate`; generation parameters such as
                `max_new_tokens` may also be given directly.
            batch_size (`int`, *optional*): pairs per model call for a list of pairs.

        Returns:
            `{"generated_text": str}` per pair (a list of them with `num_return_sequences > 1`); a list for a list.
        """
        if audio2 is not None:
            audio1 = {"audio1": audio1, "audio2": audio2}
        elif isinstance(audio1, list):
            if not audio1:
                raise ValueError("The audio-difference pipeline got an empty list of pairs; give at least one pair: "
                                 "pipe([(a1, b1), ...]), or pipe(a, b) for a single pair.")
            audio1 = [_ListItem(index, pair) for index, pair in enumerate(audio1)]
        elif isinstance(audio1, types.GeneratorType):
            audio1 = (_ListItem(index, pair) for index, pair in enumerate(audio1))
        elif isinstance(audio1, torch.utils.data.Dataset):
            audio1 = _IndexedDataset(audio1)
        return super().__call__(audio1, **kwargs)

    def _sanitize_parameters(self, tier=None, task=None, prompt=None, preset=None, generate_kwargs=None,
                             sampling_rate=None, **kwargs):
        if sampling_rate is not None:  # the processor takes it; here it would apply to every audio, paths included
            rate = self.processor.feature_extractor.sampling_rate
            raise TypeError(
                f"The audio-difference pipeline takes no sampling_rate= (got {sampling_rate!r}): raw arrays are taken "
                f"at the model's rate ({rate / 1000:g} kHz). For audio at another rate pass "
                f'{{"array": a, "sampling_rate": {sampling_rate!r}}} for each audio (or file paths, which carry their '
                "rate); it is resampled.")
        preprocess_params, forward_params = {}, dict(generate_kwargs or {})
        if preset is not None:
            forward_params["preset"] = preset
        given = {name: value for name, value in (("tier", tier), ("task", task), ("prompt", prompt))
                 if value is not None}
        if given:
            preprocess_params["prompt"] = given
        unknown = []
        for name, value in kwargs.items():
            if name in _GENERATION_KEYS:
                if name in forward_params:
                    raise ValueError(f"{name}= was given twice, directly and in generate_kwargs; give it once.")
                forward_params[name] = value
            elif name not in _LOADING_KWARGS:
                unknown.append(name)
        if unknown:
            valid = list(PROMPT_KEYS) + ["preset", "generate_kwargs", "batch_size", "max_new_tokens",
                                         "<any generation parameter>"]
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(PROMPT_KEYS) + sorted(_GENERATION_KEYS), n=1)
                hints.append(f"{name}= (did you mean {close[0]}=?)" if close else f"{name}=")
            raise TypeError(f"The audio-difference pipeline got unexpected keyword argument(s) {', '.join(hints)}. "
                            f"Valid arguments: {', '.join(valid)}.")
        return preprocess_params, forward_params, {}

    def preprocess(self, inputs, prompt=None):
        index, source = None, "list"
        if isinstance(inputs, _ListItem):
            index, inputs, source = inputs.index, inputs.pair, inputs.source
        audio1, audio2, own_prompt = _unpack_pair(inputs, index, source)
        # A pair's own prompt replaces the call's prompt; the processor loads, resamples and featurises both audios.
        prompt = _processor_prompt(own_prompt or prompt or {})
        try:
            model_inputs = self.processor(audio=(audio1, audio2),
                                          sampling_rate=self.processor.feature_extractor.sampling_rate, **prompt)
        except (ValueError, TypeError, OSError) as error:
            if index is not None:
                _renumber(error, index)
            raise
        # (1,): the tier's new-token budget, chosen here from the prompt; 0 = none (captioning, free text)
        model_inputs["token_budget"] = torch.tensor([self.processor.max_new_tokens_for(**prompt) or 0])
        return model_inputs

    def _forward(self, model_inputs, **generate_kwargs):
        budgets = model_inputs.pop("token_budget")  # (B,)
        generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        if int(budgets.min()) > 0:  # every pair has a tier: the longest one's budget, unless the user set one
            _set_budget(generate_kwargs, int(budgets.max()))
        sequences = self.model.generate(**model_inputs, **generate_kwargs)  # (B * num_return_sequences, new_tokens)
        pairs = model_inputs["input_features"].shape[0]
        return {"sequences": sequences.view(pairs, -1, sequences.shape[-1])}  # (B, num_return_sequences, new_tokens)

    def postprocess(self, model_outputs):
        eos = self.processor.tokenizer.eos_token_id
        results = []
        for row in model_outputs["sequences"][0].tolist():
            # Rows of a batch that stopped early are filled after their EOS; nothing after it is text.
            row = row[: row.index(eos)] if eos in row else row
            results.append({"generated_text": self.processor.decode(row)})
        return results[0] if len(results) == 1 else results


__all__ = ["AudioDifferencePipeline", "TASK", "DEFAULT_TIER"]
