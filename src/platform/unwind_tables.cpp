// SPDX-License-Identifier: MIT
// The unwind-table walk (unwind_tables.hpp).
//
// Design notes:
// - Why: code built without frame pointers (g++ and clang's default at -O1 and above) defeats the
//   frame-pointer walk, and libunwind's unw_backtrace, the next unwinder, costs 8-12 ns a frame
//   on our x86-64 machines (docs/testing/debug_resource.md). A frame is stepped here with one
//   look-up in a thread_local table of rules and two or three loads; the table is filled from the
//   .eh_frame data that x86-64 objects carry (the psABI asks for it, and gcc and clang emit
//   asynchronous tables by default there; eh_frame.cpp reads it).
// - What is followed: a CFA of rsp or rbp plus an offset, the return address at CFA - 8, rbp saved
//   at an offset from the CFA or left alone. That is every frame g++ and clang generate outside of
//   stack realignment (which describes its CFA by an expression), plus the "return address
//   undefined" that marks a thread's first frame. Anything else (PLT stubs and signal frames use
//   expressions; hand-written code may have no FDE) makes the rule unsupported and the walk
//   incomplete, so capture_stack asks libunwind, which interprets expressions.
// - A rule is cached by address for the life of the thread. Like libunwind's trace cache, it is
//   not told of dlclose: a library unloaded and another mapped at the same address could give
//   a wrong frame (never a read outside the stack: every step is bounds-checked).
#include "unwind_tables.hpp"

#if defined(PMRHEAP_HAVE_UNWIND_TABLES)

#  include "pmrheap/detail/config.hpp"

namespace pmrheap::platform {
namespace {

PMRHEAP_NOINLINE const unwind_rule& refill(unwind_cache& cache, std::size_t set, std::uintptr_t address) noexcept {
  std::uint8_t& victim = cache.next_victim[set];
  unwind_rule& slot = cache.sets_[set].rules[victim];
  victim = static_cast<std::uint8_t>((victim + 1) % unwind_cache::ways);
  slot = read_unwind_rule(address);
  return slot;
}

const unwind_rule& lookup(unwind_cache& cache, std::uintptr_t address) noexcept {
  // Fibonacci hashing: return addresses of one program differ in their low and middle bits.
  constexpr unsigned set_bits = 7;
  static_assert(unwind_cache::sets == std::size_t{1} << set_bits);
  const auto set = static_cast<std::size_t>((address * 0x9e3779b97f4a7c15u) >> (64 - set_bits));
  for (const unwind_rule& rule : cache.sets_[set].rules)
    if (rule.address == address) return rule;
  return refill(cache, set, address);
}

}  // namespace

// Reads the stack frames of its callers, which AddressSanitizer does not expect.
__attribute__((no_sanitize_address)) PMRHEAP_NOINLINE std::size_t walk_unwind_tables(
    unwind_cache& cache, std::uintptr_t low, std::uintptr_t high, void** out, std::size_t frames, std::size_t skip,
    bool& complete) noexcept {
  complete = false;
  std::uintptr_t ip = 0;
  std::uintptr_t sp = 0;
  std::uintptr_t bp = 0;
  // One point of this function with its registers: the tables' row for `ip` describes this sp/bp.
  asm volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
  // Only on the thread's own stack (not a signal stack, not a coroutine's): every address read
  // then lies between this sp and the stack's top, all of it mapped.
  if (sp < low || sp >= high) return 0;
  std::uintptr_t address = ip;  // the first is no return address: no - 1
  std::size_t n = 0;
  while (n < frames) {
    const unwind_rule& rule = lookup(cache, address);
    if (rule.kind != rule_step) {
      complete = rule.kind == rule_outermost;
      return n;
    }
    const std::uintptr_t cfa = (rule.cfa_from_rbp != 0 ? bp : sp) + static_cast<std::uintptr_t>(rule.cfa_offset);
    // The CFA is above this frame and inside the stack, so are the slots read below it.
    if (cfa < sp + 8 || cfa > high || cfa % 8 != 0) return n;
    const std::uintptr_t ret = *reinterpret_cast<const std::uintptr_t*>(cfa - 8);
    if (rule.rbp_offset != 0) {
      const std::uintptr_t at = cfa - static_cast<std::uintptr_t>(-static_cast<std::intptr_t>(rule.rbp_offset));
      // The saved rbp lies in the frame being stepped, between its sp and its CFA: never below
      // sp, where the main thread's stack may not be mapped yet.
      if (at < sp || at % 8 != 0) return n;
      bp = *reinterpret_cast<const std::uintptr_t*>(at);
    }
    if (ret == 0) {  // some thread starts end so instead of marking the return address undefined
      complete = true;
      return n;
    }
    if (skip > 0) {
      --skip;
    } else {
      out[n++] = reinterpret_cast<void*>(ret);
    }
    sp = cfa;
    address = ret - 1;
  }
  complete = true;
  return n;
}

}  // namespace pmrheap::platform

#endif  // PMRHEAP_HAVE_UNWIND_TABLES
