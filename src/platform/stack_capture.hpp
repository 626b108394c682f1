// SPDX-License-Identifier: MIT
// Stack capture, the OS- and unwinder-specific half of stack_trace (compiled into pmrheap_testing;
// internal: not installed). Return addresses only: symbolisation stays in src/testing/stack_trace.cpp.
#ifndef PMRHEAP_SRC_PLATFORM_STACK_CAPTURE_HPP
#define PMRHEAP_SRC_PLATFORM_STACK_CAPTURE_HPP

#include <cstddef>

#include "pmrheap/testing/stack_trace.hpp"

namespace pmrheap::platform {

/// Writes up to `frames` return addresses to `out`, innermost first, starting with the caller of
/// the function that calls capture_stack, after skipping `skip` more frames. Tries the unwinders
/// cheapest first: a frame-pointer walk when it reaches `frames` frames with every frame pointer
/// inside the thread's stack (after eight walks in a row on this thread came up short, the next 256
/// captures skip it); else a walk of the unwind tables when it reaches `frames` frames or the
/// thread's first (x86-64 Linux, unwind_tables.hpp); else libunwind's unw_backtrace when the
/// process can load it; else libgcc's _Unwind_Backtrace.
/// **Returns**: the number written; 0 where nothing can unwind.
std::size_t capture_stack(void** out, std::size_t frames, std::size_t skip) noexcept;

/// The same with one unwinder only; 0 when it is not available here. A frame-pointer walk gives
/// the frames it could follow, possibly fewer than `frames`.
std::size_t capture_stack_with(stack_unwinder how, void** out, std::size_t frames, std::size_t skip) noexcept;

/// Whether `how` can run in this build and process.
[[nodiscard]] bool unwinder_available(stack_unwinder how) noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_SRC_PLATFORM_STACK_CAPTURE_HPP
