"""The transformers releases ADIFF supports: one place for setup.py, CI (`.ci/run`) and the import-time check.

The floor is the oldest release the project's tests pass on: transformers 5.24 renamed GPT-2's `past_key_values` to
`cache`, which the model passes and reads; on 5.23 and older the model fails at its first forward.
"""

TRANSFORMERS_MINIMUM = "5.24.0"
TRANSFORMERS_BELOW = "6"
TRANSFORMERS_REQUIREMENT = f"transformers>={TRANSFORMERS_MINIMUM},<{TRANSFORMERS_BELOW}"


def _release(version: str) -> tuple[int, ...]:
    """`(major, minor, patch)` of a version string (`5.25.0.dev0` and `6.0.0rc1` count as 5.25.0 and 6.0.0)."""
    from packaging.version import Version

    return Version(version).release


def check_transformers_version(version: str) -> None:
    """Raise an `ImportError` that names the fix when `version` is outside the supported range."""
    if not _release(TRANSFORMERS_MINIMUM) <= _release(version) < _release(TRANSFORMERS_BELOW):
        raise ImportError(f"ADIFF needs {TRANSFORMERS_REQUIREMENT} (the range its tests pass on), but transformers "
                          f"{version} is installed. Fix: pip install '{TRANSFORMERS_REQUIREMENT}'.")


__all__ = ["TRANSFORMERS_MINIMUM", "TRANSFORMERS_BELOW", "TRANSFORMERS_REQUIREMENT", "check_transformers_version"]
