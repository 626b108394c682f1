// SPDX-License-Identifier: MIT
// Tests debug_options and debug_statistics: the memory limit, the statistics and their formatter,
// designated initializers, names in reports, error kinds.
#include "testing/debug_resource_support.hpp"

// ---- memory limit -------------------------------------------------------------------------------

// Zig's "setting a memory cap": the limit counts requested bytes, and the limit itself is allowed.
TEST_CASE("debug_resource: memory_limit counts requested bytes; passing it is an allocation failure") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.memory_limit = 1010; }));
  void* i32 = d.allocate(4, 4);
  void* big = d.allocate(1000, 1);
  CHECK(d.statistics().live_bytes == 1004);
  CHECK_THROWS_AS(static_cast<void>(d.allocate(8, 8)), pmrheap::out_of_memory);
  CHECK(d.try_allocate(8, 8) == nullptr);
  d.deallocate(i32, 4, 4);
  CHECK(d.statistics().live_bytes == 1000);
  CHECK_FALSE(d.resize(big, 1000, 1011, 1));  // growth past the limit is refused
  d.deallocate(big, 1000, 1);
  void* exact = d.allocate(1010, 1);
  CHECK(d.statistics().live_bytes == 1010);
  d.deallocate(exact, 1010, 1);
  CHECK(rec.errors.empty());
}

// Zig's "large allocations count requested size not backing size".
TEST_CASE("debug_resource: memory_limit accounting follows resizes in requested bytes") {
  recorder rec;
  const std::size_t page = pmrheap::platform::page_size();
  debug_resource d(pmrheap::page_resource::instance(), rec.options([](debug_options& o) { o.memory_limit = 1 << 30; }));
  void* p = d.allocate(page + 1, 1);
  CHECK(d.statistics().live_bytes == page + 1);
  REQUIRE(d.resize(p, page + 1, 1, 1));
  CHECK(d.statistics().live_bytes == 1);
  REQUIRE(d.resize(p, 1, 2, 1));
  CHECK(d.statistics().live_bytes == 2);
  d.deallocate(p, 2, 1);
}

TEST_CASE("debug_resource: a backing failure undoes the limit accounting") {
  recorder rec;
  pmrheap::failing_resource backing(pmrheap::c_resource::instance(), 1);
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.memory_limit = 100;
    o.quarantine_blocks = 0;
  }));
  void* p = d.allocate(10);
  CHECK_THROWS_AS(static_cast<void>(d.allocate(20)), std::bad_alloc);  // the backing fails
  CHECK(d.statistics().live_bytes == 10);
  CHECK(d.statistics().total_allocations == 1);
  d.deallocate(p, 10);
  CHECK(d.statistics().live_bytes == 0);
}

// ---- statistics, options, names ---------------------------------------------------------------

TEST_CASE("debug_resource: statistics and their fmt formatter") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* a = d.allocate(16);
  void* b = d.allocate(32);
  void* c = d.allocate(48);
  d.deallocate(b, 32);
  REQUIRE(d.resize(a, 16, 8));
  const pmrheap::debug_statistics s = d.statistics();
  CHECK(s.blocks_in_use == 2);
  CHECK(s.peak_blocks_in_use == 3);
  CHECK(s.live_bytes == 56);
  CHECK(s.peak_bytes == 96);
  CHECK(s.total_allocations == 3);
  CHECK(s.total_deallocations == 1);
  CHECK(s.total_bytes == 96);
  CHECK(s.quarantined_blocks == 1);
  CHECK(s.quarantined_bytes == 32);
  CHECK(fmt::format("{}", s) ==
        "live: 2 blocks, 56 bytes; peak: 3 blocks, 96 bytes; total: 3 allocations (96 bytes), 1 deallocations; "
        "quarantined: 1 "
        "blocks, 32 bytes; errors: 0");
  CHECK(fmt::format("{}", debug_error_kind::double_free) == "double free");
  CHECK(fmt::format("{}", pmrheap::stack_trace{}) == "    (no stack frames captured)\n");
  d.deallocate(a, 8);
  d.deallocate(c, 48);
}

// Compiled with -Wextra (and -Werror in the sanitizer and clang builds): g++ 12 warns about a
// designated initializer that leaves out a member without a default member initializer.
TEST_CASE("debug_resource: debug_options takes designated initializers that leave fields out") {
  const debug_options o{.stack_trace_frames = 0, .quarantine_blocks = 8};
  CHECK(o.stack_trace_frames == 0);
  CHECK(o.memory_limit == debug_options::no_limit);
  CHECK_FALSE(o.on_error);
  CHECK(o.quarantine_bytes == std::size_t{1} << 20);
  CHECK(o.quarantine_blocks == 8);
  CHECK(o.canary_bytes == 16);
  debug_resource d(pmrheap::c_resource::instance(), debug_options{.quarantine_blocks = 2});
  CHECK(d.options().quarantine_blocks == 2);
}

TEST_CASE("debug_resource: statistics count errors by kind") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* p = d.allocate(16, 8);
  d.deallocate(p, 16, 8);
  d.deallocate(p, 16, 8);  // double free
  void* q = d.allocate(32, 8);
  d.deallocate(q, 24, 8);  // size mismatch
  int local = 0;
  d.deallocate(&local, sizeof local, alignof(int));  // invalid free
  const pmrheap::debug_statistics s = d.statistics();
  CHECK(s.errors == 3);
  CHECK(s.errors_of(debug_error_kind::double_free) == 1);
  CHECK(s.errors_of(debug_error_kind::size_mismatch) == 1);
  CHECK(s.errors_of(debug_error_kind::invalid_free) == 1);
  CHECK(s.errors_of(debug_error_kind::leak) == 0);
  CHECK(rec.errors.size() == 3);
}

TEST_CASE("debug_resource: debug_options::name is printed in every report") {
  recorder first;
  recorder second;
  debug_resource a(pmrheap::c_resource::instance(), first.options([](debug_options& o) { o.name = "parser"; }));
  debug_resource b(pmrheap::c_resource::instance(), second.options([](debug_options& o) { o.name = "cache"; }));
  void* p = a.allocate(8, 8);
  void* q = b.allocate(8, 8);
  a.deallocate(p, 8, 8);
  a.deallocate(p, 8, 8);
  CHECK(a.report_leaks() == 0);
  CHECK(b.report_leaks() == 1);
  REQUIRE(first.errors.size() == 1);
  REQUIRE(second.errors.size() == 1);
  CHECK(first.errors[0].message.rfind("pmrheap::debug_resource \"parser\": double free: ", 0) == 0);
  CHECK(second.errors[0].message.rfind("pmrheap::debug_resource \"cache\": leak: ", 0) == 0);
  b.deallocate(q, 8, 8);
}

TEST_CASE("debug_resource: every error kind has a name") {
  CHECK(std::string(pmrheap::to_string(debug_error_kind::leak)) == "leak");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::invalid_free)) == "invalid free");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::size_mismatch)) == "size mismatch");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::alignment_mismatch)) == "alignment mismatch");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::overrun)) == "overrun");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::use_after_free)) == "use after free");
}
