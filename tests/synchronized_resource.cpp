// SPDX-License-Identifier: MIT
// Tests include/pmrheap/synchronized_resource.hpp (docs/resources/synchronized_resource.md): every
// operation reaches the upstream with the lock held, and a resource that is not thread-safe
// survives several threads behind it.
#include "pmrheap/synchronized_resource.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <memory_resource>
#include <thread>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"

using pmrheap::synchronized_resource;

namespace {

// A lock that knows whether it is held, and notices being locked twice.
struct probe_mutex {
  std::atomic<bool> held{false};
  std::atomic<int> locks{0};
  std::atomic<int> relocks{0};
  void lock() {
    if (held.exchange(true)) ++relocks;
    ++locks;
  }
  void unlock() { held = false; }
};

// An upstream that counts the calls that arrive while `watched` is not held.
class probe_resource final : public pmrheap::resource {
 public:
  const probe_mutex* watched = nullptr;
  int calls = 0;
  int unlocked_calls = 0;

 private:
  void note() {
    ++calls;
    if (watched == nullptr || !watched->held) ++unlocked_calls;
  }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    note();
    return pmrheap::c_resource::instance()->try_allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    note();
    pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    note();
    return pmrheap::c_resource::instance()->resize(p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    note();
    return pmrheap::c_resource::instance()->remap(p, old_bytes, new_bytes, alignment);
  }
};

}  // namespace

TEST_CASE("synchronized_resource: conformance") {
  synchronized_resource<> s(pmrheap::c_resource::instance());
  pmrheap::testing::validating_resource v(&s);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("synchronized_resource: conformance over a std resource that is not thread-safe") {
  std::pmr::unsynchronized_pool_resource pool;
  synchronized_resource<> s(&pool);
  pmrheap::testing::validating_resource v(&s);
  pmrheap::testing::check_basic(v);
  pmrheap::testing::check_aligned(v);
  pmrheap::testing::check_aligned_shrink(v);
  CHECK(v.blocks_in_use() == 0);
}

TEST_CASE("synchronized_resource: bad input") {
  synchronized_resource<> over_std(std::pmr::new_delete_resource());
  CHECK_THROWS_AS(static_cast<void>(over_std.allocate(pmrheap::detail::size_max, 8)), std::bad_alloc);
  CHECK(over_std.try_allocate(pmrheap::detail::size_max, 8) == nullptr);
}

TEST_CASE("synchronized_resource: defaults and accessors") {
  synchronized_resource<> s;
  CHECK(s.upstream_resource() == std::pmr::get_default_resource());
  synchronized_resource<> from_null(nullptr);
  CHECK(from_null.upstream_resource() == std::pmr::null_memory_resource());  // forwarding_resource's rule
  CHECK(s.is_equal(s));
  CHECK_FALSE(s.is_equal(from_null));
  std::lock_guard lock(s.mutex());  // lockable from outside
}

TEST_CASE("synchronized_resource: every operation reaches the upstream with the lock held") {
  probe_resource probe;
  synchronized_resource<probe_mutex> s(&probe);
  probe.watched = &s.mutex();

  auto* p = static_cast<unsigned char*>(s.allocate(100, 8));
  void* q = s.try_allocate(50, 8);
  CHECK(s.resize(p, 100, 40, 8));
  p = static_cast<unsigned char*>(s.remap(p, 40, 1 << 20, 8));
  REQUIRE(p != nullptr);
  s.deallocate(p, 1 << 20, 8);
  s.deallocate(q, 50, 8);
  s.deallocate(s.allocate(0, 8), 0, 8);  // the empty block never reaches the upstream
  CHECK(probe.calls == 6);
  CHECK(probe.unlocked_calls == 0);
  CHECK(s.mutex().locks == 6);
  CHECK(s.mutex().relocks == 0);
  CHECK_FALSE(s.mutex().held);
  // The probe does notice a call made without the lock.
  probe.deallocate(probe.allocate(8), 8);
  CHECK(probe.unlocked_calls == 2);
}

TEST_CASE("synchronized_resource: several threads share an unsynchronized pool safely") {
  std::pmr::unsynchronized_pool_resource pool;
  synchronized_resource<> s(&pool);
  constexpr int threads_count = 4;
  constexpr int rounds = 3000;
  std::atomic<int> corrupted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t)
    threads.emplace_back([&s, &corrupted, t] {
      std::pmr::vector<std::pmr::string> strings(&s);
      for (int i = 0; i < rounds; ++i) {
        strings.emplace_back(static_cast<std::size_t>(20 + i % 50), static_cast<char>('a' + t));
        if (i % 4 == 3) strings.erase(strings.begin());
      }
      for (const auto& str : strings)
        for (char c : str)
          if (c != 'a' + t) ++corrupted;
    });
  for (auto& thread : threads) thread.join();
  CHECK(corrupted == 0);
}
