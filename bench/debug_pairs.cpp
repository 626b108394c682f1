// SPDX-License-Identifier: MIT
// debug_resource's pair cost outside Google Benchmark, for the side-by-side with Zig's debug
// allocator (scripts/bench-zig, bench/zig/debug_pairs.zig): the same loop, the same depth, the same
// command line, so the two programs are measured alike (wall time and callgrind's difference of two
// run lengths). Not run by CI or ./scripts/bench.
//   debug_pairs <config> <pairs>   prints the ns per allocate(64, 16) + deallocate pair
// Built with frame pointers, like the Zig program: the 6-frame traces are then found by the
// frame-pointer walk, as they are in a user's test built with -fno-omit-frame-pointer.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory_resource>
#include <string_view>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing/debug_resource.hpp"

namespace {

// Not inlined: the resource is unknown here and every call is virtual.
[[gnu::noinline]] double time_pairs(std::pmr::memory_resource* mr, long n) {
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    void* p = mr->allocate(64, 16);
    asm volatile("" : : "r"(p) : "memory");
    mr->deallocate(p, 64, 16);
  }
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  return took.count() / static_cast<double>(n);
}

void run(std::pmr::memory_resource* mr, long n) {
  time_pairs(mr, 1000);  // warm-up: the table, the quarantine's ring, the malloc arena
  std::printf("%.2f\n", time_pairs(mr, n));
}

// As deep as the Zig program runs its pairs, so a 6-frame trace has 6 frames of this program.
[[gnu::noinline]] void at_depth(int depth, std::pmr::memory_resource* mr, long n) {
  if (depth == 0) return run(mr, n);
  at_depth(depth - 1, mr, n);
  asm volatile("" ::: "memory");  // not a tail call: each level keeps its frame
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: debug_pairs c|debug6|debug0|debug6_unsafe|debug0_unsafe PAIRS\n");
    return 2;
  }
  const std::string_view config = argv[1];
  const long pairs = std::atol(argv[2]);
  constexpr int depth = 8;
  if (config == "c") {
    at_depth(depth, pmrheap::c_resource::instance(), pairs);
    return 0;
  }
  pmrheap::debug_options options;  // the defaults: 6 frames, thread-safe, quarantine and fills on
  if (config == "debug0" || config == "debug0_unsafe") options.stack_trace_frames = 0;
  if (config == "debug6_unsafe" || config == "debug0_unsafe") options.thread_safe = false;
  if (config != "debug6" && config != "debug0" && config != "debug6_unsafe" && config != "debug0_unsafe") {
    std::fprintf(stderr, "unknown config %s\n", argv[1]);
    return 2;
  }
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  at_depth(depth, &debug, pairs);
}
