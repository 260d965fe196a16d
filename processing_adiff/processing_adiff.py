"""ADIFF processor: audio pairs -> log-mel features, prompts -> padded GPT-2 ids, answers -> labels."""

import functools
import random
from pathlib import Path

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin
from transformers.utils import logging

from configuration_adiff.remote_code import write_remote_code
from configuration_adiff.tiers import TIERS

from .arguments import reject_unknown_kwargs
from .audio_io import check_sampling_rate, checked_channels_first, load_audio
from .prompts import (TASK_PROMPTS, TIER_PROMPTS, normalize_tier, resolve_prompt, sample_prompt, task_from_prompt,
                      tier_from_prompt)

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100
_FILE_LIKE = (str, Path, bytes, bytearray, dict)
_CALL_KWARGS = ("audio", "text", "tier", "task", "sampling_rate", "answers", "text_target", "return_tensors",
                "padding", "truncation", "training", "rng")
RETURN_TENSORS = ("pt", "np")
# `padding` is about `labels`: prompts are always padded to `prompt_length`, which the prompt mapper reads in full.
_PADDING = {True: "longest", "longest": "longest", "max_length": "max_length", False: None, "do_not_pad": None}
# Names from neighbouring APIs (the pipeline's prompt=, a model's labels=) that difflib would not match.
_CALL_ALIASES = {"prompt": "text", "prompts": "text", "sr": "sampling_rate", "labels": "answers", "targets": "answers"}


class AdiffProcessor(ProcessorMixin):
    r"""
    Prepares ADIFF inputs: a pair of audios per example, a prompt, and (for training) the answer.

    Prompts follow the official encoding: `prompt + " " + eos_token` (GPT-2 BPE turns the space into its own token,
    220), right-padded with the tokenizer's pad token (`"!"`, id 0, in the official setup) to `prompt_length`. A
    prompt that does not fit is cut and keeps its final EOS (the official code cut the EOS). Answers become `labels`:
    the answer's ids plus EOS, padded with -100 to the longest answer in the batch (at most `max_answer_length`).

    The prompt is given by exactly one of `text=` (free text, one or one per pair), `tier=` (1: a few words,
    2: a sentence, 3: in detail) or `task=` (`"caption_first"`, `"caption_second"`, `"caption_both"`); there is no
    default, so a forgotten prompt is an error rather than a silent tier choice. With `training=True`, `tier`/`task`
    prompts are drawn from their paraphrases and long audio is cropped at random, both from `rng`; by default
    (`training=False`) the canonical prompt and the centre crop are used, so inference is deterministic.

    Args:
        feature_extractor (`AdiffFeatureExtractor`): turns each audio into `(frames, mels)` log-mel features.
        tokenizer (GPT-2 tokenizer): must define `eos_token` and `pad_token`.
        prompt_length (`int`, defaults to 40): prompt tokens after padding (the model's `config.prompt_length`).
        max_answer_length (`int`, defaults to 256): cap on answer tokens (EOS included) in `labels`.

    Example:

    ```python
    >>> import numpy as np
    >>> from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
    >>> processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer)  # a GPT-2 tokenizer with pad_token "!"
    >>> batch = processor(audio=(np.zeros(32000), np.ones(32000) * 0.1), tier=1, sampling_rate=32000)
    >>> batch["input_features"].shape, batch["prompt_input_ids"].shape
    (torch.Size([1, 2, 1001, 64]), torch.Size([1, 40]))
    ```
    """

    def __init__(self, feature_extractor=None, tokenizer=None, prompt_length: int = 40, max_answer_length: int = 256,
                 **kwargs):
        for name, value in (("prompt_length", prompt_length), ("max_answer_length", max_answer_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"AdiffProcessor {name} must be an integer >= 2, got {value!r}.")
        self.prompt_length = prompt_length
        self.max_answer_length = max_answer_length
        super().__init__(feature_extractor, tokenizer, **kwargs)
        if tokenizer is not None and (tokenizer.eos_token is None or tokenizer.pad_token_id is None):
            raise ValueError(
                f"The tokenizer needs an eos_token and a pad_token (got eos={tokenizer.eos_token!r}, pad="
                f"{tokenizer.pad_token!r}). For GPT-2 set `tokenizer.pad_token = '!'` as the official code does.")

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`ProcessorMixin.save_pretrained`, plus the processing code and `auto_map` so that
        `AutoProcessor.from_pretrained(folder, trust_remote_code=True)` works without this package installed."""
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory,
                          ["processing_adiff.processing_adiff", "processing_adiff.feature_extraction_adiff"])
        return saved

    # ----------------------------------------------------------------------------------------------- inputs
    @staticmethod
    def _pairs(audio) -> list[tuple]:
        """`(a, b)` or `[(a1, b1), ...]` -> list of pairs, checking every item has two audios."""
        if not isinstance(audio, (list, tuple)) or len(audio) == 0:
            raise ValueError(f"audio must be a pair (first, second) or a non-empty list of pairs, got "
                             f"{type(audio).__name__}.")
        if len(audio) == 2 and not any(isinstance(item, (list, tuple)) for item in audio):
            return [tuple(audio)]
        for index, pair in enumerate(audio):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                got = f"{len(pair)} audio(s)" if isinstance(pair, (list, tuple)) else f"a {type(pair).__name__}"
                raise ValueError(f"audio[{index}] holds {got}; every item of the batch must be a (first, second) pair "
                                 f"of audios. Got {len(audio)} items. For a list of first audios and a list of second "
                                 "audios of equal length, pass audio=list(zip(firsts, seconds)).")
        return [tuple(pair) for pair in audio]

    @staticmethod
    def _per_pair(value, count: int, name: str) -> list:
        """Broadcast one value to every pair, or check a list has one value per pair."""
        if isinstance(value, (list, tuple)):
            if len(value) == 1:
                return list(value) * count
            if len(value) != count:
                raise ValueError(f"Got {len(value)} {name} values for {count} audio pairs; give one, or one per pair.")
            return list(value)
        return [value] * count

    def _prompts(self, count: int, text, tier, task, training: bool, rng: random.Random) -> list[str]:
        given = [name for name, value in (("text", text), ("tier", tier), ("task", task)) if value is not None]
        if len(given) != 1:
            raise ValueError(
                f"Give exactly one of text= (prompt string(s)), tier= (1, 2 or 3) or task= ('caption_first', "
                f"'caption_second', 'caption_both'); got {' and '.join(given) if given else 'none of them'}.")
        prompts = []
        for t, k, p in zip(self._per_pair(tier, count, "tier"), self._per_pair(task, count, "task"),
                           self._per_pair(text, count, "text")):
            t = normalize_tier(t)  # "2" (a CSV column, a command line) is tier 2, as in the pipeline and the CLI
            canonical = resolve_prompt(tier=t, task=k, prompt=p)  # validates tier / task names
            if p is not None and tier_from_prompt(canonical) is None and task_from_prompt(canonical) is None:
                logger.warning_once(
                    f"The prompt {canonical!r} is none of the prompts this model was trained on (tiers "
                    f"{sorted(TIER_PROMPTS)}, tasks {sorted(TASK_PROMPTS)} and their paraphrases): it answers it "
                    "with whatever its training prompts taught it, usually a caption or an explanation. Pass "
                    "tier= or task= for a supported prompt.")
            key = t if t is not None else k
            prompts.append(sample_prompt(key, rng) if training and key is not None else canonical)
        return prompts

    def prompt_texts(self, count: int = 1, text=None, tier=None, task=None, training: bool = False,
                     rng: random.Random | None = None) -> list[str]:
        """The prompt text of each of `count` pairs, given by exactly one of `text=`, `tier=` or `task=` (one value or
        one per pair). The one place where prompt paraphrases are drawn: with `training=True`, `tier` / `task`
        prompts are drawn from their paraphrases with `rng` (training collators call this too); otherwise the
        canonical prompt. Free text is returned stripped."""
        return self._prompts(count, text, tier, task, training, rng if rng is not None else random.Random())

    @staticmethod
    def max_new_tokens_for(tier=None, task=None, text=None) -> int | None:
        """The new-token budget of a prompt: its tier's (`configuration_adiff.tiers`), also when the tier's prompt or
        one of its paraphrases is given as `text`; `None` for captioning tasks and free text, where the model's
        default budget (`generation_config.max_new_tokens`) applies."""
        tier = tier_from_prompt(resolve_prompt(tier=tier, task=task, prompt=text))  # validated like the prompt
        return TIERS[tier].max_new_tokens if tier is not None else None

    def _load_clips(self, pairs: list[tuple], sampling_rate, crop=None) -> tuple[list, list]:
        """Flatten pairs to [a1, b1, a2, b2, ...] with one sampling rate per clip; files are decoded only inside
        `crop` (see `load_audio`)."""
        clips, rates = [], []
        for index, pair in enumerate(pairs):
            for position, item in zip(("first", "second"), pair):
                what = f"the {position} audio of pair {index}"
                if isinstance(item, _FILE_LIKE):
                    what += f" ({item})" if isinstance(item, (str, Path)) else ""
                    item, rate = load_audio(item, crop=crop)
                elif isinstance(item, (np.ndarray, torch.Tensor)):
                    if sampling_rate is None:
                        raise ValueError(
                            f"The {position} audio of pair {index} is a raw array, which carries no rate: pass "
                            "sampling_rate= (Hz), or give paths / bytes / {'array', 'sampling_rate'} dicts.")
                    rate = check_sampling_rate(sampling_rate, what=what)
                else:
                    raise TypeError(f"The {position} audio of pair {index} is a {type(item).__name__}; expected a "
                                    "numpy array, torch tensor, file path, bytes or {'array', 'sampling_rate'} dict.")
                checked_channels_first(item, what=what)  # errors name the pair and position, not a flat clip index
                clips.append(item)
                rates.append(rate)
        return clips, rates

    # ----------------------------------------------------------------------------------------------- text
    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Official prompt encoding: ids of `prompt + " " + eos`, right-padded to `prompt_length`.

        Returns `(prompt_input_ids, prompt_attention_mask)`, both `(len(prompts), prompt_length)` int64."""
        tok = self.tokenizer
        ids = torch.full((len(prompts), self.prompt_length), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, prompt in enumerate(prompts):
            tokens = tok(f"{prompt} {tok.eos_token}", add_special_tokens=False)["input_ids"]
            if len(tokens) > self.prompt_length:
                logger.warning(f"Prompt {prompt!r} has {len(tokens)} tokens (EOS included), more than prompt_length="
                               f"{self.prompt_length}; it is cut to {self.prompt_length} tokens, keeping the "
                               "final EOS.")
                tokens = tokens[: self.prompt_length - 1] + [tok.eos_token_id]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return ids, mask

    def tokenize_answers(self, answers: list[str]) -> list[list[int]]:
        """Each answer's ids + EOS, cut to `max_answer_length` (keeping the final EOS): the rows `encode_answers` pads,
        and their lengths are what length-grouped training batches by."""
        tok = self.tokenizer
        rows = []
        for answer in answers:
            if not isinstance(answer, str):
                raise TypeError(f"Answers must be strings, got a {type(answer).__name__}.")
            tokens = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            if len(tokens) > self.max_answer_length:
                logger.warning(f"An answer has {len(tokens)} tokens (EOS included), more than max_answer_length="
                               f"{self.max_answer_length}; it is cut, keeping the final EOS.")
                tokens = tokens[: self.max_answer_length - 1] + [tok.eos_token_id]
            rows.append(tokens)
        return rows

    def encode_answers(self, answers: list[str], padding: str | None = "longest") -> torch.Tensor:
        """Answer ids + EOS, padded with -100 to the longest answer (`padding="longest"`) or to `max_answer_length`
        (`"max_length"`); `padding=None` needs answers of one length. Returns `(B, L)` int64."""
        rows = self.tokenize_answers(answers)
        lengths = sorted({len(r) for r in rows})
        if padding is None and len(lengths) > 1:
            raise ValueError(f"padding=False needs answers of one length to stack them, got token lengths {lengths}; "
                             "use padding=True (the default: -100 up to the longest) or padding='max_length'.")
        width = self.max_answer_length if padding == "max_length" else lengths[-1]
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        for row, tokens in enumerate(rows):
            labels[row, : len(tokens)] = torch.tensor(tokens)
        return labels

    # ----------------------------------------------------------------------------------------------- call
    def __call__(self, audio=None, text=None, tier=None, task=None, sampling_rate=None, answers=None, text_target=None,
                 return_tensors: str = "pt", padding=True, truncation: str | None = None, training: bool = False,
                 rng: random.Random | None = None, **kwargs) -> BatchFeature:
        """
        Args:
            audio: a pair `(first, second)` or a list of pairs. Each audio is a numpy array / torch tensor (then
                `sampling_rate` is required), a file path, encoded bytes, or `{"array", "sampling_rate"}`.
            text (`str` or list of `str`, *optional*): prompt text(s): one for all pairs or one per pair.
            tier (`int` or list, *optional*): 1, 2 or 3, the explanation tier.
            task (`str` or list, *optional*): a captioning task, e.g. `"caption_first"`.
            sampling_rate (`int`, *optional*): rate of raw-array audio in Hz.
            answers / text_target (`str` or list of `str`, *optional*): target texts; adds `labels`.
            return_tensors (`str`, defaults to `"pt"`): `"pt"` (PyTorch tensors) or `"np"` (NumPy arrays).
            padding (`bool` or `str`, defaults to `True`): how `labels` are padded with -100: `True` / `"longest"`
                to the longest answer, `"max_length"` to `max_answer_length`, `False` / `"do_not_pad"` not at all
                (answers of one length only). Prompts are always padded to `prompt_length`.
            truncation (`str`, *optional*): crop policy for audio longer than 10 s (`"center"`, `"start"`,
                `"random"`); defaults to the feature extractor's (`"center"`), or `"random"` when `training=True`.
            training (`bool`, defaults to `False`): draw prompt paraphrases and random crops from `rng`.
            rng (`random.Random`, *optional*): randomness for `training=True`; a fresh unseeded one if omitted.

        Returns:
            `BatchFeature` with `input_features` `(B, 2, frames, mels)`, `prompt_input_ids` and
            `prompt_attention_mask` `(B, prompt_length)`, and `labels` `(B, L)` when answers are given.
        """
        reject_unknown_kwargs("AdiffProcessor", kwargs, _CALL_KWARGS, _CALL_ALIASES)
        if audio is None:
            raise ValueError("audio= is required: a pair (first, second) or a list of pairs.")
        if answers is not None and text_target is not None:
            raise ValueError("Give the targets once: answers= or its alias text_target=, not both.")
        if return_tensors not in RETURN_TENSORS:
            raise ValueError(f"AdiffProcessor returns {' or '.join(map(repr, RETURN_TENSORS))} (PyTorch tensors or "
                             f"NumPy arrays) for return_tensors=, got {return_tensors!r}.")
        if not isinstance(padding, (bool, str)) or padding not in _PADDING:
            raise ValueError(f"padding= must be one of {list(_PADDING)} (it pads labels; prompts always fill "
                             f"prompt_length), got {padding!r}.")
        answers = answers if answers is not None else text_target
        rng = rng if rng is not None else random.Random()
        pairs = self._pairs(audio)
        prompts = self._prompts(len(pairs), text, tier, task, training, rng)

        truncation = truncation or ("random" if training else None)
        deterministic = (truncation or self.feature_extractor.truncation) != "random"
        # A deterministic crop is known from a file's header: decode only that window (random crops read it all).
        crop = functools.partial(self.feature_extractor.crop_window, truncation=truncation) if deterministic else None
        clips, rates = self._load_clips(pairs, sampling_rate, crop)
        generator = np.random.default_rng(rng.getrandbits(64)) if training else None
        features = self.feature_extractor(clips, sampling_rate=rates, truncation=truncation, generator=generator)
        features = features["input_features"]  # (2B, frames, mels)
        data = {"input_features": features.view(len(pairs), 2, *features.shape[1:])}  # (B, 2, frames, mels)
        data["prompt_input_ids"], data["prompt_attention_mask"] = self.encode_prompts(prompts)
        if answers is not None:
            answers = [answers] if isinstance(answers, str) else list(answers)
            if len(answers) != len(pairs):
                raise ValueError(f"Got {len(answers)} answers for {len(pairs)} audio pairs; give one answer per pair.")
            data["labels"] = self.encode_answers(answers, _PADDING[padding])
        if return_tensors == "np":
            data = {name: value.numpy() for name, value in data.items()}
        return BatchFeature(data)

    # ----------------------------------------------------------------------------------------------- decode
    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Decode generated ids, dropping special tokens and surrounding whitespace (incl. the official stop space)."""
        kwargs.setdefault("skip_special_tokens", True)
        return [text.strip() for text in self.tokenizer.batch_decode(sequences, **kwargs)]

    def decode(self, token_ids, **kwargs) -> str:
        """Decode one sequence like `batch_decode`."""
        kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.decode(token_ids, **kwargs).strip()

    @property
    def pad_token_id(self) -> int:
        """The tokenizer's pad id (the prompt padding); `Seq2SeqTrainer` pads generated ids and labels with it."""
        return self.tokenizer.pad_token_id

    @property
    def model_input_names(self) -> list[str]:
        return ["input_features", "prompt_input_ids", "prompt_attention_mask"]


__all__ = ["AdiffProcessor"]
