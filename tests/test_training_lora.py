"""`--lora`: adapters on GPT-2 (optionally on the mappers), saved as a PEFT folder that reloads onto the base model,
and merged into a plain folder AutoModel loads, with the same outputs."""

import pytest
import torch
from training_testing import save_tiny_towers, stage_recipe, synth_corpus  # noqa: F401

from training.loop import train
from training.recipe import recipe_from_dict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def stage2_folder(synth_corpus, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("lora_base")
    return train(recipe_from_dict(stage_recipe(
        "grounding", root / "s2", synth_corpus, train={"max_steps": 1}, init=save_tiny_towers(root, synth_corpus))))


def _inputs(folder, corpus):
    from processing_adiff import AdiffProcessor

    processor = AdiffProcessor.from_pretrained(folder)
    clips = sorted((corpus / "audio" / "test").glob("*.wav"))[:2]
    return processor(audio=(str(clips[0]), str(clips[1])), tier=2, answers="Audio 1 is louder.")


@pytest.mark.parametrize("mappers", [False, True])
def test_lora_adapters_save_reload_and_merge(synth_corpus, stage2_folder, tmp_path, mappers):  # noqa: F811
    from transformers import AutoModel

    from modeling_adiff import AdiffForConditionalGeneration
    from training.lora import load_adapter

    out = tmp_path / "s3"
    final = train(recipe_from_dict(stage_recipe(
        "finetune", out, synth_corpus, init={"from_pretrained": str(stage2_folder)},
        optim={"lr": 1e-2, "warmup_steps": 0}, lora={"enabled": True, "r": 2, "alpha": 4, "mappers": mappers})))
    adapter = out / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()

    base = AdiffForConditionalGeneration.from_pretrained(stage2_folder).eval()
    merged = AutoModel.from_pretrained(final).eval()
    assert not any("lora" in key for key in merged.state_dict())
    reloaded = load_adapter(stage2_folder, adapter).eval()
    inputs = _inputs(final, synth_corpus)
    with torch.no_grad():
        expected = reloaded(**inputs).logits
        got = merged(**inputs).logits
        untouched = base(**inputs).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(got, untouched, atol=1e-4), "training changed nothing"

    merged_weights, base_weights = merged.state_dict(), base.state_dict()
    changed = {k for k in base_weights if not torch.equal(merged_weights[k], base_weights[k])}
    # LoRA touches GPT-2's attention/MLP projections only; embeddings, norms and the encoder stay as they were.
    assert any(".c_attn." in k for k in changed)
    frozen = ("model.audio_encoder.", ".wte.", ".wpe.", ".ln_")
    assert not any(k.startswith(frozen[0]) or any(part in k for part in frozen[1:]) for k in changed)
    # The grounding modules trained in full (saved with the adapter as modules_to_save), or through LoRA.
    assert any(k.startswith("model.cross_projection.") for k in changed)
    if mappers:
        assert any(k.startswith("model.audio_mapper_1.") and ".attn." in k for k in changed)
