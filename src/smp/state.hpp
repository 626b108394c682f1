// SPDX-License-Identifier: MIT
// smp_resource's internals: size classes, the per-thread cache and the shared slots. Internal.
#ifndef PMRHEAP_SRC_SMP_STATE_HPP
#define PMRHEAP_SRC_SMP_STATE_HPP

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "pmrheap/smp_resource.hpp"

namespace pmrheap::smp {

/// A lock held for a few list operations at a time: a slot's, and the pools of batch nodes and of
/// cache records. try_lock loads before it exchanges, so a waiter spins on reads of the cache line
/// instead of writing it.
class spin_flag {
 public:
  [[nodiscard]] bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void lock() noexcept {
    while (!try_lock()) std::this_thread::yield();
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// A free block is never read or written by smp_resource while it sits in a thread's cache or in a
// batch: both hold pointers to blocks, not links through them. So a block freed on another core is
// not pulled into the freeing core's cache by the free, nor back by the next allocation: the pointer
// moves, the block's memory stays where the user left it (tcmalloc's per-CPU caches work the same
// way). Only when no batch can be had (the OS refuses one) are blocks linked through themselves,
// through `next`. The smallest slot is still two pointers (16 B on 64-bit, 8 B on 32-bit targets,
// where the class table gains one class), as when batches were chains that kept a count in their
// second block: the second pointer is no longer used, and a one-pointer class is possible (a
// change of the documented slot sizes, not made yet).
struct block {
  block* next;
  block* unused;
};

inline constexpr unsigned min_shift = std::bit_width(sizeof(block)) - 1;
inline constexpr unsigned max_shift = std::bit_width(smp_resource::max_small_size) - 1;
inline constexpr unsigned class_count = max_shift - min_shift + 1;
static_assert(sizeof(block) == (std::size_t{1} << min_shift), "two pointers make a power of two");
static_assert(smp_resource::slab_size >= 2 * smp_resource::max_small_size,
              "a slab holds at least two blocks of the largest class");

/// log2 of the slot size for `bytes` and `alignment`: a slot of 2^k bytes in a slab aligned to
/// its size is aligned to 2^k, so the alignment only raises the class. Above max_shift: large.
/// `bytes` 0 or `alignment` 0 give 64 (large), as does any size above SIZE_MAX / 2.
[[nodiscard]] inline unsigned class_shift(std::size_t bytes, std::size_t alignment) noexcept {
  return static_cast<unsigned>(std::bit_width((bytes - 1) | (alignment - 1) | (sizeof(block) - 1)));
}

/// Most blocks in a batch.
inline constexpr std::uint32_t max_batch = 64;

/// Blocks a refill brings and a surplus flush hands on: about 8 KiB, between 1 and max_batch. A
/// thread caches at most limit() = 2 * batch() blocks per class, so a thread's cache holds at
/// most about 16 KiB per class (64 KiB for the 32 KiB class).
[[nodiscard]] constexpr std::uint32_t batch(unsigned c) noexcept {
  const std::size_t n = (std::size_t{8} << 10) >> (c + min_shift);
  return n < 1 ? 1 : n > max_batch ? max_batch : static_cast<std::uint32_t>(n);
}
[[nodiscard]] constexpr std::uint32_t limit(unsigned c) noexcept { return 2 * batch(c); }

/// Pointers a thread's cache holds in all: the sum of the limits.
[[nodiscard]] constexpr std::size_t cached_max() noexcept {
  std::size_t n = 0;
  for (unsigned c = 0; c < class_count; ++c) n += limit(c);
  return n;
}

/// Blocks of one size class on their way between threads: pointers, so handing a batch on touches
/// neither its blocks nor their cache lines. Kept in the slots; never returned to the OS.
struct batch_node {
  batch_node* next;
  std::uint32_t count;
  void* blocks[max_batch];
};

enum class cache_state : std::uint8_t { fresh, live, dead };

/// One thread's blocks: per class c, a stack of count[c] block pointers at base[c], room for
/// capacity[c]. Invariant while live: capacity[c] = limit(c) and count[c] <= capacity[c]. Fresh and
/// dead caches have capacity 0 and count 0, so every call on them takes a slow path. (Three arrays,
/// not an array of structs: an index scaled by 4 or 8 is an x86 addressing mode, 16 is not.)
struct thread_cache {
  void** base[class_count];
  std::uint32_t count[class_count];
  std::uint32_t capacity[class_count];
  std::uint32_t slot;
  cache_state state;
};

/// Fills the empty list of class `c` with up to a batch (a dead cache's list, for one allocation,
/// has room for max_batch pointers). **Returns**: false when the OS refuses a slab.
bool refill(thread_cache& t, unsigned c) noexcept;
/// The list of class `c` is full: hands its oldest batch(c) blocks on to a slot.
void flush_surplus(thread_cache& t, unsigned c) noexcept;
/// Gives every cached block to a slot, for good when `state` is dead (the thread is exiting).
void flush_all(thread_cache& t, cache_state state) noexcept;
/// Gives the block `p` of class `c` straight to a slot (a dead cache's free).
void give_block(void* p, unsigned c) noexcept;
/// Sets a fresh cache up over `storage`, room for cached_max() pointers: a slot, room in every class.
void start(thread_cache& t, void** storage) noexcept;

/// The process-wide counters behind smp_resource::statistics().
struct counters {
  std::atomic<std::size_t> slab_bytes{0};
  std::atomic<std::size_t> slabs{0};
  std::atomic<std::size_t> large_bytes{0};
  std::atomic<std::size_t> large_blocks{0};
  std::atomic<std::size_t> metadata_bytes{0};
  std::atomic<std::size_t> peak{0};
};
extern counters stats;
/// Adds `delta` (two's complement for a decrease) to `counter` and updates the peak.
void add_mapped(std::atomic<std::size_t>& counter, std::size_t delta) noexcept;
/// Maps `bytes` of bookkeeping (cache records, batch nodes), counted in metadata_bytes and never
/// unmapped. **Returns**: nullptr when the OS refuses.
[[nodiscard]] void* map_metadata(std::size_t bytes) noexcept;
/// Objects of smp_resource's own bookkeeping (T, linked through T::next), mapped 64 KiB at a time
/// through map_metadata and kept for reuse: batch nodes, and thread caches' records.
template <class T>
class metadata_pool {
 public:
  /// **Returns**: an object not in use, or nullptr when the OS refuses a chunk.
  [[nodiscard]] T* take() noexcept {
    lock_.lock();
    if (free_ == nullptr) {
      constexpr std::size_t chunk = std::size_t{64} << 10;
      static_assert(sizeof(T) <= chunk);
      if (auto* const first = static_cast<T*>(map_metadata(chunk))) {
        for (std::size_t i = 0; i < chunk / sizeof(T); ++i) {
          first[i].next = free_;
          free_ = &first[i];
        }
      }
    }
    T* const t = free_;
    if (t != nullptr) free_ = t->next;
    lock_.unlock();
    return t;
  }
  void give(T* t) noexcept {
    lock_.lock();
    t->next = free_;
    free_ = t;
    lock_.unlock();
  }

 private:
  spin_flag lock_;
  T* free_ = nullptr;
};

/// Shared slots in use (0 before the first thread starts).
[[nodiscard]] std::size_t slots_in_use() noexcept;

}  // namespace pmrheap::smp

#endif  // PMRHEAP_SRC_SMP_STATE_HPP
