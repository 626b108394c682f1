// SPDX-License-Identifier: MIT
// Tests include/pmrheap/testing/logging_resource.hpp (docs/testing/logging_resource.md): the exact
// lines for Zig's 10-byte buffer scenario (Zig 0.13.0's logging_allocator.zig), failures-only
// filtering, FILE and callback sinks.
#include "pmrheap/testing/logging_resource.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cstdio>
#include <memory_resource>
#include <stdexcept>
#include <string>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/testing.hpp"
#include "support/opaque.hpp"

using pmrheap::log_filter;
using pmrheap::logging_resource;

namespace {

// A 10-byte bump buffer standing in for Zig's FixedBufferAllocator: only the last block can be
// resized or freed, and only within the buffer.
class ten_byte_buffer final : public pmrheap::resource {
 public:
  unsigned char* data() noexcept { return buffer_; }

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t) noexcept override {
    if (bytes > sizeof buffer_ - used_) return nullptr;
    void* p = buffer_ + used_;
    used_ += bytes;
    return p;
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t) override {
    if (static_cast<unsigned char*>(p) + bytes == buffer_ + used_) used_ -= bytes;
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t) noexcept override {
    auto* block = static_cast<unsigned char*>(p);
    if (block + old_bytes != buffer_ + used_) return new_bytes < old_bytes;
    if (static_cast<std::size_t>(block - buffer_) + new_bytes > sizeof buffer_) return false;
    used_ = static_cast<std::size_t>(block - buffer_) + new_bytes;
    return true;
  }
  unsigned char buffer_[10]{};
  std::size_t used_ = 0;
};

struct lines {
  std::vector<std::string> all;
  logging_resource::sink sink() {
    return [this](std::string_view line) { all.emplace_back(line); };
  }
};

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buffer[1024];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, f)) text.append(buffer, n);
  return text;
}

}  // namespace

TEST_CASE("logging_resource: conformance") {
  std::size_t count = 0;
  logging_resource log(pmrheap::c_resource::instance(), [&count](std::string_view) { ++count; });
  pmrheap::testing::validating_resource v(&log);
  pmrheap::testing::check_conformance(v);
  CHECK(v.blocks_in_use() == 0);
  CHECK(count > 100);
}

TEST_CASE("logging_resource: bad input") {
  lines out;
  logging_resource over_std(std::pmr::new_delete_resource(), out.sink());
  CHECK_THROWS_AS(static_cast<void>(over_std.allocate(pmrheap::detail::size_max, 8)), std::bad_alloc);
}

// Zig's test (lib/std/heap/logging_allocator.zig, 0.13.0): a 10-byte buffer; allocate 10, shrink
// to 5, fail to grow to 20, free 5.
TEST_CASE("logging_resource: the 10-byte buffer scenario, line by line") {
  ten_byte_buffer buffer;
  lines out;
  logging_resource log(&buffer, out.sink());
  void* p = log.allocate(10, 1);
  CHECK(p == buffer.data());
  CHECK(log.resize(p, 10, 5, 1));
  CHECK_FALSE(log.resize(p, 5, 20, 1));
  log.deallocate(p, 5, 1);
  const std::vector<std::string> expected{
      fmt::format("allocate 10 bytes, alignment 1 -> {}", p),
      fmt::format("resize {} 10 -> 5 bytes, alignment 1 -> ok", p),
      fmt::format("resize {} 5 -> 20 bytes, alignment 1 -> failed", p),
      fmt::format("deallocate {} 5 bytes, alignment 1", p),
  };
  CHECK(out.all == expected);
}

TEST_CASE("logging_resource: log_filter::failures writes only the failures") {
  ten_byte_buffer buffer;
  lines out;
  logging_resource log(&buffer, out.sink(), log_filter::failures);
  CHECK(log.filter() == log_filter::failures);
  void* p = log.allocate(10, 1);
  CHECK(log.resize(p, 10, 5, 1));
  CHECK_FALSE(log.resize(p, 5, 20, 1));
  CHECK(log.remap(p, 5, 20, 1) == nullptr);
  CHECK(log.try_allocate(8, 1) == nullptr);
  CHECK_THROWS_AS(static_cast<void>(log.allocate(8, 1)), std::bad_alloc);
  log.deallocate(p, 5, 1);
  const std::vector<std::string> expected{
      fmt::format("resize {} 5 -> 20 bytes, alignment 1 -> failed", p),
      fmt::format("remap {} 5 -> 20 bytes, alignment 1 -> failed", p),
      "try_allocate 8 bytes, alignment 1 -> failed",
      "allocate 8 bytes, alignment 1 -> failed",
  };
  CHECK(out.all == expected);
}

TEST_CASE("logging_resource: writes lines to a FILE") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    ten_byte_buffer buffer;
    logging_resource log(&buffer, f);
    void* p = log.allocate(10, 1);
    CHECK(log.resize(p, 10, 5, 1));
    CHECK_FALSE(log.resize(p, 5, 20, 1));
    log.deallocate(p, 5, 1);
    CHECK(read_all(f) == fmt::format("allocate 10 bytes, alignment 1 -> {0}\n"
                                     "resize {0} 10 -> 5 bytes, alignment 1 -> ok\n"
                                     "resize {0} 5 -> 20 bytes, alignment 1 -> failed\n"
                                     "deallocate {0} 5 bytes, alignment 1\n",
                                     p));
  }
  std::fclose(f);
  logging_resource to_stderr(pmrheap::c_resource::instance(), nullptr, log_filter::failures);
  CHECK(to_stderr.upstream_resource() == pmrheap::c_resource::instance());
}

TEST_CASE("logging_resource: try_allocate, remap and failures with their causes") {
  lines out;
  logging_resource log(pmrheap::c_resource::instance(), out.sink());
  // Alignment 8: within what malloc guarantees on every target, so c_resource can realloc.
  void* p = log.try_allocate(16, 8);
  REQUIRE(p != nullptr);
  void* q = log.remap(p, 16, 1 << 20, 8);
  REQUIRE(q != nullptr);
  log.deallocate(q, 1 << 20, 8);
  CHECK_THROWS_AS(static_cast<void>(log.allocate(8, pmrheap::test::opaque(3))), std::invalid_argument);
  CHECK_THROWS_AS(static_cast<void>(log.allocate(pmrheap::detail::size_max, 8)), std::bad_alloc);
  CHECK(log.try_allocate(pmrheap::detail::size_max, 8) == nullptr);
  const std::vector<std::string> expected{
      fmt::format("try_allocate 16 bytes, alignment 8 -> {}", p),
      fmt::format("remap {} 16 -> 1048576 bytes, alignment 8 -> {}", p, q),
      fmt::format("deallocate {} 1048576 bytes, alignment 8", q),
      "allocate 8 bytes, alignment 3 -> failed: pmrheap: alignment 3 is not a power of two",
      fmt::format("allocate {} bytes, alignment 8 -> failed", pmrheap::detail::size_max),
      fmt::format("try_allocate {} bytes, alignment 8 -> failed", pmrheap::detail::size_max),
  };
  CHECK(out.all == expected);
}

TEST_CASE("logging_resource: zero-byte requests are neither forwarded nor logged") {
  lines out;
  logging_resource log(std::pmr::null_memory_resource(), out.sink());
  void* p = log.allocate(0, 8);
  CHECK(p != nullptr);
  log.deallocate(p, 0, 8);
  CHECK(out.all.empty());
}

TEST_CASE("logging_resource: a sink that throws loses its line, never the memory") {
  logging_resource log(pmrheap::c_resource::instance(), [](std::string_view) { throw std::runtime_error("sink"); });
  void* p = log.allocate(64);
  CHECK(log.resize(p, 64, 32));
  log.deallocate(p, 32);
}

TEST_CASE("logging_resource: a std upstream's exception is logged and passed on") {
  lines out;
  logging_resource log(std::pmr::null_memory_resource(), out.sink());
  CHECK_THROWS_AS(static_cast<void>(log.allocate(8)), std::bad_alloc);
  CHECK(out.all ==
        std::vector<std::string>{fmt::format("allocate 8 bytes, alignment {} -> failed", pmrheap::default_alignment)});
}
