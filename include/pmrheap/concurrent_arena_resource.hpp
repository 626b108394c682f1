// SPDX-License-Identifier: MIT
// concurrent_arena_resource: an arena that any number of threads allocate from at once without a
// lock (Zig 0.16's lock-free ArenaAllocator, lib/std/heap/ArenaAllocator.zig), with a per-thread
// span in front of the shared node so that most allocations touch no shared cache line.
#ifndef PMRHEAP_CONCURRENT_ARENA_RESOURCE_HPP
#define PMRHEAP_CONCURRENT_ARENA_RESOURCE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory_resource>

#include "pmrheap/detail/config.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// An arena shared by threads. Blocks are bumped out of the head node, a buffer taken from the
/// upstream resource, and everything goes back at once through reset(), release() or the
/// destructor. The node list follows Zig 0.16's lock-free ArenaAllocator: the head node's cursor
/// moves by one atomic add; one thread at a time grows the head node in place through the
/// upstream (pmrheap::resize); spare nodes are reused by taking the whole spare list at once; a
/// new node is published by one compare-and-swap.
///
/// Each thread carves a *span* (256 B, doubling up to 16 KiB) out of the head node with that
/// atomic add and bumps its small blocks (size and alignment both at most span_block_limit) out
/// of the span with no atomic operation at all. Other blocks come straight from the node.
/// - deallocate gives the bytes back when the block is the newest one of the calling thread's
///   span (it ends at that thread's span cursor), or when it ends at the head node's cursor (one
///   compare-and-swap; a lost race means nothing is reclaimed). Otherwise it does nothing. A block
///   freed by a thread other than the one that allocated it is therefore usually not reclaimed.
/// - resize / remap: any block can shrink (true); the newest block of the calling thread's span
///   grows within the span, and past it into the head node when the span ends at the node's
///   cursor; a block ending at the head node's cursor grows within that node (one compare-and-swap
///   either way, false if it loses). Anything else cannot grow (false). remap never moves a block.
/// - What is left of a span when its thread needs a new one, or exits, stays unused until reset.
/// - Under AddressSanitizer memory not handed out is poisoned, and so is memory given back. Each
///   thread poisons only memory it owns, in whole 8-byte granules, so that threads never race on a
///   shadow byte: a few bytes beside live blocks stay addressable.
/// **Fails**: allocate throws pmrheap::out_of_memory when the upstream refuses a node (the
/// upstream's own exception does not escape).
/// **Cost**: while the thread's span has room, allocate is a thread_local lookup, one compare and
/// a bump (out of line, no atomic operation); a new span or a large block costs one atomic add on
/// the head node (docs/resources/concurrent_arena_resource.md has measured figures).
/// **Thread safety**: allocate, deallocate, resize and remap are safe from any number of threads
/// at once, without a lock, provided the upstream is thread-safe. reset(), release(),
/// capacity() and destruction are not: no other thread may use the arena meanwhile.
class PMRHEAP_API concurrent_arena_resource final : public resource {
 public:
  /// The node header: defined in the library's sources, declared here so that they can name it.
  struct node;

  /// Upstream bytes of the first node (header included) when no initial capacity is given.
  static constexpr std::size_t first_node_size = 4096;
  /// Bytes every node spends on its header, a cache line so the payload shares none with it.
  static constexpr std::size_t node_overhead = 64;
  /// Blocks whose size and alignment are both at most this come from the calling thread's span.
  static constexpr std::size_t span_block_limit = 4096;

  /// An empty arena over std::pmr::get_default_resource() (read now, not at each allocation).
  /// **Cost**: no allocation; the first node is taken on the first allocate.
  concurrent_arena_resource() noexcept : concurrent_arena_resource(std::pmr::get_default_resource()) {}

  /// An empty arena over `upstream`; a null upstream is std::pmr::null_memory_resource(), which
  /// refuses every node. **Cost**: no allocation.
  explicit concurrent_arena_resource(std::pmr::memory_resource* upstream) noexcept;

  /// An arena holding one node of at least `initial_capacity` usable bytes; after
  /// reset(free_all) or release() the first node has that size again. 0 takes no node.
  /// **Fails**: throws pmrheap::out_of_memory when the upstream refuses the node.
  concurrent_arena_resource(std::size_t initial_capacity, std::pmr::memory_resource* upstream);

  concurrent_arena_resource(const concurrent_arena_resource&) = delete;
  concurrent_arena_resource& operator=(const concurrent_arena_resource&) = delete;

  /// Returns every node to the upstream. **Requires**: no other thread uses the arena.
  ~concurrent_arena_resource() override;

  /// Invalidates every block (and every thread's span) and keeps nothing (free_all) or the
  /// current capacity() (retain_capacity) in one node: the node that fits that size best is kept
  /// and resized upstream in place, or else replaced by a new node of exactly that size.
  /// **Returns**: false only when that replacement was refused; the arena then keeps the old node
  /// and stays fully usable. The deprecated reset_mode::retain_with_limit carries no limit here
  /// and keeps the capacity. **Thread safety**: none; no other thread may use the arena.
  bool reset(reset_mode mode = reset_mode::retain_capacity) noexcept;

  /// As reset(retain_capacity), keeping at most `keep.limit` bytes (0 is free_all).
  bool reset(retain_with_limit keep) noexcept;

  /// reset(reset_mode::free_all): every node back to the upstream (the std::pmr name).
  /// **Thread safety**: none.
  void release() noexcept;

  /// Usable bytes in all nodes, used or not: node sizes minus node_overhead each.
  /// **Cost**: walks the node lists. **Thread safety**: none.
  [[nodiscard]] std::size_t capacity() const noexcept;

  /// Where nodes come from.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  enum class step { done, retry, skip };
  PMRHEAP_NOINLINE void* allocate_slow(std::size_t bytes, std::size_t alignment) noexcept;
  std::byte* reserve(std::size_t bytes, std::size_t alignment) noexcept;
  bool bump_head(node* head, std::size_t bytes, std::size_t alignment, std::byte*& block) noexcept;
  step grow_head(node* head, std::size_t bytes, std::size_t alignment, std::byte*& block) noexcept;
  step take_spare(node*& head, std::size_t bytes, std::size_t alignment, std::byte*& block) noexcept;
  void push_spare(node* first) noexcept;
  bool resize_node(node* n, std::size_t new_size) noexcept;
  [[nodiscard]] std::size_t new_node_size(const node* head, std::size_t bytes, std::size_t alignment) const noexcept;
  node* new_node(std::size_t size) noexcept;
  void free_node(node* n) noexcept;
  bool reset_to(std::size_t limit) noexcept;

  std::atomic<node*> used_{nullptr};          ///< Nodes in use, newest (the head node) first.
  std::atomic<node*> spare_{nullptr};         ///< Nodes not in use, taken all at once.
  std::uint64_t generation_;                  ///< Names this arena, until reset/release, in span caches.
  std::pmr::memory_resource* upstream_;       ///< Where nodes come from.
  resource* native_upstream_;                 ///< upstream_ as a pmrheap::resource (can resize), or null.
  std::size_t first_size_ = first_node_size;  ///< Size of the first node.
};

}  // namespace pmrheap

#endif  // PMRHEAP_CONCURRENT_ARENA_RESOURCE_HPP
