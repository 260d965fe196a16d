"""End to end: stage 1a (tagger), 1b (LM), 2 (grounding, cached embeddings) and 3 (fine-tuning) on a tiny SynthDiff
corpus, each stage starting from the previous one's folder; the result loads with AutoModel and the pipeline. Also
the Hub path: stage 1 exporting pretrained towers (tiny ones saved locally) instead of training them."""

import json

import pytest
import torch
from training_testing import TINY_AUDIO, TINY_TEXT, stage_recipe, synth_corpus  # noqa: F401

from training.loop import train
from training.metrics_log import read_metrics
from training.recipe import recipe_from_dict

torch.set_num_threads(1)


def _run(stage, out, corpus, **sections):
    return train(recipe_from_dict(stage_recipe(stage, out, corpus, **sections)))


def _weights(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def three_stages(synth_corpus, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("stages")
    s1a = _run("tagger", root / "s1a", synth_corpus, train={"save_every": 2})
    s1b = _run("lm", root / "s1b", synth_corpus)
    s2 = _run("grounding", root / "s2", synth_corpus, init={"audio_encoder": str(s1a), "language_model": str(s1b)},
              eval={"evaluator": "training.evaluation:score_samples", "num_samples": 2})
    cache = synth_corpus / "embedding_cache"
    cached = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    s3 = _run("finetune", root / "s3", synth_corpus, init={"from_pretrained": str(s2)},
              train={"group_by_length": True}, data={"mirror_ratio": 0.5, "train_split": ["train", "train_reversed"],
                                                      "embedding_noise": 0.05})
    return {"root": root, "s1a": s1a, "s1b": s1b, "s2": s2, "s3": s3, "cached": cached, "cache": cache}


def test_final_folder_loads_with_automodel_and_pipeline(three_stages, synth_corpus):  # noqa: F811
    import adiff  # noqa: F401  (registers the pipeline task)
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(three_stages["s3"])
    assert type(model).__name__ == "AdiffForConditionalGeneration"
    # The tagger's classes travel into the ADIFF config with its event head.
    labels = json.loads((three_stages["s1a"] / "event_labels.json").read_text())
    assert model.config.event_labels == labels and model.config.num_event_classes == len(labels)
    explain = pipeline("audio-difference", model=str(three_stages["s3"]))
    clips = sorted((synth_corpus / "audio" / "test").glob("*.wav"))[:2]
    out = explain(str(clips[0]), str(clips[1]), tier=1, generate_kwargs={"max_new_tokens": 4})
    assert isinstance(out["generated_text"], str)


def test_embedding_noise_without_cached_embeddings_is_an_error_not_ignored(three_stages, synth_corpus):  # noqa: F811
    with pytest.raises(ValueError, match="embedding_noise perturbs cached clip embeddings"):
        _run("grounding", three_stages["root"] / "uncached", synth_corpus,
             init={"audio_encoder": str(three_stages["s1a"]), "language_model": str(three_stages["s1b"])},
             data={"cache_embeddings": False, "embedding_noise": 0.1})


def test_stage2_trains_only_the_grounding_modules(three_stages):
    from transformers import AutoModel, ClapAudioModel

    from modeling_adiff import AdiffForConditionalGeneration

    s2 = AdiffForConditionalGeneration.from_pretrained(three_stages["s2"])
    assert _same(_weights(s2.model.audio_encoder), _weights(ClapAudioModel.from_pretrained(three_stages["s1a"])))
    assert _same(_weights(s2.model.language_model), _weights(AutoModel.from_pretrained(three_stages["s1b"])))
    # The prefix modules did train: stage 2's checkpointed starting point is not what it saved.
    s3 = AdiffForConditionalGeneration.from_pretrained(three_stages["s3"])
    assert not _same(_weights(s3.model.language_model), _weights(s2.model.language_model))  # stage 3 trains the LM
    assert _same(_weights(s3.model.audio_encoder), _weights(s2.model.audio_encoder))  # and leaves the encoder


def test_stage3_reuses_the_embedding_cache(three_stages):
    # Stage 3 also trains on train_reversed, whose pairs are the training clips the other way round: no new clips.
    after = {p: p.stat().st_mtime_ns for p in three_stages["cache"].rglob("*.npy")}
    assert three_stages["cached"] and after == three_stages["cached"], "stage 3 recomputed or added embeddings"


def test_length_grouping_uses_the_answer_lengths_the_batches_have(three_stages, synth_corpus, tmp_path):  # noqa: F811
    from processing_adiff import AdiffProcessor
    from training.data import AdiffCollator
    from training.data.stage_data import PairData

    collator = AdiffCollator(AdiffProcessor.from_pretrained(three_stages["s2"]))
    data = PairData.from_csv(synth_corpus / "train.csv", collator, caption_ratio=0.2)
    lengths = data.lengths()
    for index in range(0, len(data), 7):
        labels = data.collate([(data.items[index], 0)])["labels"]  # (1, answer tokens + EOS)
        assert lengths[index] == labels.shape[1] == (labels != -100).sum()
    with pytest.raises(ValueError, match="items of one length"):
        _run("tagger", tmp_path / "tagger", synth_corpus, train={"group_by_length": True})


def test_metrics_log_and_checkpoints(three_stages):
    records = read_metrics(three_stages["root"] / "s2")
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    final_eval = [r for r in records if "eval/loss" in r][-1]
    assert final_eval["samples"][0]["generated"] is not None and "reference" in final_eval["samples"][0]
    assert "eval/BLEU-4" in final_eval  # the evaluation package's scorer ran on the samples
    tagger_eval = [r for r in read_metrics(three_stages["root"] / "s1a") if "eval/mAP" in r]
    assert 0.0 <= tagger_eval[-1]["eval/mAP"] <= 1.0
    per_class = {k: v for k, v in tagger_eval[-1].items() if k.startswith("eval/AP/")}
    labels = json.loads((three_stages["root"] / "s1a/final/event_labels.json").read_text())
    assert per_class and set(per_class) <= {f"eval/AP/{name}" for name in labels}
    assert tagger_eval[-1]["eval/mAP"] == pytest.approx(sum(per_class.values()) / len(per_class))
    assert (three_stages["root"] / "s1a" / "checkpoints" / "step-00000002" / "COMPLETE").is_file()


def test_pretrained_towers_are_exported_instead_of_trained(synth_corpus, tmp_path):  # noqa: F811
    from transformers import AutoTokenizer, ClapAudioConfig, ClapAudioModel, GPT2Config, GPT2LMHeadModel

    from modeling_adiff import AdiffForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    encoder = ClapAudioModel(ClapAudioConfig(**TINY_AUDIO))
    encoder.save_pretrained(tmp_path / "hub_htsat")
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), **TINY_TEXT))
    lm.save_pretrained(tmp_path / "hub_gpt2")
    tokenizer.save_pretrained(tmp_path / "hub_gpt2")

    s1a = _run("tagger", tmp_path / "s1a", synth_corpus, init={"pretrained": str(tmp_path / "hub_htsat")})
    s1b = _run("lm", tmp_path / "s1b", synth_corpus, init={"pretrained": str(tmp_path / "hub_gpt2")})
    assert not (tmp_path / "s1a" / "checkpoints").exists()  # no training happened
    assert _same(_weights(ClapAudioModel.from_pretrained(s1a)), _weights(encoder))
    assert _same(_weights(GPT2LMHeadModel.from_pretrained(s1b)), _weights(lm))

    s2 = _run("grounding", tmp_path / "s2", synth_corpus, train={"max_steps": 1},
              init={"audio_encoder": str(s1a), "language_model": str(s1b)})
    model = AdiffForConditionalGeneration.from_pretrained(s2)
    assert model.config.num_event_classes == 0  # a plain encoder brings no event head
    assert _same(_weights(model.model.audio_encoder), _weights(encoder))


def test_tagger_recipe_sets_the_frame_positive_weight(synth_corpus, tmp_path):  # noqa: F811
    from training.stages import build_stage

    model = {"audio_config": dict(TINY_AUDIO), "frame_positive_weight": 3.0}
    tagger = build_stage(recipe_from_dict(stage_recipe("tagger", tmp_path, synth_corpus, model=model))).build_model()
    assert tagger.frame_positive_weight == 3.0
    default = build_stage(recipe_from_dict(stage_recipe("tagger", tmp_path, synth_corpus))).build_model()
    assert default.frame_positive_weight == 1.0
