"""ADIFF for Transformers, the user-facing package: `pipeline("audio-difference")`, the `adiff` command, plots and
Hub export.

Importing it imports the library (so `AutoConfig`, `AutoModel`, `AutoFeatureExtractor` and `AutoProcessor` know
ADIFF) and registers the `"audio-difference"` pipeline, whose default model is the shipped `adiff/default_model/`,
also as the pipeline every ADIFF model folder saved afterwards carries for users without this package.
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

import configuration_adiff  # noqa: F401  (registers AutoConfig)
import modeling_adiff  # noqa: F401  (registers AutoModel)
import processing_adiff  # noqa: F401  (registers AutoFeatureExtractor / AutoProcessor)
from configuration_adiff.remote_code import register_folder_pipeline

from .default_model import DEFAULT_MODEL_DIR, DefaultModelReference, default_model_dir, is_default_model_installed
from .pipeline import TASK, AudioDifferencePipeline

PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=AudioDifferencePipeline, pt_model=AutoModel,
                                    default=DefaultModelReference(DEFAULT_MODEL_DIR), type="audio")
# Model folders saved from now on (save_pretrained, push_to_hub, Trainer checkpoints) carry the pipeline too.
register_folder_pipeline(TASK)

__version__ = "0.1.0"

__all__ = ["AudioDifferencePipeline", "TASK", "DEFAULT_MODEL_DIR", "default_model_dir", "is_default_model_installed"]
