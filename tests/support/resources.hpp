// SPDX-License-Identifier: MIT
// The catalog of resource configurations the cross-resource tests drive: the conformance kit
// (tests/conformance.cpp), every bad input (tests/bad_input.cpp), the address-space limit
// (tests/exhaustion.cpp) and several threads at once (tests/threads.cpp). A new resource, or a new configuration of one
// (an arena over another upstream), is ONE entry in all_resources(); its flags decide which of those tests take it.
// Framework-independent, so the fuzz harness can use it too.
#ifndef PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP
#define PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <string_view>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/concurrent_arena_resource.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/forwarding_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/pool_resource.hpp"
#include "pmrheap/smp_resource.hpp"
#include "pmrheap/stack_fallback_resource.hpp"
#include "pmrheap/synchronized_resource.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/testing/logging_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

namespace pmrheap::test {

/// One resource configuration, made fresh for every use.
struct resource_entry {
  std::string_view name;
  /// A new instance. The shared_ptr also owns whatever the resource stands on (buffer, upstream):
  /// make a holder struct with both and return an aliasing pointer, as held() does.
  std::shared_ptr<pmrheap::resource> (*make)();
  /// Safe to call from several threads at once: tests/threads.cpp drives it from 4.
  bool thread_safe;
  /// tests/exhaustion.cpp drives it into a lowered RLIMIT_AS: true for resources that take their
  /// memory from the process (the C heap, OS mappings, directly or through an upstream) and
  /// promise a clean failure there. A fixed buffer is exhausted by its own size instead.
  bool address_space_limit;
  /// Frees every block at once (an arena's release()); nullptr for resources without it. Tests
  /// that use it forget the blocks they held instead of deallocating them.
  void (*release_all)(pmrheap::resource&) = nullptr;
  /// Its memory comes from ::operator new (std::pmr::new_delete_resource()). Under ASan (and
  /// valgrind) a throwing operator new that cannot be met ends the process ("allocator is out of
  /// memory") instead of throwing std::bad_alloc, so tests/bad_input.cpp does not run the rows
  /// that make the upstream refuse a huge request (bad_input::huge_upstream_request) there.
  bool operator_new_upstream = false;
  /// tests/conformance.cpp runs the conformance kit on it (a fresh instance per check): false only
  /// for a configuration too small for the kit (a 64 KiB buffer; its own test runs the kit on a
  /// bigger one).
  bool conformance = true;
};

/// `Holder` made fresh; the pointer is to its member `top`, the resource the tests drive.
template <class Holder>
std::shared_ptr<pmrheap::resource> held() {
  auto h = std::make_shared<Holder>();
  return {h, &h->top};
}

/// `Upstream` made fresh, with a validating_resource over it.
template <class Upstream>
std::shared_ptr<pmrheap::resource> validating_over() {
  struct holder {
    Upstream upstream;
    pmrheap::testing::validating_resource top{&upstream};
  };
  return held<holder>();
}

/// Where the catalog's debug_resource reports what it finds. Null (the default): the report goes
/// to stderr and the process aborts, so any error on a correct call sequence fails the test. A
/// test that makes errors on purpose points it at a vector while it does (tests/bad_input.cpp).
inline std::vector<pmrheap::debug_error>*& debug_error_sink() noexcept {
  static std::vector<pmrheap::debug_error>* sink = nullptr;
  return sink;
}

/// The catalog's debug_resource options: the defaults, with errors going to debug_error_sink().
inline pmrheap::debug_options catalog_debug_options() {
  pmrheap::debug_options options;
  options.on_error = [](const pmrheap::debug_error& e) {
    if (std::vector<pmrheap::debug_error>* sink = debug_error_sink()) {
      sink->push_back(e);
      return;
    }
    std::fprintf(stderr, "debug_resource reported an error on a correct call sequence:\n%s\n", e.message.c_str());
    std::abort();
  };
  return options;
}

namespace catalog_detail {

template <class R>
void release(pmrheap::resource& r) {
  dynamic_cast<R&>(r).release();
}
template <class R>
void reset(pmrheap::resource& r) {
  dynamic_cast<R&>(r).reset();
}
// The arena under a synchronized_resource, released with the lock held.
inline void release_synchronized_arena(pmrheap::resource& r) {
  auto& s = dynamic_cast<pmrheap::synchronized_resource<>&>(r);
  std::lock_guard<std::mutex> lock(s.mutex());
  dynamic_cast<pmrheap::arena_resource&>(*s.upstream_resource()).release();
}

template <class Upstream>
struct arena_over {
  Upstream upstream;
  pmrheap::arena_resource top{&upstream};
};
template <class Upstream>
struct concurrent_arena_over {
  Upstream upstream;
  pmrheap::concurrent_arena_resource top{&upstream};
};
struct arena_over_new_delete {
  pmrheap::arena_resource top{std::pmr::new_delete_resource()};
};
// An arena that starts in a 4 KiB buffer of its own holder (1 byte off alignment, so the buffer's
// address is the caller's business), then takes nodes from the C heap.
struct arena_in_buffer {
  alignas(16) unsigned char buffer[4097];
  pmrheap::c_resource upstream;
  pmrheap::arena_resource top{buffer + 1, sizeof buffer - 1, &upstream};
};

// 64 KiB: room for every bad-input row and the still-works check after it.
template <class Upstream>
struct pool_over {
  Upstream upstream;
  pmrheap::pool_resource top{&upstream};
};
// Pools up to 128 bytes only: most requests take the upstream-block path, one mapping each.
struct small_pool_over_pages {
  static std::pmr::pool_options options() {
    std::pmr::pool_options o;
    o.largest_required_pool_block = 128;
    return o;
  }
  pmrheap::page_resource upstream;
  pmrheap::pool_resource top{options(), &upstream};
};

struct fixed_buffer {
  alignas(64) std::byte buffer[std::size_t{64} << 10];
  pmrheap::fixed_buffer_resource top{buffer};
};
// 64 MiB, uninitialised: the four threads of tests/threads.cpp take about 15 MiB of it, since a fixed
// buffer reclaims only its last block.
struct concurrent_fixed_buffer {
  static constexpr std::size_t size = std::size_t{64} << 20;
  std::unique_ptr<std::byte[]> buffer{new std::byte[size]};
  pmrheap::concurrent_fixed_buffer_resource top{buffer.get(), size};
};
struct buffer_first {
  alignas(64) std::byte buffer[std::size_t{16} << 10];
  pmrheap::c_resource fallback;
  pmrheap::buffer_first_resource top{buffer, &fallback};
};
struct stack_fallback {
  pmrheap::c_resource fallback;
  pmrheap::stack_fallback_resource<4096> top{&fallback};
};
struct debug {
  pmrheap::c_resource backing;
  pmrheap::debug_resource top{&backing, catalog_debug_options()};
};
struct debug_without_quarantine {
  static pmrheap::debug_options options() {
    pmrheap::debug_options o = catalog_debug_options();
    o.quarantine_blocks = 0;
    return o;
  }
  pmrheap::c_resource backing;
  pmrheap::debug_resource top{&backing, options()};
};
struct failing {
  pmrheap::c_resource upstream;
  pmrheap::failing_resource top{&upstream};
};
struct synchronized_arena {
  pmrheap::c_resource upstream;
  pmrheap::arena_resource arena{&upstream};
  pmrheap::synchronized_resource<> top{&arena};
};
// The sink counts the lines, so the resource does its formatting; the count is atomic because the
// threads test shares the resource.
struct logging {
  pmrheap::c_resource upstream;
  std::atomic<std::size_t> lines{0};
  pmrheap::logging_resource top{&upstream, [this](std::string_view) { lines.fetch_add(1, std::memory_order_relaxed); }};
};

}  // namespace catalog_detail

/// Every configuration, in the order the tests report them.
inline const std::vector<resource_entry>& all_resources() {
  namespace d = catalog_detail;
  static const std::vector<resource_entry> entries = {
      {"c_resource", [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::c_resource>()); }, true,
       true},
      {"page_resource", [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::page_resource>()); },
       true, true},
      // Not under RLIMIT_AS: its bookkeeping (a std::map) allocates inside noexcept operations, so
      // at the limit it would terminate instead of failing. A test tool, not a resource to ship.
      {"validating_resource(c_resource)", validating_over<pmrheap::c_resource>, true, false},
      {"arena_resource(page_resource)", held<d::arena_over<pmrheap::page_resource>>, false, true,
       d::release<pmrheap::arena_resource>},
      {"arena_resource(c_resource)", held<d::arena_over<pmrheap::c_resource>>, false, true,
       d::release<pmrheap::arena_resource>},
      // Not under RLIMIT_AS: ::operator new cannot fail without ending the process under ASan.
      {"arena_resource(new_delete_resource)", held<d::arena_over_new_delete>, false, false,
       d::release<pmrheap::arena_resource>, true},
      {"arena_resource(4 KiB buffer, c_resource)", held<d::arena_in_buffer>, false, true,
       d::release<pmrheap::arena_resource>},
      {"fixed_buffer_resource(64 KiB)", held<d::fixed_buffer>, false, false, d::reset<pmrheap::fixed_buffer_resource>,
       false, false},
      {"concurrent_arena_resource(page_resource)", held<d::concurrent_arena_over<pmrheap::page_resource>>, true, true,
       d::release<pmrheap::concurrent_arena_resource>},
      {"concurrent_arena_resource(c_resource)", held<d::concurrent_arena_over<pmrheap::c_resource>>, true, true,
       d::release<pmrheap::concurrent_arena_resource>},
      {"concurrent_fixed_buffer_resource(64 MiB)", held<d::concurrent_fixed_buffer>, true, false,
       d::reset<pmrheap::concurrent_fixed_buffer_resource>},
      {"buffer_first_resource(16 KiB, c_resource)", held<d::buffer_first>, false, true},
      {"stack_fallback_resource<4096>(c_resource)", held<d::stack_fallback>, false, true},
      // Not under RLIMIT_AS: it reserves 64 GiB of address space up front, far above the limit.
      {"virtual_arena_resource",
       [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::virtual_arena_resource>()); }, false,
       false, d::release<pmrheap::virtual_arena_resource>},
      // Not under RLIMIT_AS: its quarantine holds the newest freed block back on purpose, so memory
      // given back is not usable again at once. Without the quarantine (next entry) it passes: its
      // bookkeeping fails cleanly at the limit.
      {"debug_resource(c_resource)", held<d::debug>, true, false},
      {"debug_resource(c_resource, no quarantine)", held<d::debug_without_quarantine>, true, true},
      {"failing_resource(c_resource, never)", held<d::failing>, false, true},
      {"synchronized_resource(arena_resource(c_resource))", held<d::synchronized_arena>, true, true,
       d::release_synchronized_arena},
      {"logging_resource(c_resource, callback)", held<d::logging>, true, true},
      {"pool_resource(c_resource)", held<d::pool_over<pmrheap::c_resource>>, false, true,
       d::release<pmrheap::pool_resource>},
      {"pool_resource(page_resource, largest 128)", held<d::small_pool_over_pages>, false, true,
       d::release<pmrheap::pool_resource>},
      // Process-wide state: every entry shares it, so the slabs it maps stay for the whole run.
      {"smp_resource", [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::smp_resource>()); },
       true, true},
  };
  return entries;
}

/// A resource that forwards to an upstream it is given (forwarding_resource and the resources
/// built on it), made fresh over `upstream` (null included). tests/forwarding_resource.cpp holds
/// every one to the screening and null-upstream rules of docs/resources/forwarding_resource.md.
struct forwarding_entry {
  std::string_view name;
  std::shared_ptr<pmrheap::resource> (*over)(std::pmr::memory_resource* upstream);
};

namespace catalog_detail {
template <class R>
std::shared_ptr<pmrheap::resource> make_over(std::pmr::memory_resource* upstream) {
  return std::make_shared<R>(upstream);
}
// A buffer too small for the requests the test makes, so each one reaches the fallback.
struct small_buffer_first {
  explicit small_buffer_first(std::pmr::memory_resource* upstream) : top(buffer, upstream) {}
  alignas(64) std::byte buffer[256];
  pmrheap::buffer_first_resource top;
};
inline std::shared_ptr<pmrheap::resource> buffer_first_over(std::pmr::memory_resource* upstream) {
  auto h = std::make_shared<small_buffer_first>(upstream);
  return {h, &h->top};
}
inline std::shared_ptr<pmrheap::resource> logging_over(std::pmr::memory_resource* upstream) {
  return std::make_shared<pmrheap::logging_resource>(upstream, [](std::string_view) {});
}
}  // namespace catalog_detail

/// Every forwarding configuration, in the order the tests report them.
inline const std::vector<forwarding_entry>& forwarding_resources() {
  namespace d = catalog_detail;
  static const std::vector<forwarding_entry> entries = {
      {"synchronized_resource<>", d::make_over<pmrheap::synchronized_resource<>>},
      {"buffer_first_resource(256 B)", d::buffer_first_over},
      {"stack_fallback_resource<256>", d::make_over<pmrheap::stack_fallback_resource<256>>},
      {"failing_resource", d::make_over<pmrheap::failing_resource>},
      {"logging_resource(callback)", d::logging_over},
      {"debug_resource", d::make_over<pmrheap::debug_resource>},
      {"validating_resource", d::make_over<pmrheap::testing::validating_resource>},
  };
  return entries;
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP
