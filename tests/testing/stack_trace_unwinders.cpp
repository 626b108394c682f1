// SPDX-License-Identifier: MIT
// Tests each of stack_trace's capture paths (stack_unwinder): the frame-pointer walk, libunwind and
// libgcc each find the caller's function (and its file:line where the build has libbacktrace),
// where the path exists on this target; a path that does not exist here is skipped with the
// reason. The frame-pointer walk also stops cleanly on a thread whose frames it cannot follow.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/testing/stack_trace.hpp"

#if defined(__linux__)
#  include <signal.h>
#endif

using pmrheap::stack_trace;
using pmrheap::stack_unwinder;

namespace {

const char* name_of(stack_unwinder how) {
  switch (how) {
    case stack_unwinder::frame_pointers:
      return "frame_pointers";
    case stack_unwinder::unwind_tables:
      return "unwind_tables";
    case stack_unwinder::libunwind:
      return "libunwind";
    case stack_unwinder::libgcc:
      return "libgcc";
  }
  return "?";
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

// The first frame, the caller of capture_with, needs no frame pointer of its own: the return
// address into it sits in the kit's frame record, and the kit is built with frame pointers.
constexpr int capture_line = __LINE__ + 2;
PMRHEAP_NOINLINE stack_trace pmrheap_unwinder_caller(stack_unwinder how) {
  stack_trace t = stack_trace::capture_with(how, 4, 0);
  asm volatile("");  // not a tail call: this function stays a frame
  return t;
}

TEST_CASE("stack_trace: each capture path finds the caller's function") {
  for (const stack_unwinder how : {stack_unwinder::frame_pointers, stack_unwinder::unwind_tables,
                                   stack_unwinder::libunwind, stack_unwinder::libgcc}) {
    const std::string path = name_of(how);
    CAPTURE(path);
    if (!stack_trace::available(how)) {
      // frame_pointers: Linux on x86, x86-64 and AArch64 only; unwind_tables: x86-64 Linux; libunwind: only where the
      // process can load libunwind.so.8 (Debian's libunwind8; absent in the cross sysroots); libgcc: gcc/clang.
      MESSAGE(std::string(name_of(how)) << " is not available on this target: skipped");
      CHECK(pmrheap_unwinder_caller(how).empty());  // never a path that cannot run here
      continue;
    }
    const stack_trace t = pmrheap_unwinder_caller(how);
    REQUIRE(t.size() >= 1);
    const std::string text = t.to_string();
    MESSAGE(std::string(name_of(how)) << ":\n" << text);
    const std::string first = text.substr(0, text.find('\n'));
    if (std::string(stack_trace::symbolizer()) == "libbacktrace") {
      CHECK(contains(first, "pmrheap_unwinder_caller"));
      CHECK(contains(first, "stack_trace_unwinders.cpp:" + std::to_string(capture_line)));
    } else if (std::string(stack_trace::symbolizer()) == "execinfo") {
      CHECK(t[0] != nullptr);  // names of non-exported functions are not known to execinfo
    }
  }
}

// Under valgrind the frame walk and libunwind would add memcheck errors of their own to the
// user's report (docs/testing/debug_resource.md#stack-capture): only libgcc is used there.
TEST_CASE("stack_trace: under valgrind only libgcc's unwinder is used") {
  if (!pmrheap::detail::running_on_valgrind()) {
    MESSAGE("not under valgrind (a PMRHEAP_USE_VALGRIND build run by ./scripts/test --valgrind): nothing to check");
    return;
  }
  CHECK_FALSE(stack_trace::available(stack_unwinder::frame_pointers));
  CHECK_FALSE(stack_trace::available(stack_unwinder::unwind_tables));
  CHECK_FALSE(stack_trace::available(stack_unwinder::libunwind));
  CHECK(stack_trace::capture(2, 0).size() == 2);
}

TEST_CASE("stack_trace: the default capture and the explicit paths agree on the caller") {
  const stack_trace automatic = stack_trace::capture(1, 0);
  REQUIRE(automatic.size() == 1);
  for (const stack_unwinder how : {stack_unwinder::frame_pointers, stack_unwinder::unwind_tables,
                                   stack_unwinder::libunwind, stack_unwinder::libgcc}) {
    if (!stack_trace::available(how)) continue;
    const std::string path = name_of(how);
    CAPTURE(path);
    const stack_trace t = stack_trace::capture_with(how, 1, 0);
    if (t.empty()) continue;  // frame pointers: cut short by a frame without one
    // Both return into this test function (two different call sites), a few hundred bytes apart.
    const auto a = reinterpret_cast<std::uintptr_t>(automatic[0]);
    const auto b = reinterpret_cast<std::uintptr_t>(t[0]);
    CHECK((a > b ? a - b : b - a) < 4096);
  }
}

TEST_CASE("stack_trace: capture works on a new thread, whose stack bounds are its own") {
  stack_trace t;
  std::thread([&t] { t = pmrheap_unwinder_caller(stack_unwinder::frame_pointers); }).join();
  if (!stack_trace::available(stack_unwinder::frame_pointers)) {
    MESSAGE("frame pointers not available on this target: skipped");
    return;
  }
  // On a thread the walk reaches the thread's start function, whose frame pointer is null or
  // outside the chain: either way it ends without a crash, with the caller first.
  if (!t.empty() && std::string(stack_trace::symbolizer()) == "libbacktrace")
    CHECK(contains(t.to_string(), "pmrheap_unwinder_caller"));
}

namespace {
// A chain of `depth` frames under the capture, each its own call (not inlined, not a tail call).
PMRHEAP_NOINLINE stack_trace pmrheap_deep_capture(stack_unwinder how, int depth, std::size_t frames) {
  if (depth == 0) return stack_trace::capture_with(how, frames, 0);
  stack_trace t = pmrheap_deep_capture(how, depth - 1, frames);
  asm volatile("" ::: "memory");
  return t;
}
}  // namespace

// The unwinders are asked for no more frames than a trace needs (each costs time): a trace must
// still hold every frame asked for, the same ones whichever unwinder found them.
TEST_CASE("stack_trace: the unwind tables, libunwind and libgcc give every frame asked for, the same frames") {
  constexpr std::size_t frames = 8;
  std::vector<stack_trace> traces;
  for (const stack_unwinder how : {stack_unwinder::libgcc, stack_unwinder::unwind_tables, stack_unwinder::libunwind}) {
    if (!stack_trace::available(how)) continue;
    const std::string path = name_of(how);
    CAPTURE(path);
    for (const std::size_t asked : {std::size_t{1}, std::size_t{3}, frames}) {
      CAPTURE(asked);
      const stack_trace t = pmrheap_deep_capture(how, 12, asked);
      REQUIRE(t.size() == asked);
    }
    traces.push_back(pmrheap_deep_capture(how, 12, frames));
  }
  if (traces.size() < 2) {
    MESSAGE("only one of these unwinders is available on this target: the comparison is skipped");
    return;
  }
  // The deepest frames are the same call sites in the recursion; only the outermost (the call from
  // this test case) differs between the captures.
  for (std::size_t k = 1; k < traces.size(); ++k)
    for (std::size_t i = 0; i + 1 < frames; ++i) CHECK(traces[0][i] == traces[k][i]);
}

namespace {
// Frames without frame pointers, whose CFA is rsp plus an offset that changes inside the function:
// the frame-pointer walk passes over them, the unwind tables must step through each. (clang has
// no per-function switch; there these frames keep their frame pointers.)
#if defined(__GNUC__) && !defined(__clang__)
#  define PMRHEAP_TEST_NO_FRAME_POINTER __attribute__((optimize("omit-frame-pointer")))
#else
#  define PMRHEAP_TEST_NO_FRAME_POINTER
#endif
// Eight arguments, two of them on the stack: the caller pushes them, so the CFA of a caller without
// a frame pointer is at a different offset from rsp at this call than in the rest of its body.
PMRHEAP_NOINLINE PMRHEAP_TEST_NO_FRAME_POINTER stack_trace pmrheap_capture_8_args(stack_unwinder how,
                                                                                  std::size_t frames, long a, long b,
                                                                                  long c, long d, long e, long f) {
  stack_trace t = stack_trace::capture_with(how, frames, 0);
  asm volatile("" ::"r"(a + b + c + d + e + f) : "memory");
  return t;
}

PMRHEAP_NOINLINE PMRHEAP_TEST_NO_FRAME_POINTER stack_trace pmrheap_capture_without_fp(stack_unwinder how, int depth,
                                                                                      std::size_t frames) {
  volatile char pad[40] = {};  // a frame of some size, so the CFA offset is not the default
  if (depth == 0) return pmrheap_capture_8_args(how, frames, pad[0], pad[1], pad[2], pad[3], pad[4], pad[5]);
  stack_trace t = pmrheap_capture_without_fp(how, depth - 1, frames);
  pad[depth % 40] = 1;
  static_cast<void>(pad[0]);  // a read: the array is used
  asm volatile("" ::: "memory");
  return t;
}
}  // namespace

TEST_CASE("stack_trace: the unwind tables step through frames without frame pointers, as libgcc does") {
  if (!stack_trace::available(stack_unwinder::unwind_tables)) {
    MESSAGE("the unwind-table walk is x86-64 Linux only (and not under valgrind): skipped");
    CHECK(stack_trace::capture_with(stack_unwinder::unwind_tables, 4, 0).empty());
    return;
  }
  constexpr std::size_t frames = 12;
  const stack_trace reference = pmrheap_capture_without_fp(stack_unwinder::libgcc, 9, frames);
  REQUIRE(reference.size() == frames);
  // Twice: the second walk takes every rule from the thread's cache.
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    const stack_trace t = pmrheap_capture_without_fp(stack_unwinder::unwind_tables, 9, frames);
    REQUIRE(t.size() == frames);
    // Frames 0-10 are the same return addresses (the call of capture_with, the call with eight
    // arguments, nine returns in the recursion); frame 11 is this test's own call, a different call
    // site.
    for (std::size_t i = 0; i < 11; ++i) CHECK(t[i] == reference[i]);
    CHECK(t[11] != reference[11]);
  }
}

// On a new thread the walk reaches the thread's first frame (its return address undefined in the
// tables): every frame up to there, the same as libgcc's, and a trace shorter than asked.
TEST_CASE("stack_trace: the unwind tables walk a thread's stack to its first frame") {
  if (!stack_trace::available(stack_unwinder::unwind_tables)) {
    MESSAGE("the unwind-table walk is x86-64 Linux only (and not under valgrind): skipped");
    return;
  }
  stack_trace tables;
  stack_trace libgcc;
  std::thread([&] {
    tables = pmrheap_deep_capture(stack_unwinder::unwind_tables, 2, stack_trace::max_frames);
    libgcc = pmrheap_deep_capture(stack_unwinder::libgcc, 2, stack_trace::max_frames);
  }).join();
  MESSAGE("unwind tables:\n" << tables.to_string() << "libgcc:\n" << libgcc.to_string());
  REQUIRE(libgcc.size() < stack_trace::max_frames);  // the thread is shallower than a full trace
  REQUIRE(tables.size() == libgcc.size());
  // Frames 0-2 are the recursion, frame 3 the lambda's two different calls, then the thread's
  // start: all the same but frame 3.
  for (std::size_t i = 0; i < tables.size(); ++i)
    if (i != 3) CHECK(tables[i] == libgcc[i]);
}

#if defined(__linux__)
namespace {
stack_trace on_signal_stack_tables;
stack_trace on_signal_stack_any;
extern "C" void pmrheap_capture_on_signal(int) {
  on_signal_stack_tables = stack_trace::capture_with(stack_unwinder::unwind_tables, 4, 0);
  on_signal_stack_any = stack_trace::capture(4, 0);
}
}  // namespace
#endif

// A handler on a sigaltstack runs outside the thread's stack bounds: the unwind-table walk does
// not start there (it would read the alternate stack, then whatever its rules pointed at), and the
// capture still finds frames through the next unwinder.
TEST_CASE("stack_trace: the unwind tables stay off a signal's alternate stack") {
#if !defined(__linux__) || PMRHEAP_HAS_TSAN
  MESSAGE("Linux only, and not under TSan (it defers signals into its own frames): skipped");
#else
  constexpr std::size_t alt_size = 64 * 1024;
  const auto alt = std::make_unique<unsigned char[]>(alt_size);
  stack_t stack{};
  stack.ss_sp = alt.get();
  stack.ss_size = alt_size;
  stack_t old_stack{};
  REQUIRE(sigaltstack(&stack, &old_stack) == 0);
  struct sigaction action {};
  action.sa_handler = pmrheap_capture_on_signal;
  action.sa_flags = SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  struct sigaction old_action {};
  REQUIRE(sigaction(SIGUSR1, &action, &old_action) == 0);
  REQUIRE(std::raise(SIGUSR1) == 0);
  sigaction(SIGUSR1, &old_action, nullptr);
  sigaltstack(&old_stack, nullptr);
  CHECK(on_signal_stack_tables.empty());
  CHECK_FALSE(on_signal_stack_any.empty());
#endif
}
