"""The data each stage trains on, as item lists plus a collate function.

Every collate function takes `[(item, item_seed), ...]` from `ResumableBatchSampler`: randomness (prompt paraphrases,
random crops) is drawn from generators seeded by the items' seeds, so batches are identical across restarts, worker
counts and process counts.

- `ClipTaggingData` (stage 1a): `<split>_clips.csv` rows (`filepath,labels[,background,events]`) -> log-mels,
  multi-hot clip labels and, where event times are known, frame-level targets.
- `ExplanationTextData` (stage 1b): explanation / caption texts of ACD/CLD-format CSVs -> GPT-2 LM batches.
- `PairData` (stages 2-3): ACD/CLD-format rows (via `training.data.load_csv`) -> ADIFF inputs, with cached
  `audio_embeds` instead of audio when an embedding table is given, and position-captioning rows mixed in at a ratio.
"""

import csv
import logging
import math
import random
from pathlib import Path

import numpy as np
import torch

from processing_adiff import load_audio

from ..clip_properties import property_targets
from ..synthdiff.interface import REVERSED_SUFFIX
from .collator import AdiffCollator
from .mirroring import mirror_row
from .sources import load_csv

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


def split_file(corpus: str | Path, split: str, suffix: str = ".csv") -> Path:
    path = Path(corpus) / f"{split}{suffix}"
    if not path.is_file():
        hint = ""
        if split.endswith(REVERSED_SUFFIX):
            hint = (f" A reversed split is added to an existing SynthDiff corpus with `python -m training.synthdiff "
                    f"--out {corpus} --reverse {split[:-len(REVERSED_SUFFIX)]}`.")
        raise FileNotFoundError(f"{path} does not exist. data.corpus must be a corpus folder holding <split>.csv, "
                                "<split>_clips.csv (e.g. from `python -m training.synthdiff --out DIR --pairs N`)."
                                + hint)
    return path


class ClipTaggingData:
    """Labelled clips for the tagger: each item is `{"filepath", "labels": [names], "events": [(name, start, end)]}`.

    Weak (clip-level) labels alone train a from-scratch HTSAT slowly: a 0.5 s event in a 10 s clip barely moves the
    time-averaged TSCAM logit. Where the CSV has an `events` column (`class@start-end;...`, seconds, as SynthDiff
    writes it), `collate` also returns frame-level targets on the tagger's time grid (`frame_labels`), which the
    tagger adds to its loss.

    Args:
        clips_csv (`str` or `Path`): a CSV with `filepath` and `labels` (`;`-separated names) columns, optionally
            `background` and `events`; relative paths resolve against the CSV's folder.
        feature_extractor (`AdiffFeatureExtractor`): log-mel front end.
        training (`bool`): random crops of long clips (seeded per batch); else centre crops.
        label_names (`list[str]`, *optional*): the class list (fixed by the training split); read from the file when
            omitted (sorted union of its labels).
        background_labels (`bool`): also tag the `background` column as a class `background:<name>` spanning the
            whole clip (the background is part of every SynthDiff explanation).
        frame_steps (`int`, *optional*): time steps of the frame-level targets over `feature_extractor.max_length_s`
            (the tagger's `num_time_steps`); no frame targets when omitted or when the CSV has no `events` column.
        properties (`tuple[ClipProperty]`, *optional*): also return `property_targets` / `property_known` (see
            `training.clip_properties`) from `clip_facts`.
        clip_facts (`dict`, *optional*): `{clip path: clip facts}` (`clip_properties.read_clip_facts` of the split's
            `_facts.jsonl`); needed with `properties`, and must hold every clip.
        features_on_device (`bool`): `collate` stops at the cropped waveforms (`waveforms` `(B, samples)` and their
            `waveform_gains` `(B,)`) and `on_device` computes the log-mels of the whole batch where the batch is (the
            training GPU) just before the forward pass (`data.features_on_device`); the features are the same.
    """

    def __init__(self, clips_csv: str | Path, feature_extractor, training: bool = True,
                 label_names: list[str] | None = None, background_labels: bool = False,
                 frame_steps: int | None = None, properties: tuple | None = None, clip_facts: dict | None = None,
                 features_on_device: bool = False):
        clips_csv = Path(clips_csv)
        with open(clips_csv, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = set(reader.fieldnames or ())
            if not {"filepath", "labels"} <= columns:
                raise ValueError(f"{clips_csv} needs columns filepath and labels (';'-separated class names), got "
                                 f"{reader.fieldnames}.")
            if background_labels and "background" not in columns:
                raise ValueError(f"background_labels=True needs a `background` column in {clips_csv}, got "
                                 f"{reader.fieldnames}; set data.background_labels: false or add the column.")
            rows = list(reader)
        self.items = []
        for line, row in enumerate(rows, start=2):
            labels = [x for x in row["labels"].split(";") if x]
            if background_labels and row["background"]:
                labels.append(background_label(row["background"]))
            events = _parse_events(row["events"], clips_csv, line) if row.get("events") else []
            untagged = sorted({name for name, _, _ in events} - set(labels))
            if untagged:
                raise ValueError(f"{clips_csv} line {line}: events {untagged} are not in the clip's labels {labels}; "
                                 "every timed event must also be a clip label.")
            self.items.append({"filepath": str(clips_csv.parent / row["filepath"]), "labels": labels,
                               "events": events})
        self.label_names = label_names or sorted({x for item in self.items for x in item["labels"]})
        self.index = {name: i for i, name in enumerate(self.label_names)}
        unknown = sorted({x for item in self.items for x in item["labels"]} - set(self.index))
        if unknown:
            raise ValueError(f"{clips_csv} has labels {unknown[:10]} that the training split does not; the tagger "
                             f"knows {len(self.label_names)} classes.")
        self.frame_steps = frame_steps if "events" in columns else None
        self.properties = tuple(properties or ())
        if self.properties:
            missing = [item["filepath"] for item in self.items if item["filepath"] not in (clip_facts or {})]
            if missing:
                raise ValueError(f"{len(missing)} clips of {clips_csv} have no facts (first: {missing[0]}); property "
                                 "targets need the split's <split>_facts.jsonl to describe every clip of its "
                                 "_clips.csv (regenerate the corpus, or set model.property_loss_weight: 0).")
            self.clip_facts = clip_facts
        self.feature_extractor = feature_extractor
        self.training = training
        self.features_on_device = features_on_device

    def __len__(self) -> int:
        return len(self.items)

    def collate(self, batch: list) -> dict:
        clips, rates, targets = [], [], torch.zeros(len(batch), len(self.label_names))
        for row, (item, _) in enumerate(batch):
            audio, rate = load_audio(item["filepath"])
            clips.append(audio)
            rates.append(rate)
            targets[row, [self.index[x] for x in item["labels"]]] = 1.0
        generator = np.random.default_rng(batch[0][1]) if self.training else None
        truncation = "random" if self.training else "center"
        if self.features_on_device:  # the same crops from the same generator; the log-mels come in `on_device`
            waveforms, gains = self.feature_extractor.prepare_waveforms(clips, rates, truncation, generator)
            out = {"waveforms": waveforms, "waveform_gains": gains, "labels": targets}  # (B, samples), (B,), ...
        else:
            features = self.feature_extractor(clips, sampling_rate=rates, truncation=truncation,
                                              generator=generator)["input_features"]  # (B, frames, mels)
            out = {"input_features": features, "labels": targets}
        if self.frame_steps:
            out["frame_labels"], out["frame_mask"] = self._frame_targets(batch, clips, rates, targets)
        if self.properties:
            out["property_targets"], out["property_known"] = property_targets(
                [self.clip_facts[item["filepath"]] for item, _ in batch], self.properties)  # (B, properties) each
        return out

    def on_device(self, batch: dict) -> dict:
        """A collated batch, moved to the training device, made ready for the model: with `features_on_device` its
        waveforms become log-mels (`(B, frames, mels)`, batched, on the batch's device); otherwise it is unchanged."""
        if "waveforms" not in batch:
            return batch
        batch = dict(batch)
        features = self.feature_extractor.batched_log_mel(batch.pop("waveforms"), batch.pop("waveform_gains"))
        return {"input_features": features, **batch}

    def _frame_targets(self, batch, clips, rates, targets) -> tuple:
        """`(B, classes, frame_steps)` targets and a `(B,)` mask of the clips they hold for: clips of exactly
        `max_length_s` (a cropped or tiled clip's event times no longer match its frames). Clip-long labels
        (backgrounds, and events of clips without times) are on at every step."""
        seconds = self.feature_extractor.max_length_s
        frames = targets.unsqueeze(-1).repeat(1, 1, self.frame_steps)  # (B, classes, steps)
        mask = torch.zeros(len(batch), dtype=torch.bool)
        for row, (item, _) in enumerate(batch):
            mask[row] = abs(len(clips[row]) - seconds * rates[row]) < 1  # exactly max_length_s long
            for name, start, end in item["events"]:
                frames[row, self.index[name]] = 0.0  # the event is on only inside its spans (set below)
            for name, start, end in item["events"]:
                first = min(int(start / seconds * self.frame_steps), self.frame_steps - 1)
                last = max(first + 1, math.ceil(end / seconds * self.frame_steps))
                frames[row, self.index[name], first:last] = 1.0
        return frames, mask


def background_label(name: str) -> str:
    """The tagger class of a clip's background (`background:<name>`)."""
    return f"background:{name}"


def _parse_events(text: str, path: Path, line: int) -> list:
    events = []
    for part in text.split(";"):
        try:
            name, span = part.rsplit("@", 1)
            start, end = (float(x) for x in span.split("-"))
        except ValueError:
            raise ValueError(f"{path} line {line}: events entry {part!r} is not `class@start-end` (seconds), e.g. "
                             "`drum@1.107-2.781`.") from None
        if not 0 <= start <= end or not math.isfinite(end):
            raise ValueError(f"{path} line {line}: events entry {part!r} needs 0 <= start <= end (seconds).")
        events.append((name, start, end))
    return events


def read_texts(csv_paths: list[str | Path], columns: tuple = ("answer",)) -> list[str]:
    """Distinct non-empty texts of the given columns, in first-seen order."""
    texts = {}
    for path in csv_paths:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for column in columns:
                    if row.get(column):
                        texts.setdefault(row[column].strip(), None)
    return list(texts)


class ExplanationTextData:
    """Explanation texts for language-model pretraining: each item is one text, trained as `text + <|endoftext|>`.

    Args:
        texts (`list[str]`): the texts.
        tokenizer: GPT-2-style tokenizer.
        max_length (`int`): token cap per text (EOS included).
    """

    def __init__(self, texts: list[str], tokenizer, max_length: int = 256):
        if not texts:
            raise ValueError("No texts to train the language model on; check data.corpus and data.text_columns.")
        self.items = texts
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.items)

    def token_rows(self, texts: list[str]) -> list[list[int]]:
        """`EOS text EOS` ids per text, cut to `max_length` (keeping the final EOS). A leading EOS gives the first word
        a context, as GPT-2's document boundary does."""
        eos = self.tokenizer.eos_token_id
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [([eos] + tokens)[: self.max_length - 1] + [eos] for tokens in ids]

    def lengths(self) -> list[int]:
        """Tokens per item (the rows `collate` pads), for `train.group_by_length`."""
        return [len(row) for row in self.token_rows(self.items)]

    def collate(self, batch: list) -> dict:
        tok = self.tokenizer
        rows = self.token_rows([text for text, _ in batch])
        length = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), length), tok.eos_token_id, dtype=torch.long)
        labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = torch.tensor(r)
            labels[i, 1: len(r)] = torch.tensor(r[1:])  # the leading EOS is context, not a target
            attention_mask[i, : len(r)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def mix_captioning(rows: list[dict], ratio: float | None, seed: int) -> list[dict]:
    """Explanation rows plus position-captioning rows making up `ratio` of the result (drawn with a seeded generator,
    with replacement when the corpus has too few). `None` keeps the rows as they are; 0 drops the captioning rows."""
    if ratio is None:
        return rows
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"data.caption_ratio must be in [0, 1) or null, got {ratio!r}.")
    explain = [r for r in rows if r.get("task") is None]
    captions = [r for r in rows if r.get("task") is not None]
    wanted = int(round(ratio * len(explain) / (1.0 - ratio)))
    if wanted and not captions:
        raise ValueError(f"data.caption_ratio={ratio} asks for position-captioning rows but the data has none; "
                         "generate the corpus with --caption-rows >= 1 or set data.caption_ratio: 0.")
    rng = random.Random(seed)
    if wanted <= len(captions):
        chosen = rng.sample(captions, wanted)
    else:
        chosen = captions + [rng.choice(captions) for _ in range(wanted - len(captions))]
    return explain + chosen


def perturb_embeddings(embeds: torch.Tensor, scale: float, seeds: list[int]) -> torch.Tensor:
    """`(B, 2, D)` clip embeddings plus Gaussian noise whose RMS is `scale` times each vector's own RMS; row `b`'s
    noise comes from a generator seeded by `seeds[b]`, so a batch is the same after a restart or on another worker."""
    noise = torch.stack([torch.randn(embeds.shape[1:], generator=torch.Generator().manual_seed(seed))
                         for seed in seeds])  # (B, 2, D)
    rms = embeds.float().square().mean(dim=-1, keepdim=True).sqrt()  # (B, 2, 1)
    return (embeds.float() + scale * rms * noise).to(embeds.dtype)


class PairData:
    """ACD/CLD-format rows for ADIFF training.

    Args:
        rows (`list[dict]`): rows with `filepath1`, `filepath2`, `input`, `answer`, `tier`, `task`.
        collator (`AdiffCollator`): prompt choice and audio loading (its `prompt` / `audio` methods and processor).
        audio_embeds (`dict`, *optional*): `{filepath: FloatTensor (D,)}`; when given, batches carry `audio_embeds`
            `(B, 2, D)` instead of `input_features` and no audio is read.
        mirror_ratio (`float`): the probability that an item is trained as its mirrored pair (`mirror_row`: clips
            and the names "Audio 1" / "Audio 2" swapped), drawn from the item's seed (so reproducible and resumable).
        fact_targets (`dict`, *optional*): `{(filepath1, filepath2): targets}`
            (`training.synthdiff.pair_facts.fact_targets`); when set, batches also carry `pair_fact_targets`
            `(B, NUM_TARGETS)` for the auxiliary fact loss.
        embedding_noise (`float`): training collators add Gaussian noise to each cached clip embedding, with an RMS
            of this fraction of the embedding's own RMS, drawn from the item's seed (`perturb_embeddings`). A cached
            clip otherwise gives the same vector every epoch, and the model learns decision boundaries closer to it
            than an inaudible change of the file (dither, re-encoding) moves it. 0 (the default) adds none.
    """

    def __init__(self, rows: list[dict], collator: AdiffCollator, audio_embeds: dict | None = None,
                 mirror_ratio: float = 0.0, fact_targets: dict | None = None, embedding_noise: float = 0.0):
        if not rows:
            raise ValueError("No rows to train on after filtering; check data.corpus, data.tiers and the split.")
        if not 0.0 <= mirror_ratio <= 1.0:
            raise ValueError(f"data.mirror_ratio must be in [0, 1], got {mirror_ratio!r}.")
        if isinstance(embedding_noise, bool) or not isinstance(embedding_noise, (int, float)) \
                or not 0.0 <= embedding_noise < 1.0:
            raise ValueError(f"data.embedding_noise must be a number in [0, 1) (noise RMS as a fraction of the "
                             f"embedding's RMS; e.g. 0.05), got {embedding_noise!r}.")
        self.items = rows
        self.collator = collator
        self.audio_embeds = audio_embeds
        self.mirror_ratio = mirror_ratio
        self.fact_targets = fact_targets
        self.embedding_noise = float(embedding_noise)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_csv(cls, path: str | Path | list, collator: AdiffCollator, tiers=None, caption_ratio=None, seed: int = 0,
                 max_rows: int | None = None, mirror_ratio: float = 0.0, embedding_noise: float = 0.0) -> "PairData":
        dataset = load_csv(path)
        rows = dataset.to_list()
        if tiers is not None:
            rows = [r for r in rows if r["tier"] in tiers or r["task"] is not None]
        rows = mix_captioning(rows, caption_ratio, seed)
        if max_rows is not None:
            rows = rows[:max_rows]
        return cls(rows, collator, mirror_ratio=mirror_ratio, embedding_noise=embedding_noise)

    def lengths(self) -> list[int]:
        """Answer tokens per item, EOS included (the prompt's length is fixed), for `train.group_by_length`."""
        return [len(tokens) for tokens in self.collator.processor.tokenize_answers([r["answer"] for r in self.items])]

    def filepaths(self) -> list[str]:
        return sorted({r[k] for r in self.items for k in ("filepath1", "filepath2")})

    def collate(self, batch: list) -> dict:
        """Training collators (`collator.training`) draw paraphrases and crops; evaluation ones use canonical
        prompts."""
        rows = [mirror_row(item) if self.mirror_ratio and random.Random(f"mirror-{seed}").random() < self.mirror_ratio
                else item for item, seed in batch]
        rng = random.Random(batch[0][1])
        prompts = [self.collator.prompt(row, rng) for row in rows]
        processor = self.collator.processor
        if self.audio_embeds is None:
            audio = [(self.collator.audio(row, 1), self.collator.audio(row, 2)) for row in rows]
            batch = dict(processor(audio=audio, text=prompts, answers=[r["answer"] for r in rows],
                                   training=self.collator.training, rng=rng))
        else:
            prompt_ids, prompt_mask = processor.encode_prompts(prompts)
            embeds = torch.stack([torch.stack((self.audio_embeds[r["filepath1"]], self.audio_embeds[r["filepath2"]]))
                                  for r in rows])  # (B, 2, D)
            if self.embedding_noise and self.collator.training:
                embeds = perturb_embeddings(embeds, self.embedding_noise, [seed for _, seed in batch])
            batch = {"audio_embeds": embeds, "prompt_input_ids": prompt_ids, "prompt_attention_mask": prompt_mask,
                     "labels": processor.encode_answers([r["answer"] for r in rows])}
        if self.fact_targets is not None:
            batch["pair_fact_targets"] = torch.tensor([self.fact_targets[(r["filepath1"], r["filepath2"])]
                                                       for r in rows])  # (B, NUM_TARGETS)
        return batch


__all__ = ["ClipTaggingData", "background_label", "ExplanationTextData", "PairData", "mix_captioning", "read_texts",
           "split_file"]
