"""Keyword-argument checking shared by the feature extractor and the processor: a misspelt keyword is an error that
names the closest valid one, never a silently ignored argument."""

import difflib
from collections.abc import Iterable, Mapping


def reject_unknown_kwargs(owner: str, kwargs: Mapping, valid: Iterable[str], aliases: Mapping[str, str] | None = None
                          ) -> None:
    """Raise `TypeError` if `kwargs` is not empty, suggesting for each unknown key its entry in `aliases` or else the
    closest name in `valid`.

    Args:
        owner (`str`): what was called, e.g. `"AdiffProcessor"`, for the message.
        kwargs (`Mapping`): the unexpected keyword arguments.
        valid (`Iterable[str]`): the keyword names `owner` accepts.
        aliases (`Mapping[str, str]`, *optional*): names users reach for that spell differently, e.g. the pipeline's
            `prompt` -> the processor's `text`.
    """
    if not kwargs:
        return
    valid = tuple(valid)
    hints = []
    for name in kwargs:
        close = [aliases[name]] if aliases and name in aliases else difflib.get_close_matches(name, valid, n=1)
        hints.append(f"{name}= (did you mean {close[0]}=?)" if close else f"{name}=")
    raise TypeError(f"{owner} got unexpected keyword argument(s) {', '.join(hints)}. Valid arguments: "
                    f"{', '.join(valid)}.")


__all__ = ["reject_unknown_kwargs"]
