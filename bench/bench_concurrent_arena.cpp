// SPDX-License-Identifier: MIT
// concurrent_arena_resource against arena_resource (one thread) and against
// synchronized_resource over arena_resource (two threads sharing one arena). Workload: 2^20 small
// allocations (8..128 B, alignment 8) through std::pmr::memory_resource* per thread and iteration.
// - fresh: a new arena per iteration over the default resource (construction and release
//   included, as bench_small.cpp);
// - retained: one arena, reset(retain_capacity) per iteration, so its node is warm and no upstream
//   call or page fault is timed.
// Items are the allocations of ONE thread, so with two threads the reported time per item is the
// time each thread spends per allocation (wall time / 2^20): equal to the one-thread figure when the
// threads do not slow each other down at all. Counter cpu_ns_per_alloc is the process CPU time
// (std::clock: every thread) per allocation of all threads, which a loaded machine distorts far
// less than wall time; a lock's waiting shows in wall time only.
#include <barrier>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

namespace {

constexpr std::size_t count = std::size_t{1} << 20;
const std::vector<std::uint32_t> sizes = pmrheap::bench::small_sizes(count);

void run_pmr(std::pmr::memory_resource* mr) {
  benchmark::DoNotOptimize(mr);
  for (std::uint32_t s : sizes) benchmark::DoNotOptimize(mr->allocate(s, 8));
}

// Process CPU time since `start`, per allocation of `threads` threads, as a counter.
void finish(benchmark::State& state, std::clock_t start, int threads = 1) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  const double cpu_ns = static_cast<double>(std::clock() - start) * 1e9 / CLOCKS_PER_SEC;
  state.counters["cpu_ns_per_alloc"] = cpu_ns / (static_cast<double>(state.iterations()) * threads * count);
}

// A second thread kept alive across iterations (a thread start would be timed otherwise): each
// iteration both threads run the workload on `mr`, starting together.
class partner {
 public:
  partner()
      : thread_([this] {
          for (;;) {
            start_.arrive_and_wait();
            if (stop_) return;
            run_pmr(mr_);
            done_.arrive_and_wait();
          }
        }) {}
  ~partner() {
    stop_ = true;
    start_.arrive_and_wait();
    thread_.join();
  }
  void run_both(std::pmr::memory_resource* mr) {
    mr_ = mr;
    start_.arrive_and_wait();
    run_pmr(mr);
    done_.arrive_and_wait();
  }

 private:
  std::barrier<> start_{2};
  std::barrier<> done_{2};
  std::pmr::memory_resource* mr_ = nullptr;
  bool stop_ = false;
  std::thread thread_;
};

template <class Arena>
void one_thread_fresh(benchmark::State& state) {
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    Arena r;
    run_pmr(&r);
  }
  finish(state, start);
}

template <class Arena>
void one_thread_retained(benchmark::State& state) {
  Arena r;
  run_pmr(&r);
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    r.reset(pmrheap::reset_mode::retain_capacity);
    run_pmr(&r);
  }
  finish(state, start);
}

void two_threads_fresh(benchmark::State& state) {
  partner other;
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    pmrheap::concurrent_arena_resource r;
    other.run_both(&r);
  }
  finish(state, start, 2);
}

void two_threads_retained(benchmark::State& state) {
  partner other;
  pmrheap::concurrent_arena_resource r;
  other.run_both(&r);
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    r.reset(pmrheap::reset_mode::retain_capacity);
    other.run_both(&r);
  }
  finish(state, start, 2);
}

void two_threads_synchronized_fresh(benchmark::State& state) {
  partner other;
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    pmrheap::arena_resource arena;
    pmrheap::synchronized_resource<> r(&arena);
    other.run_both(&r);
  }
  finish(state, start, 2);
}

void two_threads_synchronized_retained(benchmark::State& state) {
  partner other;
  pmrheap::arena_resource arena;
  pmrheap::synchronized_resource<> r(&arena);
  other.run_both(&r);
  const std::clock_t start = std::clock();
  for (auto _ : state) {
    arena.reset(pmrheap::reset_mode::retain_capacity);
    other.run_both(&r);
  }
  finish(state, start, 2);
}

}  // namespace

#define PMRHEAP_CARENA(fn, name) \
  BENCHMARK(fn)->Name("concurrent_arena/" name)->Unit(benchmark::kMillisecond)->UseRealTime()
PMRHEAP_CARENA(one_thread_fresh<pmrheap::arena_resource>, "1_thread/arena_resource/fresh");
PMRHEAP_CARENA(one_thread_fresh<pmrheap::concurrent_arena_resource>, "1_thread/concurrent_arena/fresh");
PMRHEAP_CARENA(one_thread_retained<pmrheap::arena_resource>, "1_thread/arena_resource/retained");
PMRHEAP_CARENA(one_thread_retained<pmrheap::concurrent_arena_resource>, "1_thread/concurrent_arena/retained");
PMRHEAP_CARENA(two_threads_fresh, "2_threads/concurrent_arena/fresh");
PMRHEAP_CARENA(two_threads_retained, "2_threads/concurrent_arena/retained");
PMRHEAP_CARENA(two_threads_synchronized_fresh, "2_threads/synchronized_arena/fresh");
PMRHEAP_CARENA(two_threads_synchronized_retained, "2_threads/synchronized_arena/retained");
BENCHMARK_MAIN();
