"""The training loader whose data order is a function of the seed and the iteration (resume)."""

import pytest

pytestmark = pytest.mark.detectron2
pytest.importorskip("detectron2", reason="detectron2 not installed")

import numpy as np  # noqa: E402

from atss.engine import build_resumable_train_loader  # noqa: E402


def augmenting_mapper(d):
    """Stands for DatasetMapper: reads the global RNG, as detectron2's augmentations do."""
    return (d["id"], float(np.random.uniform()))


def dataset(n=7):
    # Mixed aspect ratios, so that batches are grouped.
    return [{"id": i, "width": 10 + 5 * (i % 2), "height": 12} for i in range(n)]


def first_batches(loader, count):
    it = iter(loader)
    return [next(it) for _ in range(count)]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_started_at_an_iteration_continues_the_uninterrupted_order(num_workers):
    kwargs = dict(mapper=augmenting_mapper, total_batch_size=2, seed=3, num_workers=num_workers)
    uninterrupted = first_batches(build_resumable_train_loader(dataset(), **kwargs), 12)
    resumed = build_resumable_train_loader(dataset(), **kwargs)
    resumed.set_start_iter(5)
    assert first_batches(resumed, 7) == uninterrupted[5:]
    # Several epochs, aspect-ratio groups (ids of one parity), all images.
    assert all(len({i % 2 for i, _ in batch}) == 1 for batch in uninterrupted)
    assert {i for batch in uninterrupted for i, _ in batch} == set(range(7))


def test_loader_order_depends_on_the_seed_and_is_restored_from_the_checkpoint():
    loader = build_resumable_train_loader(dataset(), mapper=augmenting_mapper, total_batch_size=2)
    other = build_resumable_train_loader(
        dataset(), mapper=augmenting_mapper, total_batch_size=2, seed=loader.seed + 1
    )
    assert first_batches(loader, 4) != first_batches(other, 4)
    other.load_state_dict(loader.state_dict())
    assert first_batches(loader, 4) == first_batches(other, 4)
