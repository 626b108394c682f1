// SPDX-License-Identifier: MIT
// Tests debug_resource's records (src/testing/debug_records.*, debug_report.cpp): leaks, double and
// invalid frees, size and alignment mismatches, each triggered on purpose and its report checked.
#include "testing/debug_resource_support.hpp"

// ---- leaks ------------------------------------------------------------------------------------

TEST_CASE("debug_resource: leak on demand: reported with the allocation trace, nothing freed") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) { o.stack_trace_frames = 8; }));
  void* p = pmrheap_debug_allocate(d, 24);
  CHECK(d.blocks_in_use() == 1);
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
  CHECK(d.blocks_in_use() == 1);
  bytes_of(p)[23] = 1;
  d.deallocate(p, 24, 8);
  CHECK(d.blocks_in_use() == 0);
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
  CHECK(d.blocks_in_use() == 1);  // ignored: the block is still live
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
  CHECK(d.blocks_in_use() == 0);
  CHECK(backing.blocks_in_use() == 0);
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
  CHECK(backing.blocks_in_use() == 0);
}

TEST_CASE("debug_resource: both mismatches at once are two reports") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options());
  void* p = d.allocate(24, 16);
  d.deallocate(p, 0, 8);  // size 0 on a live block is a size mismatch too
  CHECK(rec.errors.size() == 2);
  CHECK(rec.count(debug_error_kind::size_mismatch) == 1);
  CHECK(rec.count(debug_error_kind::alignment_mismatch) == 1);
  CHECK(d.blocks_in_use() == 0);
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
