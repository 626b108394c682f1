// SPDX-License-Identifier: MIT
// resizable_allocator: a Boost.Container "version 2" allocator over any std::pmr::memory_resource,
// so boost::container::vector (and string) grow in place wherever the resource can. Needs Boost
// (1.74 or newer) headers; nothing else in pmrheap does.
//
// Design notes. Boost's protocol (allocation_command) names a block by its address only; the
// expansion commands do not say how large the block is now, and pmrheap::resize needs that. So the
// allocator remembers the one block it last handed out or resized, as Boost's vector and string
// hold one buffer per allocator. A block it does not remember (a copy of the allocator, a buffer
// stolen by an allocator-extended move) is never expanded, only replaced: slower, never wrong. To
// keep the memory and the allocator that remembers it together, it propagates on move assignment
// and swap (std::pmr::polymorphic_allocator does not). In-place growth asks for the smallest
// honest size, the requested minimum rounded up to the end of its page (never past what the
// container prefers): a growth that copies nothing does not need the container's geometric
// headroom, and asking for the rest of a page costs nothing on page-granular resources.
#ifndef PMRHEAP_BOOST_RESIZABLE_ALLOCATOR_HPP
#define PMRHEAP_BOOST_RESIZABLE_ALLOCATOR_HPP

#include <boost/container/detail/allocation_type.hpp>
#include <boost/container/detail/multiallocation_chain.hpp>
#include <boost/container/detail/version_type.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <type_traits>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// A polymorphic allocator over any std::pmr::memory_resource that speaks Boost.Container's
/// version-2 protocol, implemented with pmrheap::resize, so that
/// `boost::container::vector<T, pmrheap::resizable_allocator<T>>` grows without moving wherever
/// the resource can grow a block in place: the last block of an arena or fixed buffer, a page
/// block within its pages, a c_resource block within malloc's usable size, and anything on a
/// virtual_arena_resource (docs/growth.md). Any other resource works too; it just never expands.
///
/// allocation_command(command, limit, preferred_in_received_out, reuse), sizes in elements:
/// - expand_fwd: grows `reuse` in place to at least `limit`, asking first for `limit` rounded up to
///   the end of its page (capped at `preferred`), then exactly `limit`. Reports the size it got.
///   Only the block this allocator last handed out or resized can be expanded.
/// - allocate_new: a new block of `preferred` elements, else of `limit` but, when it replaces the
///   remembered block, of at least 1.25x that block's size (at most `preferred`): growth near
///   exhaustion stays geometric, or fails, and never copies the buffer for a few elements more.
///   `reuse` is set to null. Tried after expand_fwd when both are given.
/// - shrink_in_place: shrinks `reuse` (of `limit` elements, or the size remembered) to `preferred`
///   in place; nothing else is tried.
/// - nothrow_allocation: failure returns nullptr instead of throwing.
/// - zero_memory: new or expanded memory is zeroed.
/// - expand_bwd and try_shrink_in_place are not supported: pmrheap resources cannot grow a block
///   backwards or report a shrink without doing it. Combined with other commands they are
///   ignored; alone, the command fails.
/// The received size is always exactly what the resource now holds for the block: the allocator
/// never reports room it has not resized the block to.
///
/// **Fails**: allocate and allocation_command (without nothrow_allocation) throw what the resource
/// throws, or pmrheap::out_of_memory when a size exceeds max_size() or no command could be done.
/// Note that vector::stable_reserve and stable_emplace_back therefore throw when the buffer cannot
/// grow in place, as with Boost's own version-2 allocator.
/// **Thread safety**: as any allocator: one container, one thread at a time.
/// Equality: two allocators are equal when their resources are (memory_resource::is_equal).
template <class T>
class resizable_allocator {
 public:
  /// The element type.
  using value_type = T;
  /// Plain pointers: blocks come from a std::pmr resource.
  using pointer = T*;
  /// Pointer to a const element.
  using const_pointer = const T*;
  // References to void do not exist; resizable_allocator<void> (as std::allocator<void>) is still
  // an allocator that rebinds and converts, its member functions are just never called.
  /// Reference to an element (none for void).
  using reference = std::add_lvalue_reference_t<T>;
  /// Reference to a const element.
  using const_reference = std::add_lvalue_reference_t<const T>;
  /// Sizes, in elements.
  using size_type = std::size_t;
  /// Pointer differences, in elements.
  using difference_type = std::ptrdiff_t;
  /// Boost.Container's marker for the version-2 protocol (allocation_command, node interface).
  using version = boost::container::version_2;
  /// Needed by Boost's version-2 traits (basic_string, node containers).
  using multiallocation_chain =
      boost::container::dtl::transform_multiallocation_chain<boost::container::dtl::basic_multiallocation_chain<void*>,
                                                             T>;
  /// Not copied with the container, as std::pmr::polymorphic_allocator.
  using propagate_on_container_copy_assignment = std::false_type;
  /// Moved with the container: the remembered block belongs to it.
  using propagate_on_container_move_assignment = std::true_type;
  /// Swapped with the container, for the same reason.
  using propagate_on_container_swap = std::true_type;
  /// Two allocators are equal only when their resources are.
  using is_always_equal = std::false_type;

  /// The same allocator for another element type `U`.
  template <class U>
  struct rebind {
    /// `resizable_allocator<U>`.
    using other = resizable_allocator<U>;
  };

  /// Over std::pmr::get_default_resource().
  resizable_allocator() noexcept : resource_(std::pmr::get_default_resource()) {}
  /// Over `r`; a null `r` means std::pmr::null_memory_resource(), as for every pmrheap resource
  /// that takes an upstream (pmrheap::forwarding_resource): every allocation then fails.
  resizable_allocator(std::pmr::memory_resource* r) noexcept  // NOLINT: implicit, as polymorphic_allocator
      : resource_(r != nullptr ? r : std::pmr::null_memory_resource()) {}
  /// Same resource; remembers no block (only the allocator that handed a block out expands it).
  resizable_allocator(const resizable_allocator& other) noexcept : resource_(other.resource_) {}
  /// Same resource, another element type; remembers no block.
  template <class U>
  resizable_allocator(const resizable_allocator<U>& other) noexcept : resource_(other.resource()) {}
  /// Takes over the remembered block with the resource.
  resizable_allocator(resizable_allocator&& other) noexcept
      : resource_(other.resource_), block_(other.block_), block_size_(other.block_size_) {
    other.forget();
  }
  /// Takes the resource; forgets its remembered block.
  resizable_allocator& operator=(const resizable_allocator& other) noexcept {
    resource_ = other.resource_;
    forget();
    return *this;
  }
  /// Takes the resource and the remembered block.
  resizable_allocator& operator=(resizable_allocator&& other) noexcept {
    resource_ = other.resource_;
    block_ = other.block_;
    block_size_ = other.block_size_;
    if (&other != this) other.forget();
    return *this;
  }
  ~resizable_allocator() = default;

  /// The resource blocks come from.
  [[nodiscard]] std::pmr::memory_resource* resource() const noexcept { return resource_; }
  /// The most elements one block can hold.
  [[nodiscard]] size_type max_size() const noexcept { return PTRDIFF_MAX / sizeof(T); }

  /// A block for `n` elements. **Fails**: throws what the resource throws, or
  /// pmrheap::out_of_memory when `n` exceeds max_size().
  [[nodiscard]] T* allocate(size_type n) {
    T* const p = raw_allocate(n);
    remember(p, n);
    return p;
  }
  /// Frees a block of `n` elements from an equal allocator.
  void deallocate(T* p, size_type n) noexcept {
    if (p == block_) forget();
    resource_->deallocate(p, n * sizeof(T), alignof(T));
  }

  /// Boost.Container's version-2 entry point (see the class comment). `limit_size` is the least
  /// acceptable number of elements, `prefer_in_recvd_out_size` the preferred number on entry and
  /// the number received on success; `reuse` names the block to expand or shrink, and is left as
  /// is when that block was expanded or shrunk, set to null when a new block was allocated.
  /// **Returns**: the block, or nullptr on failure with nothrow_allocation (then `reuse` is null).
  /// **Fails**: without nothrow_allocation, throws what the resource throws or
  /// pmrheap::out_of_memory.
  T* allocation_command(boost::container::allocation_type command, size_type limit_size,
                        size_type& prefer_in_recvd_out_size, T*& reuse) {
    namespace bc = boost::container;
    const bool nothrow = (command & bc::nothrow_allocation) != 0;
    size_type preferred = prefer_in_recvd_out_size < max_size() ? prefer_in_recvd_out_size : max_size();
    size_type received = 0;
    T* result = nullptr;
    if (limit_size <= max_size()) {
      if ((command & bc::shrink_in_place) != 0) {
        result = shrink(reuse, limit_size, preferred, received);
      } else {
        if (preferred < limit_size) preferred = limit_size;
        const size_type before = reuse != nullptr && reuse == block_ ? block_size_ : 0;
        if ((command & bc::expand_fwd) != 0 && expand(reuse, limit_size, preferred, received)) {
          if ((command & bc::zero_memory) != 0) zero(reuse, before, received);
          result = reuse;
        } else if ((command & bc::allocate_new) != 0) {
          result = allocate_new(limit_size, preferred, before, nothrow, received);
          if (result != nullptr) {
            reuse = nullptr;
            if ((command & bc::zero_memory) != 0) zero(result, 0, received);
          }
        }
      }
    }
    if (result == nullptr) {
      reuse = nullptr;
      if (!nothrow)
        throw out_of_memory(limit_size <= max_size() ? limit_size * sizeof(T) : detail::size_max, alignof(T));
      return nullptr;
    }
    prefer_in_recvd_out_size = received;
    return result;
  }

  // Boost's version-2 node interface (list, map, ...): one element per block, never expanded.
  /// One element. **Fails**: throws what the resource throws.
  [[nodiscard]] T* allocate_one() { return raw_allocate(1); }
  /// Frees an element from allocate_one.
  void deallocate_one(T* p) noexcept { resource_->deallocate(p, sizeof(T), alignof(T)); }
  /// `n` elements pushed onto `chain`. **Fails**: frees those made, then rethrows.
  void allocate_individual(std::size_t n, multiallocation_chain& chain) {
    std::size_t made = 0;
    try {
      for (; made < n; ++made) chain.push_front(allocate_one());
    } catch (...) {
      while (made-- > 0) deallocate_one(chain.pop_front());
      throw;
    }
  }
  /// Frees every element of `chain`.
  void deallocate_individual(multiallocation_chain& chain) noexcept {
    while (!chain.empty()) deallocate_one(chain.pop_front());
  }

  template <class U>
  friend bool operator==(const resizable_allocator& a, const resizable_allocator<U>& b) noexcept {
    return a.resource() == b.resource() || a.resource()->is_equal(*b.resource());
  }

 private:
  T* raw_allocate(size_type n) {
    if (n > max_size()) throw out_of_memory(detail::size_max, alignof(T));
    return static_cast<T*>(resource_->allocate(n * sizeof(T), alignof(T)));
  }

  void remember(T* p, size_type n) noexcept {
    block_ = p;
    block_size_ = n;
  }
  void forget() noexcept { remember(nullptr, 0); }

  // Grows the remembered block `p` to at least `limit` elements, `received` set to the new size.
  bool expand(T* p, size_type limit, size_type preferred, size_type& received) noexcept {
    if (p == nullptr || p != block_) return false;
    if (limit <= block_size_) {
      received = block_size_;
      return true;
    }
    const size_type target = page_end(p, limit, preferred);
    if (grow(p, target) || (target > limit && grow(p, limit))) {
      received = block_size_;
      return true;
    }
    return false;
  }

  // `limit` rounded up so that the block ends at the end of a page, but no more than `preferred`.
  static size_type page_end(const T* p, size_type limit, size_type preferred) noexcept {
    const std::size_t page = platform::page_size();
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t end = start + limit * sizeof(T);
    if (end < start || end > UINTPTR_MAX - page) return limit;
    const size_type fits = static_cast<size_type>(detail::align_up(end, page) - start) / sizeof(T);
    return fits < preferred ? fits : preferred;
  }

  bool grow(T* p, size_type n) noexcept {
    if (!pmrheap::resize(*resource_, p, block_size_ * sizeof(T), n * sizeof(T), alignof(T))) return false;
    block_size_ = n;
    return true;
  }

  T* shrink(T* p, size_type limit, size_type preferred, size_type& received) noexcept {
    if (p == nullptr || preferred == 0) return nullptr;
    // Boost's vector and string pass their capacity as the limit of a shrink.
    const size_type current = p == block_ ? block_size_ : limit;
    if (preferred > current) return nullptr;
    if (preferred < current && !pmrheap::resize(*resource_, p, current * sizeof(T), preferred * sizeof(T), alignof(T)))
      return nullptr;
    remember(p, preferred);
    received = preferred;
    return p;
  }

  // A new block of `preferred` elements, else of the fallback; `current` is the size of the block
  // it replaces (0 for none). Near exhaustion the preferred size fails where a smaller one fits.
  // Falling back to `limit` there (Boost's vector asks for one element more than it holds) would
  // make every later growth copy the whole buffer for a few elements more: quadratic, and with
  // in-place growth to the end of a page in between, a copy about every page of elements. So the
  // fallback never goes below 1.25x the block it replaces (nor above `preferred`): each copy still
  // buys a quarter of what it copies, at most 5 element copies per element pushed, and when even
  // that does not fit the growth fails.
  T* allocate_new(size_type limit, size_type preferred, size_type current, bool nothrow, size_type& received) {
    const size_type quarter = current / 4;
    size_type fallback = current < max_size() - quarter ? current + quarter : max_size();
    if (fallback > preferred) fallback = preferred;
    if (fallback < limit) fallback = limit;
    void* p = nullptr;
    size_type n = preferred;
    if (preferred > fallback) p = pmrheap::try_allocate(*resource_, preferred * sizeof(T), alignof(T));
    if (p == nullptr) {
      n = fallback;
      // Without nothrow the resource's own exception is the most precise failure report.
      p = nothrow ? pmrheap::try_allocate(*resource_, n * sizeof(T), alignof(T))
                  : resource_->allocate(n * sizeof(T), alignof(T));
      if (p == nullptr) return nullptr;
    }
    remember(static_cast<T*>(p), n);
    received = n;
    return static_cast<T*>(p);
  }

  static void zero(T* p, size_type from, size_type to) noexcept {
    std::memset(static_cast<void*>(p + from), 0, (to - from) * sizeof(T));
  }

  std::pmr::memory_resource* resource_;
  T* block_ = nullptr;        // the block this allocator last handed out or resized
  size_type block_size_ = 0;  // its size in elements, as the resource holds it
};

}  // namespace pmrheap

#endif  // PMRHEAP_BOOST_RESIZABLE_ALLOCATOR_HPP
