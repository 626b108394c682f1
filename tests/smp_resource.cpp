// SPDX-License-Identifier: MIT
// Tests include/pmrheap/smp_resource.hpp (docs/resources/smp_resource.md).
#include "pmrheap/smp_resource.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <mutex>
#include <thread>
#include <vector>

#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "support/address_space.hpp"
#include "support/contract.hpp"

#if defined(__linux__)
#  include <cstdio>
#  include <sys/resource.h>
#  include <sys/wait.h>
#  include <unistd.h>
#endif

using pmrheap::smp_resource;
using pmrheap::detail::is_aligned;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr bool under_tsan = true;
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
constexpr bool under_tsan = true;
#  else
constexpr bool under_tsan = false;
#  endif
#else
constexpr bool under_tsan = false;
#endif

constexpr std::size_t min_slot = 2 * sizeof(void*);

std::size_t slab_bytes() { return smp_resource::statistics().slab_bytes; }

// xorshift32: each thread its own deterministic sequence.
struct rng {
  std::uint32_t state;
  std::uint32_t operator()() noexcept {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

// A block with a tag written into every byte, so a block that overlaps another live one, or is
// written after it was handed on, shows as a wrong byte when it is checked.
struct tagged {
  unsigned char* p = nullptr;
  std::size_t bytes = 0;
  unsigned char tag = 0;
  void fill() const noexcept { std::memset(p, tag, bytes); }
  [[nodiscard]] bool intact() const noexcept {
    for (std::size_t i = 0; i < bytes; ++i)
      if (p[i] != tag) return false;
    return true;
  }
};

}  // namespace

TEST_CASE("smp_resource: conformance") {
  smp_resource smp;
  pmrheap::testing::validating_resource v(&smp);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("smp_resource: bad input") { pmrheap::test::check_contract(*smp_resource::instance()); }

TEST_CASE("smp_resource: instances share one state and compare equal") {
  smp_resource a;
  smp_resource b;
  CHECK(smp_resource::instance() == smp_resource::instance());
  CHECK(a.is_equal(b));
  CHECK(a.is_equal(*smp_resource::instance()));
  CHECK_FALSE(a.is_equal(*pmrheap::page_resource::instance()));
  void* p = a.allocate(100);
  b.deallocate(p, 100);  // Freed through another instance: the same state.
  void* q = a.allocate(100);
  CHECK(q == p);  // The thread's list is last in, first out.
  a.deallocate(q, 100);
}

TEST_CASE("smp_resource: slot sizes are powers of two from two pointers to 32 KiB, raised by alignment") {
  CHECK(smp_resource::slot_size(1, 1) == min_slot);
  CHECK(smp_resource::slot_size(min_slot, 1) == min_slot);
  CHECK(smp_resource::slot_size(min_slot + 1, 1) == 2 * min_slot);
  CHECK(smp_resource::slot_size(100, 8) == 128);
  CHECK(smp_resource::slot_size(8, 256) == 256);
  CHECK(smp_resource::slot_size(smp_resource::max_small_size, 1) == smp_resource::max_small_size);
  CHECK(smp_resource::slot_size(smp_resource::max_small_size + 1, 1) == 0);
  CHECK(smp_resource::slot_size(8, 2 * smp_resource::max_small_size) == 0);
  CHECK(smp_resource::slot_size(0, 8) == 0);
  CHECK(smp_resource::slot_size(8, 3) == 0);
  CHECK(smp_resource::slab_size >= pmrheap::platform::page_size());
  CHECK(smp_resource::slab_size % pmrheap::platform::page_size() == 0);
}

TEST_CASE("smp_resource: a small block is aligned to its slot; any alignment up to 64 KiB is met") {
  smp_resource smp;
  for (std::size_t bytes = 1; bytes <= smp_resource::max_small_size; bytes = bytes * 2 + 1) {
    for (std::size_t alignment = 1; alignment <= (std::size_t{64} << 10); alignment *= 4) {
      auto* p = static_cast<unsigned char*>(smp.allocate(bytes, alignment));
      CHECK(is_aligned(p, alignment));
      const std::size_t slot = smp_resource::slot_size(bytes, alignment);
      if (slot != 0) CHECK(is_aligned(p, slot));
      std::memset(p, 0x5a, bytes);
      smp.deallocate(p, bytes, alignment);
    }
  }
}

TEST_CASE("smp_resource: resize within the class, never across it or the small/large line") {
  smp_resource smp;
  void* p = smp.allocate(40);
  CHECK(smp.resize(p, 40, 64));
  CHECK(smp.resize(p, 64, 33));
  CHECK_FALSE(smp.resize(p, 33, 65));
  CHECK_FALSE(smp.resize(p, 33, 32));
  CHECK(smp.remap(p, 33, 60) == p);
  CHECK(smp.remap(p, 60, 100) == nullptr);
  smp.deallocate(p, 60);

  const std::size_t big = smp_resource::max_small_size;
  void* q = smp.allocate(big);
  CHECK_FALSE(smp.resize(q, big, big + 1));
  CHECK(smp.remap(q, big, big + 1) == nullptr);
  smp.deallocate(q, big);

  void* large = smp.allocate(big + 1);
  CHECK_FALSE(smp.resize(large, big + 1, big));
  CHECK(smp.remap(large, big + 1, 100) == nullptr);
  smp.deallocate(large, big + 1);
}

TEST_CASE("smp_resource: large blocks are mappings of their own, counted and remapped") {
  smp_resource smp;
  const std::size_t page = pmrheap::platform::page_size();
  const std::size_t bytes = smp_resource::max_small_size + 1;
  const auto before = smp_resource::statistics();
  auto* p = static_cast<unsigned char*>(smp.allocate(bytes));
  CHECK(is_aligned(p, page));
  const auto during = smp_resource::statistics();
  const std::size_t rounded = (bytes + page - 1) / page * page;
  CHECK(during.large_bytes == before.large_bytes + rounded);
  CHECK(during.large_blocks == before.large_blocks + 1);
  CHECK(during.bytes_mapped == during.slab_bytes + during.large_bytes + during.metadata_bytes);
  CHECK(during.peak_bytes_mapped >= during.bytes_mapped);
  for (std::size_t i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(i * 7);

  const std::size_t grown = std::size_t{4} << 20;
  auto* q = static_cast<unsigned char*>(smp.remap(p, bytes, grown));
#if defined(__linux__)
  REQUIRE(q != nullptr);
#endif
  if (q != nullptr) {
    for (std::size_t i = 0; i < bytes; ++i) REQUIRE(q[i] == static_cast<unsigned char>(i * 7));
    q[grown - 1] = 1;
    CHECK(smp_resource::statistics().large_bytes == before.large_bytes + grown);
    CHECK(smp.resize(q, grown, grown - 3 * page));
    CHECK(smp_resource::statistics().large_bytes == before.large_bytes + grown - 3 * page);
    smp.deallocate(q, grown - 3 * page);
  } else {
    smp.deallocate(p, bytes);
  }
  CHECK(smp_resource::statistics().large_bytes == before.large_bytes);
  CHECK(smp_resource::statistics().large_blocks == before.large_blocks);
}

TEST_CASE("smp_resource: the OS refusing a large block is a clean failure") {
  smp_resource smp;
  // 15/16 of the address space: more than a 32-bit process has free in one piece, too.
  CHECK(smp.try_allocate(pmrheap::detail::size_max / 16 * 15) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(smp.allocate(pmrheap::detail::size_max - 1)), pmrheap::out_of_memory);
}

TEST_CASE("smp_resource: a surplus of freed blocks goes to the shared state and is reused") {
  smp_resource smp;
  constexpr std::size_t n = 20000;
  std::vector<void*> blocks(n);
  for (auto& p : blocks) p = smp.allocate(48);
  const std::size_t mapped = slab_bytes();
  // Another thread frees them all: far more than its cache keeps, so most reach a slot.
  std::thread([&] {
    for (void* p : blocks) smp.deallocate(p, 48);
  }).join();
  for (auto& p : blocks) p = smp.allocate(48);
  CHECK(slab_bytes() == mapped);
  std::sort(blocks.begin(), blocks.end());
  CHECK(std::adjacent_find(blocks.begin(), blocks.end()) == blocks.end());
  for (void* p : blocks) smp.deallocate(p, 48);
}

#if defined(__linux__)
namespace {

enum child_result { nodes_ok = 0, nodes_not_applied = 2, nodes_lost = 3, nodes_wrong = 4, nodes_setup = 5 };

// In a child: more free blocks than every batch node mapped so far could carry, freed under an
// address-space limit that lets nothing new be mapped. Then every block must come back.
int free_without_nodes() {
  smp_resource smp;
  smp.deallocate(smp.allocate(min_slot), min_slot);  // this thread's cache is mapped now
  // 64 smallest-class blocks fill a node of about 528 B; each byte of bookkeeping mapped so far
  // could at most be a node.
  const std::size_t count = (smp_resource::statistics().metadata_bytes / 512 + 256) * 64;
  std::vector<void*> blocks(count);
  for (auto& p : blocks) p = smp.allocate(min_slot);
  const auto before = smp_resource::statistics();
  std::vector<void*> again;
  again.reserve(count);
  const std::size_t now = pmrheap::test::address_space_size();
  if (now == 0) return nodes_setup;
  rlimit limit{};
  getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = static_cast<rlim_t>(now);
  if (setrlimit(RLIMIT_AS, &limit) != 0) return nodes_setup;
  rlimit check{};
  getrlimit(RLIMIT_AS, &check);
  if (check.rlim_cur != limit.rlim_cur) return nodes_not_applied;  // qemu-user ignores it
  for (void* p : blocks) smp.deallocate(p, min_slot);
  if (smp_resource::statistics().metadata_bytes != before.metadata_bytes) return nodes_wrong;
  for (std::size_t i = 0; i < count; ++i) {
    void* const p = smp.try_allocate(min_slot);
    if (p == nullptr) return nodes_lost;
    again.push_back(p);
  }
  std::sort(blocks.begin(), blocks.end());
  std::sort(again.begin(), again.end());
  return blocks == again ? nodes_ok : nodes_wrong;
}

}  // namespace

TEST_CASE("smp_resource: with no memory for batch nodes, freed blocks are linked through themselves, none lost") {
  // valgrind keeps the address space to itself; ASan maps its own bookkeeping as it goes and dies
  // ("Failed to mmap") under a limit this tight.
  if (pmrheap::detail::running_on_valgrind() || PMRHEAP_HAS_ASAN) return;
  std::fflush(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(free_without_nodes());
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  const int result = WEXITSTATUS(status);
  if (result == nodes_not_applied) {
    MESSAGE("RLIMIT_AS is not applied here (qemu-user): the no-node path is not tested");
    return;
  }
  CHECK(result != nodes_setup);
  CHECK(result != nodes_lost);   // a block freed without a node never came back
  CHECK(result != nodes_wrong);  // something was mapped, or other blocks came back
  CHECK(result == nodes_ok);
}
#endif

TEST_CASE("smp_resource: threads that exit strand nothing") {
  smp_resource smp;
  // Each thread keeps fewer blocks than its cache holds, so without the flush at thread exit every
  // round would strand them all and the next thread would map new slabs.
  const auto run = [&] {
    std::thread([&] {
      std::vector<void*> blocks(100);
      for (auto& p : blocks) p = smp.allocate(200);
      for (void* p : blocks) smp.deallocate(p, 200);
    }).join();
  };
  run();
  const std::size_t mapped = slab_bytes();
  for (int round = 0; round < 100; ++round) run();
  // One slab per slot may still be started by a thread that lands on a fresh slot.
  CHECK(slab_bytes() <= mapped + smp_resource::statistics().slots * smp_resource::slab_size);
}

TEST_CASE("smp_resource: a thread's cache is mapped once and reused by the threads after it") {
  smp_resource smp;
  const auto run = [&] {
    std::thread([&] {
      std::vector<void*> blocks(300);
      for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = smp.allocate(16 << (i % 8));
      for (std::size_t i = 0; i < blocks.size(); ++i) smp.deallocate(blocks[i], 16 << (i % 8));
    }).join();
  };
  run();
  const std::size_t before = smp_resource::statistics().metadata_bytes;
  CHECK(before > 0);  // at least that thread's cache
  for (int round = 0; round < 200; ++round) run();
  // Each thread's cache is about 5 KiB: 200 threads that kept theirs would map a megabyte. Reused,
  // the records and the batch nodes that carry the exiting threads' blocks stay within a chunk or
  // two of 64 KiB.
  CHECK(smp_resource::statistics().metadata_bytes <= before + 2 * (std::size_t{64} << 10));
}

TEST_CASE("smp_resource: blocks freed by thread_local destructors after the cache is gone are kept") {
  smp_resource smp;
  struct holder {
    void* p = nullptr;
    ~holder() {
      if (p != nullptr) smp_resource::instance()->deallocate(p, 24);
    }
  };
  const std::size_t before = slab_bytes();
  for (int round = 0; round < 200; ++round) {
    std::thread([] {
      thread_local holder h;  // Constructed before the cache starts, so destroyed after its flush.
      h.p = smp_resource::instance()->allocate(24);
      static_cast<unsigned char*>(h.p)[23] = 1;
    }).join();
  }
  CHECK(slab_bytes() <= before + smp_resource::statistics().slots * smp_resource::slab_size);
}

TEST_CASE("smp_resource: producer/consumer keeps the bytes mapped bounded") {
  smp_resource smp;
  constexpr std::size_t blocks_per_round = 100000;
  const int rounds = under_tsan ? 6 : 100;
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<void*, std::size_t>> mailbox;
  bool full = false;
  bool done = false;
  std::thread consumer([&] {
    for (;;) {
      std::vector<std::pair<void*, std::size_t>> got;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return full || done; });
        if (!full) return;
        got.swap(mailbox);
      }
      for (auto [p, bytes] : got) smp.deallocate(p, bytes);
      {
        std::lock_guard<std::mutex> lock(m);
        full = false;
      }
      cv.notify_all();
    }
  });
  const std::size_t base = smp_resource::statistics().bytes_mapped;
  std::size_t first_peak = 0;
  std::size_t worst = 0;
  rng next{12345};
  for (int round = 0; round < rounds; ++round) {
    // The consumer has freed the last round (on its own thread, into its own cache and slot)
    // before the producer allocates the next: one round is live at a time, so a resource that
    // reuses what the consumer freed needs no more than the first round's memory.
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return !full; });
    }
    std::vector<std::pair<void*, std::size_t>> made(blocks_per_round);
    for (auto& [p, bytes] : made) {
      bytes = 16 + next() % 497;
      p = smp.allocate(bytes);
    }
    const std::size_t mapped = smp_resource::statistics().bytes_mapped - base;
    if (round == 0) first_peak = mapped;
    worst = std::max(worst, mapped);
    std::unique_lock<std::mutex> lock(m);
    mailbox.swap(made);
    full = true;
    cv.notify_all();
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return !full; });
    done = true;
  }
  cv.notify_all();
  consumer.join();
  MESSAGE("producer/consumer: first round maps ", first_peak, " B, the worst round ", worst, " B");
  CHECK(first_peak > 0);
  CHECK(worst <= 2 * first_peak);
}

TEST_CASE("smp_resource: stress with more threads than cores, cross-thread frees, no overlap") {
  smp_resource smp;
  constexpr int thread_count = 8;
  const int ops = under_tsan ? 20000 : 200000;
  struct mailbox {
    std::mutex m;
    std::vector<tagged> blocks;
  };
  std::vector<mailbox> boxes(thread_count);
  std::vector<std::vector<tagged>> kept(thread_count);
  std::vector<int> broken(thread_count, 0);
  const auto work = [&](int me) {
    rng next{2463534242u + static_cast<std::uint32_t>(me) * 7919u};
    std::vector<tagged> live;
    std::vector<tagged> incoming;
    const auto release = [&](const tagged& b) {
      broken[me] += !b.intact();
      smp.deallocate(b.p, b.bytes);
    };
    for (int op = 0; op < ops; ++op) {
      const std::uint32_t r = next();
      if (live.size() < 200 || r % 2 == 0) {
        tagged b;
        b.bytes = r % 8 == 0 ? 1 + next() % 40000 : 1 + next() % 600;
        b.tag = static_cast<unsigned char>(next());
        b.p = static_cast<unsigned char*>(smp.allocate(b.bytes));
        b.fill();
        live.push_back(b);
      } else {
        const std::size_t i = next() % live.size();
        const tagged b = live[i];
        live[i] = live.back();
        live.pop_back();
        if (r % 8 == 1) {  // An eighth of the frees happen on another thread.
          broken[me] += !b.intact();
          mailbox& box = boxes[(me + 1 + next() % (thread_count - 1)) % thread_count];
          std::lock_guard<std::mutex> lock(box.m);
          box.blocks.push_back(b);
        } else {
          release(b);
        }
      }
      if (op % 64 == 0) {
        {
          std::lock_guard<std::mutex> lock(boxes[me].m);
          incoming.swap(boxes[me].blocks);
        }
        for (const tagged& b : incoming) release(b);
        incoming.clear();
      }
    }
    kept[me] = std::move(live);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < thread_count; ++i) threads.emplace_back(work, i);
  for (auto& t : threads) t.join();

  std::vector<tagged> all;
  for (auto& v : kept) all.insert(all.end(), v.begin(), v.end());
  for (auto& box : boxes) all.insert(all.end(), box.blocks.begin(), box.blocks.end());
  std::sort(all.begin(), all.end(), [](const tagged& a, const tagged& b) { return a.p < b.p; });
  int overlaps = 0;
  for (std::size_t i = 1; i < all.size(); ++i) overlaps += all[i - 1].p + all[i - 1].bytes > all[i].p;
  int total_broken = 0;
  for (int b : broken) total_broken += b;
  for (const tagged& b : all) {
    total_broken += !b.intact();
    smp.deallocate(b.p, b.bytes);
  }
  CHECK(overlaps == 0);
  CHECK(total_broken == 0);
}
