"""Data layer: loaders for ACD/CLD-format CSVs, JSONL and Hugging Face datasets, and the batch collator."""

from .collator import AdiffCollator
from .sources import (CSV_COLUMNS, AudioFileReport, AudioFilesError, check_audio_files, from_hf_dataset, load_csv,
                      load_explanations, load_jsonl)

__all__ = ["AdiffCollator", "CSV_COLUMNS", "AudioFileReport", "AudioFilesError", "check_audio_files",
           "from_hf_dataset", "load_csv", "load_explanations", "load_jsonl"]
