"""Units of the training code: recipes, the resumable sampler, optimizer groups and schedule, checkpoint rotation,
the embedding cache, position-captioning mixing and the tagger's mAP."""

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import REPO_ROOT, build_tiny_config

from training.checkpointing import TrainerState, latest_checkpoint, list_checkpoints, save_checkpoint
from training.embedding_cache import EmbeddingCache
from training.optim import build_optimizer, build_scheduler, parameter_groups
from training.recipe import OptimConfig, apply_overrides, load_recipe, recipe_from_dict
from training.sampler import ResumableBatchSampler
from training.data.stage_data import mix_captioning, split_file
from training.stages import mean_average_precision

torch.set_num_threads(1)


# ----------------------------------------------------------------------------------------------- recipes
def test_every_shipped_recipe_loads(tmp_path):
    from pathlib import Path

    recipes = sorted((Path(__file__).resolve().parents[1] / "training" / "recipes").rglob("*.yaml"))
    assert {p.parent.name for p in recipes} >= {"synth_small", "tiny"}
    for path in recipes:
        recipe = load_recipe(path)
        assert recipe.stage in ("tagger", "lm", "grounding", "finetune")


def test_recipe_errors_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['epochz'\] in recipe section 'train'"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "train": {"epochz": 1}})
    with pytest.raises(ValueError, match="stage must be one of"):
        recipe_from_dict({"stage": "pretrain", "output_dir": "x"})
    with pytest.raises(ValueError, match="has no 'output_dir'"):
        recipe_from_dict({"stage": "lm"})
    with pytest.raises(ValueError, match=r"Recipe value optim.lr must be a finite number, got inf"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "optim": {"lr": "inf"}})
    with pytest.raises(ValueError, match=r"Recipe value optim.weight_decay must be a finite number, got nan"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "optim": {"weight_decay": float("nan")}})
    with pytest.raises(ValueError, match=r"Recipe value train.epochs must be a finite number"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "train": {"epochs": float("inf")}})
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        recipe_from_dict({"stage": "lm", "output_dir": "x", "train": {"mixed_precision": "fp8"}})
    with pytest.raises(FileNotFoundError, match="training/recipes/"):
        load_recipe("no/such/recipe.yaml")


def test_overrides_are_parsed_as_yaml():
    values = apply_overrides({"stage": "lm", "output_dir": "x", "train": {"epochs": 3}},
                             ["train.epochs=2", "optim.lr=1e-4", "data.tiers=[1, 3]", "lora.enabled=true"])
    recipe = recipe_from_dict(values)
    assert recipe.train.epochs == 2 and recipe.optim.lr == 1e-4 and recipe.data["tiers"] == [1, 3]
    assert recipe.lora.enabled is True
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides({}, ["train.epochs"])


# ----------------------------------------------------------------------------------------------- sampler
def test_two_ranks_together_see_the_single_process_global_batches():
    single = ResumableBatchSampler(21, batch_size=4, seed=3)
    ranks = [ResumableBatchSampler(21, batch_size=4, seed=3, rank=r, world_size=2) for r in range(2)]
    for epoch in (0, 1):
        for sampler in [single, *ranks]:
            sampler.set_epoch(epoch)
        together = [a + b for a, b in zip(*ranks)]
        assert together == list(single) and len(together) == 5  # drop_last: 21 // 4
    other = ResumableBatchSampler(21, 4, seed=4)
    other.set_epoch(1)
    assert [i for i, _ in next(iter(single))] != [i for i, _ in next(iter(other))]
    single.set_epoch(2)
    assert [i for i, _ in next(iter(single))] != [i for i, _ in next(iter(other))]


def test_sampler_resumes_mid_epoch_with_the_same_batches_and_seeds():
    sampler = ResumableBatchSampler(30, batch_size=5, seed=0)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_epoch(2, start_batch=3)
    assert list(sampler) == full[3:]
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        ResumableBatchSampler(30, batch_size=5, world_size=2)


def test_grouped_batches_hold_similar_lengths_and_stay_random_reproducible_and_complete():
    lengths = [3, 90, 40, 7, 120, 55, 12, 100, 33, 8, 70, 21] * 5  # 60 items
    plain = ResumableBatchSampler(60, batch_size=4, seed=1)
    grouped = ResumableBatchSampler(60, batch_size=4, seed=1, lengths=lengths, group_batches=5)

    def padded_tokens(sampler):
        return sum(4 * max(lengths[i] for i, _ in batch) for batch in sampler)

    assert padded_tokens(grouped) < 0.8 * padded_tokens(plain)
    epoch0 = [[i for i, _ in batch] for batch in grouped]
    assert sorted(i for batch in epoch0 for i in batch) == list(range(60))  # every item once, none dropped or doubled
    grouped.set_epoch(1)
    epoch1 = [[i for i, _ in batch] for batch in grouped]
    assert epoch1 != epoch0
    grouped.set_epoch(1, start_batch=6)
    assert [[i for i, _ in batch] for batch in grouped] == epoch1[6:]  # resumable mid-epoch
    ranks = [ResumableBatchSampler(60, 4, seed=1, rank=r, world_size=2, lengths=lengths, group_batches=5)
             for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(1)
    assert [[i for i, _ in a + b] for a, b in zip(*ranks)] == epoch1
    # the left-over items of a partial batch are the plain sampler's, not the shortest ones
    odd = ResumableBatchSampler(62, 4, seed=1, drop_last=False, lengths=lengths + [1, 1], group_batches=5)
    odd_plain = ResumableBatchSampler(62, 4, seed=1, drop_last=False)
    assert sorted(i for i, _ in list(odd)[-1]) == sorted(i for i, _ in list(odd_plain)[-1])
    with pytest.raises(ValueError, match="one length per item"):
        ResumableBatchSampler(60, 4, lengths=lengths[:10])


# ----------------------------------------------------------------------------------------------- optimizer
def test_decay_groups_exclude_norms_biases_and_learned_constants(tiny_config):
    from modeling_adiff import AdiffForConditionalGeneration

    model = AdiffForConditionalGeneration(tiny_config)
    model.requires_grad_(False)
    model.model.prompt_mapper.requires_grad_(True)
    decay, no_decay = parameter_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(names[id(p)].startswith("model.prompt_mapper.") for p in decay["params"] + no_decay["params"])
    assert all(p.dim() >= 2 for p in decay["params"])
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "model.prompt_mapper.prefix_const" in no_decay_names
    assert any(n.endswith("norm1.weight") for n in no_decay_names) and any(n.endswith(".bias") for n in no_decay_names)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        parameter_groups(model, 0.1)


def test_warmup_then_cosine_schedule():
    param = torch.nn.Parameter(torch.zeros(2, 2))
    config = OptimConfig(lr=1.0, warmup_ratio=0.2, schedule="cosine")
    optimizer = torch.optim.AdamW([param], lr=config.lr)
    scheduler = build_scheduler(optimizer, config, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == 0.0 and rates[1] == pytest.approx(0.5) and rates[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:])) and rates[-1] < 0.1
    assert isinstance(build_optimizer(torch.nn.Linear(2, 2), config), torch.optim.AdamW)


# ----------------------------------------------------------------------------------------------- checkpoints
def test_checkpoints_rotate_and_incomplete_ones_are_ignored(tmp_path):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(torch.nn.Linear(2, 2))  # noqa: F841  (save_state saves the prepared model)
    for step in (2, 4, 6):
        save_checkpoint(accelerator, TrainerState(global_step=step, epoch=1, batch_in_epoch=step), tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004", "step-00000006"]
    (tmp_path / "checkpoints" / "step-00000008").mkdir()  # a crash mid-save leaves no COMPLETE marker
    assert latest_checkpoint(tmp_path).name == "step-00000006"


# ----------------------------------------------------------------------------------------------- embedding cache
def test_embedding_cache_keys_on_content_and_encoder(tmp_path):
    from transformers import ClapAudioModel

    from processing_adiff import AdiffFeatureExtractor

    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-0.5, 0.5, 16000).astype(np.float32) for _ in range(2))
    for name, audio in (("a.wav", a), ("b.wav", b), ("a_copy.wav", a)):
        sf.write(tmp_path / name, audio, 16000, subtype="PCM_16")
    paths = [str(tmp_path / n) for n in ("a.wav", "b.wav", "a_copy.wav")]
    torch.manual_seed(0)
    config = build_tiny_config().audio_config
    encoder = ClapAudioModel(config).eval()
    extractor = AdiffFeatureExtractor()
    cache = EmbeddingCache(tmp_path / "cache", encoder, extractor)
    table = cache.embed_files(paths, show_progress=False)
    assert cache.misses == 2 and cache.hits == 0  # a.wav and its copy share one entry
    assert torch.equal(table[paths[0]], table[paths[2]])
    with torch.no_grad():
        direct = encoder(input_features=extractor(sf.read(paths[1], dtype="float32")[0], sampling_rate=16000)
                         ["input_features"].unsqueeze(1)).pooler_output[0]
    torch.testing.assert_close(table[paths[1]], direct)

    again = EmbeddingCache(tmp_path / "cache", ClapAudioModel(config).eval().requires_grad_(False), extractor)
    assert again.key != cache.key  # other weights, other key
    same = EmbeddingCache(tmp_path / "cache", encoder, extractor)
    same.embed_files(paths, show_progress=False)
    assert same.misses == 0 and same.hits == 2
    with pytest.raises(FileNotFoundError, match="do not exist"):
        same.embed_files([str(tmp_path / "missing.wav")])


# ----------------------------------------------------------------------------------------------- data, metrics
def test_caption_rows_make_up_the_requested_share():
    rows = [{"task": None, "i": i} for i in range(80)] + [{"task": "caption_first", "i": i} for i in range(10)]
    mixed = mix_captioning(rows, 0.2, seed=0)
    captions = sum(r["task"] is not None for r in mixed)
    assert captions == 20 and len(mixed) == 100  # 10 available, drawn with replacement to reach 20 %
    assert mix_captioning(rows, 0.2, seed=0) == mixed
    assert all(r["task"] is None for r in mix_captioning(rows, 0.0, seed=0))
    assert mix_captioning(rows, None, seed=0) == rows
    with pytest.raises(ValueError, match="has none"):
        mix_captioning(rows[:80], 0.2, seed=0)


def test_mean_average_precision():
    targets = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 0]], dtype=torch.float)
    assert mean_average_precision(targets * 2 - 1, targets) == 1.0
    scores = torch.tensor([[0.1, 0.9], [0.9, 0.1], [0.2, 0.0], [0.8, 0.5]])
    # class 0: positives ranked 3rd and 4th -> (1/3 + 2/4) / 2; class 1: its positive ranked 3rd -> 1/3
    assert mean_average_precision(scores, targets) == pytest.approx(((1 / 3 + 2 / 4) / 2 + 1 / 3) / 2)


# ----------------------------------------------------------------------------------------------- mirrored pairs
def test_mirrored_row_describes_the_swapped_pair():
    from training.data.mirroring import mirror_row, swap_audio_names

    assert swap_audio_names("Audio 1 is louder than Audio 2; audio 2 hums. Audio 12 stays.") == (
        "Audio 2 is louder than Audio 1; audio 1 hums. Audio 12 stays.")
    row = {"filepath1": "a.wav", "filepath2": "b.wav", "caption1": "rain", "caption2": "a siren", "tier": 1,
           "task": None, "input": "explain the difference in few words",
           "answer": "Audio 1 has rain, while Audio 2 has a siren; Audio 2 is louder."}
    mirrored = mirror_row(row)
    assert (mirrored["filepath1"], mirrored["filepath2"], mirrored["caption1"]) == ("b.wav", "a.wav", "a siren")
    assert mirrored["answer"] == "Audio 2 has rain, while Audio 1 has a siren; Audio 1 is louder."
    assert mirrored["input"] == row["input"] and row["filepath1"] == "a.wav"  # the original row is untouched
    caption = mirror_row({**row, "tier": None, "task": "caption_first", "input": "caption the first audio",
                          "answer": "Rain."})
    assert (caption["task"], caption["input"], caption["answer"]) == ("caption_second", "caption the second audio",
                                                                      "Rain.")
    assert mirror_row(caption) == {**row, "tier": None, "task": "caption_first", "input": "caption the first audio",
                                   "answer": "Rain."}


def test_pair_data_mirrors_the_drawn_items_with_their_clips():
    from processing_adiff import AdiffProcessor
    from training.data import AdiffCollator
    from training.data.stage_data import PairData

    processor = AdiffProcessor.from_pretrained(REPO_ROOT / "adiff" / "default_model")
    rows = [{"filepath1": f"{i}a", "filepath2": f"{i}b", "tier": 1, "task": None,
             "input": "explain the difference in few words", "answer": "Audio 1 is louder."} for i in range(64)]
    table = {f"{i}{k}": torch.full((4,), float(i) + (0.5 if k == "b" else 0.0)) for i in range(64) for k in "ab"}
    plain = PairData(rows, AdiffCollator(processor), audio_embeds=table)
    mirrored = PairData(rows, AdiffCollator(processor), audio_embeds=table, mirror_ratio=0.5)
    batch = [(rows[i], 1000 + i) for i in range(64)]
    a, b = plain.collate(batch), mirrored.collate(batch)
    swapped = b["audio_embeds"][:, 0, 0] != a["audio_embeds"][:, 0, 0]  # (64,) which items were mirrored
    assert 16 < int(swapped.sum()) < 48  # about half
    assert torch.equal(b["audio_embeds"][swapped], a["audio_embeds"][swapped].flip(1))
    louder_2 = processor.encode_answers(["Audio 2 is louder."])[0]
    assert all(torch.equal(b["labels"][i], louder_2) for i in torch.nonzero(swapped).flatten().tolist())
    assert torch.equal(b["labels"][~swapped], a["labels"][~swapped])
    assert torch.equal(mirrored.collate(batch)["audio_embeds"], b["audio_embeds"])  # drawn from the item seeds
    with pytest.raises(ValueError, match="mirror_ratio"):
        PairData(rows, AdiffCollator(processor), mirror_ratio=1.5)


def test_embedding_noise_perturbs_training_batches_by_the_asked_fraction_reproducibly():
    from processing_adiff import AdiffProcessor
    from training.data import AdiffCollator
    from training.data.stage_data import PairData

    processor = AdiffProcessor.from_pretrained(REPO_ROOT / "adiff" / "default_model")
    rows = [{"filepath1": f"{i}a", "filepath2": f"{i}b", "tier": 1, "task": None,
             "input": "explain the difference in few words", "answer": "Audio 1 is louder."} for i in range(32)]
    table = {f"{i}{k}": torch.randn(768, generator=torch.Generator().manual_seed(i * 2 + (k == "b"))) * (i + 1)
             for i in range(32) for k in "ab"}
    batch = [(rows[i], 500 + i) for i in range(32)]
    clean = PairData(rows, AdiffCollator(processor), audio_embeds=table).collate(batch)["audio_embeds"]
    noisy_data = PairData(rows, AdiffCollator(processor, training=True), audio_embeds=table, embedding_noise=0.1)
    noisy = noisy_data.collate(batch)["audio_embeds"]
    # the noise's RMS is 10% of each vector's RMS, whatever its scale
    ratio = (noisy - clean).square().mean(-1).sqrt() / clean.square().mean(-1).sqrt()  # (32, 2)
    assert torch.allclose(ratio, torch.full_like(ratio, 0.1), atol=0.015)
    assert torch.equal(noisy_data.collate(batch)["audio_embeds"], noisy)  # drawn from the item seeds
    other_seeds = noisy_data.collate([(row, seed + 1) for row, seed in batch])["audio_embeds"]
    assert not torch.allclose(other_seeds, noisy)
    # evaluation collators never perturb
    evaluation = PairData(rows, AdiffCollator(processor), audio_embeds=table, embedding_noise=0.1)
    assert torch.equal(evaluation.collate(batch)["audio_embeds"], clean)
    for bad in (-0.1, 1.0, "0.1", True):
        with pytest.raises(ValueError, match="embedding_noise must be a number in"):
            PairData(rows, AdiffCollator(processor), embedding_noise=bad)


def test_a_missing_split_names_the_file_and_how_to_make_it(tmp_path):
    (tmp_path / "train.csv").write_text("")
    assert split_file(tmp_path, "train") == tmp_path / "train.csv"
    with pytest.raises(FileNotFoundError, match=r"validation\.csv does not exist.*--pairs N`\)\.$"):
        split_file(tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match=r"train_reversed\.csv does not exist.*--reverse train`\."):
        split_file(tmp_path, "train_reversed")
