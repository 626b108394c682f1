// SPDX-License-Identifier: MIT
// How an arena gives memory back on reset (Zig's ArenaAllocator.ResetMode), shared by every arena
// and by memory_pool.
#ifndef PMRHEAP_RESET_MODE_HPP
#define PMRHEAP_RESET_MODE_HPP

#include <cstddef>

namespace pmrheap {

/// What reset() keeps: reset(mode) with one of these, or reset(pmrheap::retain_with_limit{bytes}).
enum class reset_mode {
  free_all,         ///< Return everything upstream; the arena starts over empty.
  retain_capacity,  ///< Keep as much capacity as the arena holds now, in one block.
};

/// reset(pmrheap::retain_with_limit{bytes}): keep at most `limit` bytes of capacity (0 frees
/// everything). A type of its own, not an enumerator, so that a limit cannot be left out.
struct retain_with_limit {
  /// Bytes of capacity to keep at most.
  std::size_t limit;
};

}  // namespace pmrheap

#endif  // PMRHEAP_RESET_MODE_HPP
