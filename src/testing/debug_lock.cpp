// SPDX-License-Identifier: MIT
// debug_resource's lock, the parts out of line (debug_lock.hpp): a contended lock's spin and
// sleep, the wake, revoking the bias, and the report of a call from inside a call.
#include "debug_lock.hpp"

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "../platform/process_barrier.hpp"

namespace pmrheap::detail::debug {

namespace {
// A spinning thread's pause: yields the core's pipeline to its sibling hyperthread.
inline void cpu_relax() noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __builtin_ia32_pause();
#elif defined(__GNUC__) && defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}
}  // namespace

void state_lock::lock_contended() noexcept {
  for (int spin = 0; spin < 100; ++spin) {
    cpu_relax();
    int expected = free;
    if (word_.load(std::memory_order_relaxed) == free &&
        word_.compare_exchange_weak(expected, held, std::memory_order_acquire, std::memory_order_relaxed))
      return;
  }
  // Marked contended from here on, so the holder's unlock wakes a sleeper; a thread that takes the
  // lock this way leaves it marked, which costs at most one needless wake.
  while (word_.exchange(contended, std::memory_order_acquire) != free) {
#if defined(__linux__)
    word_.wait(contended, std::memory_order_relaxed);
#else
    std::this_thread::yield();
#endif
  }
}

void state_lock::wake_one() noexcept {
#if defined(__linux__)
  word_.notify_one();
#endif
}

biased_lock::biased_lock() noexcept : owner_(platform::process_barrier_available() ? nullptr : revoked()) {}

bool biased_lock::enter_slow(const void* me) noexcept {
  const void* owner = owner_.load(std::memory_order_relaxed);
  if (owner == nullptr && owner_.compare_exchange_strong(owner, me, std::memory_order_relaxed))
    return enter();  // the first call: the bias is this thread's
  lock_locked(me);
  if (owner_.load(std::memory_order_relaxed) != revoked()) {
    owner_.store(revoked(), std::memory_order_relaxed);
    platform::process_barrier();
    while (inside_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  return false;
}

void biased_lock::reentered() noexcept {
  std::fputs(
      "pmrheap::debug_resource: called again from inside one of its own calls (its backing or "
      "upstream called back into it) with thread_safe on; set debug_options::thread_safe = false "
      "to allow that\n",
      stderr);
  std::abort();
}

}  // namespace pmrheap::detail::debug
