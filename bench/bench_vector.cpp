// SPDX-License-Identifier: MIT
// Workload 2: 2^20 push_back of int. Time per push_back, the number of buffers the vector moved
// through, and the bytes the upstream (or the OS) held at peak, as counters.
#include <boost/container/vector.hpp>

#include <vector>

#include "common.hpp"
#include "pmrheap/boost/resizable_allocator.hpp"
#include "pmrheap/pmrheap.hpp"

namespace {

constexpr std::size_t count = std::size_t{1} << 20;

void report(benchmark::State& state, std::size_t moves, std::size_t peak) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
  state.counters["buffers"] = static_cast<double>(moves);
  state.counters["peak_bytes"] = static_cast<double>(peak);
  state.counters["payload_bytes"] = static_cast<double>(count * sizeof(int));
}

// Pushes `count` ints; returns the buffers moved through. `peak` gets the most bytes two buffers
// held at once during a move (old and new), which is what a heap-backed vector needs at peak.
template <class Vector>
std::size_t fill(Vector& v, std::size_t* peak = nullptr) {
  std::size_t moves = 0;
  const int* data = nullptr;
  std::size_t most = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const bool full = v.size() == v.capacity();  // only then can the buffer change
    const std::size_t old_capacity = v.capacity();
    v.push_back(static_cast<int>(i));
    if (full && v.data() != data) {
      ++moves;
      data = v.data();
      const std::size_t both = (old_capacity + v.capacity()) * sizeof(int);
      if (both > most) most = both;
    }
  }
  if (peak != nullptr) *peak = most;
  return moves;
}

void vector_std(benchmark::State& state) {
  std::size_t moves = 0;
  std::size_t peak = 0;
  for (auto _ : state) {
    std::vector<int> v;
    moves = fill(v, &peak);
    benchmark::DoNotOptimize(v.data());
  }
  report(state, moves, peak);
}

// Boost's vector with its default allocator: separates the container's own push_back cost from
// what the allocator does.
void vector_boost_plain(benchmark::State& state) {
  std::size_t moves = 0;
  std::size_t peak = 0;
  for (auto _ : state) {
    boost::container::vector<int> v;
    moves = fill(v, &peak);
    benchmark::DoNotOptimize(v.data());
  }
  report(state, moves, peak);
}

void vector_pmr_monotonic(benchmark::State& state) {
  std::size_t moves = 0;
  std::size_t peak = 0;
  for (auto _ : state) {
    pmrheap::bench::counting_upstream upstream;
    std::pmr::monotonic_buffer_resource mono(&upstream);
    {
      std::pmr::vector<int> v(&mono);
      moves = fill(v);
      benchmark::DoNotOptimize(v.data());
    }
    peak = upstream.peak;
  }
  report(state, moves, peak);
}

// The arenas live across iterations and are reset with retain_capacity after each, as a
// per-request or per-frame arena is: after the first round they hold their memory, so these cases
// pay no page faults, as std::vector does not on glibc's warm heap. `buffers` is counted in the
// last round; peak is what the arena held from its upstream (or committed) at the end of it.
void vector_pmr_arena(benchmark::State& state) {
  pmrheap::bench::counting_upstream upstream;
  pmrheap::arena_resource arena(&upstream);
  std::size_t moves = 0;
  for (auto _ : state) {
    {
      std::pmr::vector<int> v(&arena);
      moves = fill(v);
      benchmark::DoNotOptimize(v.data());
    }
    arena.reset(pmrheap::reset_mode::retain_capacity);
  }
  report(state, moves, upstream.peak);
}

using boost_vector = boost::container::vector<int, pmrheap::resizable_allocator<int>>;

// The vector is the arena's newest block, so it grows in place for as long as its node has room;
// after the first round the retained node holds it whole.
void vector_boost_arena(benchmark::State& state) {
  pmrheap::bench::counting_upstream upstream;
  pmrheap::arena_resource arena(&upstream);
  std::size_t moves = 0;
  for (auto _ : state) {
    {
      boost_vector v{pmrheap::resizable_allocator<int>(&arena)};
      moves = fill(v);
      benchmark::DoNotOptimize(v.data());
    }
    arena.reset(pmrheap::reset_mode::retain_capacity);
  }
  report(state, moves, upstream.peak);
}

void vector_boost_virtual_arena(benchmark::State& state) {
  pmrheap::virtual_arena_resource arena(std::size_t{1} << 30);
  std::size_t moves = 0;
  std::size_t peak = 0;
  for (auto _ : state) {
    {
      boost_vector v{pmrheap::resizable_allocator<int>(&arena)};
      moves = fill(v);
      benchmark::DoNotOptimize(v.data());
    }
    peak = arena.committed();
    arena.reset(pmrheap::reset_mode::retain_capacity);
  }
  report(state, moves, peak);
}

}  // namespace

BENCHMARK(vector_pmr_arena)->Name("vector/pmr_vector_arena")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_boost_arena)->Name("vector/boost_arena")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_boost_virtual_arena)->Name("vector/boost_virtual_arena")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_boost_plain)->Name("vector/boost_vector_plain")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_std)->Name("vector/std_vector")->Unit(benchmark::kMillisecond);
BENCHMARK(vector_pmr_monotonic)->Name("vector/pmr_vector_monotonic")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
