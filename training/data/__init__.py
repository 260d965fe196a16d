"""The data room: everything that reads data for training and evaluation.

- `sources.py`: loaders for ACD/CLD-format CSVs, JSONL and Hugging Face datasets, with audio-file checks;
- `collator.py`: the batch collator (prompts, answers, labels);
- `mirroring.py`: a pair with its clips swapped;
- `stage_data.py`: each stage's datasets (clip tagging, captioning, pairs, LM text) from a SynthDiff-layout corpus;
- `loader.py`: the training DataLoader (worker processes, pinned memory);
- `eval_set.py`: the evaluation set, with SynthDiff facts where the corpus has them.

The package imports only the loaders and the collator; the stage datasets, the DataLoader and the evaluation set are
imported from their modules (`from training.data.stage_data import PairData`).
"""

from .collator import AdiffCollator
from .sources import (CSV_COLUMNS, AudioFileReport, AudioFilesError, check_audio_files, from_hf_dataset, load_csv,
                      load_explanations, load_jsonl)

__all__ = ["AdiffCollator", "CSV_COLUMNS", "AudioFileReport", "AudioFilesError", "check_audio_files",
           "from_hf_dataset", "load_csv", "load_explanations", "load_jsonl"]
