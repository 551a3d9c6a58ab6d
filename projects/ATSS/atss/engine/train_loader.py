"""
A training data loader whose order is a function of the seed and the iteration, so that a resumed
run reads exactly what the uninterrupted run would have read from that iteration on.

detectron2's ``TrainingSampler`` restarts its shuffled stream at resume, its aspect-ratio buckets
start empty, and augmentations draw from worker RNGs seeded when the loader starts: a resumed run
diverges from the uninterrupted one. Here, sample ``p`` of the global stream (all processes
together, ``total_batch_size`` a step) is image ``permutation(seed, epoch)[p % N]`` and is
augmented with RNGs seeded from ``(seed, p)``; each process takes every ``world_size``-th sample
and groups them into batches (by aspect ratio like detectron2, replayed from the start on resume:
index arithmetic only, no image is read).
"""

import itertools
import logging
import numpy as np
import random
from typing import Callable, Iterator, List, Optional, Sequence, Tuple
import torch
import torch.utils.data as torchdata

from detectron2.data.build import trivial_batch_collator
from detectron2.utils import comm

__all__ = ["ResumableTrainLoader", "build_resumable_train_loader"]

logger = logging.getLogger(__name__)


def _epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(size)


def _global_stream(seed: int, size: int) -> Iterator[Tuple[int, int]]:
    """(position, dataset index) of every sample of all processes, for ever."""
    for epoch in itertools.count():
        for i, index in enumerate(_epoch_permutation(seed, epoch, size)):
            yield epoch * size + i, int(index)


def _process_batches(
    seed: int,
    landscape: Sequence[bool],
    batch_size: int,
    rank: int,
    world_size: int,
    group_by_aspect: bool,
) -> Iterator[List[Tuple[int, int]]]:
    """This process's batches of (position, index), like detectron2's AspectRatioGroupedDataset."""
    mine = itertools.islice(_global_stream(seed, len(landscape)), rank, None, world_size)
    buckets: List[List[Tuple[int, int]]] = [[], []]
    for sample in mine:
        bucket = buckets[int(landscape[sample[1]]) if group_by_aspect else 0]
        bucket.append(sample)
        if len(bucket) == batch_size:
            yield bucket[:]
            del bucket[:]


class _SeededBatches(torchdata.IterableDataset):
    """Mapped batches from ``start_batch`` on; DataLoader worker w maps batches w, w + W, ..."""

    def __init__(self, dataset, mapper, seed, landscape, batch_size, group_by_aspect, start_batch):
        self.dataset, self.mapper, self.seed = dataset, mapper, seed
        self.landscape, self.batch_size = landscape, batch_size
        self.group_by_aspect = group_by_aspect
        self.start_batch = start_batch
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()

    def _map(self, position: int, index: int) -> dict:
        # Augmentations draw from the global RNGs: seed them from the sample's position, and leave
        # them as they were (the main process's RNGs serve other uses when there are no workers).
        sample_seed = int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])
        np_state, py_state = np.random.get_state(), random.getstate()
        np.random.seed(sample_seed)
        random.seed(sample_seed)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                mapped = self.mapper(self.dataset[index])
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        if mapped is None:
            raise ValueError(
                f"The mapper returned None for dataset item {index}; the resumable loader cannot "
                "replace an item by a random other one without changing the data order."
            )
        return mapped

    def __iter__(self) -> Iterator[List[dict]]:
        worker = torchdata.get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        batches = _process_batches(
            self.seed,
            self.landscape,
            self.batch_size,
            self.rank,
            self.world_size,
            self.group_by_aspect,
        )
        for batch in itertools.islice(batches, self.start_batch + worker_id, None, num_workers):
            yield [self._map(position, index) for position, index in batch]


class ResumableTrainLoader:
    """
    An endless iterable of training batches (lists of mapped dicts), whose data order is a
    function of :attr:`seed` and the start iteration. Register it as a checkpointable (its state
    is the seed) and call :meth:`set_start_iter` after resuming, before the first batch is read.
    """

    def __init__(
        self,
        dataset: Sequence[dict],
        mapper: Callable[[dict], dict],
        batch_size: int,
        seed: int,
        aspect_ratio_grouping: bool = True,
        num_workers: int = 0,
    ):
        self.dataset, self.mapper, self.batch_size, self.seed = dataset, mapper, batch_size, seed
        self.aspect_ratio_grouping, self.num_workers = aspect_ratio_grouping, num_workers
        # detectron2 groups by the width and height of the dataset dicts, known before reading.
        self.landscape = np.array([d["width"] > d["height"] for d in dataset], dtype=bool)
        self.start_iter = 0

    def set_start_iter(self, start_iter: int) -> None:
        self.start_iter = start_iter

    def state_dict(self) -> dict:
        return {"seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed:
            logger.info(f"Data order: the checkpoint's seed {state['seed']} replaces {self.seed}.")
        self.seed = state["seed"]

    def __iter__(self) -> Iterator[List[dict]]:
        batches = _SeededBatches(
            self.dataset,
            self.mapper,
            self.seed,
            self.landscape,
            self.batch_size,
            self.aspect_ratio_grouping,
            self.start_iter,
        )
        loader = torchdata.DataLoader(
            batches,
            batch_size=None,
            num_workers=self.num_workers,
            collate_fn=trivial_batch_collator,
        )
        return iter(loader)


def build_resumable_train_loader(
    dataset: Sequence[dict],
    *,
    mapper: Callable[[dict], dict],
    total_batch_size: int,
    aspect_ratio_grouping: bool = True,
    num_workers: int = 0,
    seed: Optional[int] = None,
) -> ResumableTrainLoader:
    """
    :class:`ResumableTrainLoader` with the arguments of detectron2's
    ``build_detection_train_loader`` (a list of dataset dicts). ``seed`` None draws one shared by
    all processes; it is saved with the checkpoints, so a resumed run keeps it.
    """
    world_size = comm.get_world_size()
    if total_batch_size <= 0 or total_batch_size % world_size:
        raise ValueError(
            f"total_batch_size {total_batch_size} must be a positive multiple of the number of "
            f"processes ({world_size})."
        )
    if seed is None or seed < 0:
        seed = comm.shared_random_seed()
    return ResumableTrainLoader(
        dataset,
        mapper,
        total_batch_size // world_size,
        seed,
        aspect_ratio_grouping=aspect_ratio_grouping,
        num_workers=num_workers,
    )
