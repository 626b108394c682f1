// SPDX-License-Identifier: MIT
// The unwind-table walk of stack capture (stack_capture.cpp): x86-64 Linux, reading the .eh_frame
// call-frame information every object file carries, with a per-thread cache of the rules found.
// Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_UNWIND_TABLES_HPP
#define PMRHEAP_SRC_PLATFORM_UNWIND_TABLES_HPP

#include <cstddef>
#include <cstdint>

#if defined(__linux__) && defined(__GNUC__) && defined(__x86_64__)
#  define PMRHEAP_HAVE_UNWIND_TABLES 1
#endif

namespace pmrheap::platform {

/// How to step out of the frame that holds one code address: CFA (the caller's stack pointer) =
/// rsp or rbp + cfa_offset; the return address at CFA - 8; the caller's rbp at CFA + rbp_offset, or
/// unchanged. Found once per address by reading its FDE, then kept in a thread's unwind_cache.
struct unwind_rule {
  std::uintptr_t address = 0;  // the code address (return address - 1) this rule is for; 0: empty
  std::int32_t cfa_offset = 0;
  std::int16_t rbp_offset = 0;  // 0: rbp unchanged (a register is never saved at the CFA itself)
  std::uint8_t cfa_from_rbp = 0;
  std::uint8_t kind = 0;  // unwind_rule_kind
};

enum unwind_rule_kind : std::uint8_t {
  rule_step = 1,         // an ordinary frame: step out as above
  rule_outermost = 2,    // the return address is undefined: the first frame of the thread
  rule_unsupported = 3,  // no FDE, or one this walk does not follow (signal frames, expressions)
};

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

/// Whether the FDE look-up is linked in (libgcc's `_Unwind_Find_FDE`, a weak reference).
[[nodiscard]] bool unwind_tables_linked() noexcept;

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
