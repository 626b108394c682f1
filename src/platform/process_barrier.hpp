// SPDX-License-Identifier: MIT
// A memory barrier in every running thread of the process, issued by one of them (compiled into
// pmrheap_testing; internal: not installed). It lets a lock be taken by one thread without an
// atomic read-modify-write: that thread orders its own flag and check with a compiler barrier
// only, and the rare other thread that must exclude it pays a system call instead
// (debug_state.hpp's biased_lock). Linux: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), 4.14 and
// later; Windows: FlushProcessWriteBuffers. Elsewhere not available.
#ifndef PMRHEAP_SRC_PLATFORM_PROCESS_BARRIER_HPP
#define PMRHEAP_SRC_PLATFORM_PROCESS_BARRIER_HPP

namespace pmrheap::platform {

/// Whether process_barrier() works in this process (on Linux, registers the process with the
/// kernel the first time; asked once, then remembered).
[[nodiscard]] bool process_barrier_available() noexcept;

/// Returns after every other thread of the process that was running has executed a full memory
/// barrier, and this one too: a store made before the call by this thread is seen by any load
/// another thread makes after its barrier, and a store another thread made before its barrier is
/// seen by this thread's loads after the call. Only where process_barrier_available(); aborts with
/// a message if the system refuses it after agreeing to it.
void process_barrier() noexcept;

}  // namespace pmrheap::platform

#endif  // PMRHEAP_SRC_PLATFORM_PROCESS_BARRIER_HPP
