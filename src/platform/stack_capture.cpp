// SPDX-License-Identifier: MIT
// Stack capture: a frame-pointer walk, the unwind tables, libunwind, libgcc, in that order
// (stack_capture.hpp).
//
// Design notes:
// - Frame pointers: each frame record holds the caller's frame pointer and the return address
//   (x86: [fp] and [fp + word]; AArch64: the {x29, x30} pair x29 points at). Code built without
//   frame pointers leaves anything in that register, so every pointer is checked before it is
//   read: word-aligned, above the previous one, inside this thread's stack (asked of pthreads once
//   per thread). A walk that does not reach the frames asked for is incomplete and capture_stack
//   falls back to the next unwinder; a thread whose walks keep coming up short skips them for a
//   while (walk_state below). A function without a frame pointer that leaves the register
//   alone is passed over unseen (its caller's record is next in the chain): such traces can miss
//   frames of code built without frame pointers, never the caller's, whose return address sits in
//   the kit's own record.
// - libunwind is loaded with dlopen, not linked: libunwind.so also defines backtrace(),
//   _Unwind_Backtrace and _Unwind_RaiseException, and a link that puts it before libgcc_s moves the
//   whole process's C++ exception unwinding (and the libgcc path, measured 4x slower) onto it.
//   RTLD_LOCAL keeps its symbols out of the process's lookup scope.
// - Which frames to drop is found, not counted: each walker looks for a known return address (its
//   own into capture_stack, or capture_stack's own for the inlined libunwind walker) in what it
//   got, so inlining or an unwinder that reports its own frame cannot shift the trace by one.
#include "stack_capture.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "pmrheap/detail/sanitizer.hpp"
#include "unwind_tables.hpp"

// No libunwind under ThreadSanitizer: libunwind keeps a per-thread cache whose pthread key
// destructor locks a mutex at thread exit, after TSan has torn the thread's state down, and TSan's
// mutex interceptor then crashes (SIGSEGV in __tsan::MutexPreLock from __nptl_deallocate_tsd; seen
// in test_testing_stack_trace, the debug_resource tests and the threads test). The frame-pointer
// walk and libgcc are unaffected (docs/testing/debug_resource.md#stack-capture).

#if defined(__GNUC__) && __has_include(<unwind.h>)
#  include <unwind.h>
#  define PMRHEAP_HAVE_LIBGCC_UNWIND 1
#endif
#if defined(__linux__) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
#  include <pthread.h>
#  define PMRHEAP_HAVE_FRAME_WALK 1
#endif
#if defined(__linux__) && !PMRHEAP_HAS_TSAN
#  include <dlfcn.h>
#  define PMRHEAP_HAVE_DLOPEN 1
#endif

#if defined(__clang__) || defined(__GNUC__)
// The walk reads other functions' frame records, which AddressSanitizer does not expect.
#  define PMRHEAP_NO_ASAN __attribute__((no_sanitize_address))
#else
#  define PMRHEAP_NO_ASAN
#endif

namespace pmrheap::platform {
namespace {

constexpr std::size_t max_skip = 64;
constexpr std::size_t scratch_frames = stack_trace::max_frames + max_skip + 8;

// Where the caller's frames begin in buf: just past `own` (the known return address of the
// design notes above), or `fallback` when it is not among the first entries.
std::size_t first_frame(void* const* buf, std::size_t got, const void* own, std::size_t fallback) noexcept {
  for (std::size_t i = 0; i < got && i < 8; ++i)
    if (buf[i] == own) return i + 1;
  return fallback;
}

// Copies buf[first + skip ...] to out (first_frame above).
std::size_t take(void** out, std::size_t frames, std::size_t skip, void* const* buf, std::size_t got, const void* own,
                 std::size_t fallback) noexcept {
  std::size_t n = 0;
  for (std::size_t i = first_frame(buf, got, own, fallback) + skip; i < got && n < frames; ++i) out[n++] = buf[i];
  return n;
}

// Under valgrind only libgcc's unwinder is used. The frame-pointer walk reads frame records that
// code without frame pointers never wrote, which memcheck reports as uses of uninitialised values
// (harmless here: every pointer is bounds-checked before it is followed), and libunwind probes
// addresses by passing them to write(2), which memcheck reports as a syscall reading bad memory. A
// debug_resource in a program under valgrind must not add errors of its own to the user's report.
// detail::running_on_valgrind() tells, in any build.

// ---- frame pointers -----------------------------------------------------------------------------

#if defined(PMRHEAP_HAVE_FRAME_WALK)
// A thread's stack bounds, asked once, and whether its captures try the frame-pointer walk first.
// A program built without frame pointers (the default of g++ and clang at -O1 and above) makes
// every walk come up short, and each failed attempt costs about as much as the walk itself before
// libunwind redoes the capture. So after `misses_to_skip` incomplete walks in a row the next
// `captures_skipped` captures go straight to libunwind; then one walk is tried again, and a success
// starts the count over. Only the speed depends on this: a walk is used only when complete.
struct walk_state {
  std::uintptr_t low = 0;
  std::uintptr_t high = 0;  // 0: not asked yet; 1: unknown, no walk on this thread
  std::uint32_t misses = 0;
  std::uint32_t skipping = 0;
#  if defined(PMRHEAP_HAVE_UNWIND_TABLES)
  unwind_cache rules;  // 8 KiB of thread_local zeros (.tbss)
#  endif
};
constexpr std::uint32_t misses_to_skip = 8;
constexpr std::uint32_t captures_skipped = 256;

PMRHEAP_NOINLINE void ask_stack_bounds(walk_state& w) noexcept {
  w.low = 0;
  w.high = 1;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* base = nullptr;
  std::size_t size = 0;
  if (pthread_attr_getstack(&attr, &base, &size) == 0 && base != nullptr) {
    w.low = reinterpret_cast<std::uintptr_t>(base);
    w.high = w.low + size;
  }
  pthread_attr_destroy(&attr);
}

walk_state& this_thread_walk() noexcept {
  thread_local walk_state w;
  if (w.high == 0) [[unlikely]]
    ask_stack_bounds(w);
  return w;
}

// Returns the number written; `complete` when that is `frames`. A walk is cut short by a frame
// pointer that fails the checks, and also by a null one: code without frame pointers may leave the
// register null (a new thread starts with it so), so a null is no proof of the outermost frame.
PMRHEAP_NOINLINE PMRHEAP_NO_ASAN std::size_t walk_frame_pointers(const walk_state& stack, void** out,
                                                                 std::size_t frames, std::size_t skip,
                                                                 bool& complete) noexcept {
  complete = false;
  if (stack.high <= 1) return 0;  // bounds unknown: never read a frame record
  constexpr std::uintptr_t word = sizeof(void*);
  auto fp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  // This walker's frame record first: its return address leads into capture_stack, then the
  // record of capture_stack, whose return address is the first frame wanted.
  std::size_t to_skip = skip + 1;
  std::size_t n = 0;
  while (n < frames) {
    if (fp == 0 || fp % word != 0 || fp < stack.low || fp > stack.high - 2 * word) return n;
    const auto* record = reinterpret_cast<const std::uintptr_t*>(fp);
    const std::uintptr_t next = record[0];
    const std::uintptr_t ret = record[1];
    if (ret == 0) return n;
    if (to_skip > 0) {
      --to_skip;
    } else {
      out[n++] = reinterpret_cast<void*>(ret);
    }
    if (next <= fp && n < frames) return n;  // the stack grows down: callers' records lie above
    fp = next;
  }
  complete = true;
  return n;
}
#endif

// ---- unwind tables ------------------------------------------------------------------------------

#if defined(PMRHEAP_HAVE_UNWIND_TABLES)
// The frames of capture_stack and its caller are dropped with the walker's own (unwind_tables.hpp).
// Takes the walk_state its caller already has: one thread_local look-up per capture.
PMRHEAP_ALWAYS_INLINE std::size_t walk_tables(walk_state& w, void** out, std::size_t frames, std::size_t skip,
                                              bool& complete) noexcept {
  complete = false;
  if (w.high <= 1) return 0;
  return walk_unwind_tables(w.rules, w.low, w.high, out, frames, skip + 2, complete);
}
#endif

// ---- libunwind, loaded at run time --------------------------------------------------------------

using unw_backtrace_fn = int (*)(void**, int);

unw_backtrace_fn load_libunwind() noexcept {
#if defined(PMRHEAP_HAVE_DLOPEN)
  // Kept open for the life of the process: traces may be captured until exit.
  void* const lib = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_LOCAL);
  if (lib == nullptr) return nullptr;
  return reinterpret_cast<unw_backtrace_fn>(dlsym(lib, "unw_backtrace"));
#else
  return nullptr;
#endif
}

unw_backtrace_fn libunwind() noexcept {
  static const unw_backtrace_fn fn = load_libunwind();
  return fn;
}

// Inlined into its caller, capture_stack or capture_stack_with (`own` is that caller's return
// address): libunwind reports the caller's frame first, then `own`'s, and every frame it walks
// costs ~7 ns, so a frame of this walker's own would be paid on every capture. It asks for no more
// frames than needed too; a libunwind version that reported frames of its own before those would
// leave the trace short, so it is asked again, for more.
PMRHEAP_ALWAYS_INLINE std::size_t walk_libunwind(void** out, std::size_t frames, std::size_t skip,
                                                 const void* own) noexcept {
  const unw_backtrace_fn fn = libunwind();
  if (fn == nullptr) return 0;
  void* buf[scratch_frames];
  std::size_t want = 2 + skip + frames;
  for (;;) {
    const int got = fn(buf, static_cast<int>(want));
    const std::size_t n = got < 0 ? 0 : static_cast<std::size_t>(got);
    const std::size_t needed = first_frame(buf, n, own, 2) + skip + frames;
    if (n < want || needed <= want || needed > scratch_frames) return take(out, frames, skip, buf, n, own, 2);
    want = needed;
  }
}

// ---- libgcc -------------------------------------------------------------------------------------

#if defined(PMRHEAP_HAVE_LIBGCC_UNWIND)
struct unwind_walk {
  void** out;
  std::size_t count;
  std::size_t max;
};

_Unwind_Reason_Code collect_frame(_Unwind_Context* context, void* arg) {
  auto& walk = *static_cast<unwind_walk*>(arg);
  const auto ip = _Unwind_GetIP(context);
  if (ip == 0) return _URC_END_OF_STACK;
  walk.out[walk.count++] = reinterpret_cast<void*>(ip);
  return walk.count == walk.max ? _URC_END_OF_STACK : _URC_NO_REASON;
}
#endif

PMRHEAP_NOINLINE std::size_t walk_libgcc([[maybe_unused]] void** out, [[maybe_unused]] std::size_t frames,
                                         [[maybe_unused]] std::size_t skip) noexcept {
#if defined(PMRHEAP_HAVE_LIBGCC_UNWIND)
  void* buf[scratch_frames];
  unwind_walk walk{buf, 0, frames + skip + 4};
  _Unwind_Backtrace(collect_frame, &walk);
  return take(out, frames, skip, buf, walk.count, __builtin_return_address(0), 2);
#else
  return 0;
#endif
}

}  // namespace

bool unwinder_available(stack_unwinder how) noexcept {
  switch (how) {
    case stack_unwinder::frame_pointers:
#if defined(PMRHEAP_HAVE_FRAME_WALK)
      return !detail::running_on_valgrind() && this_thread_walk().high > 1;
#else
      return false;
#endif
    case stack_unwinder::unwind_tables:
#if defined(PMRHEAP_HAVE_UNWIND_TABLES)
      return !detail::running_on_valgrind() && eh_frame_linked() && this_thread_walk().high > 1;
#else
      return false;
#endif
    case stack_unwinder::libunwind:
      return !detail::running_on_valgrind() && libunwind() != nullptr;
    case stack_unwinder::libgcc:
#if defined(PMRHEAP_HAVE_LIBGCC_UNWIND)
      return true;
#else
      return false;
#endif
  }
  return false;
}

// Each walker but libunwind's is called, not tail-called (the empty asm after it), so its return
// address points into this function; libunwind's is inlined and given this function's return
// address. That is how the walkers find where the caller's frames begin.
PMRHEAP_NOINLINE std::size_t capture_stack_with(stack_unwinder how, void** out, std::size_t frames,
                                                std::size_t skip) noexcept {
  if (!unwinder_available(how)) return 0;  // as documented: empty, never a path that cannot run
  if (skip > max_skip) skip = max_skip;
  std::size_t n = 0;
  switch (how) {
    case stack_unwinder::frame_pointers:
#if defined(PMRHEAP_HAVE_FRAME_WALK)
    {
      bool complete = false;
      n = walk_frame_pointers(this_thread_walk(), out, frames, skip + 1,
                              complete);  // + capture_stack_with's caller's frame
    }
#endif
    break;
    case stack_unwinder::unwind_tables:
#if defined(PMRHEAP_HAVE_UNWIND_TABLES)
    {
      bool complete = false;
      n = walk_tables(this_thread_walk(), out, frames, skip, complete);
    }
#endif
    break;
    case stack_unwinder::libunwind:
      n = walk_libunwind(out, frames, skip, __builtin_return_address(0));
      break;
    case stack_unwinder::libgcc:
      n = walk_libgcc(out, frames, skip + 1);
      break;
  }
  asm volatile("" ::: "memory");
  return n;
}

PMRHEAP_NOINLINE std::size_t capture_stack(void** out, std::size_t frames, std::size_t skip) noexcept {
  if (skip > max_skip) skip = max_skip;
  std::size_t n = 0;
  if (!detail::running_on_valgrind()) {
#if defined(PMRHEAP_HAVE_FRAME_WALK)
    walk_state& w = this_thread_walk();
    if (w.skipping != 0) {
      --w.skipping;
    } else {
      bool complete = false;
      n = walk_frame_pointers(w, out, frames, skip + 1, complete);  // + the frame of capture_stack's caller
      asm volatile("" ::: "memory");
      if (complete) {
        w.misses = 0;
        return n;
      }
      if (++w.misses >= misses_to_skip) {
        w.misses = misses_to_skip;  // after the pause one more miss pauses again
        w.skipping = captures_skipped;
      }
    }
#  if defined(PMRHEAP_HAVE_UNWIND_TABLES)
    bool complete = false;
    n = walk_tables(w, out, frames, skip, complete);
    asm volatile("" ::: "memory");
    if (complete) return n;
#  endif
#endif
    n = walk_libunwind(out, frames, skip, __builtin_return_address(0));
    asm volatile("" ::: "memory");
    if (n != 0) return n;
  }
  n = walk_libgcc(out, frames, skip + 1);
  asm volatile("" ::: "memory");
  return n;
}

}  // namespace pmrheap::platform
