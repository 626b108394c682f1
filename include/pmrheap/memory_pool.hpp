// SPDX-License-Identifier: MIT
// memory_pool<T>: an object pool for one type (Zig's std.heap.MemoryPool), slots from an
// arena_resource, freed slots on an intrusive LIFO list.
#ifndef PMRHEAP_MEMORY_POOL_HPP
#define PMRHEAP_MEMORY_POOL_HPP

#include <cstddef>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// How a memory_pool lays out and gets its slots.
struct memory_pool_options {
  /// Slot alignment; 0 is alignof(T). Never below alignof(T) or alignof(void*): the larger wins,
  /// so an explicit alignment equal to the natural one is the natural one.
  std::size_t alignment = 0;
  /// False: create fails once the slots of the initial capacity (and add_capacity) are used.
  bool growable = true;
};

/// An object pool for `T` (Zig's std.heap.MemoryPool, lib/std/heap/memory_pool.zig): create()
/// takes the most recently destroyed slot (LIFO), else a new one from an arena_resource over the
/// upstream; destroy() runs ~T and puts the slot on the free list. Every slot goes back to the
/// upstream at once with reset(), release() or the destructor.
/// - Slots are max(sizeof(T), sizeof(void*)) bytes rounded up to the slot alignment, which is
///   max(alignof(T), alignof(void*), options.alignment).
/// - Under AddressSanitizer a free slot is poisoned except its first pointer (the link).
/// - destroy() does not check that the object came from this pool (Zig neither).
/// **Fails**: create throws pmrheap::out_of_memory when no slot can be had; try_create returns
/// nullptr instead. T's constructor's exceptions propagate, the slot going back to the pool.
/// **Thread safety**: none.
template <class T>
class memory_pool {
  static_assert(std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T>,
                "memory_pool<T> holds non-const objects of a complete non-array type");
  struct free_slot {
    free_slot* next;
  };

 public:
  /// The type of the pool's objects.
  using value_type = T;

  /// An empty, growable pool. **Cost**: no allocation.
  explicit memory_pool(std::pmr::memory_resource* upstream = std::pmr::get_default_resource()) noexcept
      : arena_(upstream), alignment_(natural_alignment), slot_size_(slot_size_for(natural_alignment)) {}

  /// A growable pool holding `initial_capacity` free slots (Zig's initCapacity).
  /// **Fails**: throws pmrheap::out_of_memory, holding nothing, when they cannot all be had.
  memory_pool(std::size_t initial_capacity, std::pmr::memory_resource* upstream) : memory_pool(upstream) {
    add_capacity(initial_capacity);
  }

  /// A pool laid out and growing as `options` say; `initial_capacity` free slots as above.
  /// **Fails**: std::invalid_argument for an alignment that is not 0 or a power of two;
  /// pmrheap::out_of_memory as above.
  explicit memory_pool(memory_pool_options options,
                       std::pmr::memory_resource* upstream = std::pmr::get_default_resource(),
                       std::size_t initial_capacity = 0)
      : arena_(upstream),
        alignment_(checked_alignment(options.alignment)),
        slot_size_(slot_size_for(alignment_)),
        growable_(options.growable) {
    add_capacity(initial_capacity);
  }

  memory_pool(const memory_pool&) = delete;
  memory_pool& operator=(const memory_pool&) = delete;

  /// Returns every slot to the upstream; live objects are not destroyed.
  ~memory_pool() = default;

  /// Takes a slot (the most recently destroyed first) and constructs T(args...) in it.
  /// **Fails**: pmrheap::out_of_memory when there is no free slot and the pool cannot grow (not
  /// growable, or the upstream refused); what T's constructor throws, after the slot went back.
  template <class... Args>
  [[nodiscard]] T* create(Args&&... args) {
    void* const slot = take();
    if (slot == nullptr) throw out_of_memory(slot_size_, alignment_);
    return construct(slot, std::forward<Args>(args)...);
  }

  /// create() that returns nullptr instead of throwing pmrheap::out_of_memory (T's constructor's
  /// exceptions still propagate).
  template <class... Args>
  [[nodiscard]] T* try_create(Args&&... args) {
    void* const slot = take();
    if (slot == nullptr) return nullptr;
    return construct(slot, std::forward<Args>(args)...);
  }

  /// Runs ~T and puts the slot on the free list; the next create() gets it. `p` must come from
  /// this pool's create() since the last reset; null does nothing.
  void destroy(T* p) noexcept {
    if (p == nullptr) return;
    p->~T();
    push(p);
  }

  /// Adds `n` free slots in one block from the arena (Zig's addCapacity; also on a non-growable
  /// pool). **Fails**: throws pmrheap::out_of_memory, adding nothing, when the block is refused or
  /// n slots overflow size_t.
  void add_capacity(std::size_t n) {
    if (n == 0) return;
    if (n > detail::size_max / slot_size_) throw out_of_memory(detail::size_max, alignment_);
    auto* const block = static_cast<std::byte*>(arena_.try_allocate(n * slot_size_, alignment_));
    if (block == nullptr) throw out_of_memory(n * slot_size_, alignment_);
    // Pushed from the end, so that creates hand them out in address order.
    for (std::size_t i = n; i-- > 0;) push(block + i * slot_size_);
    slots_ += n;
  }

  /// Slots the pool holds, in use or free. 0 after any reset: the slots go with the objects.
  [[nodiscard]] std::size_t capacity() const noexcept { return slots_; }
  /// Bytes per slot, and their alignment.
  [[nodiscard]] std::size_t slot_size() const noexcept { return slot_size_; }
  /// The slots' alignment: max(alignof(void*), the pool's alignment).
  [[nodiscard]] std::size_t alignment() const noexcept { return alignment_; }
  /// False when the pool never takes more slots than it has (memory_pool_options::growable).
  [[nodiscard]] bool growable() const noexcept { return growable_; }
  /// Where the arena behind the pool takes its memory.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return arena_.upstream_resource(); }
  /// The arena the slots come from (its capacity() is the memory kept by a reset).
  [[nodiscard]] const arena_resource& arena() const noexcept { return arena_; }

  /// Invalidates every object **without running its destructor**, empties the free list and
  /// resets the arena with `mode` (arena_resource::reset): retain_capacity keeps the memory for
  /// the slots taken next, free_all gives it back. capacity() is 0 afterwards; a non-growable pool
  /// needs add_capacity() before it can create again. **Returns**: the arena's result. Never throws.
  bool reset(reset_mode mode = reset_mode::retain_capacity) noexcept {
    forget();
    return arena_.reset(mode);
  }

  /// As above, keeping at most `keep.limit` bytes of arena capacity (0 keeps nothing).
  bool reset(retain_with_limit keep) noexcept {
    forget();
    return arena_.reset(keep);
  }

  /// reset(reset_mode::free_all).
  void release() noexcept {
    forget();
    arena_.release();
  }

 private:
  static constexpr std::size_t natural_alignment = alignof(T) > alignof(free_slot) ? alignof(T) : alignof(free_slot);

  static std::size_t checked_alignment(std::size_t alignment) {
    if (alignment != 0 && !detail::is_pow2(alignment))
      throw std::invalid_argument("pmrheap::memory_pool: alignment " + std::to_string(alignment) +
                                  " is not a power of two");
    return alignment > natural_alignment ? alignment : natural_alignment;
  }

  static constexpr std::size_t slot_size_for(std::size_t alignment) noexcept {
    return detail::align_up(sizeof(T) > sizeof(free_slot) ? sizeof(T) : sizeof(free_slot), alignment);
  }

  // The newest free slot, else a new one from the arena when growable; null when neither.
  [[nodiscard]] void* take() noexcept {
    if (free_slot* const s = free_) [[likely]] {
      free_ = s->next;
      detail::unpoison(s, slot_size_);
      return s;
    }
    if (!growable_) return nullptr;
    void* const s = arena_.try_allocate(slot_size_, alignment_);
    if (s != nullptr) ++slots_;
    return s;
  }

  void push(void* slot) noexcept {
    detail::poison(static_cast<std::byte*>(slot) + sizeof(free_slot), slot_size_ - sizeof(free_slot));
    free_ = ::new (slot) free_slot{free_};
  }

  template <class... Args>
  T* construct(void* slot, Args&&... args) {
    try {
      return ::new (slot) T(std::forward<Args>(args)...);
    } catch (...) {
      push(slot);
      throw;
    }
  }

  void forget() noexcept {
    free_ = nullptr;
    slots_ = 0;
  }

  arena_resource arena_;
  free_slot* free_ = nullptr;
  std::size_t slots_ = 0;
  std::size_t alignment_;
  std::size_t slot_size_;
  bool growable_ = true;
};

}  // namespace pmrheap

#endif  // PMRHEAP_MEMORY_POOL_HPP
