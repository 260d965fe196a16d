"""Where the default ADIFF model ships: the `adiff/default_model/` folder inside this package (used offline)."""

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"


def is_default_model_installed(folder: str | Path = DEFAULT_MODEL_DIR) -> bool:
    """Whether `folder` (the shipped model folder by default) holds a saved model, i.e. its `config.json`."""
    return (Path(folder) / "config.json").is_file()


def default_model_dir(folder: str | Path = DEFAULT_MODEL_DIR) -> Path:
    """The folder of the default model.

    Raises:
        FileNotFoundError: the default model is not installed (this checkout or wheel carries no trained weights).
    """
    folder = Path(folder)
    if not is_default_model_installed(folder):
        raise FileNotFoundError(
            f"The default ADIFF model is not installed: {folder / 'config.json'} does not exist. Pass a model folder "
            "instead (Python: pipeline('audio-difference', model='path/to/model'); command line: --model "
            "path/to/model), e.g. one saved by `adiff train` or `adiff convert-official`.")
    return folder


class DefaultModelReference(tuple):
    """`(folder, revision)`: the pipeline registry's default model.

    `transformers.pipeline(task)` unpacks this pair when no `model=` is given; unpacking checks that the folder holds
    a model, so a missing default model fails with "not installed" rather than a Hub repo-id error about a path.
    """

    def __new__(cls, folder: str | Path = DEFAULT_MODEL_DIR, revision: str = "main"):
        return super().__new__(cls, (str(Path(folder).resolve()), revision))

    def __iter__(self):
        default_model_dir(self[0])
        return super().__iter__()


__all__ = ["DEFAULT_MODEL_DIR", "DefaultModelReference", "default_model_dir", "is_default_model_installed"]
