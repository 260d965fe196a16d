"""Gives back the memory of memory-mapped weights a call no longer reads, without changing any value (Linux).

`from_pretrained` memory-maps a safetensors file: each weight becomes resident, and counts in the process's RSS, when
it is first read, and stays resident. Once `generate` has built the prefix, decoding never reads HTSAT, the projection,
the mappers or the cross-projection again: at base size that is 650 MiB of the 1,125 MiB of fp32 weights.
`release_resident_pages(modules)` asks the kernel to unmap those pages (`madvise(MADV_DONTNEED)`); the next call maps
them again from the page cache, which still holds them (minor page faults: tens of milliseconds at base size).

Only pages that are safe to drop are dropped:
- pages of a file mapping (`/proc/self/maps` names an inode). Weights in anonymous memory -- a model built in memory,
  moved between devices or loaded without memory mapping -- are never touched: dropping those would zero them;
- pages still identical to the file. A weight written in place after loading (fine-tuning, `tie_weights`, a manual
  edit) lives in a private copy of its page, which `/proc/self/pagemap` reports as anonymous: those pages are kept;
- only whole pages inside one of the given weights, so a neighbouring weight (GPT-2's) keeps its pages resident.
Where `/proc/self/maps` or `pagemap` cannot be read (not Linux, a restricted sandbox) nothing is released.
"""

import bisect
import ctypes
import mmap
import sys

import numpy as np
from torch import nn

MADV_DONTNEED = 4
# /proc/self/pagemap: one little-endian uint64 per virtual page.
PAGE_PRESENT, PAGE_SWAPPED, PAGE_FILE_OR_SHARED = 1 << 63, 1 << 62, 1 << 61


def _file_mappings() -> list[tuple[int, int]]:
    """`(start, end)` addresses of this process's file-backed mappings."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and fields[4] != "0":  # address perms offset dev inode path
                start, end = (int(address, 16) for address in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def _clean_file_pages(first_page: int, count: int) -> np.ndarray:
    """Of `count` pages from page number `first_page`: which are resident and still the file's own (bool array)."""
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(first_page * 8)
        entries = np.frombuffer(pagemap.read(count * 8), dtype="<u8")
    if entries.size != count:
        raise OSError("short read from /proc/self/pagemap")
    return ((entries & PAGE_PRESENT) != 0) & ((entries & PAGE_FILE_OR_SHARED) != 0) & ((entries & PAGE_SWAPPED) == 0)


def _page_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """`(first, stop)` index runs where `mask` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def release_resident_pages(modules: list[nn.Module], keep: list[nn.Module] = ()) -> int:
    """Unmaps the resident, unmodified, file-backed pages of the weights of `modules` (parameters shared with a
    module of `keep` stay); returns the bytes released (0 where nothing could be or the platform does not allow it)."""
    if not sys.platform.startswith("linux"):
        return 0
    kept = {id(parameter) for module in keep for parameter in module.parameters()}
    tensors = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) not in kept and tensor.device.type == "cpu" and tensor.numel():
                tensors[tensor.data_ptr()] = tensor.data_ptr() + tensor.numel() * tensor.element_size()
    page = mmap.PAGESIZE
    try:
        mappings = _file_mappings()  # sorted by address, as /proc lists them
        starts = [start for start, _ in mappings]
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        released = 0
        for start, end in tensors.items():
            index = max(bisect.bisect_right(starts, start) - 1, 0)
            while index < len(mappings) and mappings[index][0] < end:  # the file mappings the tensor overlaps
                map_start, map_end = mappings[index]
                index += 1
                first = -(-max(start, map_start) // page)  # whole pages inside both the tensor and the mapping
                stop = min(end, map_end) // page
                if stop <= first:
                    continue
                for run_first, run_stop in _page_runs(_clean_file_pages(first, stop - first)):
                    address, length = (first + run_first) * page, (run_stop - run_first) * page
                    if libc.madvise(address, length, MADV_DONTNEED) == 0:
                        released += length
        return released
    except OSError:
        return 0


__all__ = ["release_resident_pages"]
