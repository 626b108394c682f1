// SPDX-License-Identifier: MIT
// Every resource of tests/support/resources.hpp against every bad input of
// tests/support/contract.hpp, plus the bad inputs that apply to one resource only: each gets its
// documented answer and the resource keeps working (docs/reliability/bad_input.md).
// With PMRHEAP_BAD_INPUT_TABLE=FILE in the environment it writes the docs page
// docs/reliability/bad_input.md to FILE (./scripts/bad_input_table).
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/stack_fallback_resource.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"
#include "support/contract.hpp"
#include "support/resources.hpp"

using pmrheap::reset_mode;
using pmrheap::detail::size_max;
using pmrheap::test::all_resources;
using pmrheap::test::bad_input;
using pmrheap::test::bad_inputs;
using pmrheap::test::resource_entry;
using pmrheap::test::still_works;

namespace {

/// A bad input only some configurations of all_resources() have (named exactly as there).
struct specific_bad_input {
  std::vector<std::string_view> resources;
  bad_input row;
};

void* at(std::uintptr_t address) { return reinterpret_cast<void*>(address); }

// A debug_resource told the wrong size or alignment: each call is reported through on_error (the
// catalog's handler records into debug_error_sink() while `errors` is set), deallocate still frees
// the block with what it recorded, resize and remap refuse and leave the block alone.
void debug_mismatches(pmrheap::resource& r) {
  auto& d = dynamic_cast<pmrheap::debug_resource&>(r);
  std::vector<pmrheap::debug_error> errors;
  pmrheap::test::debug_error_sink() = &errors;
  auto* p = static_cast<unsigned char*>(d.allocate(32, 16));
  std::memset(p, 0x5a, 32);
  CHECK_FALSE(d.resize(p, 31, 64, 16));
  CHECK(d.remap(p, 32, 64, 8) == nullptr);
  for (int i = 0; i < 32; ++i) REQUIRE(p[i] == 0x5a);
  d.deallocate(p, 31, 16);
  CHECK(d.blocks_in_use() == 0);
  void* q = d.allocate(32, 16);
  d.deallocate(q, 32, 8);
  CHECK(d.blocks_in_use() == 0);
  void* both = d.allocate(100, 64);
  d.deallocate(both, 99, 32);
  CHECK(d.blocks_in_use() == 0);
  pmrheap::test::debug_error_sink() = nullptr;
  using kind = pmrheap::debug_error_kind;
  const std::vector<kind> expected = {kind::size_mismatch,      kind::alignment_mismatch, kind::size_mismatch,
                                      kind::alignment_mismatch, kind::size_mismatch,      kind::alignment_mismatch};
  REQUIRE(errors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(errors[i].kind == expected[i]);
    CHECK(errors[i].address == (i < 3 ? static_cast<const void*>(p) : i == 3 ? q : both));
  }
  CHECK(errors[0].message.find("31") != std::string::npos);
  CHECK(d.statistics().errors == expected.size());
  CHECK(d.statistics().blocks_in_use == 0);
}

// Addresses outside a buffer resource's buffer: owns() says no, from one byte before it to the
// top of the address space; the first and last byte of the buffer are its own. A fresh buffer
// hands out its first byte to allocate(1, 1), which is how its start is found.
template <class R>
std::uintptr_t owns_only_the_buffer(R& b) {
  REQUIRE(b.used() == 0);
  void* first = b.allocate(1, 1);
  const auto base = reinterpret_cast<std::uintptr_t>(first);
  const std::size_t capacity = b.capacity();
  CHECK(b.owns(first));
  CHECK(b.owns(at(base + capacity - 1)));
  CHECK_FALSE(b.owns(at(base + capacity)));
  CHECK_FALSE(b.owns(at(base - 1)));
  CHECK_FALSE(b.owns(nullptr));
  CHECK_FALSE(b.owns(at(~std::uintptr_t{0})));
  int local = 0;
  CHECK_FALSE(b.owns(&local));
  void* heap = pmrheap::c_resource::instance()->allocate(64, 16);
  CHECK_FALSE(b.owns(heap));
  pmrheap::c_resource::instance()->deallocate(heap, 64, 16);
  b.deallocate(first, 1, 1);
  CHECK(b.used() == 0);
  return base;
}

// A fixed buffer also ignores a foreign block: deallocate leaves it and the buffer alone, resize
// and remap refuse it, and so they do a block that starts inside the buffer and runs past its end.
template <class R>
void fixed_buffer_foreign_pointers(R& b) {
  const std::uintptr_t base = owns_only_the_buffer(b);
  void* kept = b.allocate(16, 16);
  const std::size_t used = b.used();
  unsigned char local[64];
  std::memset(local, 0x33, sizeof local);
  b.deallocate(local, sizeof local, 1);
  CHECK_FALSE(b.resize(local, sizeof local, 16, 1));
  CHECK_FALSE(b.resize(local, sizeof local, 128, 1));
  CHECK(b.remap(local, sizeof local, 16, 1) == nullptr);
  for (unsigned char c : local) REQUIRE(c == 0x33);
  void* straddling = at(base + b.capacity() - 8);
  b.deallocate(straddling, 16, 1);
  CHECK_FALSE(b.resize(straddling, 16, 8, 1));
  CHECK(b.remap(straddling, 16, 8, 1) == nullptr);
  CHECK(b.used() == used);
  b.deallocate(kept, 16, 16);
}

// buffer_first and stack_fallback: owns() decides where deallocate, resize and remap go, so a
// block of the fallback must never be taken for the buffer's.
template <class R>
void buffer_first_foreign_pointers(R& b) {
  owns_only_the_buffer(b);
  auto* big = static_cast<unsigned char*>(b.allocate(b.capacity() + 1, 16));
  CHECK_FALSE(b.owns(big));
  CHECK(b.used() == 0);
  std::memset(big, 0x44, b.capacity() + 1);
  big = static_cast<unsigned char*>(pmrheap::reallocate(b, big, b.capacity() + 1, 2 * b.capacity(), 16));
  CHECK_FALSE(b.owns(big));
  for (std::size_t i = 0; i <= b.capacity(); ++i) REQUIRE(big[i] == 0x44);
  b.deallocate(big, 2 * b.capacity(), 16);
  CHECK(b.used() == 0);
}

// The rows run on either resource of a pair, whichever `r` is.
void fixed_buffers_foreign_pointers(pmrheap::resource& r) {
  if (auto* fixed = dynamic_cast<pmrheap::fixed_buffer_resource*>(&r)) return fixed_buffer_foreign_pointers(*fixed);
  fixed_buffer_foreign_pointers(dynamic_cast<pmrheap::concurrent_fixed_buffer_resource&>(r));
}
void buffers_first_foreign_pointers(pmrheap::resource& r) {
  if (auto* first = dynamic_cast<pmrheap::buffer_first_resource*>(&r)) return buffer_first_foreign_pointers(*first);
  buffer_first_foreign_pointers(dynamic_cast<pmrheap::stack_fallback_resource<4096>&>(r));
}

// reset(retain_with_limit) with limits around every boundary: the arena keeps exactly
// min(limit, capacity) in one node. free_all and retain_capacity take no limit (a mode with a
// limit does not compile: tests/arena_resource.cpp).
void arena_odd_limits(pmrheap::resource& r) {
  auto& a = dynamic_cast<pmrheap::arena_resource&>(r);
  const auto grow = [&a] {
    static_cast<void>(a.allocate(3000, 16));
    static_cast<void>(a.allocate(5000, 64));
    static_cast<void>(a.allocate(100, 1));
  };
  CHECK(a.reset(pmrheap::retain_with_limit{size_max}));  // an empty arena stays empty
  CHECK(a.capacity() == 0);
  grow();
  const std::size_t capacity = a.capacity();
  const std::size_t page = pmrheap::platform::page_size();
  for (std::size_t limit : {std::size_t{1}, std::size_t{15}, std::size_t{17}, page - 1, page + 1, capacity - 1,
                            capacity, capacity + 1, size_max / 2, size_max - 1, size_max}) {
    CAPTURE(limit);
    grow();
    const std::size_t before = a.capacity();
    CHECK(a.reset(pmrheap::retain_with_limit{limit}));
    CHECK(a.capacity() == std::min(limit, before));
    still_works(a);
  }
  grow();
  const std::size_t before = a.capacity();
  CHECK(a.reset(reset_mode::retain_capacity));
  CHECK(a.capacity() == before);
  CHECK(a.reset(reset_mode::free_all));
  CHECK(a.capacity() == 0);
}

// The same for the virtual arena, which keeps at most the limit committed, rounded down to pages.
void virtual_arena_odd_limits(pmrheap::resource& r) {
  auto& a = dynamic_cast<pmrheap::virtual_arena_resource&>(r);
  const std::size_t page = pmrheap::platform::page_size();
  const std::size_t step = a.commit_step();
  CHECK(a.reset(pmrheap::retain_with_limit{size_max}));
  CHECK(a.committed() == 0);
  static_cast<void>(a.allocate(3 * step + 5, 1));
  const std::size_t committed = a.committed();
  for (std::size_t limit : {std::size_t{1}, page - 1, page, page + 1, step + page - 1, committed - 1, committed,
                            committed + 1, size_max - page + 1, size_max}) {
    CAPTURE(limit);
    static_cast<void>(a.allocate(3 * step + 5, 1));
    const std::size_t before = a.committed();
    CHECK(a.reset(pmrheap::retain_with_limit{limit}));
    CHECK(a.used() == 0);
    CHECK(a.committed() == std::min(pmrheap::detail::align_down(limit, page), before));
    still_works(a);
  }
  static_cast<void>(a.allocate(3 * step + 5, 1));
  const std::size_t before = a.committed();
  CHECK(a.reset(reset_mode::retain_capacity));
  CHECK(a.committed() == before);
  CHECK(a.reset(reset_mode::free_all));
  CHECK(a.committed() == 0);
}

// One entry per resource-specific bad input: a debug resource's wrong-size deallocate, a foreign
// pointer to a buffer's owns(), odd reset limits, ...
const std::vector<specific_bad_input>& specific_bad_inputs() {
  static const std::vector<specific_bad_input> rows = {
      {{"validating_resource(c_resource)"},
       {"deallocate with the wrong size or alignment (validating_resource)",
        "pmrheap::testing::conformance_error naming the block; the block stays live",
        [](pmrheap::resource& r) {
          auto& v = dynamic_cast<pmrheap::testing::validating_resource&>(r);
          void* p = v.allocate(32, 16);
          CHECK_THROWS_WITH_AS(v.deallocate(p, 31, 16), doctest::Contains("the block has 32 bytes"),
                               pmrheap::testing::conformance_error);
          CHECK_THROWS_WITH_AS(v.deallocate(p, 32, 8), doctest::Contains("alignment 16"),
                               pmrheap::testing::conformance_error);
          CHECK(v.blocks_in_use() == 1);
          v.deallocate(p, 32, 16);
          CHECK(v.blocks_in_use() == 0);
        }}},
      {{"debug_resource(c_resource)", "debug_resource(c_resource, no quarantine)"},
       {"deallocate, resize or remap with the wrong size or alignment (debug_resource)",
        "on_error gets a size mismatch and an alignment mismatch naming the block; deallocate frees it with "
        "the recorded size, resize false and remap nullptr leave it untouched",
        debug_mismatches}},
      {{"fixed_buffer_resource(64 KiB)", "concurrent_fixed_buffer_resource(64 MiB)"},
       {"foreign pointers: outside the buffer, one past its end, a block running past its end",
        "owns() false; deallocate ignores them, resize false, remap nullptr; the buffer and the foreign "
        "memory untouched",
        fixed_buffers_foreign_pointers}},
      {{"buffer_first_resource(16 KiB, c_resource)", "stack_fallback_resource<4096>(c_resource)"},
       {"foreign pointers to owns(), and fallback blocks",
        "owns() false outside the buffer; a fallback block is deallocated, resized and reallocated by the "
        "fallback, never by the buffer",
        buffers_first_foreign_pointers}},
      {{"arena_resource(page_resource)", "arena_resource(c_resource)", "arena_resource(new_delete_resource)"},
       {"reset(retain_with_limit{n}) with odd limits (1, 15, 17, page +- 1, capacity +- 1, SIZE_MAX)",
        "true; capacity() == min(limit, capacity before); a mode with a limit does not compile", arena_odd_limits}},
      {{"virtual_arena_resource"},
       {"reset(retain_with_limit{n}) with odd limits (1, page +- 1, committed +- 1, SIZE_MAX)",
        "true; committed() == min(limit rounded down to pages, committed before); a mode with a limit "
        "does not compile",
        virtual_arena_odd_limits}},
  };
  return rows;
}

// Under ASan a throwing ::operator new that cannot be met aborts (resource_entry::operator_new_upstream).
bool runs(const resource_entry& entry, const bad_input& row) {
  return !(PMRHEAP_HAS_ASAN && entry.operator_new_upstream && row.huge_upstream_request);
}

const resource_entry* find_resource(std::string_view name) {
  for (const resource_entry& entry : all_resources())
    if (name == entry.name) return &entry;
  return nullptr;
}

// Alignment 2^(N-1), the top bit of a size_t, the largest power of two there is. On 64-bit targets
// no address but 0 and 2^63 (kernel space) is aligned to it, and the over-allocation a C heap makes
// for it wraps (ASan's posix_memalign CHECK-failed the process there), so every resource must
// refuse it before a heap sees it. On 32-bit targets 2^31 is half the address space, which a
// mapping can really get: there a resource may also meet it with a block that works.
const bad_input& top_bit_alignment() {
  static const bad_input row = {
      "alignment 2^63 (32-bit: 2^31), sizes 1, 16 and 4096",
      "allocate: pmrheap::out_of_memory naming the request, try_allocate nullptr (32-bit: or a block "
      "aligned to 2^31 that works); the C heap never sees it",
      [](pmrheap::resource& r) {
        constexpr std::size_t top = ~(size_max >> 1);
        for (std::size_t bytes : {std::size_t{1}, std::size_t{16}, std::size_t{4096}}) {
          if constexpr (sizeof(std::size_t) >= 8) {
            pmrheap::test::contract_detail::out_of_memory(r, bytes, top);
          } else {
            pmrheap::test::contract_detail::out_of_memory_or_aligned(r, bytes, top);
          }
        }
      }};
  return row;
}

// The page docs/reliability/bad_input.md, exactly: one line per bad input with its answer and the
// configurations it ran on (a column per configuration would be 16 columns of ticks). Generated,
// never edited by hand: ./scripts/bad_input_table writes it, test bad_input_table compares.
std::string table_page() {
  std::string page =
      "# Bad input: every answer, as tested\n\n"
      "<!-- Generated by ./scripts/bad_input_table from tests/bad_input.cpp; test bad_input_table fails when "
      "this file differs. Do not edit by hand. -->\n\n"
      "Every common row runs on every configuration of the catalog (`tests/support/resources.hpp`):";
  std::string names;
  for (const resource_entry& entry : all_resources())
    names += fmt::format("{}`{}`", names.empty() ? " " : ", ", entry.name);
  std::size_t specific_cases = 0;
  for (const specific_bad_input& specific : specific_bad_inputs()) specific_cases += specific.resources.size();
  page += fmt::format(
      "{}. Each case checks the answer, then that the resource still works (blocks of 1, 100 and 1000 bytes at "
      "alignments 1, 16 and 256, filled, reallocated to twice the size, verified, freed). {} configurations x {} "
      "common rows, plus {} resource-specific cases. The shared contract is in "
      "[design.md](../design.md#the-contract); the platform rules some rows state (2^40 alignment, 32-bit sizes, "
      "valgrind) in [reliability.md](../reliability.md#bad-input).\n\n",
      names, all_resources().size(), bad_inputs().size(), specific_cases);
  page += "| bad input | answer | checked on |\n|---|---|---|\n";
  for (const bad_input& row : bad_inputs()) {
    std::string on = fmt::format("all {} configurations", all_resources().size());
    for (const resource_entry& entry : all_resources())
      if (entry.operator_new_upstream && row.huge_upstream_request)
        on += fmt::format(" ({}: not under ASan)", entry.name);
    page += fmt::format("| {} | {} | {} |\n", row.input, row.answer, on);
  }
  page += fmt::format("| {} | {} | all {} configurations |\n", top_bit_alignment().input, top_bit_alignment().answer,
                      all_resources().size());
  for (const specific_bad_input& specific : specific_bad_inputs()) {
    std::string on;
    for (std::string_view name : specific.resources) on += fmt::format("{}{}", on.empty() ? "" : ", ", name);
    page += fmt::format("| {} | {} | {} |\n", specific.row.input, specific.row.answer, on);
  }
  return page;
}

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("bad input: every resource x every bad input gets the documented answer and keeps working") {
  std::size_t cases = 0;
  std::size_t not_run = 0;
  for (const resource_entry& entry : all_resources()) {
    CAPTURE(entry.name);
    auto r = entry.make();
    for (const bad_input& row : bad_inputs()) {
      if (!runs(entry, row)) {
        ++not_run;
        continue;
      }
      CAPTURE(row.input);
      row.check(*r);
      still_works(*r);
      ++cases;
    }
  }
  MESSAGE(cases << " cases: " << all_resources().size() << " resources x " << bad_inputs().size() << " bad inputs, "
                << not_run << " not run in this build");
  CHECK(cases >= 2 * bad_inputs().size());  // at least c_resource and page_resource
}

TEST_CASE("bad input: alignment 2^63 (32-bit: 2^31) on every resource") {
  const bad_input& row = top_bit_alignment();
  for (const resource_entry& entry : all_resources()) {
    CAPTURE(entry.name);
    auto r = entry.make();
    row.check(*r);
    still_works(*r);
  }
}

TEST_CASE("bad input: resource-specific bad inputs") {
  std::size_t cases = 0;
  for (const specific_bad_input& specific : specific_bad_inputs()) {
    CAPTURE(specific.row.input);
    for (std::string_view name : specific.resources) {
      CAPTURE(name);
      const resource_entry* entry = find_resource(name);
      REQUIRE(entry != nullptr);  // the name must match an entry of all_resources()
      auto r = entry->make();
      specific.row.check(*r);
      still_works(*r);
      ++cases;
    }
  }
  MESSAGE(cases << " resource-specific cases");
  // PMRHEAP_BAD_INPUT_TABLE=FILE writes the docs page there (./scripts/bad_input_table).
  if (const char* path = std::getenv("PMRHEAP_BAD_INPUT_TABLE"); path != nullptr && *path != '\0') {
    std::ofstream out(path, std::ios::binary);
    out << table_page();
    REQUIRE_MESSAGE(out.good(), "cannot write " << std::string(path));
  }
}

// Run by test bad_input_table (tests/meson.build) with PMRHEAP_BAD_INPUT_DOC naming the committed page.
TEST_CASE("bad input: docs/reliability/bad_input.md is what this test prints" * doctest::skip()) {
  const char* path = std::getenv("PMRHEAP_BAD_INPUT_DOC");
  REQUIRE_MESSAGE(path != nullptr, "set PMRHEAP_BAD_INPUT_DOC to docs/reliability/bad_input.md");
  const std::string committed = read_file(path);
  const bool current = committed == table_page();
  CHECK_MESSAGE(current, std::string(path)
                             << " is out of date (a bad-input row or the catalog changed): regenerate it with "
                             << "./scripts/bad_input_table and commit it");
}
