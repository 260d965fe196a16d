"""The training DataLoader: reading audio, log-mels and collation run in worker processes, ahead of the step.

With `train.num_workers` > 0 the collate functions (audio decoding, resampling, log-mel spectrograms, tokenisation)
run in that many worker processes that stay alive across epochs (`persistent_workers`), each keeping
`train.prefetch_factor` batches ready; on CUDA the batches land in pinned memory so the copy to the device is
asynchronous (`non_blocking`). Batches do not depend on the worker count: every collate draws its randomness from the
items' seeds (see `training.stage_data`).
"""

import torch
from torch.utils.data import DataLoader

from .recipe import TrainConfig


class _Items(torch.utils.data.Dataset):
    """Map-style view of a stage's items addressed by the sampler's `(index, seed)` pairs."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, key):
        index, seed = key
        return self.data.items[index], seed


def build_train_loader(data, batch_sampler, train: TrainConfig, device: torch.device) -> DataLoader:
    """A DataLoader over `data` (a stage's item list with a `collate`) in the order of `batch_sampler`.

    The loader has its own generator: iter(loader) draws a base seed, which must not consume the global RNG that
    dropout uses (a resumed run restores that RNG and then calls iter() once more than an uninterrupted run would).
    """
    workers = train.num_workers
    return DataLoader(_Items(data), batch_sampler=batch_sampler, collate_fn=data.collate, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                      prefetch_factor=train.prefetch_factor if workers > 0 else None,
                      generator=torch.Generator().manual_seed(train.seed))


__all__ = ["build_train_loader"]
