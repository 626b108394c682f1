// SPDX-License-Identifier: MIT
// process_barrier.hpp on Linux (membarrier) and Windows (FlushProcessWriteBuffers).
#include "process_barrier.hpp"

#include <cstdio>
#include <cstdlib>

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  ifndef NOMINMAX
#    define NOMINMAX
#  endif
#  include <windows.h>
#elif defined(__linux__) && __has_include(<linux/membarrier.h>)
#  include <linux/membarrier.h>
#  include <unistd.h>
#  if __has_include(<asm/unistd.h>)
#    include <sys/syscall.h>
#  endif
// g++'s 32-bit multilib on a 64-bit Debian has no <asm/unistd.h>; the numbers are the kernel's ABI.
#  if defined(__NR_membarrier)
#    define PMRHEAP_NR_MEMBARRIER __NR_membarrier
#  elif defined(__i386__)
#    define PMRHEAP_NR_MEMBARRIER 375
#  elif defined(__x86_64__)
#    define PMRHEAP_NR_MEMBARRIER 324
#  elif defined(__aarch64__)
#    define PMRHEAP_NR_MEMBARRIER 283
#  endif
#  if defined(PMRHEAP_NR_MEMBARRIER)
#    define PMRHEAP_HAVE_MEMBARRIER 1
#  endif
#endif

namespace pmrheap::platform {

#if defined(_WIN32)

bool process_barrier_available() noexcept { return true; }

void process_barrier() noexcept { FlushProcessWriteBuffers(); }

#elif defined(PMRHEAP_HAVE_MEMBARRIER)

namespace {
long membarrier(int command) noexcept { return syscall(PMRHEAP_NR_MEMBARRIER, command, 0U, 0); }
}  // namespace

bool process_barrier_available() noexcept {
  // The private expedited command needs the process registered first; the query says whether the
  // kernel has it (4.14) and allows it (some seccomp filters do not).
  static const bool available = [] {
    const long commands = membarrier(MEMBARRIER_CMD_QUERY);
    return commands > 0 && (commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
           membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
  }();
  return available;
}

void process_barrier() noexcept {
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
    // Mutual exclusion depends on it: continuing could let two threads into one resource's state.
    std::fputs("pmrheap: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after it was registered\n", stderr);
    std::abort();
  }
}

#else

bool process_barrier_available() noexcept { return false; }

void process_barrier() noexcept {
  std::fputs("pmrheap: process_barrier() is not available on this platform\n", stderr);
  std::abort();
}

#endif

}  // namespace pmrheap::platform
