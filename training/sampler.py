"""A resumable, process-aware batch sampler: the data order is a pure function of (seed, epoch), so a resumed run and
an N-process run see exactly the batches an uninterrupted single-process run sees."""

import torch


class ResumableBatchSampler:
    """Yields this process's share of every global batch of one epoch, starting at any batch.

    Each epoch shuffles `range(num_items)` with a generator seeded by `(seed, epoch)` and cuts it into global batches
    of `batch_size` items; process `rank` of `world_size` takes the `rank`-th equal slice of each global batch, so the
    union over processes is the global batch a single process would see. Every item comes out as
    `(index, item_seed)`, where `item_seed` is a per-(epoch, position) seed for any randomness the item's
    preprocessing needs (prompt paraphrases, random crops): it does not depend on workers, processes or restarts.

    Args:
        num_items (`int`): dataset size.
        batch_size (`int`): global batch size; must be divisible by `world_size`.
        seed (`int`): base seed.
        shuffle (`bool`): shuffle each epoch (else sequential order).
        drop_last (`bool`): drop the last incomplete global batch (keeps every step's batch the same size).
        rank, world_size (`int`): this process and the number of processes.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1):
        if num_items < 1:
            raise ValueError("The dataset is empty: there is nothing to train or evaluate on.")
        if batch_size % world_size:
            raise ValueError(f"The global batch size ({batch_size}) must be divisible by the number of processes "
                             f"({world_size}); change train.batch_size or --num_processes.")
        if drop_last and num_items < batch_size:
            raise ValueError(f"The dataset has {num_items} items, fewer than one global batch ({batch_size}); lower "
                             "train.batch_size or use more data.")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    def __len__(self) -> int:
        """Global batches per epoch (the same on every process)."""
        full, rest = divmod(self.num_items, self.batch_size)
        return full + int(rest > 0 and not self.drop_last)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch and the first batch to yield (for resuming in the middle of an epoch)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)  # (seed, epoch) pairs never collide
        return torch.randperm(self.num_items, generator=generator).tolist()

    def __iter__(self):
        order = self.order(self.epoch)
        per_process = self.batch_size // self.world_size
        for batch in range(self.start_batch, len(self)):
            start = batch * self.batch_size
            items = order[start:start + self.batch_size]
            if len(items) < self.batch_size:  # last partial batch (drop_last=False): split as evenly as possible
                per_process = -(-len(items) // self.world_size)
            mine = items[self.rank * per_process:(self.rank + 1) * per_process]
            base = (self.seed * 1_000_003 + self.epoch) * 1_000_003 + start
            yield [(index, base + self.rank * per_process + offset) for offset, index in enumerate(mine)]


__all__ = ["ResumableBatchSampler"]
