// SPDX-License-Identifier: MIT
// smp_resource: a thread-safe general-purpose resource with process-wide state, for the default
// resource of a multithreaded program (after Zig's std.heap.SmpAllocator, lib/std/heap/SmpAllocator.zig).
#ifndef PMRHEAP_SMP_RESOURCE_HPP
#define PMRHEAP_SMP_RESOURCE_HPP

#include <cstddef>

#include "pmrheap/platform/pages.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// What smp_resource holds from the OS, process-wide. Each counter is read on its own (relaxed),
/// so a snapshot taken while other threads allocate may mix moments.
struct smp_statistics {
  /// Bytes mapped now: slab_bytes + large_bytes + metadata_bytes.
  std::size_t bytes_mapped = 0;
  /// The largest bytes_mapped seen since the process started.
  std::size_t peak_bytes_mapped = 0;
  /// Bytes in slabs (small blocks). Slabs are kept for reuse and never returned to the OS.
  std::size_t slab_bytes = 0;
  /// Slabs mapped.
  std::size_t slabs = 0;
  /// Bytes in large blocks, one mapping each (page-rounded).
  std::size_t large_bytes = 0;
  /// Large blocks live.
  std::size_t large_blocks = 0;
  /// Bytes of bookkeeping: the threads' caches (about 5 KiB each on 64-bit targets) and the nodes
  /// that carry batches of free blocks between threads. Kept for reuse, never returned to the OS.
  std::size_t metadata_bytes = 0;
  /// Shared slots in use (one per CPU, at most smp_resource::max_slots).
  std::size_t slots = 0;
};

/// A general-purpose resource that any thread can use at once, built for speed with several
/// threads (Zig's SmpAllocator, lib/std/heap/SmpAllocator.zig, 0.14.0, plus a per-thread cache).
/// - Small blocks (size and alignment up to max_small_size) take a power-of-two slot of at least
///   2 pointers from a slab of slab_size bytes mapped aligned to its size, so a slot of 2^k bytes is
///   aligned to 2^k. Each thread keeps a stack of free block pointers per size class that it
///   touches with plain loads and stores (a free block's memory is never read or written); only
///   refills and surpluses (a batch of pointers at a time) reach the shared state: one slot per CPU
///   (at most max_slots), each behind a try-lock, holding batches of free blocks and the slab being
///   carved. A thread that finds its slot busy moves to the next one. A refill
///   looks in its own slot, then its slab, then the other slots, and only then maps a new slab, so
///   blocks freed by a consumer thread are found by the producer (memory stays bounded). A thread
///   that exits gives its cached blocks back to its slot.
/// - Large blocks: one mapping each from platform::map, returned to the OS on deallocate.
/// - resize: small blocks true when the new size falls in the same class; large blocks as
///   page_resource (within the page count, or shrinking); false across the small/large line.
/// - remap: the same pointer within the class; mremap for large blocks (Linux); nullptr across the
///   small/large line, so the caller copies.
/// **Fails**: allocate throws pmrheap::out_of_memory when the OS refuses a slab or a large mapping,
/// or the size is within a page of SIZE_MAX; std::invalid_argument for a non-power-of-two
/// alignment. Deallocating a block with another size class than it was allocated with, or a
/// pointer that did not come from smp_resource, is undefined (the block's size is not stored).
/// **Thread safety**: safe. All instances share one state and compare equal; instance() is never
/// destroyed and works during static initialisation and destruction.
class PMRHEAP_API smp_resource final : public resource {
 public:
  /// Largest size (and alignment) served from slabs; larger blocks are mapped one by one.
  static constexpr std::size_t max_small_size = std::size_t{32} << 10;
  /// Bytes per slab: 64 KiB, or the largest page size of the target if that is larger.
  static constexpr std::size_t slab_size = platform::page_size_max > (std::size_t{64} << 10) ? platform::page_size_max
                                                                                             : std::size_t{64} << 10;
  /// Most shared slots.
  static constexpr std::size_t max_slots = 128;

  constexpr smp_resource() noexcept = default;

  /// The process-wide instance, never destroyed.
  [[nodiscard]] static smp_resource* instance() noexcept;

  /// What the process holds from the OS through smp_resource. **Cost**: a few relaxed loads.
  [[nodiscard]] static smp_statistics statistics() noexcept;

  /// The slot size a block of `bytes` with `alignment` takes, or 0 for a large block (or bad
  /// input: 0 bytes, a non-power-of-two alignment).
  [[nodiscard]] static std::size_t slot_size(std::size_t bytes, std::size_t alignment = default_alignment) noexcept;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* allocate_checked(std::size_t bytes, std::size_t alignment);
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  [[nodiscard]] bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;
};

}  // namespace pmrheap

#endif  // PMRHEAP_SMP_RESOURCE_HPP
