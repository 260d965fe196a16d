"""`compute_metrics` for `Seq2SeqTrainer(predict_with_generate=True)`: the project's caption metrics and, on SynthDiff
rows, fact accuracy, computed by `training.evaluation.score_samples` from the generated ids and the labels.

```python
>>> from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments
>>> trainer = Seq2SeqTrainer(model=model, processing_class=processor, eval_dataset=rows,  # doctest: +SKIP
...                          args=Seq2SeqTrainingArguments(..., predict_with_generate=True),
...                          compute_metrics=generation_metrics(processor, rows))
>>> trainer.evaluate()  # {'eval_BLEU-4': ..., 'eval_CIDEr-D': ..., 'eval_fact_accuracy': ..., ...}  # doctest: +SKIP
```
"""

from collections.abc import Callable

import numpy as np

from .evaluation import score_samples


def _texts(processor, rows: np.ndarray) -> list[str]:
    """Decodes each row up to its first <|endoftext|>, skipping -100 (label and cross-batch padding)."""
    eos = processor.tokenizer.eos_token_id
    texts = []
    for row in np.asarray(rows).tolist():
        row = row[: row.index(eos)] if eos in row else row
        texts.append(processor.decode([token for token in row if token >= 0]))
    return texts


def generation_metrics(processor, eval_rows) -> Callable:
    """A `compute_metrics` for `Seq2SeqTrainer(predict_with_generate=True)`.

    Args:
        processor (`AdiffProcessor`): decodes the generated ids and the labels.
        eval_rows: the evaluation dataset's rows, in order (a `datasets.Dataset` or a list of dicts); SynthDiff rows
            (with `filepath1` / `filepath2`) add fact accuracy and recall (see `score_samples`).

    Returns: a function from `EvalPrediction` to `{"BLEU-4", "ROUGE-L", "CIDEr-D"[, "fact_accuracy", "fact_recall"]}`.
    """
    rows = list(eval_rows)

    def compute_metrics(prediction) -> dict:
        predictions = prediction.predictions
        predictions = predictions[0] if isinstance(predictions, tuple) else predictions  # (N, new_tokens)
        texts, references = _texts(processor, predictions), _texts(processor, prediction.label_ids)
        if len(texts) != len(rows):
            raise ValueError(f"Got {len(texts)} generated texts for {len(rows)} evaluation rows: pass the rows of the "
                             "trainer's eval_dataset, in order, to generation_metrics.")
        return score_samples(texts, references, rows)

    return compute_metrics


__all__ = ["generation_metrics"]
