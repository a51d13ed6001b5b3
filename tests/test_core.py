"""Core internals: the memory planner and the thread pool."""

import numpy as np
import pytest
import fastinfer
from fastinfer import _core


def _overlap(a, b):
    return a[0] <= b[1] and b[0] <= a[1]


@pytest.mark.parametrize("seed", range(20))
def test_planner_never_shares_bytes_between_live_buffers(seed):
    r = np.random.default_rng(seed)
    n = int(r.integers(1, 60))
    lts = []
    for _ in range(n):
        first = int(r.integers(0, 40))
        lts.append((first, first + int(r.integers(0, 10)), int(r.integers(1, 5000))))
    offsets, arena = _core.testing.plan_memory(lts, 64)
    assert len(offsets) == n
    for i in range(n):
        assert offsets[i] % 64 == 0
        assert offsets[i] + lts[i][2] <= arena
        for j in range(i + 1, n):
            if _overlap(lts[i][:2], lts[j][:2]):
                a0, a1 = offsets[i], offsets[i] + lts[i][2]
                b0, b1 = offsets[j], offsets[j] + lts[j][2]
                assert a1 <= b0 or b1 <= a0, f"buffers {i} and {j} overlap in time and memory"


def test_planner_reuses_memory_of_dead_buffers():
    # A chain where each buffer dies as the next is born needs two slots, not n.
    lts = [(i, i + 1, 1000) for i in range(10)]
    _, arena = _core.testing.plan_memory(lts, 64)
    assert arena <= 2 * 1024


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n,grain", [(0, 1), (1, 1), (17, 1), (1000, 7), (100000, 1000)])
def test_pool_covers_every_index_once(threads, n, grain):
    assert _core.testing.pool_sum(threads, n, grain) == n * (n - 1) // 2


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n,grain", [(1, 1), (2, 1), (17, 1), (1000, 7), (5000, 64)])
def test_pool_slots_are_private_to_one_running_chunk(threads, n, grain):
    # Kernels index per-thread scratch by slot: two chunks running at once must never share one,
    # and chunks (guided: shrinking as the job drains) stay at least `grain` long but the last.
    once, max_slot, conflicts, short_chunks = _core.testing.pool_slots_check(threads, n, grain, repeat=20)
    assert once
    assert 0 <= max_slot < threads
    assert conflicts == 0
    assert short_chunks == 0


def test_pool_nested_and_repeated_calls_do_not_deadlock():
    n = 200
    assert _core.testing.pool_sum(4, n, 1, nested=True, repeat=50) == n * (n - 1) // 2


def test_pool_rethrows_kernel_exception():
    with pytest.raises(RuntimeError):
        _core.testing.pool_sum(4, 1000, 10, throw_at=517)
    # The pool is still usable after an exception.
    assert _core.testing.pool_sum(4, 100, 1) == 4950


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n,grain", [([5, 300, 7], 1), ([0, 40, 0], 1), ([1000, 1, 1000], 7), ([2, 2], 1),
                                     ([64, 64, 64, 64], 4), ([1], 1), ([3, 1, 2, 7, 5] * 6, 1), ([3, 1, 2, 7] * 16, 1)])
def test_pool_phases_run_in_order(threads, n, grain, affine):
    # parallel_phases: a stage reads what the stage before wrote, so no chunk of phase p + 1 may start
    # before every chunk of phase p has finished; every index runs once, slots stay private. With
    # affine ranges too (each thread its own part of a phase first, then the others' leftovers).
    once, early, conflicts = _core.testing.pool_phases_check(threads, n, grain, repeat=20, affine=affine)
    assert once
    assert early == 0
    assert conflicts == 0


def test_pool_phases_rethrow_and_reject_too_many():
    with pytest.raises(RuntimeError, match="boom"):
        _core.testing.pool_phases_check(3, [50, 50, 50], 1, throw_at=21)
    with pytest.raises(RuntimeError, match="boom"):
        _core.testing.pool_phases_check(2, [9] * 30, 1, throw_at=4, affine=True)
    with pytest.raises(fastinfer.InvalidArgument, match="phases"):
        _core.testing.pool_phases_check(2, [4] * 65, 1)  # kMaxPhases is 64
    assert _core.testing.pool_phases_check(2, [10, 10], 1)[0]  # the pool's threads still work


@pytest.mark.parametrize("nbytes", [1, 4096, (2 << 20) - 64, 2 << 20, (2 << 20) + 4100, 9 * (1 << 20) + 12])
@pytest.mark.parametrize("zero", [True, False])
def test_large_buffers_start_on_a_huge_page_boundary(nbytes, zero):
    # Buffers of 2 MiB and more start at a 2 MiB boundary (one page fault per huge page at
    # session creation, core/tensor.cc); every buffer is 64-byte aligned and zero-filled when asked.
    offset, zeros = _core.testing.alloc_buffer_check(nbytes, zero)
    if nbytes >= 2 << 20:
        assert offset == 0
    assert offset % 64 == 0
    if zero:
        assert zeros
