// SPDX-License-Identifier: MIT
// smp_resource against the C heap and the thread-safe peers. Workload "mt": per thread, random
// allocate/deallocate of 16..512 B over ~1,000 live blocks, an eighth of the frees handed to the
// other thread through a queue (on 1 thread, to its own queue, so the work is the same), run on 1
// and 2 worker threads started per iteration. The time is the workers' CPU time (their mean), not
// wall time: the machine is shared, and wall time would count the waits for a core. Beside it the p1 workload
// (2^20 small allocations, then their frees) and the per-request map (10,000
// std::pmr::unordered_map<pmr::string, pmr::vector<int>> entries built, looked up, destroyed).
// Built twice: bench_smp with jemalloc (mallocx/sdallocx) when found, and bench_smp_mimalloc,
// linked with Debian's mimalloc, which replaces malloc in that whole process.
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory_resource>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "pmrheap/pmrheap.hpp"

#if defined(PMRHEAP_BENCH_JEMALLOC)
#  include <jemalloc/jemalloc.h>
#endif
#if defined(PMRHEAP_BENCH_MIMALLOC)
#  include <mimalloc.h>
#endif

namespace {

#if defined(PMRHEAP_BENCH_JEMALLOC)
// jemalloc through the pmr interface: sized free, alignment only when above the default.
class jemalloc_resource final : public std::pmr::memory_resource {
  static int flags(std::size_t alignment) noexcept {
    return alignment <= alignof(std::max_align_t) ? 0 : MALLOCX_ALIGN(alignment);
  }
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = mallocx(bytes == 0 ? 1 : bytes, flags(alignment));
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    sdallocx(p, bytes == 0 ? 1 : bytes, flags(alignment));
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};
#endif

#if defined(PMRHEAP_BENCH_MIMALLOC)
class mimalloc_resource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* p = mi_malloc_aligned(bytes, alignment);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    mi_free_size_aligned(p, bytes, alignment);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};
#endif

#if !defined(PMRHEAP_BENCH_MIMALLOC)
// malloc/free called directly: the reference of the targets.
struct direct {
  static void* allocate(std::size_t bytes) noexcept { return std::malloc(bytes); }
  static void deallocate(void* p, std::size_t) noexcept { std::free(p); }
};

#endif

struct through_pmr {
  std::pmr::memory_resource* mr;
  void* allocate(std::size_t bytes) const { return mr->allocate(bytes, 8); }
  void deallocate(void* p, std::size_t bytes) const { mr->deallocate(p, bytes, 8); }
};

// The floor of the workload at the pmr interface: a virtual call that hands every caller the same
// per-thread buffer and a free that does nothing; what remains is the workload's own cost.
class floor_resource final : public std::pmr::memory_resource {
  void* do_allocate(std::size_t, std::size_t) override {
    alignas(64) static thread_local std::byte buffer[512];
    return buffer;
  }
  void do_deallocate(void*, std::size_t, std::size_t) override {}
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};
floor_resource floor_mr;

struct item {
  void* p;
  std::size_t bytes;
};

// A single-producer single-consumer ring: the queue the cross-thread frees travel through. Each
// side keeps its own copy of the other side's index and reads the shared one only when its copy
// says full (producer) or empty (consumer), and the consumer publishes its index once per drain:
// the shared lines move between cores about once a drain, so the floor stays the workload's own
// cost and not the queue's (a ring that read the other index on every call made the two-thread
// floor 3-5x the one-thread floor on some machines, hiding the allocators' differences).
class ring {
 public:
  bool push(item x) noexcept {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_seen_ == capacity) {
      head_seen_ = head_.load(std::memory_order_acquire);
      if (t - head_seen_ == capacity) return false;
    }
    slots_[t % capacity] = x;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  // Hands every queued item to `f`.
  template <class F>
  void drain(F&& f) {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    const std::size_t t = tail_.load(std::memory_order_acquire);
    for (std::size_t i = h; i != t; ++i) f(slots_[i % capacity]);
    if (t != h) head_.store(t, std::memory_order_release);
  }

 private:
  static constexpr std::size_t capacity = 4096;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the consumer
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the producer
  alignas(64) std::size_t head_seen_ = 0;         // the producer's copy of head_
  item slots_[capacity];
};

constexpr std::size_t live_blocks = 1000;
constexpr std::size_t ops_per_thread = std::size_t{1} << 20;

template <class Heap>
void worker(const Heap& heap, ring& mine, ring& theirs, std::barrier<>& done, unsigned seed) {
  std::vector<item> live(live_blocks);
  std::uint64_t state = seed;
  for (auto& b : live) {
    b.bytes = 16 + pmrheap::bench::splitmix64(state) % 497;
    b.p = heap.allocate(b.bytes);
  }
  const auto free_item = [&heap](const item& x) { heap.deallocate(x.p, x.bytes); };
  for (std::size_t op = 0; op < ops_per_thread; ++op) {
    const std::uint64_t r = pmrheap::bench::splitmix64(state);
    item& b = live[r % live_blocks];
    if ((r >> 32) % 8 != 0 || !theirs.push(b)) heap.deallocate(b.p, b.bytes);
    b.bytes = 16 + (r >> 40) % 497;
    b.p = heap.allocate(b.bytes);
    benchmark::DoNotOptimize(b.p);
    if (op % 32 == 0) mine.drain(free_item);
  }
  done.arrive_and_wait();  // Nothing is pushed to `mine` after this.
  mine.drain(free_item);
  for (auto& b : live) heap.deallocate(b.p, b.bytes);
}

double thread_cpu_seconds() noexcept {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

template <class Heap>
void mt(benchmark::State& state, const Heap& heap) {
  const auto threads = static_cast<unsigned>(state.range(0));
  std::vector<ring> rings(threads);
  std::vector<double> cpu(threads);
  for (auto _ : state) {
    std::barrier<> done(threads);
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < threads; ++i)
      pool.emplace_back([&, i] {
        const double start = thread_cpu_seconds();
        worker(heap, rings[i], rings[(i + 1) % threads], done, 42 + i);
        cpu[i] = thread_cpu_seconds() - start;
      });
    for (auto& t : pool) t.join();
    double sum = 0;
    for (double c : cpu) sum += c;
    state.SetIterationTime(sum / threads);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * threads * ops_per_thread));
}

#if !defined(PMRHEAP_BENCH_MIMALLOC)
void mt_direct(benchmark::State& state) { mt(state, direct{}); }
#endif
void mt_pmr(benchmark::State& state, std::pmr::memory_resource* mr) { mt(state, through_pmr{mr}); }

// p1: 2^20 blocks of 8..128 B allocated, then freed in order.
void p1(benchmark::State& state, std::pmr::memory_resource* mr) {
  constexpr std::size_t count = std::size_t{1} << 20;
  static const std::vector<std::uint32_t> sizes = pmrheap::bench::small_sizes(count);
  std::vector<void*> blocks(count);
  for (auto _ : state) {
    for (std::size_t i = 0; i < count; ++i) blocks[i] = mr->allocate(sizes[i], 8);
    benchmark::DoNotOptimize(blocks.data());
    for (std::size_t i = 0; i < count; ++i) mr->deallocate(blocks[i], sizes[i], 8);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * count));
}

#if !defined(PMRHEAP_BENCH_MIMALLOC)
// The per-request map: keys too long for the short-string buffer, so each entry allocates a node,
// a key and a vector.
void request_map(benchmark::State& state, std::pmr::memory_resource* mr) {
  constexpr int entries = 10000;
  std::vector<std::string> keys;
  for (int i = 0; i < entries; ++i) keys.push_back("request-field-" + std::to_string(i));
  for (auto _ : state) {
    std::pmr::unordered_map<std::pmr::string, std::pmr::vector<int>> map(mr);
    for (int i = 0; i < entries; ++i) {
      std::pmr::vector<int> v(mr);
      v.assign({i, i + 1, i + 2, i + 3});
      map.emplace(std::pmr::string(keys[static_cast<std::size_t>(i)], mr), std::move(v));
    }
    long sum = 0;
    for (int i = 0; i < entries; ++i)
      sum += map.find(std::pmr::string(keys[static_cast<std::size_t>(i)], mr))->second[1];
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entries));
}

std::pmr::synchronized_pool_resource* sync_pool() {
  static auto* pool = new std::pmr::synchronized_pool_resource();
  return pool;
}
pmrheap::synchronized_resource<>* sync_c() {
  static auto* r = new pmrheap::synchronized_resource<>(pmrheap::c_resource::instance());
  return r;
}
#endif
#if defined(PMRHEAP_BENCH_JEMALLOC)
jemalloc_resource jemalloc;
#endif
#if defined(PMRHEAP_BENCH_MIMALLOC)
mimalloc_resource mimalloc;
#endif

}  // namespace

#define PMRHEAP_MT(name, ...)                  \
  BENCHMARK_CAPTURE(mt_pmr, name, __VA_ARGS__) \
      ->Name("smp/mt/" #name)                  \
      ->Arg(1)                                 \
      ->Arg(2)                                 \
      ->UseManualTime()                        \
      ->Unit(benchmark::kMillisecond)

#if defined(PMRHEAP_BENCH_MIMALLOC)
// malloc here is mimalloc's: this binary gives smp_resource beside mimalloc only.
PMRHEAP_MT(floor, &floor_mr);
PMRHEAP_MT(mimalloc, &mimalloc);
PMRHEAP_MT(smp_resource, pmrheap::smp_resource::instance());
BENCHMARK_CAPTURE(p1, mimalloc, &mimalloc)->Name("smp/p1/mimalloc")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(p1, smp_resource, pmrheap::smp_resource::instance())
    ->Name("smp/p1/smp_resource")
    ->Unit(benchmark::kMillisecond);
#else
PMRHEAP_MT(floor, &floor_mr);
BENCHMARK(mt_direct)->Name("smp/mt/glibc_direct")->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);
PMRHEAP_MT(smp_resource, pmrheap::smp_resource::instance());
PMRHEAP_MT(c_resource, pmrheap::c_resource::instance());
PMRHEAP_MT(new_delete, std::pmr::new_delete_resource());
PMRHEAP_MT(synchronized_c, sync_c());
PMRHEAP_MT(std_sync_pool, sync_pool());
#  if defined(PMRHEAP_BENCH_JEMALLOC)
PMRHEAP_MT(jemalloc, &jemalloc);
#  endif
#  define PMRHEAP_SINGLE(fn, name, mr) \
    BENCHMARK_CAPTURE(fn, name, mr)->Name("smp/" #fn "/" #name)->Unit(benchmark::kMillisecond)
PMRHEAP_SINGLE(p1, smp_resource, pmrheap::smp_resource::instance());
PMRHEAP_SINGLE(p1, c_resource, pmrheap::c_resource::instance());
PMRHEAP_SINGLE(p1, new_delete, std::pmr::new_delete_resource());
PMRHEAP_SINGLE(request_map, smp_resource, pmrheap::smp_resource::instance());
PMRHEAP_SINGLE(request_map, c_resource, pmrheap::c_resource::instance());
PMRHEAP_SINGLE(request_map, new_delete, std::pmr::new_delete_resource());
#endif
BENCHMARK_MAIN();
