// SPDX-License-Identifier: MIT
// arena_resource: bump allocation in nodes taken from an upstream resource, given back all at once
// (Zig's ArenaAllocator, single-threaded 0.15 design), with resets that keep capacity.
#ifndef PMRHEAP_ARENA_RESOURCE_HPP
#define PMRHEAP_ARENA_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>

#include "pmrheap/arena_scope.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/bump.hpp"
#include "pmrheap/detail/config.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// An arena (Zig's ArenaAllocator): blocks are bumped out of the newest node, a buffer taken from
/// the upstream resource; everything goes back at once through reset(), release() or the
/// destructor. When a block does not fit, the arena first asks the upstream to grow the node in
/// place (pmrheap::resize: works when the upstream is a pmrheap resource), then takes a new node
/// 1.5 times the size of the previous one. A request larger than that next node gets a node of its
/// own and changes neither the sizes of later nodes nor which node the arena bumps in, unless that
/// node would then have more room left.
/// - deallocate: gives the bytes back only for the block that ends at the cursor (the newest one);
///   otherwise does nothing.
/// - resize / remap: the newest block grows (growing the node in place if needed) or shrinks in
///   place; any other block can shrink (true, nothing reclaimed) but not grow (false). remap never
///   moves a block.
/// - Under AddressSanitizer, node memory not handed out is poisoned, and so is memory given back by
///   deallocate, shrinking, reset() and release(): a use after reset is reported.
/// - A pointer the arena did not hand out (another resource's block, a stack array) is left
///   alone: deallocate does nothing, resize shrinks nothing and returns true for a shrink, false
///   for a growth; no byte outside the arena's own nodes and buffer is poisoned or written.
/// - Savepoints: mark() and rewind() (and arena_scope) free every block allocated after a mark.
/// - It can start in a buffer of the caller's (as std::pmr::monotonic_buffer_resource): the buffer
///   is the first region bumped in, never handed to the upstream, and again after every reset.
/// **Fails**: allocate throws pmrheap::out_of_memory when the upstream refuses a node (the
/// upstream's own exception does not escape).
/// **Thread safety**: none; one arena per thread, or a lock around it.
class PMRHEAP_API arena_resource final : public resource {
  struct node {
    node* next;        ///< The next older node.
    std::size_t size;  ///< Bytes obtained from upstream for this node, header included.
  };

 public:
  /// Upstream bytes of the first node (header included) when no initial capacity is given.
  static constexpr std::size_t first_node_size = 1024;
  /// Bytes every node spends on its header; the payload after it is aligned to
  /// alignof(std::max_align_t).
  static constexpr std::size_t node_overhead = detail::align_up(sizeof(node), alignof(std::max_align_t));

  /// An empty arena over std::pmr::get_default_resource() (read now, not at each allocation).
  /// **Cost**: no allocation; the first node is taken on the first allocate.
  arena_resource() noexcept : arena_resource(std::pmr::get_default_resource()) {}

  /// An empty arena over `upstream`; a null upstream is std::pmr::null_memory_resource(), which
  /// refuses every node. **Cost**: no allocation.
  explicit arena_resource(std::pmr::memory_resource* upstream) noexcept;

  /// An arena holding one node of at least `initial_capacity` usable bytes; after reset(free_all)
  /// or release() the first node has that size again. 0 takes no node.
  /// **Fails**: throws pmrheap::out_of_memory when the upstream refuses the node.
  arena_resource(std::size_t initial_capacity, std::pmr::memory_resource* upstream);

  /// An arena that bumps in the `size` bytes at `buffer` first, and takes nodes from `upstream`
  /// (null: std::pmr::null_memory_resource()) once they are used up. The buffer must outlive the
  /// arena; any address and any size work (a null buffer or size 0 is no buffer). It is never
  /// given to the upstream, counts in capacity(), and every reset or release bumps in it first
  /// again. Under ASan it is poisoned while the arena holds it and unpoisoned by the destructor.
  /// **Cost**: no allocation.
  arena_resource(void* buffer, std::size_t size, std::pmr::memory_resource* upstream) noexcept;

  arena_resource(const arena_resource&) = delete;
  arena_resource& operator=(const arena_resource&) = delete;

  /// Returns every node to the upstream.
  ~arena_resource() override;

  /// std::pmr::memory_resource::allocate and deallocate, declared again so that a call through
  /// this type binds statically and inlines the fast path with every compiler (clang devirtualises
  /// only on the static type of a call, and these calls would otherwise go through the base).
  /// Same contract and results as the base's.
  [[nodiscard]] void* allocate(std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    return arena_resource::do_allocate(bytes, alignment);
  }
  /// Same contract as the base's deallocate, without the virtual call.
  void deallocate(void* p, std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    arena_resource::do_deallocate(p, bytes, alignment);
  }

  /// Invalidates every block and keeps nothing (free_all) or the current capacity()
  /// (retain_capacity) in one node: the node that fits that size best is kept and resized upstream
  /// in place, or else replaced by a new node of exactly that size. The caller's buffer, if any, is
  /// always kept and bumped in first; the kept node takes over once it is full.
  /// **Returns**: false only when that replacement was refused; the arena then keeps the old node
  /// and stays fully usable. **Cost**: one upstream deallocate per other node; no upstream call
  /// at all when the kept node already has the size (every reset after the first of a steady
  /// workload). Never throws. Invalidates every mark.
  bool reset(reset_mode mode = reset_mode::retain_capacity) noexcept;
  /// As reset(retain_capacity), keeping at most `keep.limit` bytes of the capacity taken from the
  /// upstream (the caller's buffer is kept besides); a limit of 0 is free_all.
  bool reset(retain_with_limit keep) noexcept;

  /// reset(reset_mode::free_all): every node back to the upstream (the std::pmr name).
  void release() noexcept;

  /// Usable bytes in all nodes, used or not (Zig's queryCapacity): node sizes minus
  /// node_overhead each. **Cost**: walks the node list (one node after a retaining reset).
  [[nodiscard]] std::size_t capacity() const noexcept;

  /// The resource the blocks come from.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

  /// A savepoint: where the cursor is now. **Cost**: a few stores; no allocation.
  [[nodiscard]] arena_mark mark() const noexcept;
  /// Frees every block allocated since `m` was taken: the cursor goes back to it (poisoned under
  /// ASan), and every node taken since goes back to the upstream, so the arena holds what it held
  /// at the mark (the node series too). Marks taken after `m` become invalid; `m` and older ones
  /// stay valid. A block from before the mark freed after it is reclaimed only by reset.
  /// **Returns**: true; false, doing nothing, for a mark it can tell is not valid (another
  /// arena's, one from before a reset or release, one whose node a rewind gave back): an error,
  /// which debug builds report and abort on. A mark that a rewind to an older one invalidated but
  /// whose node is still there is an error it cannot tell (it then frees the arena's own blocks
  /// only). Touches no memory outside the arena either way.
  /// **Cost**: one upstream deallocate per node given back.
  bool rewind(const arena_mark& m) noexcept;

 private:
  // The fast path: align the cursor, one compare against what is left of the bump node, bump
  // (detail::bump). A bool, not a null block, says "missed", so the caller needs no second test.
  [[nodiscard]] bool bump(std::size_t bytes, std::size_t alignment, void*& block) noexcept {
    std::byte* p = nullptr;
    if (!detail::bump(cursor_, end_, bytes, alignment, p)) [[unlikely]]
      return false;
    detail::unpoison(p, bytes);
    block = p;
    return true;
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = nullptr;
    if (detail::is_pow2(alignment) && bump(bytes, alignment, p)) [[likely]]
      return p;
    return allocate_slow(bytes, alignment);
  }

  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    void* p = nullptr;
    if (bump(bytes, alignment, p)) [[likely]]
      return p;
    return refill(bytes, alignment);
  }

  // Only the newest block gives its bytes back (detail::is_newest: it lies in the bump region,
  // so a foreign block that happens to end at the cursor is left alone).
  void do_deallocate(void* p, std::size_t bytes, std::size_t) override {
    if (detail::is_newest(p, bytes, begin_, cursor_)) {
      cursor_ = static_cast<std::byte*>(p);
      detail::poison(p, bytes);
    }
  }

  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  PMRHEAP_NOINLINE void* allocate_slow(std::size_t bytes, std::size_t alignment);
  PMRHEAP_NOINLINE void* refill(std::size_t bytes, std::size_t alignment) noexcept;
  bool reset_to(std::size_t target) noexcept;
  [[nodiscard]] bool is_valid(const arena_mark& m) const noexcept;
  [[nodiscard]] bool owns_block(const void* p, std::size_t bytes) const noexcept;
  [[nodiscard]] bool in_buffer() const noexcept { return begin_ == buffer_; }
  void bump_in_buffer() noexcept;
  bool grow_in_place(std::size_t needed) noexcept;
  bool resize_bump_node(std::size_t new_size) noexcept;
  node* new_node(std::size_t size) noexcept;
  void push_bump_node(node* n) noexcept;
  void free_node(node* n) noexcept;

  std::byte* cursor_ = nullptr;               ///< The first free byte of the bump region.
  std::byte* end_ = nullptr;                  ///< The end of the bump region.
  std::byte* begin_ = nullptr;                ///< The start of the bump region: a node's payload or buffer_.
  node* nodes_ = nullptr;                     ///< Every node; the first one is the bump node unless in_buffer().
  node* spare_ = nullptr;                     ///< A node a reset kept, not bumped in until the buffer is full.
  std::byte* buffer_ = nullptr;               ///< The caller's buffer, or null.
  std::size_t buffer_size_ = 0;               ///< Its size.
  std::pmr::memory_resource* upstream_;       ///< Where nodes come from.
  resource* native_upstream_;                 ///< upstream_ as a pmrheap::resource (can resize), or null.
  std::size_t first_size_ = first_node_size;  ///< Size of the first node after free_all.
  std::size_t next_size_ = first_node_size;   ///< Size of the next regular node.
  std::size_t generation_ = 0;                ///< Resets and releases so far: what outdates a mark.
};

}  // namespace pmrheap

#endif  // PMRHEAP_ARENA_RESOURCE_HPP
