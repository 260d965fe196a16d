"""Write ADIFF's library code into a saved folder, flattened, so `trust_remote_code=True` users who never installed
this package can load it; and the pipelines such folders carry.

The library is three packages (`configuration_adiff`, `modeling_adiff`, `processing_adiff`); a Hub folder holds
flat modules. Starting from the modules the Auto classes name, this follows imports of the three packages, copies
each module once and rewrites `from <package>.<module> import X` and `from .<module> import X` into flat relative
imports. Module names are unique across the three packages, so flattening never collides.
"""

import importlib.util
import re
from pathlib import Path

LIBRARY_PACKAGES = ("configuration_adiff", "modeling_adiff", "processing_adiff")

# Auto class -> "<module>.<class>" as written into config.json / preprocessor_config.json / processor_config.json.
MODEL_AUTO_MAP = {
    "AutoConfig": "configuration_adiff.AdiffConfig",
    "AutoModel": "modeling_adiff.AdiffForConditionalGeneration",
    "AutoModelForCausalLM": "modeling_adiff.AdiffForConditionalGeneration",
}
PROCESSOR_AUTO_MAP = {
    "AutoFeatureExtractor": "feature_extraction_adiff.AdiffFeatureExtractor",
    "AutoProcessor": "processing_adiff.AdiffProcessor",
}

_IMPORT = re.compile(r"^(\s*)from\s+(\.?)([\w.]*)\s+import\s", re.MULTILINE)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ImportError(f"Cannot locate the package {package!r} to export its code; is the project installed?")
    return Path(spec.origin).parent


def _resolve(current_package: str, relative: str, name: str) -> tuple[str, str] | None:
    """The (package, module) a library import points at, or None for third-party imports."""
    if relative:  # "from .x import" inside the same package
        return current_package, name
    parts = name.split(".")
    if parts[0] in LIBRARY_PACKAGES:
        if len(parts) != 2:
            raise ValueError(f"Library code must import modules as `from {parts[0]}.<module> import ...`, "
                             f"found `from {name} import` (needed for the flat remote-code export).")
        return parts[0], parts[1]
    return None


def flatten_library_sources(entry_modules: list[str]) -> dict[str, str]:
    """Flat file name -> rewritten source for the entry modules ("package.module") and everything they import."""
    sources: dict[str, str] = {}
    owner: dict[str, str] = {}
    pending = [tuple(entry.split(".")) for entry in entry_modules]
    while pending:
        package, module = pending.pop()
        if module in owner:
            if owner[module] != package:
                raise ValueError(f"Module name {module!r} exists in both {owner[module]} and {package}; flat export "
                                 "needs unique module names.")
            continue
        owner[module] = package
        text = (_package_dir(package) / f"{module}.py").read_text(encoding="utf-8")

        def rewrite(match: re.Match) -> str:
            target = _resolve(package, match.group(2), match.group(3))
            if target is None:
                return match.group(0)
            pending.append(target)
            return f"{match.group(1)}from .{target[1]} import "

        sources[f"{module}.py"] = _IMPORT.sub(rewrite, text)
    return sources


def write_remote_code(save_directory: str | Path, entry_modules: list[str]) -> list[Path]:
    """Writes the flattened modules into `save_directory`; returns the written paths."""
    save_directory = Path(save_directory)
    written = []
    for file_name, source in flatten_library_sources(entry_modules).items():
        path = save_directory / file_name
        path.write_text(source, encoding="utf-8")
        written.append(path)
    return written


# ----------------------------------------------------------------------------------------------- folder pipelines
# The library defines no pipeline. The layer that does registers its task here (`import adiff` registers
# "audio-difference"); from then on every model folder written by `save_pretrained` / `push_to_hub` carries the
# pipeline's code and its `custom_pipelines` entry in config.json, transformers' own record of a custom pipeline.
_FOLDER_PIPELINE_TASKS: list[str] = []


def register_folder_pipeline(task: str) -> None:
    """Makes every ADIFF model folder saved from now on carry the pipeline registered for `task` with
    `transformers.pipelines.PIPELINE_REGISTRY` (register it there first)."""
    from transformers.pipelines import PIPELINE_REGISTRY

    if task not in PIPELINE_REGISTRY.get_supported_tasks():
        raise ValueError(f"No pipeline is registered for {task!r}; call PIPELINE_REGISTRY.register_pipeline({task!r}, "
                         "pipeline_class=..., pt_model=...) before register_folder_pipeline.")
    if task not in _FOLDER_PIPELINE_TASKS:
        _FOLDER_PIPELINE_TASKS.append(task)


def folder_pipeline_modules() -> list[str]:
    """The modules ("package.module") of the registered folder pipelines, for `write_remote_code`."""
    from transformers.pipelines import PIPELINE_REGISTRY

    return [PIPELINE_REGISTRY.check_task(task)[1]["impl"].__module__ for task in _FOLDER_PIPELINE_TASKS]


def folder_custom_pipelines() -> dict[str, dict]:
    """config.json's `custom_pipelines` for the registered folder pipelines: task -> the flat module's class
    (`"pipeline.AudioDifferencePipeline"`), the Auto model classes and the input type."""
    from transformers.pipelines import PIPELINE_REGISTRY

    entries = {}
    for task in _FOLDER_PIPELINE_TASKS:
        registered = PIPELINE_REGISTRY.check_task(task)[1]
        pipeline_class = registered["impl"]
        entries[task] = {"impl": f"{pipeline_class.__module__.rsplit('.', 1)[-1]}.{pipeline_class.__name__}",
                         "pt": [auto_class.__name__ for auto_class in registered["pt"]]}
        if "type" in registered:
            entries[task]["type"] = registered["type"]
    return entries


def pipelines_without_installed_code(custom_pipelines: dict) -> dict:
    """A loaded folder's `custom_pipelines` less the tasks this process registered (`import adiff`): those are served
    by the installed pipeline, which transformers would otherwise refuse without `trust_remote_code=True` (it asks
    for it for every custom pipeline a config names). Without this package nothing is registered and all stay."""
    return {task: entry for task, entry in custom_pipelines.items() if task not in _FOLDER_PIPELINE_TASKS}


__all__ = ["MODEL_AUTO_MAP", "PROCESSOR_AUTO_MAP", "flatten_library_sources", "write_remote_code",
           "register_folder_pipeline", "folder_pipeline_modules", "folder_custom_pipelines",
           "pipelines_without_installed_code"]
