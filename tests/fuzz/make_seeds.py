#!/usr/bin/env python3
# Writes the seed corpora tests/fuzz/corpus/<target>/seed-* in the byte format of harness.cpp:
# a handful of short, readable operation sequences per target. libFuzzer grows its own corpus
# from these in a scratch directory (./scripts/fuzz); only the seeds are committed.
# Targets that build their resource from setup bytes (SETUPS, as target::setup_bytes in
# tests/fuzz/models/) get each seed behind one of their setups in turn; targets whose model resets
# (RESETS) get reset seeds too.
#   python3 tests/fuzz/make_seeds.py [target...]    (default: every directory under corpus/)
import os
import random
import sys

MIB = 1 << 20


def size(n):
    if n == 0:
        return [22, 0, 0]
    m = n.bit_length() - 1
    rest = n - (1 << m)
    return [m, rest >> 8 & 0xFF, rest & 0xFF]


def align(a):
    return [a.bit_length() - 1]


def alloc(n, a=16, throwing=True):
    return [0 if throwing else 1] + size(n) + align(a)


def free(slot):
    return [2, slot]


def resize(slot, n):
    return [3, slot] + size(n)


def remap(slot, n):
    return [4, slot] + size(n)


def realloc(slot, n):
    return [5, slot] + size(n)


RELEASE = [6]
VERIFY = [7]


def reset(mode, limit=0):
    """Op 6 where the model has_reset(): mode 0 free_all, 1 retain_capacity, 2 retain_with_limit{limit},
    3 retain_with_limit{SIZE_MAX - limit}."""
    return [6, mode] + size(limit)


SEEDS = {
    "basic": alloc(100) + alloc(5000, 4096) + resize(0, 50) + remap(1, 20000) + realloc(0, 300) + VERIFY
    + free(0) + free(0),
    "zero_sizes": alloc(0, 1) + alloc(0, 2 * MIB) + alloc(1, 1) + resize(0, 0) + remap(0, 0) + realloc(0, 0),
    "large_alignment": alloc(4096, 2 * MIB) + alloc(1, 64 * 1024) + remap(1, 100000) + resize(0, 10)
    + realloc(0, 3 * 4096) + RELEASE,
    "page_edges": alloc(4095, 8) + resize(0, 4096) + resize(0, 4097) + remap(0, 8193) + resize(0, 1)
    + remap(0, 3 * 4096) + realloc(0, 2 * MIB) + VERIFY,
    "large_blocks": alloc(2 * MIB, 1) + realloc(0, MIB) + remap(0, 2 * MIB) + alloc(MIB + 1, 4096) + free(1)
    + RELEASE,
    "try_allocate": alloc(24, 8, False) + alloc(3000, 128, False) + alloc(70000, 32, False) + remap(2, 10)
    + resize(1, 6000) + free(0),
}


def many_small():
    ops = []
    for i in range(40):
        ops += alloc(1 + i * 37 % 700, 1 << (i % 8))
    for i in range(20):
        ops += free(i)
    for i in range(20):
        ops += realloc(i, 1 + i * 101 % 5000)
    return ops + VERIFY


def mixed(seed):
    rng = random.Random(seed)
    return [rng.randrange(256) for _ in range(240)]


SEEDS["many_small"] = many_small()
SEEDS["mixed_1"] = mixed(1)
SEEDS["mixed_2"] = mixed(2)


# Setup bytes per target (the make functions in tests/fuzz/models/ say what they mean).
FIXED = [[20, 0], [12, 5], [200, 3], [16, 63], [255, 0]]  # 1 MiB, 4 KiB skewed, odd, 64 KiB, null
SETUPS = {
    "arena_c_resource": [[0], [41], [2]],
    "arena_page_resource": [[0], [27], [4]],
    "synchronized_arena": [[0], [41]],
    "arena_buffer": [[0], [1], [17], [100], [255]],  # no buffer; 61 B at +1; 1037 B at +1; 6100 B at +4; 6555 B at +15
    "concurrent_arena": [[0], [41], [2]],
    "fixed_buffer": FIXED,
    "concurrent_fixed_buffer": FIXED,
    "buffer_first": FIXED,
    "stack_fallback": [[]],
    "virtual_arena": [[0, 0], [21, 0], [13, 0], [0, 1], [23, 1]],  # 64 GiB; 2 MiB, 8 KiB odd; huge pages
    # no limit, 1 MiB, 64 KiB limits; each path (setup[1] % 4); quarantines of 1 and 2 blocks
    "debug_resource": [[0, 0], [41, 1], [33, 2], [0, 3], [64, 2], [128, 1], [65, 0]],
    "failing_resource": [[255, 255], [0, 255], [12, 255], [255, 8], [20, 4]],
}
RESETS = {"arena_c_resource", "arena_page_resource", "synchronized_arena", "virtual_arena", "arena_buffer", "concurrent_arena"}

RESET_SEEDS = {
    "resets": alloc(3000) + alloc(100, 64) + reset(1) + alloc(5000) + realloc(0, 9000) + reset(2, 4096)
    + alloc(70000, 4096) + reset(2, 1) + alloc(16, 16) + reset(3, 0) + alloc(1, 1) + reset(0, 12345) + alloc(200),
    "reset_reuse": alloc(1000) + alloc(2000) + free(1) + alloc(1500) + resize(1, 1900) + reset(1) + alloc(1000)
    + alloc(2000) + VERIFY + reset(2, 3000) + alloc(2500) + resize(0, 100000) + reset(2, 4095) + alloc(4096, 4096),
}


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    targets = sys.argv[1:] or sorted(os.listdir(root))
    for target in targets:
        directory = os.path.join(root, target)
        os.makedirs(directory, exist_ok=True)
        setups = SETUPS.get(target, [[]])
        seeds = dict(SEEDS)
        if target in RESETS:
            seeds.update(RESET_SEEDS)
        for i, (name, ops) in enumerate(sorted(seeds.items())):
            with open(os.path.join(directory, "seed-" + name), "wb") as f:
                f.write(bytes(setups[i % len(setups)] + ops))
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
