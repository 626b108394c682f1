// SPDX-License-Identifier: MIT
// The unwind-table walk of stack capture (stack_capture.cpp): x86-64 Linux, stepping frames by the
// rules read from .eh_frame (eh_frame.hpp), with a per-thread cache of them.
// Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_UNWIND_TABLES_HPP
#define PMRHEAP_SRC_PLATFORM_UNWIND_TABLES_HPP

#include <cstddef>
#include <cstdint>

#include "eh_frame.hpp"

namespace pmrheap::platform {

/// A thread's rules: 128 sets of 4, each set one cache line. Four ways, not one: with one, two of
/// the dozen addresses a program captures from over and over share a slot in about one run in
/// twelve (addresses move with ASLR), and each capture then reads the tables again (~0.4 us).
struct unwind_cache {
  static constexpr std::size_t ways = 4;
  static constexpr std::size_t sets = 128;
  struct alignas(64) set {
    unwind_rule rules[ways];
  };
  set sets_[sets];
  std::uint8_t next_victim[sets];  // round robin: the way a miss in the set replaces
};

/// Walks the calling thread's stack, [low, high), by the unwind tables, writing up to `frames`
/// return addresses to `out` after dropping the first `skip` (the first is the return address into
/// the walk's caller). `complete` when `frames` were written or the outermost frame was reached; a
/// frame the tables cannot step out of, or a step leaving the stack bounds, ends the walk
/// incomplete. Reads the stack only between its own stack pointer and `high`, and not at all when
/// that stack pointer is outside [low, high) (a signal stack, a coroutine's).
std::size_t walk_unwind_tables(unwind_cache& cache, std::uintptr_t low, std::uintptr_t high, void** out,
                               std::size_t frames, std::size_t skip, bool& complete) noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_SRC_PLATFORM_UNWIND_TABLES_HPP
