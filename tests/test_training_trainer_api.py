"""The Hugging Face `Trainer` trains ADIFF as is: the model returns the loss, `labels` is found as the label name, and
the raw-row dataset reaches `AdiffCollator` (which needs the file-path columns) with `remove_unused_columns=False`."""

import math

import torch
from conftest import build_tiny_config
from training_testing import synth_corpus  # noqa: F401

torch.set_num_threads(1)


def test_trainer_trains_and_evaluates_adiff(synth_corpus, tmp_path):  # noqa: F811
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
    from training.data import AdiffCollator, load_csv

    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    config = build_tiny_config(tokenizer, prompt_length=48, clip_length=48)
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config)
    processor = AdiffProcessor(feature_extractor=AdiffFeatureExtractor(), tokenizer=tokenizer,
                               prompt_length=config.prompt_length, max_answer_length=64)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=2, per_device_eval_batch_size=2,
                             max_steps=3, learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to=[],
                             use_cpu=True, remove_unused_columns=False, dataloader_num_workers=0, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=load_csv(synth_corpus / "train.csv"),
                      eval_dataset=load_csv(synth_corpus / "validation.csv").select(range(4)),
                      data_collator=AdiffCollator(processor, training=True, seed=0))
    assert trainer.label_names == ["labels"]
    result = trainer.train()
    assert math.isfinite(result.training_loss)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    after = model.state_dict()
    assert not torch.equal(before["model.prompt_mapper.prefix_const"], after["model.prompt_mapper.prefix_const"])
    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_loss"])


def test_trainer_loss_is_the_same_with_gradient_accumulation(synth_corpus, tmp_path):  # noqa: F811
    """Batch 4 in one step and batch 2 x 2 accumulation steps log the same loss and make the same SGD update (the
    Trainer scales accumulated losses itself because the model declares `accepts_loss_kwargs = False`)."""
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
    from training.data import AdiffCollator, load_csv

    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    config = build_tiny_config(tokenizer, prompt_length=48, clip_length=48, projection_dropout=0.0)
    processor = AdiffProcessor(feature_extractor=AdiffFeatureExtractor(), tokenizer=tokenizer, prompt_length=48,
                               max_answer_length=64)
    # Rows 0-3 are the three tiers and a caption of one pair: answers of different lengths.
    rows = load_csv(synth_corpus / "train.csv").select(range(4))
    results = []
    for batch, accumulation in ((4, 1), (2, 2)):
        torch.manual_seed(0)
        model = AdiffForConditionalGeneration(config)
        args = TrainingArguments(output_dir=str(tmp_path / f"ga{accumulation}"), per_device_train_batch_size=batch,
                                 gradient_accumulation_steps=accumulation, max_steps=1, learning_rate=1e-2,
                                 optim="sgd", logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                                 remove_unused_columns=False, seed=0)
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          data_collator=AdiffCollator(processor, training=False))
        trainer.train()
        loss = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry][0]
        results.append((loss, model.model.prompt_mapper.prefix_const.detach().clone()))
    # Means of two half-batch means vs one token mean: close, not identical (answers differ in length).
    assert abs(results[0][0] - results[1][0]) < 0.05 * results[0][0]
    assert torch.allclose(results[0][1], results[1][1], atol=1e-4)
