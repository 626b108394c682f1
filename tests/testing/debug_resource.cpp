// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/debug_resource.hpp (docs/testing/debug_resource.md): every error kind
// triggered on purpose and its report checked, the fills and the quarantine, the memory limit,
// statistics, verbose logging, threads, and the abort without a handler (in a child process).
#include "pmrheap/testing/debug_resource.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <memory_resource>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/testing/fmt.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/counting_resource.hpp"
#include "support/reclaiming_resource.hpp"
#include "support/seed.hpp"

#if !defined(_WIN32) && __has_include(<sys/wait.h>)  // not __has_include alone: cross builds see host headers
#  include <csignal>
#  include <sys/wait.h>
#  include <unistd.h>
#endif

using pmrheap::debug_error;
using pmrheap::debug_error_kind;
using pmrheap::debug_options;
using pmrheap::debug_resource;

namespace {

// Collects what the resource reports instead of aborting.
struct recorder {
  std::vector<debug_error> errors;

  debug_options options() {
    debug_options o;
    o.on_error = [this](const debug_error& e) { errors.push_back(e); };
    return o;
  }
  // The defaults changed by `set`, keeping the recording handler.
  template <class Set>
  debug_options options(Set set) {
    debug_options o = options();
    set(o);
    return o;
  }
  [[nodiscard]] std::size_t count(debug_error_kind kind) const {
    std::size_t n = 0;
    for (const auto& e : errors) n += e.kind == kind ? 1 : 0;
    return n;
  }
  [[nodiscard]] const debug_error& only() const {
    REQUIRE(errors.size() == 1);
    MESSAGE(errors.front().message);
    return errors.front();
  }
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool symbolised() { return std::string(pmrheap::stack_trace::symbolizer()) == "libbacktrace"; }

// A validating_resource below a debug_resource, on the heap: ThreadSanitizer knows a std::mutex by
// its address and never sees it destroyed, so one on the stack where another test case had a
// validating_resource *above* a debug_resource looks like a lock-order inversion.
std::unique_ptr<pmrheap::testing::validating_resource> validating_backing() {
  return std::make_unique<pmrheap::testing::validating_resource>(pmrheap::c_resource::instance());
}

unsigned char* bytes_of(void* p) { return static_cast<unsigned char*>(p); }

}  // namespace

// Distinct frames for the traces in the reports.
PMRHEAP_NOINLINE void* pmrheap_debug_allocate(std::pmr::memory_resource& r, std::size_t bytes) {
  void* p = r.allocate(bytes, 8);
  asm volatile("");
  return p;
}
PMRHEAP_NOINLINE void pmrheap_debug_first_free(std::pmr::memory_resource& r, void* p, std::size_t bytes) {
  r.deallocate(p, bytes, 8);
  asm volatile("");
}
PMRHEAP_NOINLINE void pmrheap_debug_second_free(std::pmr::memory_resource& r, void* p, std::size_t bytes) {
  r.deallocate(p, bytes, 8);
  asm volatile("");
}

TEST_CASE("debug_resource: conformance, through validating_resource on both sides") {
  recorder rec;
  auto backing_owner = validating_backing();
  pmrheap::testing::validating_resource& backing = *backing_owner;
  {
    debug_resource d(&backing, rec.options());
    pmrheap::testing::validating_resource v(&d);
    pmrheap::testing::check_conformance(v);
    CHECK(v.live_blocks() == 0);
    CHECK(d.leak_count() == 0);
    CHECK(backing.live_blocks() == d.statistics().quarantined_blocks);  // freed blocks wait in quarantine
    d.release_quarantine();
    CHECK(backing.live_blocks() == 0);
  }
  CHECK(rec.errors.empty());
  backing.check();
}

TEST_CASE("debug_resource: conformance on the default backing (page_resource)") {
  recorder rec;
  debug_resource d(nullptr, rec.options());
  CHECK(d.upstream_resource() == pmrheap::page_resource::instance());
  pmrheap::testing::validating_resource v(&d);
  pmrheap::testing::check_conformance(v);
  CHECK(d.leak_count() == 0);
  CHECK(rec.errors.empty());
}

TEST_CASE("debug_resource: bad input") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  pmrheap::test::check_contract(d);
  CHECK(d.leak_count() == 0);
  CHECK(rec.errors.empty());
}

// ---- leaks ------------------------------------------------------------------------------------

TEST_CASE("debug_resource: leak on demand: reported with the allocation trace, nothing freed") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.stack_trace_frames = 8; }));
  void* p = pmrheap_debug_allocate(d, 24);
  CHECK(d.leak_count() == 1);
  CHECK(d.report_leaks() == 1);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::leak);
  CHECK(e.address == p);
  CHECK(e.message.rfind(fmt::format("pmrheap::debug_resource: leak: the 24-byte block at {} (alignment 8, allocation "
                                    "#1) was never deallocated\n  allocated at:\n    #0 ",
                                    p),
                        0) == 0);
  // std::size_t demangles as "unsigned long" or "unsigned int" by target.
  const std::string size = std::is_same_v<std::size_t, unsigned long> ? "unsigned long" : "unsigned int";
  if (symbolised()) CHECK(contains(e.message, "pmrheap_debug_allocate(std::pmr::memory_resource&, " + size + ") at "));
  // The report freed nothing: the block is still live and can be freed normally.
  CHECK(d.leak_count() == 1);
  bytes_of(p)[23] = 1;
  d.deallocate(p, 24, 8);
  CHECK(d.leak_count() == 0);
  CHECK(rec.errors.size() == 1);
  CHECK(d.statistics().errors == 1);
}

TEST_CASE("debug_resource: leaks at destruction, one report per block; leaked blocks stay allocated") {
  recorder rec;
  pmrheap::test::reclaiming_resource backing;  // takes the leaked blocks back for LeakSanitizer's sake
  {
    debug_resource d(&backing, rec.options());
    static_cast<void>(d.allocate(10));
    static_cast<void>(d.allocate(20));
    d.deallocate(d.allocate(30), 30);
  }
  REQUIRE(rec.errors.size() == 2);
  CHECK(rec.count(debug_error_kind::leak) == 2);
  CHECK(contains(rec.errors[0].message + rec.errors[1].message, "the 10-byte block"));
  CHECK(contains(rec.errors[0].message + rec.errors[1].message, "the 20-byte block"));
  CHECK(backing.live() == 2);  // the quarantined 30-byte block went back; the leaks did not
}

TEST_CASE("debug_resource: leaks are reported in allocation order") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  std::vector<void*> blocks;
  for (std::size_t i = 1; i <= 20; ++i) blocks.push_back(d.allocate(8 * i));
  for (std::size_t i = 0; i < blocks.size(); i += 2) d.deallocate(blocks[i], 8 * (i + 1));  // the odd ones stay
  CHECK(d.report_leaks() == 10);
  REQUIRE(rec.errors.size() == 10);
  for (std::size_t k = 0; k < 10; ++k) {
    CHECK(rec.errors[k].address == blocks[2 * k + 1]);
    CHECK(contains(rec.errors[k].message,
                   fmt::format("(alignment {}, allocation #{}) was never", pmrheap::default_alignment, 2 * k + 2)));
  }
  for (std::size_t i = 1; i < blocks.size(); i += 2) d.deallocate(blocks[i], 8 * (i + 1));
}

// ---- double and invalid frees ------------------------------------------------------------------

TEST_CASE("debug_resource: double free: three traces, the second free ignored") {
  recorder rec;
  pmrheap::test::counting_resource backing(pmrheap::c_resource::instance());
  debug_resource d(&backing, rec.options([](debug_options& o) { o.stack_trace_frames = 8; }));
  void* p = pmrheap_debug_allocate(d, 40);
  pmrheap_debug_first_free(d, p, 40);
  pmrheap_debug_second_free(d, p, 40);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::double_free);
  CHECK(e.address == p);
  CHECK(e.message.rfind(fmt::format("pmrheap::debug_resource: double free: deallocate({}, 40 bytes, alignment 8) of "
                                    "the 40-byte block at {} (alignment 8, allocation #1), which was already freed\n",
                                    p, p),
                        0) == 0);
  const auto allocated = e.message.find("  allocated at:\n");
  const auto first = e.message.find("  first freed at:\n");
  const auto again = e.message.find("  freed again at:\n");
  CHECK(allocated < first);
  CHECK(first < again);
  CHECK(again != std::string::npos);
  if (symbolised()) {
    CHECK(e.message.find("pmrheap_debug_allocate") < first);
    CHECK(e.message.find("pmrheap_debug_first_free") > first);
    CHECK(e.message.find("pmrheap_debug_first_free") < again);
    CHECK(e.message.find("pmrheap_debug_second_free") > again);
  }
  // Consistent: one deallocation counted, the backing freed the block once.
  CHECK(d.statistics().total_deallocations == 1);
  d.release_quarantine();
  CHECK(backing.live() == 0);
  CHECK(rec.errors.size() == 1);
}

TEST_CASE("debug_resource: a double free after the quarantine: with retain_metadata, still three traces") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) {
    o.retain_metadata = true;
    o.quarantine_blocks = 0;
  }));
  void* p = d.allocate(16);
  d.deallocate(p, 16);
  CHECK(d.statistics().quarantined_blocks == 0);  // given back at once
  d.deallocate(p, 16);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::double_free);
  CHECK(contains(e.message, "first freed at:"));
  CHECK(contains(e.message, "freed again at:"));
  d.flush_retained_metadata();
  d.deallocate(p, 16);  // the record is gone: now it is a pointer the resource does not know
  CHECK(rec.errors.size() == 2);
  CHECK(rec.errors[1].kind == debug_error_kind::invalid_free);
}

TEST_CASE("debug_resource: a block handed out again drops the retained records inside it") {
  recorder rec;
  alignas(16) std::array<std::byte, 256> buffer{};
  pmrheap::fixed_buffer_resource backing(buffer);  // reclaims the last block: addresses come back
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.retain_metadata = true;
    o.quarantine_blocks = 0;
  }));
  auto* x = bytes_of(d.allocate(16, 16));
  auto* y = bytes_of(d.allocate(16, 16));
  REQUIRE(y == x + 32);  // 16 bytes and the 16-byte canary
  d.deallocate(y, 16, 16);
  d.deallocate(x, 16, 16);
  auto* z = bytes_of(d.allocate(100, 16));
  REQUIRE(z == x);          // covers both old blocks
  d.deallocate(y, 16, 16);  // no stale record of y: a pointer into z, not a double free of y
  d.deallocate(x, 16, 16);  // the record of x is gone too: x is z now, freed with z's size wrong
  REQUIRE(rec.errors.size() == 2);
  CHECK(rec.errors[0].kind == debug_error_kind::invalid_free);
  CHECK(contains(rec.errors[0].message, "; it points 32 bytes into the 100-byte block"));
  CHECK(rec.errors[1].kind == debug_error_kind::size_mismatch);
}

TEST_CASE("debug_resource: without retain_metadata a late double free is an invalid free") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 0; }));
  void* p = d.allocate(16);
  d.deallocate(p, 16);
  d.deallocate(p, 16);
  CHECK(rec.only().kind == debug_error_kind::invalid_free);
}

TEST_CASE("debug_resource: invalid free of a foreign pointer: reported from the table, backing untouched") {
  recorder rec;
  pmrheap::test::counting_resource backing(pmrheap::c_resource::instance());
  debug_resource d(&backing, rec.options());
  alignas(16) unsigned char elsewhere[64];
  d.deallocate(elsewhere, 64, 16);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::invalid_free);
  CHECK(e.address == elsewhere);
  CHECK(e.message == fmt::format("pmrheap::debug_resource: invalid free: deallocate({}, 64 bytes, alignment 16) "
                                 "names no block this resource handed out\n  deallocated at:\n{}",
                                 static_cast<void*>(elsewhere), e.message.substr(e.message.find("at:\n") + 4)));
  CHECK(backing.deallocations == 0);
}

TEST_CASE("debug_resource: invalid free of a pointer inside a live block names that block") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  auto* p = bytes_of(d.allocate(32, 16));
  d.deallocate(p + 8, 8, 8);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::invalid_free);
  CHECK(
      contains(e.message, fmt::format("; it points 8 bytes into the 32-byte block at {} (alignment 16, allocation #1)",
                                      static_cast<void*>(p))));
  CHECK(contains(e.message, "  deallocated at:\n"));
  CHECK(contains(e.message, "  that block was allocated at:\n"));
  CHECK(d.leak_count() == 1);  // ignored: the block is still live
  d.deallocate(p, 32, 16);
  CHECK(rec.errors.size() == 1);
}

TEST_CASE("debug_resource: deallocating the empty block with 0 bytes is the contract's no-op") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* empty = d.allocate(0, 64);
  d.deallocate(empty, 0, 64);
  CHECK(rec.errors.empty());
  CHECK(d.statistics().total_allocations == 0);
}

// ---- mismatches ---------------------------------------------------------------------------------

TEST_CASE("debug_resource: size mismatch on deallocate: reported, then freed with the recorded size") {
  recorder rec;
  auto backing_owner = validating_backing();  // would throw on a wrong size
  pmrheap::testing::validating_resource& backing = *backing_owner;
  debug_resource d(&backing, rec.options([](debug_options& o) { o.quarantine_blocks = 0; }));
  void* p = d.allocate(24, 8);
  d.deallocate(p, 20, 8);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::size_mismatch);
  CHECK(e.message.rfind(fmt::format("pmrheap::debug_resource: size mismatch: deallocate({}, 20 bytes, alignment 8) of "
                                    "the 24-byte block at {} (alignment 8, allocation #1): 20 bytes given, the block "
                                    "has 24\n  allocated at:\n",
                                    p, p),
                        0) == 0);
  CHECK(contains(e.message, "  deallocated at:\n"));
  CHECK(d.leak_count() == 0);
  CHECK(backing.live_blocks() == 0);
}

TEST_CASE("debug_resource: alignment mismatch on deallocate: reported, then freed with the recorded alignment") {
  recorder rec;
  auto backing_owner = validating_backing();
  pmrheap::testing::validating_resource& backing = *backing_owner;
  debug_resource d(&backing, rec.options([](debug_options& o) { o.quarantine_blocks = 0; }));
  void* p = d.allocate(24, 64);
  d.deallocate(p, 24, 8);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::alignment_mismatch);
  CHECK(contains(e.message, "alignment mismatch: deallocate("));
  CHECK(contains(e.message, "alignment 8 given, the block was allocated with 64"));
  CHECK(backing.live_blocks() == 0);
}

TEST_CASE("debug_resource: both mismatches at once are two reports") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* p = d.allocate(24, 16);
  d.deallocate(p, 0, 8);  // size 0 on a live block is a size mismatch too
  CHECK(rec.errors.size() == 2);
  CHECK(rec.count(debug_error_kind::size_mismatch) == 1);
  CHECK(rec.count(debug_error_kind::alignment_mismatch) == 1);
  CHECK(d.leak_count() == 0);
}

TEST_CASE("debug_resource: a mismatched resize or remap is reported and refused") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  auto* p = bytes_of(d.allocate(100, 8));
  p[0] = 7;
  CHECK_FALSE(d.resize(p, 90, 50, 8));
  CHECK(d.remap(p, 100, 50, 16) == nullptr);
  REQUIRE(rec.errors.size() == 2);
  CHECK(rec.errors[0].kind == debug_error_kind::size_mismatch);
  CHECK(contains(rec.errors[0].message,
                 fmt::format("resize({}, 90 -> 50 bytes, alignment 8) of the 100-byte block", static_cast<void*>(p))));
  CHECK(contains(rec.errors[0].message, "  resized at:\n"));
  CHECK(rec.errors[1].kind == debug_error_kind::alignment_mismatch);
  CHECK(contains(rec.errors[1].message, "  remapped at:\n"));
  CHECK(p[0] == 7);
  d.deallocate(p, 100, 8);
  CHECK(rec.errors.size() == 2);
}

// ---- overruns and use after free ---------------------------------------------------------------

TEST_CASE("debug_resource: an overrun changes the canary and is reported at deallocate") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  auto* p = bytes_of(d.allocate(24, 8));
  CHECK(p[24] == debug_resource::canary_fill);  // the canary starts right after the requested size
  CHECK(p[39] == debug_resource::canary_fill);
  std::memset(p, 0, 27);  // three bytes too many
  d.deallocate(p, 24, 8);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::overrun);
  CHECK(e.message.rfind(fmt::format("pmrheap::debug_resource: overrun: the 24-byte block at {} (alignment 8, "
                                    "allocation #1) was written past its end: 3 of the 16 canary bytes after it "
                                    "changed, the first at offset 24 (found by deallocate)\n  allocated at:\n",
                                    static_cast<void*>(p)),
                        0) == 0);
  CHECK(contains(e.message, "  deallocated at:\n"));
  CHECK(d.leak_count() == 0);
}

TEST_CASE("debug_resource: an overrun is found at resize and by verify(), each once") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  auto* p = bytes_of(d.allocate(64));
  p[64] = 0;
  CHECK(d.resize(p, 64, 32));  // reported, then the canary is written again after 32 bytes
  REQUIRE(rec.errors.size() == 1);
  CHECK(rec.errors[0].kind == debug_error_kind::overrun);
  CHECK(contains(rec.errors[0].message, "(found by resize)"));
  CHECK(p[32] == debug_resource::canary_fill);
  p[40] = 0;  // past the end of the shrunk block, in its canary
  CHECK(d.verify() == 1);
  CHECK(contains(rec.errors[1].message, "the first at offset 40 (found by verify)"));
  CHECK(contains(rec.errors[1].message, "  verified at:\n"));
  CHECK(d.verify() == 0);  // restored after the report
  d.deallocate(p, 32);
  CHECK(rec.errors.size() == 2);
}

TEST_CASE("debug_resource: new blocks read 0xAA, freed ones 0xDD while in quarantine") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  auto* p = bytes_of(d.allocate(48));
  for (int i = 0; i < 48; ++i) REQUIRE(p[i] == debug_resource::allocated_fill);
  std::memset(p, 1, 48);
  d.deallocate(p, 48);
  // The memory is still the resource's (quarantined), so a dangling read is defined here and shows the fill.
  for (int i = 0; i < 48 + 16; ++i) REQUIRE(p[i] == debug_resource::freed_fill);
  CHECK(rec.errors.empty());
}

TEST_CASE("debug_resource: a write after free is reported when the block leaves the quarantine") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 1; }));
  void* a = pmrheap_debug_allocate(d, 32);
  pmrheap_debug_first_free(d, a, 32);
  bytes_of(a)[4] = 0x2a;  // use after free
  void* b = d.allocate(32);
  d.deallocate(b, 32);  // pushes `a` out of the quarantine
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::use_after_free);
  CHECK(e.address == a);
  CHECK(contains(e.message, "use after free: the 32-byte block at"));
  CHECK(contains(e.message,
                 "was written after it was freed: 1 bytes changed, the first at offset 4 (0x2a instead of "
                 "0xdd; found when it left the quarantine)\n  allocated at:\n"));
  CHECK(contains(e.message, "  freed at:\n"));
  if (symbolised()) CHECK(e.message.find("pmrheap_debug_first_free") > e.message.find("  freed at:\n"));
}

TEST_CASE("debug_resource: verify() and release_quarantine() find writes after free too") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* a = d.allocate(16);
  d.deallocate(a, 16);
  bytes_of(a)[0] = 0;
  CHECK(d.verify() == 1);
  CHECK(contains(rec.errors[0].message, "found by verify"));
  bytes_of(a)[1] = 0;
  d.release_quarantine();
  REQUIRE(rec.errors.size() == 2);
  CHECK(contains(rec.errors[1].message, "the first at offset 1"));
  CHECK(contains(rec.errors[1].message, "found by release_quarantine"));
}

TEST_CASE("debug_resource: resize or remap of a freed block is a use after free") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* p = d.allocate(64);
  d.deallocate(p, 64);
  CHECK_FALSE(d.resize(p, 64, 32));
  CHECK(d.remap(p, 64, 128) == nullptr);
  REQUIRE(rec.errors.size() == 2);
  CHECK(rec.errors[0].kind == debug_error_kind::use_after_free);
  CHECK(contains(rec.errors[0].message, "use after free: resize("));
  CHECK(contains(rec.errors[0].message, "which was already freed\n"));
  CHECK(contains(rec.errors[0].message, "  freed at:\n"));
  CHECK(contains(rec.errors[0].message, "  resized at:\n"));
  CHECK(contains(rec.errors[1].message, "  remapped at:\n"));
}

TEST_CASE("debug_resource: resize or remap of an unknown pointer is an invalid free") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  alignas(8) unsigned char elsewhere[64];
  CHECK_FALSE(d.resize(elsewhere, 64, 32, 8));
  CHECK(d.remap(elsewhere, 64, 32, 8) == nullptr);
  CHECK(rec.count(debug_error_kind::invalid_free) == 2);
}

TEST_CASE("debug_resource: fill off: no fills, so a write after free goes unnoticed") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.fill = false; }));
  auto* p = bytes_of(d.allocate(16));
  p[0] = 3;
  d.deallocate(p, 16);
  CHECK(p[0] == 3);
  p[1] = 0;
  CHECK(d.verify() == 0);
  CHECK(rec.errors.empty());
}

TEST_CASE("debug_resource: canary_bytes 0 turns overrun detection off") {
  recorder rec;
  auto backing_owner = validating_backing();
  pmrheap::testing::validating_resource& backing = *backing_owner;
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.quarantine_blocks = 0;
    o.canary_bytes = 0;
  }));
  void* p = d.allocate(24);
  d.deallocate(p, 24);
  CHECK(rec.errors.empty());
  backing.check();  // the backing saw exactly 24 bytes
}

// ---- resize, remap, quarantine -----------------------------------------------------------------

TEST_CASE("debug_resource: resize and remap keep contents and move the canary along") {
  recorder rec;
  auto backing_owner = validating_backing();
  pmrheap::testing::validating_resource& backing = *backing_owner;
  debug_resource d(&backing, rec.options());
  auto* p = bytes_of(d.allocate(100));
  std::memset(p, 0x11, 100);
  REQUIRE(d.resize(p, 100, 50));
  CHECK(p[50] == debug_resource::canary_fill);
  std::memset(p, 0x22, 50);
  auto* q = bytes_of(d.remap(p, 50, std::size_t{1} << 20));  // realloc: may move
  REQUIRE(q != nullptr);
  for (int i = 0; i < 50; ++i) REQUIRE(q[i] == 0x22);
  CHECK(q[50] == debug_resource::allocated_fill);  // the grown part
  CHECK(q[(1 << 20) - 1] == debug_resource::allocated_fill);
  CHECK(q[1 << 20] == debug_resource::canary_fill);
  std::memset(q, 0x33, std::size_t{1} << 20);
  CHECK(d.statistics().live_bytes == std::size_t{1} << 20);
  d.deallocate(q, std::size_t{1} << 20);
  CHECK(rec.errors.empty());
  CHECK(d.leak_count() == 0);
  d.release_quarantine();
  backing.check();
  CHECK(backing.live_blocks() == 0);
}

TEST_CASE("debug_resource: the quarantine keeps freed addresses from coming back") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 100; }));
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    void* p = d.allocate(32);
    CHECK(seen.insert(p).second);
    d.deallocate(p, 32);
  }
  CHECK(d.statistics().quarantined_blocks == 100);
  CHECK(rec.errors.empty());
}

TEST_CASE("debug_resource: the quarantine is bounded by blocks and bytes; the newest free always stays") {
  recorder rec;
  SUBCASE("blocks") {
    debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 4; }));
    for (int i = 0; i < 10; ++i) d.deallocate(d.allocate(16), 16);
    CHECK(d.statistics().quarantined_blocks == 4);
    CHECK(d.statistics().quarantined_bytes == 64);
  }
  SUBCASE("bytes") {
    debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_bytes = 100; }));
    for (int i = 0; i < 10; ++i) d.deallocate(d.allocate(40), 40);
    CHECK(d.statistics().quarantined_blocks == 2);
    d.deallocate(d.allocate(1000), 1000);
    CHECK(d.statistics().quarantined_blocks == 1);
    CHECK(d.statistics().quarantined_bytes == 1000);
  }
  SUBCASE("never_unmap: no bound until release_quarantine") {
    debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) {
      o.never_unmap = true;
      o.quarantine_blocks = 4;
    }));
    for (int i = 0; i < 50; ++i) d.deallocate(d.allocate(16), 16);
    CHECK(d.statistics().quarantined_blocks == 50);
    d.release_quarantine();
    CHECK(d.statistics().quarantined_blocks == 0);
  }
  CHECK(rec.errors.empty());
}

// The record table grows, and every erase rearranges a probe run (runs that wrap past the table's
// end included, which takes many operations at a steady size): each block must still be found with
// its own size, and a freed one stays known as freed.
TEST_CASE("debug_resource: blocks freed in random order are all found") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) {
    o.quarantine_blocks = 300;
    o.stack_trace_frames = 0;
  }));
  std::mt19937_64 random(pmrheap::test::seed("debug_resource random frees"));
  std::vector<std::pair<void*, std::size_t>> live;
  const auto below = [&](std::size_t n) { return static_cast<std::size_t>(random() % n); };
  const auto free_one = [&] {
    std::swap(live[below(live.size())], live.back());
    const auto [p, bytes] = live.back();
    live.pop_back();
    d.deallocate(p, bytes, 8);
  };
  // 1200 to 1700 live blocks and 300 quarantined: the table (4096 slots once it holds 1024
  // records) stays 37-50% full, where runs that wrap are common enough.
  for (int i = 0; i < 200000; ++i) {
    if (live.size() > 1200 && (live.size() > 1700 || below(2) == 0)) {
      free_one();
    } else {
      const std::size_t bytes = 1 + below(200);
      live.emplace_back(d.allocate(bytes, 8), bytes);
    }
  }
  CHECK(d.leak_count() == live.size());
  REQUIRE(rec.errors.empty());
  // The most recent frees are still quarantined: freeing one again is a double free.
  void* p = d.allocate(24, 8);
  d.deallocate(p, 24, 8);
  d.deallocate(p, 24, 8);
  CHECK(rec.only().kind == debug_error_kind::double_free);
  while (!live.empty()) free_one();
  CHECK(d.leak_count() == 0);
  CHECK(d.statistics().quarantined_blocks == 300);
  CHECK(rec.errors.size() == 1);
}

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

// ---- statistics, logging, handler, threads ----------------------------------------------------

TEST_CASE("debug_resource: statistics and their fmt formatter") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* a = d.allocate(16);
  void* b = d.allocate(32);
  void* c = d.allocate(48);
  d.deallocate(b, 32);
  REQUIRE(d.resize(a, 16, 8));
  const pmrheap::debug_statistics s = d.statistics();
  CHECK(s.live_allocations == 2);
  CHECK(s.live_bytes == 56);
  CHECK(s.peak_bytes == 96);
  CHECK(s.total_allocations == 3);
  CHECK(s.total_deallocations == 1);
  CHECK(s.total_bytes == 96);
  CHECK(s.quarantined_blocks == 1);
  CHECK(s.quarantined_bytes == 32);
  CHECK(fmt::format("{}", s) ==
        "live: 2 blocks, 56 bytes; peak: 96 bytes; total: 3 allocations (96 bytes), 1 deallocations; quarantined: 1 "
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

TEST_CASE("debug_resource: every error kind has a name") {
  CHECK(std::string(pmrheap::to_string(debug_error_kind::leak)) == "leak");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::invalid_free)) == "invalid free");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::size_mismatch)) == "size mismatch");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::alignment_mismatch)) == "alignment mismatch");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::overrun)) == "overrun");
  CHECK(std::string(pmrheap::to_string(debug_error_kind::use_after_free)) == "use after free");
}

TEST_CASE("debug_resource: verbose_log writes one line per call") {
  std::FILE* log = std::tmpfile();
  REQUIRE(log != nullptr);
  {
    recorder rec;
    debug_resource d(pmrheap::c_resource::instance(), rec.options([log](debug_options& o) {
      o.verbose_log = true;
      o.log = log;
    }));
    void* p = d.allocate(24, 8);
    CHECK_FALSE(d.resize(p, 24, std::size_t{1} << 30, 8));
    d.deallocate(p, 24, 8);
    std::rewind(log);
    std::string text;
    char buffer[1024];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, log)) text.append(buffer, n);
    CHECK(text == fmt::format("pmrheap::debug_resource: allocate 24 bytes, alignment 8 -> {} (allocation #1)\n"
                              "pmrheap::debug_resource: resize({}, 24 -> 1073741824 bytes, alignment 8) -> refused\n"
                              "pmrheap::debug_resource: deallocate {}, 24 bytes, alignment 8 (allocation #1)\n",
                              p, p, p));
  }
  std::fclose(log);
}

TEST_CASE("debug_resource: stack_trace_frames 0 captures nothing; reports say so") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.stack_trace_frames = 0; }));
  void* p = d.allocate(8);
  CHECK(d.report_leaks() == 1);
  CHECK(contains(rec.only().message, "  allocated at:\n    (no stack frames captured)\n"));
  d.deallocate(p, 8);
}

TEST_CASE("debug_resource: the handler runs without the lock and may call the resource") {
  std::size_t live_seen = 99;
  debug_resource* self = nullptr;
  debug_options options;
  options.on_error = [&](const debug_error&) { live_seen = self->leak_count(); };
  debug_resource d(pmrheap::c_resource::instance(), options);
  self = &d;
  int local = 0;
  d.deallocate(&local, sizeof local, alignof(int));
  CHECK(live_seen == 0);
}

// Without the lock every check still runs: the options only drop the mutex.
TEST_CASE("debug_resource: thread_safe off finds the same problems on one thread") {
  recorder rec;
  pmrheap::test::reclaiming_resource backing;  // takes the leaked block back for LeakSanitizer's sake
  {
    debug_resource d(&backing, rec.options([](debug_options& o) { o.thread_safe = false; }));
    CHECK_FALSE(d.options().thread_safe);
    auto* overrun = bytes_of(d.allocate(24, 8));
    overrun[24] = 0;
    d.deallocate(overrun, 24, 8);
    auto* twice = bytes_of(d.allocate(16));
    d.deallocate(twice, 16);
    d.deallocate(twice, 16);
    auto* freed = bytes_of(d.allocate(8, 8));
    d.deallocate(freed, 8, 8);
    freed[0] = 1;                       // a write after free, found when the quarantine is released
    static_cast<void>(d.allocate(40));  // leaked
    d.release_quarantine();
  }
  CHECK(rec.count(debug_error_kind::overrun) == 1);
  CHECK(rec.count(debug_error_kind::double_free) == 1);
  CHECK(rec.count(debug_error_kind::use_after_free) == 1);
  CHECK(rec.count(debug_error_kind::leak) == 1);
}

// No lock is taken at all: a backing may call back into the resource while it serves it. With
// the lock (thread_safe on) this call would deadlock, so the test fails (by timeout) if the
// option were ignored.
TEST_CASE("debug_resource: thread_safe off takes no lock, so the backing may call back in") {
  struct calling_back final : std::pmr::memory_resource {
    const debug_resource* debug = nullptr;
    std::vector<std::size_t> live_seen;
    void* do_allocate(std::size_t bytes, std::size_t alignment) override {
      live_seen.push_back(debug->statistics().live_allocations);
      return pmrheap::c_resource::instance()->allocate(bytes, alignment);
    }
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
      pmrheap::c_resource::instance()->deallocate(p, bytes, alignment);
    }
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  } backing;
  debug_options options;
  options.thread_safe = false;
  options.quarantine_blocks = 0;
  debug_resource d(&backing, options);
  backing.debug = &d;
  void* a = d.allocate(8);
  void* b = d.allocate(8);
  CHECK(backing.live_seen == std::vector<std::size_t>{0, 1});  // seen before each record is added
  d.deallocate(b, 8);
  d.deallocate(a, 8);
  CHECK(d.statistics().live_allocations == 0);
}

TEST_CASE("debug_resource: safe from several threads") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.quarantine_blocks = 64; }));
  constexpr int per_thread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&d, t] {
      std::vector<std::pair<unsigned char*, std::size_t>> mine;
      for (int i = 0; i < per_thread; ++i) {
        const std::size_t bytes = static_cast<std::size_t>(i % 64) + 1;
        auto* p = static_cast<unsigned char*>(d.allocate(bytes));
        std::memset(p, t, bytes);
        mine.emplace_back(p, bytes);
        if (i % 3 == 0) {
          auto [q, n] = mine.back();
          mine.pop_back();
          for (std::size_t k = 0; k < n; ++k) REQUIRE(q[k] == t);
          d.deallocate(q, n);
        }
      }
      for (auto [q, n] : mine) d.deallocate(q, n);
    });
  for (auto& thread : threads) thread.join();
  const auto s = d.statistics();
  CHECK(s.total_allocations == 4 * per_thread);
  CHECK(s.total_deallocations == 4 * per_thread);
  CHECK(s.live_allocations == 0);
  CHECK(rec.errors.empty());
}

#if !defined(_WIN32) && __has_include(<sys/wait.h>)  // not __has_include alone: cross builds see host headers
// Without on_error the report goes to stderr and the process aborts: run that in a child.
TEST_CASE("debug_resource: without on_error, a double free prints the report and aborts") {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // doctest's crash handler would report the abort as a failure
    ::dup2(out[1], 2);
    ::close(out[0]);
    debug_resource d(pmrheap::c_resource::instance());
    void* p = d.allocate(40);
    d.deallocate(p, 40);
    d.deallocate(p, 40);
    ::_exit(0);  // not reached
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  MESSAGE(text);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(text.rfind("pmrheap::debug_resource: double free: deallocate(", 0) == 0);
  CHECK(contains(text, "  freed again at:\n"));
}
#endif
