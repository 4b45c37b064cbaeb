"""The search space: which values each knob may take on this machine, in the order the search visits them."""

from __future__ import annotations

from tune.search import Axis, single

#: Visit order: the knobs that moved the CPU sweep most first (benchmarks.tuning_sweep: instances x threads,
#: then the batcher's delay and the length buckets), then the rest, then load shedding.
DELAYS_US = (0, 100, 500, 1000, 2000, 5000)
PAD_MULTIPLES = (1, 8, 16, 32)
MAX_BATCH_SIZES = (8, 16, 32, 64, 128)
PREFERRED = ((), (4,), (8,), (4, 8), (16,), (8, 16))
TOKENIZER_DELAYS_US = (0, 100, 500, 1000)


def layouts(cores: int, gpus: int) -> tuple[tuple[int, int], ...]:
    """(instances, threads per instance) pairs to try.

    CPU: every split of the cores into single- or multi-threaded instances, plus one more single-threaded instance
    than cores (a core whose instance is handing a batch over runs another's), at most twice the cores in
    threads. GPU: 1 to 4 instances (Triton's ``count`` of a GPU instance group is per GPU), the backend's own
    threads.
    """
    if gpus:
        return tuple((count, 0) for count in (1, 2, 3, 4))
    pairs = {(cores + 1, 1), (1, 0)}
    for threads in range(1, cores + 1):
        for count in range(1, 2 * cores // threads + 1):
            if count * threads <= max(2 * cores, 2):
                pairs.add((count, threads))
    return tuple(sorted(pairs, key=lambda p: (p[0] * max(p[1], 1), p[0], p[1])))


def axes(cores: int, gpus: int = 0, variants: tuple[str, ...] = (), tokenizer_model: bool = True) -> list[Axis]:
    """Every axis, in visit order; ``variants`` (accelerated artifacts that passed their gate) add one more.

    Without a tokenizer model of its own (a one-step model tokenizes in its instances), the tokenizer's instance
    count and queue delay are not searched.
    """
    found = [
        Axis("layout", ("instance_count", "threads_per_instance"), tuple(layouts(cores, gpus))),
        single("max_queue_delay_us", DELAYS_US),
        single("pad_to_multiple_of", PAD_MULTIPLES),
        single("max_batch_size", MAX_BATCH_SIZES),
        single("preferred_batch_sizes", PREFERRED),
    ]
    if tokenizer_model:
        found += [single("tokenizer_instance_count", tuple(range(1, max(cores, 2) + 1))),
                  single("tokenizer_queue_delay_us", TOKENIZER_DELAYS_US)]
    if variants:
        found.insert(1, single("variant", ("fp32", *variants), ordered=False))
    return found

