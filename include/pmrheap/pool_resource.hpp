// SPDX-License-Identifier: MIT
// pool_resource: size-class pools with per-class free lists, a correct and fast replacement for
// std::pmr::unsynchronized_pool_resource.
#ifndef PMRHEAP_POOL_RESOURCE_HPP
#define PMRHEAP_POOL_RESOURCE_HPP

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/config.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

namespace detail {

/// Size classes of pool_resource: 8 to 128 bytes in steps of 8 (classes 0-15), then four per power
/// of two (160, 192, 224, 256, 320, ...), so a block wastes at most 7 bytes below 128 and at most
/// a fifth of its size above. **Returns**: the smallest class holding `bytes` (> 0).
[[nodiscard]] constexpr std::size_t pool_class_of(std::size_t bytes) noexcept {
  if (bytes <= 128) return (bytes - 1) >> 3;
  const std::size_t m = bytes - 1;
  const auto log = static_cast<std::size_t>(std::bit_width(m)) - 1;  // >= 7
  return 16 + (log - 7) * 4 + ((m >> (log - 2)) & 3);
}

/// The block size of class `index`.
[[nodiscard]] constexpr std::size_t pool_class_size(std::size_t index) noexcept {
  if (index < 16) return (index + 1) * 8;
  const std::size_t j = index - 16;
  return (5 + j % 4) << (5 + j / 4);
}

/// Sizes up to this go through pool_class_table; larger ones through pool_class_of.
inline constexpr std::size_t pool_table_limit = 4096;

/// pool_class_of(n) for n in 1..4096 at index (n - 1) / 8: every class boundary up to 4096 is a
/// multiple of 8, so one byte per 8-byte granule is exact.
inline constexpr auto pool_class_table = [] {
  std::array<std::uint8_t, pool_table_limit / 8> table{};
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<std::uint8_t>(pool_class_of(i * 8 + 8));
  return table;
}();

}  // namespace detail

/// One size class in pool_statistics.
struct pool_class_statistics {
  std::size_t block_size;  ///< Bytes per block.
  std::size_t alignment;   ///< Every block of the class is aligned to this.
  std::size_t in_use;      ///< Blocks handed out and not yet deallocated.
  std::size_t free;        ///< Blocks taken for the class and not in use (free list and batch).
};

/// What a pool_resource holds (pool_resource::statistics()).
struct pool_statistics {
  static constexpr std::size_t max_classes = 68;  ///< Classes up to 1 MiB.
  std::size_t blocks_in_use = 0;                  ///< Pool blocks and upstream blocks not yet deallocated.
  std::size_t upstream_blocks = 0;                ///< Of those, blocks larger than the pools, from the upstream.
  std::size_t bytes_from_upstream = 0;            ///< Bytes held from the upstream: chunks and upstream blocks.
  std::size_t chunks = 0;                         ///< Chunks the pools are carved from.
  std::size_t class_count = 0;                    ///< Entries of `classes` in use.
  std::array<pool_class_statistics, max_classes> classes{};  ///< Per class, smallest first.
};

/// Pools of fixed-size blocks (std::pmr::unsynchronized_pool_resource's job, done right): a request
/// of at most options().largest_required_pool_block bytes gets a block of the smallest size class
/// that holds it and is aligned as asked; blocks of a class are carved in batches out of chunks
/// taken from the upstream (4 KiB, doubling up to 256 KiB); a freed block goes on its class's LIFO
/// free list and is the next one handed out. Larger requests, and alignments no class can give, go
/// to the upstream, tracked by a footer so that release() frees them. Memory of the pools goes back
/// to the upstream only at release() or destruction.
/// - Every alignment is honoured: the blocks of a class are aligned to the largest power of two
///   dividing its size (8 for 24, 64 for 192, 4096 for 4096); a request aligned above that takes
///   the next class whose blocks are aligned enough, or the upstream.
/// - deallocate routes by the size and alignment it is given (as pmr passes them): no header.
/// - resize: true when the new size falls in the block's class; upstream blocks ask the upstream
///   (pmrheap::resize). remap: the same pointer within the class, else nullptr (the caller copies);
///   upstream blocks are remapped by the upstream.
/// - Under AddressSanitizer, carved memory not handed out is poisoned, and so is a freed block
///   except its first 8 bytes (the free-list link).
/// **Fails**: allocate throws pmrheap::out_of_memory when the upstream refuses a chunk or a block
/// (its own exception does not escape); the pool is unchanged by the failure.
/// **Thread safety**: none, like std::pmr::unsynchronized_pool_resource; one pool per thread, or a
/// synchronized_resource around it.
class PMRHEAP_API pool_resource final : public resource {
  struct free_block {
    free_block* next;
  };
  struct size_class {
    free_block* free = nullptr;   ///< LIFO of freed blocks.
    std::byte* cursor = nullptr;  ///< Next never-used block of the current batch.
    std::byte* end = nullptr;     ///< End of the current batch.
    std::size_t size = 0;
    std::size_t alignment = 0;
    std::size_t in_use = 0;
    std::size_t held = 0;        ///< Blocks in every batch taken for the class.
    std::size_t next_batch = 0;  ///< Blocks the next batch takes.
  };
  struct chunk;
  struct big_block;

 public:
  /// options().largest_required_pool_block when 0 is asked for, and the largest that is given.
  static constexpr std::size_t default_largest_block = 4096;
  /// The largest largest_required_pool_block honoured; larger values are cut to it.
  static constexpr std::size_t max_largest_block = std::size_t{1} << 20;
  /// options().max_blocks_per_chunk when 0 is asked for, and the largest that is given.
  static constexpr std::size_t default_blocks_per_chunk = 1024;
  /// The largest max_blocks_per_chunk honoured; larger values are cut to it.
  static constexpr std::size_t max_blocks_per_chunk = std::size_t{1} << 20;
  /// A batch (the blocks a class takes from a chunk at once) stops doubling at this many bytes, or
  /// at one block for larger classes.
  static constexpr std::size_t max_batch_bytes = 4096;

  /// A pool over std::pmr::get_default_resource() (read now), with the default options.
  /// **Cost**: no allocation; memory is taken on the first allocate.
  pool_resource() noexcept : pool_resource(std::pmr::get_default_resource()) {}

  /// A pool over `upstream` with the default options; a null upstream is
  /// std::pmr::null_memory_resource(), which refuses everything. **Cost**: no allocation.
  explicit pool_resource(std::pmr::memory_resource* upstream) noexcept
      : pool_resource(std::pmr::pool_options{}, upstream) {}

  /// A pool over `upstream` (null: as above). `options` are adjusted as std does: 0 takes the
  /// default, values above the limits above take the limit, and largest_required_pool_block is
  /// rounded up to the size class that holds it. **Cost**: no allocation.
  pool_resource(const std::pmr::pool_options& options, std::pmr::memory_resource* upstream) noexcept;

  pool_resource(const pool_resource&) = delete;
  pool_resource& operator=(const pool_resource&) = delete;

  /// release().
  ~pool_resource() override;

  /// std::pmr::memory_resource::allocate and deallocate again, so that a call through this type
  /// inlines the fast path (see arena_resource). Same contract as the base's.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    return pool_resource::do_allocate(bytes, alignment);
  }
  /// std::pmr::memory_resource::deallocate, bound statically like allocate above.
  void deallocate(void* p, std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    pool_resource::do_deallocate(p, bytes, alignment);
  }

  /// Gives every chunk and every upstream block back to the upstream, invalidating every block;
  /// the pool is then as new. Never throws.
  void release() noexcept;

  /// Where chunks and large blocks come from.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

  /// The options in force after adjustment.
  [[nodiscard]] std::pmr::pool_options options() const noexcept;

  /// Blocks in use, bytes held from the upstream, per-class counts. **Cost**: one pass over the
  /// classes and the upstream blocks; no allocation.
  [[nodiscard]] pool_statistics statistics() const noexcept;

 private:
  // The class of 1..table_limit_ bytes. The mask changes nothing there; it shows the compiler the
  // index is in bounds (g++ 12 -Warray-bounds cannot see that table_limit_ is at most 4096).
  [[nodiscard]] static std::size_t table_class(std::size_t bytes) noexcept {
    return detail::pool_class_table[((bytes - 1) >> 3) & (detail::pool_class_table.size() - 1)];
  }

  // The fast path: the class from the table, one alignment compare, then the free list or the
  // batch. false sends the caller to the slow path (larger or over-aligned requests, refills, 0).
  [[nodiscard]] bool take(std::size_t bytes, std::size_t alignment, void*& block) noexcept {
    if (bytes - 1 >= table_limit_) [[unlikely]]
      return false;
    size_class& c = classes_[table_class(bytes)];
    if (alignment > c.alignment) [[unlikely]]
      return false;
    void* p = c.free;
    if (p != nullptr) [[likely]] {
      c.free = c.free->next;
    } else if (c.cursor != c.end) {
      p = c.cursor;
      c.cursor += c.size;
    } else {
      return false;
    }
    ++c.in_use;
    detail::unpoison(p, bytes);
    block = p;
    return true;
  }

  // Poisons all but the link word, which stays addressable for the next pop.
  static void give_back(size_class& c, void* p) noexcept {
    detail::poison(static_cast<std::byte*>(p) + sizeof(free_block), c.size - sizeof(free_block));
    detail::unpoison(p, sizeof(free_block));
    c.free = ::new (p) free_block{c.free};
    --c.in_use;
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = nullptr;
    if (detail::is_pow2(alignment) && take(bytes, alignment, p)) [[likely]]
      return p;
    return allocate_slow(bytes, alignment);
  }

  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = nullptr;
    if (take(bytes, alignment, p)) [[likely]]
      return p;
    return try_allocate_slow(bytes, alignment);
  }

  // `bytes - 1` turns 0 into SIZE_MAX, so a zero-byte block goes to the slow path, which ignores it.
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    if (bytes - 1 < table_limit_) [[likely]] {
      size_class& c = classes_[table_class(bytes)];
      if (alignment <= c.alignment) [[likely]] {
        give_back(c, p);
        return;
      }
    }
    deallocate_slow(p, bytes, alignment);
  }

  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  PMRHEAP_NOINLINE void* allocate_slow(std::size_t bytes, std::size_t alignment);
  PMRHEAP_NOINLINE void* try_allocate_slow(std::size_t bytes, std::size_t alignment) noexcept;
  PMRHEAP_NOINLINE void deallocate_slow(void* p, std::size_t bytes, std::size_t alignment) noexcept;
  [[nodiscard]] std::size_t class_for(std::size_t bytes, std::size_t alignment) const noexcept;
  bool refill(size_class& c) noexcept;
  bool new_chunk(std::size_t needed) noexcept;
  void* allocate_big(std::size_t bytes, std::size_t alignment) noexcept;
  void deallocate_big(void* p, std::size_t bytes) noexcept;
  void* resize_big(void* p, std::size_t old_bytes, std::size_t new_bytes, bool may_move) noexcept;
  void* upstream_allocate(std::size_t bytes, std::size_t alignment) noexcept;
  void reset_classes() noexcept;

  std::size_t table_limit_;  ///< min(largest class size, detail::pool_table_limit).
  std::size_t class_count_;
  std::size_t largest_;  ///< The largest class size: larger requests go upstream.
  std::size_t blocks_per_chunk_;
  std::byte* chunk_cursor_ = nullptr;  ///< Free space of the newest chunk, where batches are carved.
  std::byte* chunk_end_ = nullptr;
  chunk* chunks_ = nullptr;
  big_block* bigs_ = nullptr;  ///< Upstream blocks, newest first.
  std::size_t next_chunk_size_;
  std::size_t bytes_from_upstream_ = 0;
  std::pmr::memory_resource* upstream_;
  resource* native_upstream_;  ///< upstream_ as a pmrheap::resource, or null.
  std::array<size_class, pool_statistics::max_classes> classes_{};
};

}  // namespace pmrheap

#endif  // PMRHEAP_POOL_RESOURCE_HPP
