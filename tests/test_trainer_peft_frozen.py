"""Frozen towers stay frozen under any trainer: `model.train()` keeps a tower with no trainable parameter in eval mode,
so `Trainer` + peft LoRA at learning rate 0 changes nothing (answers, HTSAT's BatchNorm statistics), and the merged
model equals the base model with the saved adapter."""

import numpy as np
import torch
from conftest import build_tiny_config, build_tiny_tokenizer

torch.set_num_threads(1)


def _tiny_model_and_processor():
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    tokenizer = build_tiny_tokenizer()
    config = build_tiny_config(tokenizer)
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config)
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer, prompt_length=config.prompt_length)
    return model, processor


def _batch(processor, pairs: int = 4, seed: int = 0):
    """`pairs` pairs of 1 s noise at different loudness, tier 1 prompts and short answers."""
    rng = np.random.default_rng(seed)
    audio = [(0.05 * (i + 1) * rng.standard_normal(32000).astype(np.float32),
              0.3 * rng.standard_normal(32000).astype(np.float32)) for i in range(pairs)]
    answers = ["Audio 2 is louder.", "Audio 1 has a loud siren."] * (pairs // 2)
    return processor(audio=audio, tier=1, sampling_rate=32000, answers=answers)


def test_train_mode_keeps_frozen_towers_in_eval():
    model, _ = _tiny_model_and_processor()
    model.model.audio_encoder.requires_grad_(False)
    model.train()
    norms = [m for m in model.model.audio_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in model.model.audio_encoder.modules())
    assert model.model.language_model.training and model.model.audio_mapper_1.training
    model.model.audio_encoder.requires_grad_(True)
    assert model.train().model.audio_encoder.training  # a trainable tower follows mode
    assert not model.eval().model.language_model.training


def test_trainer_peft_lora_at_lr_zero_changes_nothing(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import Trainer, TrainingArguments

    from modeling_adiff import AdiffForConditionalGeneration

    model, processor = _tiny_model_and_processor()
    model.save_pretrained(tmp_path / "base")
    batch = _batch(processor)
    rows = [{key: value[i] for key, value in batch.items()} for i in range(len(batch["labels"]))]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    buffers = {name: value.clone() for name, value in model.named_buffers()}
    model.eval()
    answers = model.generate(**inputs, max_new_tokens=6)

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["c_attn"]))
    torch.manual_seed(1)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # a non-zero adapter, so that merged == adapter compares something
            torch.nn.init.normal_(parameter, std=0.5)
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2, max_steps=4,
                             learning_rate=0.0, save_strategy="no", report_to=[], use_cpu=True,
                             remove_unused_columns=False, seed=0)
    Trainer(model=peft_model, args=args, train_dataset=rows).train()

    for name, value in model.named_buffers():
        if name in buffers:
            assert torch.equal(value, buffers[name]), f"buffer {name} changed during LoRA training at lr 0"
    base = AdiffForConditionalGeneration.from_pretrained(tmp_path / "base").eval()
    with peft_model.disable_adapter():
        assert torch.equal(peft_model.eval().generate(**inputs, max_new_tokens=6), answers)
    peft_model.save_pretrained(tmp_path / "adapter")
    adapter_logits = peft_model(**batch).logits
    base_logits = base(**batch).logits
    assert (adapter_logits - base_logits).abs().max() > 1e-3  # the adapter does something
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    merged = peft_model.merge_and_unload().eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, reloaded(**batch).logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(merged(**batch).logits, adapter_logits, atol=1e-5, rtol=1e-5)
