// SPDX-License-Identifier: MIT
// concurrent_arena_resource internals shared by its two sources: the node header and the
// arithmetic on it, and granule-wise poisoning. Not installed.
#ifndef PMRHEAP_SRC_CONCURRENT_ARENA_NODE_HPP
#define PMRHEAP_SRC_CONCURRENT_ARENA_NODE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "pmrheap/concurrent_arena_resource.hpp"
#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap {

struct concurrent_arena_resource::node {
  std::atomic<std::size_t> size;  ///< Bytes obtained from upstream, header included.
  std::atomic<std::size_t> end;   ///< Payload offset of the first free byte; may pass the payload.
  node* next;                     ///< Written only before the node is published.
  std::atomic<bool> resizing;     ///< Held by the one thread growing the node upstream.
};

namespace carena {

using node = concurrent_arena_resource::node;
inline constexpr std::size_t node_alignment = concurrent_arena_resource::node_overhead;
static_assert(sizeof(node) <= concurrent_arena_resource::node_overhead);
// Offsets within a node are subtracted as pointers, so no node may be larger than PTRDIFF_MAX.
inline constexpr auto max_node_size = static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max());
inline constexpr std::uintptr_t granule = 8;

/// A generation no arena has had yet (never 0).
std::uint64_t new_generation() noexcept;

inline std::byte* payload(node* n) noexcept { return reinterpret_cast<std::byte*>(n) + node_alignment; }
inline std::size_t room(const node* n, std::memory_order order) noexcept {
  return n->size.load(order) - node_alignment;
}
/// Payload offset of `p` in `n`: huge (wrapped) for addresses below the payload.
inline std::size_t offset_in(node* n, const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(payload(n));
}
/// Padding that aligns payload offset `at` of `n` (any offset, even past the payload).
inline std::size_t padding(node* n, std::size_t at, std::size_t alignment) noexcept {
  const std::uintptr_t addr = reinterpret_cast<std::uintptr_t>(payload(n)) + at;
  return static_cast<std::size_t>((alignment - (addr & (alignment - 1))) & (alignment - 1));
}
/// 1.5 times `size`; `size` itself past the largest node size.
inline std::size_t grown(std::size_t size) noexcept {
  std::size_t next = 0;
  return detail::checked_add(size, size / 2, next) && next <= max_node_size ? next : size;
}

/// Poisons the whole granules inside [p, p + bytes), which the caller owns.
inline void poison_inside(const void* p, std::size_t bytes) noexcept {
  const std::uintptr_t low = (reinterpret_cast<std::uintptr_t>(p) + granule - 1) & ~(granule - 1);
  const std::uintptr_t high = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(granule - 1);
  if (low < high) detail::poison(reinterpret_cast<void*>(low), static_cast<std::size_t>(high - low));
}
/// Unpoisons every granule touching [p, p + bytes).
inline void unpoison_touching(const void* p, std::size_t bytes) noexcept {
  const std::uintptr_t low = reinterpret_cast<std::uintptr_t>(p) & ~(granule - 1);
  const std::uintptr_t high = (reinterpret_cast<std::uintptr_t>(p) + bytes + granule - 1) & ~(granule - 1);
  detail::unpoison(reinterpret_cast<void*>(low), static_cast<std::size_t>(high - low));
}

}  // namespace carena
}  // namespace pmrheap

#endif  // PMRHEAP_SRC_CONCURRENT_ARENA_NODE_HPP
