// SPDX-License-Identifier: MIT
// debug_resource's lock (private to pmrheap_testing): state_lock, a lock of one word, and
// biased_lock, which lets the first thread that calls in enter and leave without it. The fast
// paths are inline here; waiting, waking, revoking the bias and the re-entry report are in
// debug_lock.cpp. docs/testing/debug_resource.md ("The lock") describes the protocol.
#ifndef PMRHEAP_SRC_TESTING_DEBUG_LOCK_HPP
#define PMRHEAP_SRC_TESTING_DEBUG_LOCK_HPP

#include <atomic>

#include "pmrheap/detail/config.hpp"

namespace pmrheap::detail::debug {

// The state's lock: a compare-and-swap to take it and an exchange to give it back when no other
// thread wants it, both inline. std::mutex goes through two calls into pthread for each, which
// measured 120 of a 710-instruction pair (callgrind). A thread that finds it held spins briefly
// (the holder's work is a few hundred instructions), then sleeps on the word: a futex through
// C++20's atomic wait on Linux, sched_yield elsewhere (libstdc++'s fallback for atomic wait on
// other platforms goes through a shared table of condition variables, a cost we do not need).
class state_lock {
 public:
  void lock() noexcept {
    int expected = free;
    if (!word_.compare_exchange_strong(expected, held, std::memory_order_acquire, std::memory_order_relaxed))
        [[unlikely]]
      lock_contended();
  }
  void unlock() noexcept {
    if (word_.exchange(free, std::memory_order_release) == contended) [[unlikely]]
      wake_one();
  }

 private:
  static constexpr int free = 0;
  static constexpr int held = 1;
  static constexpr int contended = 2;  // held, and a thread may be asleep on the word
  PMRHEAP_NOINLINE void lock_contended() noexcept;
  PMRHEAP_NOINLINE void wake_one() noexcept;
  std::atomic<int> word_{free};
};

// The tag of the calling thread: the address of a thread_local, distinct among running threads.
// Inline, with the variable constinit, so a call is one thread-pointer-relative address and no
// call or TLS wrapper: every entry takes it.
inline constinit thread_local char thread_tag = 0;
[[nodiscard]] inline const void* this_thread_tag() noexcept { return &thread_tag; }

// The lock as debug_state takes it: biased to the first thread that uses the resource. That thread
// enters and leaves with plain stores, no atomic read-modify-write, as long as it is the only
// one: a test or a program that uses a thread-safe resource from one thread pays about what
// thread_safe = false pays (the lock's two read-modify-writes a call were 20-25 ns of a 60 ns
// pair). The first call from any other thread revokes the bias for good: under state_lock it
// marks the resource revoked, has every running thread execute a memory barrier
// (platform::process_barrier, one system call), then waits until the owner is out; from then on
// every thread takes state_lock. The owner's store of `inside_` and its second look at `owner_`
// are ordered by that barrier, the revoker's store and its look at `inside_` by the system call
// itself: one of the two sees the other (Dekker's exclusion with one side's fence made remote).
// Where the barrier is not available the bias is revoked from the start.
class biased_lock {
 public:
  biased_lock() noexcept;
  // True: entered without state_lock; leave(true) must follow.
  [[nodiscard]] bool enter() noexcept {
    const void* const me = this_thread_tag();
    const void* const owner = owner_.load(std::memory_order_relaxed);
    if (owner == me) [[likely]] {
      if (inside_.load(std::memory_order_relaxed)) [[unlikely]]
        reentered();
      inside_.store(true, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);  // the compiler's part; the CPU's is remote
      if (owner_.load(std::memory_order_relaxed) == me) [[likely]]
        return true;
      inside_.store(false, std::memory_order_release);  // revoked meanwhile: the revoker waits for this
    } else if (owner == revoked()) {
      lock_locked(me);
      return false;
    }
    return enter_slow(me);
  }
  void leave(bool fast) noexcept {
    if (fast) {
      inside_.store(false, std::memory_order_release);
    } else {
      holder_.store(nullptr, std::memory_order_relaxed);
      lock_.unlock();
    }
  }

 private:
  static constexpr char revoked_tag = 0;
  [[nodiscard]] static const void* revoked() noexcept { return &revoked_tag; }
  // state_lock, taken by `me`; a thread that already holds it has called back into the resource.
  void lock_locked(const void* me) noexcept {
    if (holder_.load(std::memory_order_relaxed) == me) [[unlikely]]
      reentered();
    lock_.lock();
    holder_.store(me, std::memory_order_relaxed);
  }
  PMRHEAP_NOINLINE bool enter_slow(const void* me) noexcept;
  [[noreturn]] PMRHEAP_NOINLINE static void reentered() noexcept;
  std::atomic<const void*> owner_;   // a thread's tag, nullptr before the first call, or revoked()
  std::atomic<bool> inside_{false};  // the owner is between enter() and leave(true)
  // The tag of the thread holding lock_, or nullptr: only that thread writes its own tag here, so
  // finding it there means a call from inside a call (which would otherwise deadlock).
  std::atomic<const void*> holder_{nullptr};
  state_lock lock_;
};

}  // namespace pmrheap::detail::debug

#endif  // PMRHEAP_SRC_TESTING_DEBUG_LOCK_HPP
