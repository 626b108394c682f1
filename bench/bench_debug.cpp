// SPDX-License-Identifier: MIT
// Workload 7: allocate + deallocate pairs of 64 B through the debug and synchronized wrappers,
// against c_resource alone and std::pmr::synchronized_pool_resource, on 1 and 2 threads; and
// stack_trace::capture of 6 frames by each unwinder against a malloc + free pair. The targets
// (docs/testing/debug_resource.md): debug_resource with default options <= 25x c_resource, traces
// off <= 3x (thread-safe) and <= 2x (thread_safe off), a 6-frame capture <= 10x a malloc pair.
#include <cstdlib>

#include "common.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/synchronized_resource.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "pmrheap/testing/stack_trace.hpp"

namespace {

void pairs(benchmark::State& state, std::pmr::memory_resource* mr) {
  benchmark::DoNotOptimize(mr);
  for (auto _ : state) {
    void* p = mr->allocate(64, 16);
    benchmark::DoNotOptimize(p);
    mr->deallocate(p, 64, 16);
  }
}

pmrheap::debug_options with_frames(std::size_t frames) {
  pmrheap::debug_options options;
  options.stack_trace_frames = frames;
  return options;
}

void debug_c_resource(benchmark::State& state) { pairs(state, pmrheap::c_resource::instance()); }

void debug_notrace(benchmark::State& state) {
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), with_frames(0));
  pairs(state, &debug);
}

// The fewest checks: no traces, no quarantine, no fills; the table and the canary remain. Not the
// cheapest: without a quarantine there is no spare, so every pair calls the backing.
void debug_minimal(benchmark::State& state) {
  pmrheap::debug_options options = with_frames(0);
  options.quarantine_blocks = 0;
  options.fill = false;
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  pairs(state, &debug);
}

// Traces off and no lock (debug_options::thread_safe): one thread's checking at its cheapest
// with the quarantine and fills still on.
void debug_single_thread(benchmark::State& state) {
  pmrheap::debug_options options = with_frames(0);
  options.thread_safe = false;
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  pairs(state, &debug);
}

void debug_6frames(benchmark::State& state) {
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), with_frames(6));
  pairs(state, &debug);
}

// The default constructor: default options over the default backing.
void debug_defaults(benchmark::State& state) {
  pmrheap::debug_resource debug;
  pairs(state, &debug);
}

// The other candidate for the default backing.
void debug_page_backing(benchmark::State& state) {
  pmrheap::debug_resource debug(pmrheap::page_resource::instance());
  pairs(state, &debug);
}
void debug_page_backing_notrace(benchmark::State& state) {
  pmrheap::debug_resource debug(pmrheap::page_resource::instance(), with_frames(0));
  pairs(state, &debug);
}

void malloc_pair(benchmark::State& state) {
  for (auto _ : state) {
    void* p = std::malloc(64);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

void capture_6(benchmark::State& state) {
  for (auto _ : state) {
    pmrheap::stack_trace t = pmrheap::stack_trace::capture(6);
    benchmark::DoNotOptimize(t);
  }
}

void capture_with(benchmark::State& state, pmrheap::stack_unwinder how) {
  if (!pmrheap::stack_trace::available(how)) {
    state.SkipWithError("not available here");
    return;
  }
  for (auto _ : state) {
    pmrheap::stack_trace t = pmrheap::stack_trace::capture_with(how, 6);
    benchmark::DoNotOptimize(t);
  }
}
void capture_fp(benchmark::State& state) { capture_with(state, pmrheap::stack_unwinder::frame_pointers); }
void capture_tables(benchmark::State& state) { capture_with(state, pmrheap::stack_unwinder::unwind_tables); }
void capture_libunwind(benchmark::State& state) { capture_with(state, pmrheap::stack_unwinder::libunwind); }
void capture_libgcc(benchmark::State& state) { capture_with(state, pmrheap::stack_unwinder::libgcc); }

// Shared by the threads of a multi-threaded run, so they contend as users' threads would.
pmrheap::synchronized_resource<> synchronized(pmrheap::c_resource::instance());
std::pmr::synchronized_pool_resource std_pool;

void debug_synchronized(benchmark::State& state) { pairs(state, &synchronized); }
void debug_std_synchronized_pool(benchmark::State& state) { pairs(state, &std_pool); }
void debug_c_threads(benchmark::State& state) { pairs(state, pmrheap::c_resource::instance()); }

}  // namespace

BENCHMARK(debug_c_resource)->Name("debug/c_resource");
BENCHMARK(debug_notrace)->Name("debug/debug_resource_notrace");
BENCHMARK(debug_minimal)->Name("debug/debug_resource_minimal");
BENCHMARK(debug_single_thread)->Name("debug/debug_resource_single_thread");
BENCHMARK(debug_6frames)->Name("debug/debug_resource_6frames");
BENCHMARK(debug_defaults)->Name("debug/debug_resource_defaults");
BENCHMARK(debug_page_backing)->Name("debug/debug_resource_page_backing");
BENCHMARK(debug_page_backing_notrace)->Name("debug/debug_resource_page_backing_notrace");
BENCHMARK(malloc_pair)->Name("capture/malloc_free");
BENCHMARK(capture_6)->Name("capture/stack_trace_capture_6");
BENCHMARK(capture_fp)->Name("capture/frame_pointers_6");
BENCHMARK(capture_tables)->Name("capture/unwind_tables_6");
BENCHMARK(capture_libunwind)->Name("capture/libunwind_6");
BENCHMARK(capture_libgcc)->Name("capture/libgcc_6");
BENCHMARK(debug_synchronized)->Name("debug/synchronized_resource")->Threads(1)->Threads(2);
BENCHMARK(debug_std_synchronized_pool)->Name("debug/std_synchronized_pool")->Threads(1)->Threads(2);
BENCHMARK(debug_c_threads)->Name("debug/c_resource_mt")->Threads(1)->Threads(2);
BENCHMARK_MAIN();
