// SPDX-License-Identifier: MIT
// How an arena gives memory back on reset (Zig's ArenaAllocator.ResetMode), shared by every arena.
#ifndef PMRHEAP_RESET_MODE_HPP
#define PMRHEAP_RESET_MODE_HPP

namespace pmrheap {

/// What reset() keeps.
enum class reset_mode {
  free_all,           ///< Return everything upstream; the arena starts over empty.
  retain_capacity,    ///< Keep as much capacity as the arena holds now, in one block.
  retain_with_limit,  ///< Keep at most `limit` bytes of capacity; a limit of 0 is free_all.
};

}  // namespace pmrheap

#endif  // PMRHEAP_RESET_MODE_HPP
