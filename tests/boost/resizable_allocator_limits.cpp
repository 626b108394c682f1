// SPDX-License-Identifier: MIT
// Tests include/pmrheap/boost/resizable_allocator.hpp at its edges: growth near exhaustion stays
// geometric (counted in element copies, not timed), and resizable_allocator<void> is an allocator
// that rebinds (docs/boost/resizable_allocator.md).
#include <doctest/doctest.h>

#include <boost/container/vector.hpp>

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <new>
#include <type_traits>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/boost/resizable_allocator.hpp"
#include "pmrheap/c_resource.hpp"
#include "support/counting_resource.hpp"

namespace bc = boost::container;
using pmrheap::resizable_allocator;

namespace {

// The C heap with a budget: refuses any allocation or growth that would take more than `budget`
// bytes live, as a process under a memory limit sees it.
class budget_resource final : public pmrheap::resource {
 public:
  explicit budget_resource(std::size_t budget) noexcept : budget_(budget) {}
  std::size_t allocations = 0;

 private:
  [[nodiscard]] bool fits(std::size_t more) const noexcept { return more <= budget_ - live_; }
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    if (!fits(bytes)) return nullptr;
    void* const p = pmrheap::try_allocate(*pmrheap::c_resource::instance(), bytes, alignment);
    if (p != nullptr) {
      live_ += bytes;
      ++allocations;
    }
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    live_ -= bytes;
    pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    if (new_bytes > old_bytes && !fits(new_bytes - old_bytes)) return false;
    if (!pmrheap::resize(*pmrheap::c_resource::instance(), p, old_bytes, new_bytes, alignment)) return false;
    live_ = live_ - old_bytes + new_bytes;
    return true;
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    return do_resize(p, old_bytes, new_bytes, alignment) ? p : nullptr;
  }

  std::size_t budget_;
  std::size_t live_ = 0;
};

// An element that counts every copy and move of itself.
struct counted {
  static inline std::size_t copies = 0;
  int value;
  explicit counted(int v) noexcept : value(v) {}
  counted(const counted& other) noexcept : value(other.value) { ++copies; }
  counted(counted&& other) noexcept : value(other.value) { ++copies; }
  counted& operator=(const counted& other) noexcept {
    value = other.value;
    ++copies;
    return *this;
  }
  counted& operator=(counted&& other) noexcept {
    value = other.value;
    ++copies;
    return *this;
  }
  ~counted() = default;
};

}  // namespace

TEST_CASE("resizable_allocator: growth near exhaustion stays geometric, then fails with bad_alloc") {
  constexpr std::size_t budget = std::size_t{4} << 20;
  budget_resource limited(budget);
  bc::vector<counted, resizable_allocator<counted>> v{resizable_allocator<counted>(&limited)};
  counted::copies = 0;
  std::size_t pushed = 0;
  bool refused = false;
  // Bounded whatever the allocator does: a quadratic growth stops at 16 copies per element.
  try {
    while (counted::copies <= 16 * (pushed + 1024)) {
      v.emplace_back(static_cast<int>(pushed));
      ++pushed;
    }
  } catch (const std::bad_alloc&) {
    refused = true;
  }
  MESSAGE(pushed << " elements pushed, " << counted::copies << " element copies, " << limited.allocations
                 << " allocations");
  CHECK(refused);  // the budget ends the growth, not the bound
  // Each copy buys at least a quarter of what it copies: at most 4 copies per element, plus the
  // copies of the last (failed) step's predecessors.
  CHECK(counted::copies <= 5 * pushed);
  CHECK(limited.allocations <= 64);
  // The budget holds 1M elements; the geometric fallback gets more of it than a doubling would.
  CHECK(pushed * sizeof(counted) >= budget / 3);
  REQUIRE(v.size() == pushed);
  for (std::size_t i = 0; i < v.size(); ++i) REQUIRE(v[i].value == static_cast<int>(i));
}

TEST_CASE("resizable_allocator: a replacement block is at least 1.25x the one it replaces, at most the preferred") {
  budget_resource limited(std::size_t{1} << 20);
  resizable_allocator<int> a(&limited);
  int* p = a.allocate(1000);
  std::size_t size = 2000;
  int* reuse = p;
  // 1.25x of 1000, not the limit of 1001, when the preferred 2000 does not fit... here it fits.
  int* q = a.allocation_command(bc::allocate_new, 1001, size, reuse);
  CHECK(size == 2000);
  a.deallocate(p, 1000);
  // A preferred size the budget cannot take: the fallback is 2500 (1.25x 2000), not 2001.
  budget_resource tight(2000 * sizeof(int) + 3000 * sizeof(int));
  resizable_allocator<int> b(&tight);
  int* r = b.allocate(2000);
  size = 4000;
  reuse = r;
  int* s = b.allocation_command(bc::allocate_new | bc::nothrow_allocation, 2001, size, reuse);
  REQUIRE(s != nullptr);
  CHECK(size == 2500);
  CHECK(reuse == nullptr);
  b.deallocate(r, 2000);
  b.deallocate(s, size);
  a.deallocate(q, 2000);
  // When 1.25x does not fit either, the growth fails rather than creep by one element.
  budget_resource tighter(2000 * sizeof(int) + 2400 * sizeof(int));
  resizable_allocator<int> c(&tighter);
  int* t = c.allocate(2000);
  size = 4000;
  reuse = t;
  CHECK(c.allocation_command(bc::allocate_new | bc::nothrow_allocation, 2001, size, reuse) == nullptr);
  reuse = t;
  size = 4000;
  CHECK_THROWS_AS(static_cast<void>(c.allocation_command(bc::allocate_new, 2001, size, reuse)), std::bad_alloc);
  // A request that asks for no more than the limit (a reserve) still gets exactly that.
  size = 2001;
  reuse = t;
  int* u = c.allocation_command(bc::allocate_new | bc::nothrow_allocation, 2001, size, reuse);
  REQUIRE(u != nullptr);
  CHECK(size == 2001);
  c.deallocate(t, 2000);
  c.deallocate(u, 2001);
}

TEST_CASE("resizable_allocator<void>: an allocator that rebinds, converts and compares, as std::allocator<void>") {
  using void_allocator = resizable_allocator<void>;
  static_assert(std::is_same_v<void_allocator::value_type, void>);
  static_assert(std::is_same_v<void_allocator::rebind<int>::other, resizable_allocator<int>>);
  static_assert(std::is_same_v<std::allocator_traits<void_allocator>::rebind_alloc<int>, resizable_allocator<int>>);
  static_assert(std::is_nothrow_copy_constructible_v<void_allocator>);
  pmrheap::test::counting_resource counting;
  const void_allocator a(&counting);
  CHECK(a.resource() == &counting);
  CHECK(void_allocator().resource() == std::pmr::get_default_resource());
  const void_allocator copy(a);
  CHECK(copy == a);

  using int_allocator = std::allocator_traits<void_allocator>::rebind_alloc<int>;
  const int_allocator ints(a);
  CHECK(ints.resource() == &counting);
  CHECK(ints == a);
  const void_allocator back(ints);
  CHECK(back == a);

  bc::vector<int, int_allocator> v{int_allocator(a)};
  for (int i = 0; i < 1000; ++i) v.push_back(i);
  for (int i = 0; i < 1000; ++i) REQUIRE(v[static_cast<std::size_t>(i)] == i);
  CHECK(counting.allocations > 0);
  CHECK(v.get_allocator().resource() == &counting);
  v = {};
  v.shrink_to_fit();
  CHECK(counting.live() == 0);
}
