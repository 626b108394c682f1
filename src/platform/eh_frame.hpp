// SPDX-License-Identifier: MIT
// The unwind rule of a code address, read from the .eh_frame call-frame information every x86-64
// object carries: what the unwind-table walk (unwind_tables.hpp) needs to step out of a frame.
// Internal: not installed.
#ifndef PMRHEAP_SRC_PLATFORM_EH_FRAME_HPP
#define PMRHEAP_SRC_PLATFORM_EH_FRAME_HPP

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

/// The rule for `address` (a return address - 1, or an address inside a running function):
/// rule_unsupported where no FDE covers it or its row is one the walk does not follow.
/// **Cost**: an FDE look-up (dl_iterate_phdr and a binary search) and a parse: microseconds.
[[nodiscard]] unwind_rule read_unwind_rule(std::uintptr_t address) noexcept;

/// Whether the FDE look-up is linked in (libgcc's `_Unwind_Find_FDE`, a weak reference).
[[nodiscard]] bool eh_frame_linked() noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_SRC_PLATFORM_EH_FRAME_HPP
