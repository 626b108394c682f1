// SPDX-License-Identifier: MIT
// Tests debug_resource's canaries, fills and quarantine (src/testing/debug_quarantine.cpp): overruns,
// writes after free, resize and remap moving the canary, the quarantine's bounds.
#include "testing/debug_resource_support.hpp"

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
  CHECK(d.blocks_in_use() == 0);
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

// The fills are written and checked 16 bytes a step, from both ends of the range for up to 128
// bytes and in a loop past that: every byte of every size must still be written and checked.
TEST_CASE("debug_resource: every byte of a fill and of a canary is written and checked, at every size") {
  for (const std::size_t canary : {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{15}, std::size_t{16},
                                   std::size_t{17}, std::size_t{33}, std::size_t{100}, std::size_t{200}}) {
    CAPTURE(canary);
    recorder rec;
    debug_resource d(pmrheap::c_resource::instance(), rec.options([&](debug_options& o) {
      o.stack_trace_frames = 0;
      o.canary_bytes = canary;
    }));
    const std::size_t largest = canary == 16 ? 300 : 40;
    for (std::size_t bytes = 1; bytes <= largest; ++bytes) {
      CAPTURE(bytes);
      auto* p = bytes_of(d.allocate(bytes));
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < bytes; ++i) wrong += p[i] != debug_resource::allocated_fill;
      for (std::size_t i = bytes; i < bytes + canary; ++i) wrong += p[i] != debug_resource::canary_fill;
      REQUIRE(wrong == 0);
      d.deallocate(p, bytes);
      for (std::size_t i = 0; i < bytes + canary; ++i) wrong += p[i] != debug_resource::freed_fill;
      REQUIRE(wrong == 0);
      d.release_quarantine();
      REQUIRE(rec.errors.empty());
      // A write to any one byte of the canary is an overrun; to any one held byte, a use after free.
      for (std::size_t at = 0; at < bytes + canary; ++at) {
        CAPTURE(at);
        p = bytes_of(d.allocate(bytes));
        if (at >= bytes) {
          p[at] = 0;
          d.deallocate(p, bytes);
          REQUIRE(rec.errors.size() == 1);
          CHECK(rec.errors[0].kind == debug_error_kind::overrun);
          CHECK(contains(rec.errors[0].message, fmt::format("the first at offset {} ", at)));
          rec.errors.clear();
        } else {
          d.deallocate(p, bytes);
        }
        p[at] = 0;  // the memory is still the resource's: it is quarantined
        d.release_quarantine();
        REQUIRE(rec.errors.size() == 1);
        CHECK(rec.errors[0].kind == debug_error_kind::use_after_free);
        CHECK(contains(rec.errors[0].message, fmt::format("the first at offset {} ", at)));
        rec.errors.clear();
      }
    }
  }
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
  CHECK(d.blocks_in_use() == 0);
  d.release_quarantine();
  backing.check();
  CHECK(backing.blocks_in_use() == 0);
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

// With traces on and off: the code differs (src/testing/debug_state.hpp), the bounds must not.
TEST_CASE("debug_resource: the quarantine is bounded by blocks and bytes; the newest free always stays") {
  for (const std::size_t frames : {std::size_t{6}, std::size_t{0}}) {
    CAPTURE(frames);
    recorder rec;
    const auto options = [&](auto set) {
      return rec.options([&](debug_options& o) {
        o.stack_trace_frames = frames;
        set(o);
      });
    };
    {
      debug_resource d(pmrheap::c_resource::instance(), options([](debug_options& o) { o.quarantine_blocks = 4; }));
      for (int i = 0; i < 10; ++i) d.deallocate(d.allocate(16), 16);
      CHECK(d.statistics().quarantined_blocks == 4);
      CHECK(d.statistics().quarantined_bytes == 64);
    }
    {
      debug_resource d(pmrheap::c_resource::instance(), options([](debug_options& o) { o.quarantine_bytes = 100; }));
      for (int i = 0; i < 10; ++i) d.deallocate(d.allocate(40), 40);
      CHECK(d.statistics().quarantined_blocks == 2);
      d.deallocate(d.allocate(1000), 1000);
      CHECK(d.statistics().quarantined_blocks == 1);
      CHECK(d.statistics().quarantined_bytes == 1000);
    }
    {  // never_unmap: no bound until release_quarantine
      debug_resource d(pmrheap::c_resource::instance(), options([](debug_options& o) {
                         o.never_unmap = true;
                         o.quarantine_blocks = 4;
                       }));
      for (int i = 0; i < 50; ++i) d.deallocate(d.allocate(16), 16);
      CHECK(d.statistics().quarantined_blocks == 50);
      d.release_quarantine();
      CHECK(d.statistics().quarantined_blocks == 0);
    }
    {  // quarantine_blocks 0: a free goes back at once
      pmrheap::test::counting_resource backing(pmrheap::c_resource::instance());
      debug_resource d(&backing, options([](debug_options& o) { o.quarantine_blocks = 0; }));
      d.deallocate(d.allocate(16), 16);
      CHECK(backing.deallocations == 1);
      CHECK(d.statistics().quarantined_blocks == 0);
    }
    CHECK(rec.errors.empty());
  }
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
  // 1200 to 1700 live blocks and 300 quarantined: the table of live blocks (4096 slots once it
  // holds 1024) stays 29-42% full, where runs that wrap are common enough.
  for (int i = 0; i < 200000; ++i) {
    if (live.size() > 1200 && (live.size() > 1700 || below(2) == 0)) {
      free_one();
    } else {
      const std::size_t bytes = 1 + below(200);
      live.emplace_back(d.allocate(bytes, 8), bytes);
    }
  }
  CHECK(d.blocks_in_use() == live.size());
  REQUIRE(rec.errors.empty());
  // The most recent frees are still quarantined: freeing one again is a double free.
  void* p = d.allocate(24, 8);
  d.deallocate(p, 24, 8);
  d.deallocate(p, 24, 8);
  CHECK(rec.only().kind == debug_error_kind::double_free);
  while (!live.empty()) free_one();
  CHECK(d.blocks_in_use() == 0);
  CHECK(d.statistics().quarantined_blocks == 300);
  CHECK(rec.errors.size() == 1);
}

// Freed blocks' records live in the quarantine's ring, oldest first; a second free searches it.
TEST_CASE("debug_resource: a double free is found anywhere in the quarantine, after its ring has wrapped") {
  recorder rec;
  pmrheap::test::reclaiming_resource backing(pmrheap::test::reclaiming_resource::hold_frees);  // see below
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.quarantine_blocks = 5;
    o.stack_trace_frames = 0;
  }));
  // Many times round the ring (it starts with 64 slots and holds 5 here).
  for (std::size_t i = 0; i < 500; ++i) d.deallocate(d.allocate(8 + i % 50, 8), 8 + i % 50, 8);
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 5; ++i) blocks.push_back(d.allocate(16 * (i + 1), 8));
  for (std::size_t i = 0; i < 5; ++i) d.deallocate(blocks[i], 16 * (i + 1), 8);  // the ring: 0 (oldest) .. 4
  REQUIRE(rec.errors.empty());
  for (const std::size_t i : {std::size_t{2}, std::size_t{0}, std::size_t{4}}) {
    CAPTURE(i);
    d.deallocate(blocks[i], 16 * (i + 1), 8);
    const debug_error& e = rec.only();
    CHECK(e.kind == debug_error_kind::double_free);
    CHECK(e.address == blocks[i]);
    CHECK(e.message.find(fmt::format("the {}-byte block at {}", 16 * (i + 1), blocks[i])) != std::string::npos);
    rec.errors.clear();
  }
  // One more free pushes block 0 out. It is the spare until an allocation of another size gives it
  // back: a second free of it is still a double free, and after that names no block (no
  // retain_metadata). The backing holds what it is given back, so no later block takes its address.
  d.deallocate(d.allocate(24, 8), 24, 8);
  d.deallocate(blocks[0], 16, 8);
  CHECK(rec.only().kind == debug_error_kind::double_free);
  rec.errors.clear();
  void* other = d.allocate(40, 8);
  d.deallocate(blocks[0], 16, 8);
  CHECK(rec.only().kind == debug_error_kind::invalid_free);
  d.deallocate(other, 40, 8);
  CHECK(d.statistics().total_deallocations == 507);
  CHECK(d.statistics().quarantined_blocks == 5);
  CHECK(d.blocks_in_use() == 0);
}

// The block that leaves the quarantine is kept, checked, for the next allocation of its size and
// alignment instead of a free and a malloc of the same memory.
TEST_CASE("debug_resource: the block leaving the quarantine serves the next allocation of its size") {
  recorder rec;
  pmrheap::test::counting_resource backing(pmrheap::c_resource::instance());
  debug_resource d(&backing, rec.options([](debug_options& o) {
    o.quarantine_blocks = 2;
    o.stack_trace_frames = 0;
  }));
  void* a = d.allocate(32, 8);
  std::memset(a, 1, 32);
  d.deallocate(a, 32, 8);
  d.deallocate(d.allocate(32, 8), 32, 8);
  d.deallocate(d.allocate(32, 8), 32, 8);  // `a` leaves the quarantine, checked
  REQUIRE(backing.allocations == 3);
  CHECK(backing.deallocations == 0);
  CHECK(d.statistics().quarantined_blocks == 2);
  SUBCASE("the same size and alignment take it, filled afresh, with no backing call") {
    void* b = d.allocate(32, 8);
    CHECK(b == a);
    CHECK(backing.calls() == 3);
    for (int i = 0; i < 32; ++i) REQUIRE(bytes_of(b)[i] == debug_resource::allocated_fill);
    for (int i = 32; i < 48; ++i) REQUIRE(bytes_of(b)[i] == debug_resource::canary_fill);
    bytes_of(b)[32] = 0;  // its canary is checked as any block's
    d.deallocate(b, 32, 8);
    CHECK(rec.only().kind == debug_error_kind::overrun);
    rec.errors.clear();
  }
  SUBCASE("another size or alignment gives it back before the backing is asked") {
    void* b = d.allocate(32, 16);
    CHECK(backing.deallocations == 1);
    CHECK(backing.allocations == 4);
    void* c = d.allocate(48, 8);
    CHECK(backing.deallocations == 1);  // nothing left to give back
    d.deallocate(b, 32, 16);
    d.deallocate(c, 48, 8);
  }
  SUBCASE("a second free of it is a double free, and nothing is freed") {
    d.deallocate(a, 32, 8);
    CHECK(rec.only().kind == debug_error_kind::double_free);
    CHECK(backing.deallocations == 0);
    rec.errors.clear();
  }
  SUBCASE("verify() checks its fill; release_quarantine() gives it back") {
    bytes_of(a)[5] = 7;
    CHECK(d.verify() == 1);
    CHECK(contains(rec.only().message, "the first at offset 5 (0x07 instead of 0xdd; found by verify)"));
    rec.errors.clear();
    d.release_quarantine();
    CHECK(backing.live() == 0);
  }
  SUBCASE("blocks over 1 KiB go back at once") {
    for (int i = 0; i < 3; ++i) d.deallocate(d.allocate(1025, 8), 1025, 8);
    // Given back: `a` and the two small blocks that became the spare after it (each by the next
    // allocation of 1025 bytes), then the first large block as it left the quarantine.
    CHECK(backing.deallocations == 4);
    CHECK(backing.live() == 2);  // the two large blocks in the quarantine, no spare
  }
  CHECK(rec.errors.empty());
}

// With retain_metadata the spare's record is also kept with its traces: a second free of it is
// reported with them, not only as a block freed once.
TEST_CASE("debug_resource: a second free of the spare keeps its traces with retain_metadata") {
  recorder rec;
  debug_resource d(pmrheap::c_resource::instance(), rec.options([](debug_options& o) {
    o.quarantine_blocks = 1;
    o.retain_metadata = true;
  }));
  void* a = d.allocate(32, 8);
  d.deallocate(a, 32, 8);
  d.deallocate(d.allocate(48, 8), 48, 8);  // `a` leaves the quarantine: the spare
  d.deallocate(a, 32, 8);
  const debug_error& e = rec.only();
  CHECK(e.kind == debug_error_kind::double_free);
  const auto first = e.message.find("  first freed at:\n");
  const auto again = e.message.find("  freed again at:\n");
  REQUIRE(first < again);
  REQUIRE(again != std::string::npos);
  if (!pmrheap::stack_trace::capture(1).empty())
    CHECK(e.message.substr(first, again - first).find("(no stack frames captured)") == std::string::npos);
}

TEST_CASE("debug_resource: the spare goes back when the resource is destroyed") {
  recorder rec;
  pmrheap::test::counting_resource backing(pmrheap::c_resource::instance());
  {
    debug_resource d(&backing, rec.options([](debug_options& o) { o.quarantine_blocks = 1; }));
    for (int i = 0; i < 4; ++i) d.deallocate(d.allocate(64, 8), 64, 8);
    CHECK(backing.live() == 2);  // the quarantined block and the spare
  }
  CHECK(backing.live() == 0);
  CHECK(backing.live_bytes == 0);
  CHECK(rec.errors.empty());
}
