"""A resumable, process-aware batch sampler: the data order is a pure function of (seed, epoch), so a resumed run and
an N-process run see exactly the batches an uninterrupted single-process run sees. Optionally groups items of similar
length into the same batch, so little of each batch is padding."""

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
        lengths (`list[int]`, *optional*): each item's length (e.g. answer tokens). When given and `shuffle` is on,
            every epoch's shuffled order is cut into groups of `group_batches` global batches, each group is sorted
            by length (longest first) and cut into batches, and the batches are shuffled: batches hold items of
            similar length (less padding), still drawn at random. The order stays a pure function of (seed, epoch).
        group_batches (`int`): global batches per length group (more: less padding, less random batches).
    """

    def __init__(self, num_items: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1, lengths: list[int] | None = None, group_batches: int = 50):
        if lengths is not None and len(lengths) != num_items:
            raise ValueError(f"lengths has {len(lengths)} entries for {num_items} items; give one length per item.")
        if group_batches < 1:
            raise ValueError(f"group_batches must be >= 1, got {group_batches}.")
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
        self.lengths = lengths
        self.group_batches = group_batches
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
        order = torch.randperm(self.num_items, generator=generator).tolist()
        if self.lengths is None:
            return order
        return self._grouped_by_length(order, generator)

    def _grouped_by_length(self, order: list[int], generator: torch.Generator) -> list[int]:
        """`order` regrouped into full batches of similar length, in random batch order. The items left over after
        the full batches are the same random ones as without grouping, and stay last (the partial batch)."""
        full = len(order) // self.batch_size
        head, tail = order[: full * self.batch_size], order[full * self.batch_size:]
        group = self.group_batches * self.batch_size
        regrouped = []
        for start in range(0, len(head), group):
            regrouped += sorted(head[start:start + group], key=lambda index: -self.lengths[index])  # stable sort
        batches = [regrouped[i * self.batch_size:(i + 1) * self.batch_size] for i in range(full)]
        return [index for b in torch.randperm(full, generator=generator).tolist() for index in batches[b]] + tail

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
