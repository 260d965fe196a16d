"""`Trainer` / `Seq2SeqTrainer` as their docs say: with `processing_class=processor` checkpoints carry the processor
(the pipeline loads them) and the model's generation settings stay as they were; `predict_with_generate=True` runs
`generate` and `training.trainer_metrics.generation_metrics` reports caption metrics and fact accuracy."""

import math

import torch
from conftest import build_tiny_config
from training_testing import synth_corpus  # noqa: F401

torch.set_num_threads(1)


def test_seq2seq_trainer_generates_scores_and_checkpoints_the_processor(synth_corpus, tmp_path):  # noqa: F811
    from transformers import AutoTokenizer, Seq2SeqTrainer, Seq2SeqTrainingArguments, pipeline

    import adiff  # noqa: F401  (registers the pipeline)
    from modeling_adiff import AdiffForConditionalGeneration
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
    from training.data import AdiffCollator, load_csv
    from training.trainer_metrics import generation_metrics

    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    config = build_tiny_config(tokenizer, prompt_length=48, clip_length=48)
    config.text_config.pad_token_id = tokenizer.pad_token_id  # as training.towers.build_adiff declares it
    torch.manual_seed(0)
    model = AdiffForConditionalGeneration(config)
    processor = AdiffProcessor(feature_extractor=AdiffFeatureExtractor(), tokenizer=tokenizer,
                               prompt_length=config.prompt_length, max_answer_length=64)
    settings = (model.config.text_config.to_dict(), model.generation_config.to_dict())
    eval_rows = load_csv(synth_corpus / "validation.csv").select(range(4))

    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, per_device_eval_batch_size=2, max_steps=2,
        learning_rate=1e-3, save_strategy="steps", save_steps=2, report_to=[], use_cpu=True,
        remove_unused_columns=False, seed=0, predict_with_generate=True, generation_max_length=6)
    trainer = Seq2SeqTrainer(model=model, args=args, processing_class=processor,
                             train_dataset=load_csv(synth_corpus / "train.csv"), eval_dataset=eval_rows,
                             data_collator=AdiffCollator(processor, training=True, seed=0),
                             compute_metrics=generation_metrics(processor, eval_rows))
    trainer.train()
    # (saving a checkpoint records `architectures` and `dtype` in the config; nothing else may change)
    assert (model.config.text_config.to_dict(), model.generation_config.to_dict()) == settings

    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_loss"])
    # (an untrained model's texts make no claim to judge, so fact accuracy is absent; recall is 0 or more)
    for name in ("eval_BLEU-4", "eval_ROUGE-L", "eval_CIDEr-D", "eval_fact_recall"):
        assert name in metrics and math.isfinite(metrics[name]), (name, metrics)
    predictions = trainer.predict(eval_rows).predictions
    # at most generation_max_length=6 new tokens, then Seq2SeqTrainer's padding to generation_config.max_length
    assert predictions.shape[0] == 4 and (predictions[:, 6:] == processor.pad_token_id).all()

    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "processor_config.json").is_file() and (checkpoint / "tokenizer.json").is_file()
    pipe = pipeline("audio-difference", model=str(checkpoint), device="cpu")
    row = eval_rows[0]
    assert isinstance(pipe(row["filepath1"], row["filepath2"], tier=1, max_new_tokens=3)["generated_text"], str)


def test_generation_metrics_scores_decoded_predictions_against_the_labels(synth_corpus):  # noqa: F811
    """The reference answers as predictions (padded as Seq2SeqTrainer pads them) score BLEU-4 1 and fact accuracy 1;
    the other pair's answers score lower."""
    import numpy as np
    from transformers import AutoTokenizer, EvalPrediction

    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor
    from training.data import load_csv
    from training.trainer_metrics import generation_metrics

    tokenizer = AutoTokenizer.from_pretrained(synth_corpus / "tokenizer")
    processor = AdiffProcessor(AdiffFeatureExtractor(), tokenizer, prompt_length=48, max_answer_length=128)
    rows = load_csv(synth_corpus / "validation.csv").select(range(0, 12, 3))
    answers = [row["answer"] for row in rows]
    labels = processor.encode_answers(answers).numpy()  # (4, L), -100 after <|endoftext|>
    generated = np.where(labels == -100, tokenizer.pad_token_id, labels)  # finished rows padded with "!"
    compute_metrics = generation_metrics(processor, rows)
    exact = compute_metrics(EvalPrediction(predictions=generated, label_ids=labels))
    assert exact["BLEU-4"] > 0.99 and exact["fact_accuracy"] == 1.0 and exact["fact_recall"] > 0.5
    shifted = compute_metrics(EvalPrediction(predictions=np.roll(generated, 1, axis=0), label_ids=labels))
    assert shifted["BLEU-4"] < exact["BLEU-4"] and shifted["fact_accuracy"] < 1.0


def test_default_and_converted_models_leave_trainer_nothing_to_align(tmp_path):
    """`Trainer(processing_class=processor).train()` first aligns the model's special tokens with the tokenizer's
    (`align_special_tokens`); a model built from `AdiffConfig()` and a converted official checkpoint declare the
    prompt pad token "!" their processor pads with, so nothing changes."""
    from conftest import FIXTURES
    from transformers import AutoModel, AutoProcessor, AutoTokenizer
    from transformers.trainer_utils import align_special_tokens

    from configuration_adiff import AdiffConfig
    from modeling_adiff import AdiffForConditionalGeneration
    from modeling_adiff.convert_official import convert_official_checkpoint
    from processing_adiff import AdiffFeatureExtractor, AdiffProcessor

    official = FIXTURES / "official"
    convert_official_checkpoint(official / "official_tiny.ckpt", tmp_path, config_json=official /
                                "official_tiny_config.json", tokenizer_dir=FIXTURES / "gpt2_tokenizer")
    converted = (AutoModel.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path))
    with torch.device("meta"):  # the official base size: only its configs matter here
        default = AdiffForConditionalGeneration(AdiffConfig())
    gpt2 = AutoTokenizer.from_pretrained(FIXTURES / "gpt2_tokenizer")  # pad "!" (id 0), as the official code sets
    for model, processor in ((default, AdiffProcessor(AdiffFeatureExtractor(), gpt2)), converted):
        settings = (model.config.text_config.to_dict(), model.generation_config.to_dict())
        align_special_tokens(model, processor)
        assert (model.config.text_config.to_dict(), model.generation_config.to_dict()) == settings
        assert model.config.text_config.pad_token_id == model.generation_config.pad_token_id == processor.pad_token_id
