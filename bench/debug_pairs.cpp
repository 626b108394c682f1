// SPDX-License-Identifier: MIT
// debug_resource's pair cost outside Google Benchmark, for the side-by-side with Zig's debug
// allocator (scripts/bench-zig, bench/zig/debug_pairs.zig): the same loop, the same depth, the same
// command line, so the two programs are measured alike (wall time and callgrind's difference of two
// run lengths). Not run by CI or ./scripts/bench.
//   debug_pairs <config> <pairs> [mixed]   prints the ns per allocate(64, 16) + deallocate pair
// With `mixed` the sizes are 48, 64 and 80 bytes in turn: the block leaving debug_resource's
// quarantine (1024 blocks, not a multiple of 3) then never has the size of the next allocation,
// so the spare never serves it (docs/testing/debug_resource.md, "Costs").
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

bool mixed = false;

// Not inlined: the resource is unknown here and every call is virtual.
[[gnu::noinline]] double time_pairs(std::pmr::memory_resource* mr, long n) {
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    const std::size_t bytes = mixed ? 48 + 16 * static_cast<std::size_t>(i % 3) : 64;
    void* p = mr->allocate(bytes, 16);
    asm volatile("" : : "r"(p) : "memory");
    mr->deallocate(p, bytes, 16);
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
  if (argc != 3 && !(argc == 4 && std::string_view(argv[3]) == "mixed")) {
    std::fprintf(stderr, "usage: debug_pairs c|debug6|debug0|debug6_unsafe|debug0_unsafe PAIRS [mixed]\n");
    return 2;
  }
  mixed = argc == 4;
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
