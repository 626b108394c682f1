// SPDX-License-Identifier: MIT
// The pmrheap tour: what each resource does, in a few lines each. `./scripts/demo` runs it.
// Each section is explained in docs/resources.md.
#include <fmt/format.h>

#include <cstring>
#include <memory_resource>
#include <vector>

#include "pmrheap/fmt.hpp"
#include "pmrheap/pmrheap.hpp"
#include "pmrheap/testing.hpp"

namespace {

void heading(const char* title) { fmt::print("\n== {} ==\n", title); }

void c_resource_section() {
  heading("c_resource: the C heap behind std::pmr");
  std::pmr::vector<std::pmr::string> names(pmrheap::c_resource::instance());
  for (const char* n : {"arena", "page", "fixed buffer", "stack fallback", "debug", "failing"}) names.emplace_back(n);
  fmt::print("a std::pmr::vector<std::pmr::string> of {} names on c_resource; last: '{}'\n", names.size(),
             names.back());

  pmrheap::c_resource& c = *pmrheap::c_resource::instance();
  void* block = c.allocate(64, 256);
  fmt::print("allocate(64, alignment 256): aligned = {}\n", pmrheap::detail::is_aligned(block, 256));
  fmt::print("resize in place 64 -> 16 bytes: {}\n", c.resize(block, 64, 16, 256));
  c.deallocate(block, 16, 256);
}

void page_resource_section() {
  heading("page_resource: one OS mapping per allocation");
  fmt::print("page size: {} bytes\n", pmrheap::platform::page_size());
  std::pmr::vector<int> numbers(pmrheap::page_resource::instance());
  for (int i = 0; i < 100000; ++i) numbers.push_back(i);
  fmt::print("a std::pmr::vector<int> of {} ints on page_resource\n", numbers.size());
  void* huge_aligned = pmrheap::page_resource::instance()->allocate(4096, std::size_t{2} << 20);
  fmt::print("allocate(4 KiB, alignment 2 MiB): aligned = {}\n",
             pmrheap::detail::is_aligned(huge_aligned, std::size_t{2} << 20));
  pmrheap::page_resource::instance()->deallocate(huge_aligned, 4096, std::size_t{2} << 20);
}

// Grows a buffer by doubling. remap either grows it without copying (mremap, realloc) or returns
// nullptr, and then reallocate copies.
void grow(pmrheap::resource& r, const char* name) {
  std::size_t bytes = 4096;
  auto* p = static_cast<unsigned char*>(r.allocate(bytes));
  std::memset(p, 0x42, bytes);
  int without_copy = 0;
  int doublings = 0;
  while (bytes < (std::size_t{64} << 20)) {
    void* q = r.remap(p, bytes, bytes * 2);
    if (q != nullptr) {
      ++without_copy;
    } else {
      q = pmrheap::reallocate(r, p, bytes, bytes * 2);
    }
    p = static_cast<unsigned char*>(q);
    std::memset(p + bytes, 0x42, bytes);
    bytes *= 2;
    ++doublings;
  }
  fmt::print("{:<14} 4 KiB -> 64 MiB: {} of {} doublings needed no copy; contents kept: {}\n", name, without_copy,
             doublings, p[0] == 0x42 && p[bytes - 1] == 0x42);
  r.deallocate(p, bytes);
}

void reallocate_section() {
  heading("pmrheap::reallocate: remap first, copy only when it must");
  grow(*pmrheap::page_resource::instance(), "page_resource");
  grow(*pmrheap::c_resource::instance(), "c_resource");
  void* p = pmrheap::reallocate(*std::pmr::new_delete_resource(), nullptr, 0, 100);
  p = pmrheap::reallocate(*std::pmr::new_delete_resource(), p, 100, 200);
  fmt::print("works on any std::pmr::memory_resource too (new_delete_resource: allocate + copy + free)\n");
  std::pmr::new_delete_resource()->deallocate(p, 200);
}

// Test tooling: make allocations fail on purpose, prove every failure is handled, catch misuse.
void testing_section() {
  heading("testing: failing_resource, check_all_allocation_failures, debug_resource");
  pmrheap::failing_resource failing(pmrheap::c_resource::instance(), 2);
  std::pmr::vector<int> numbers(&failing);
  try {
    for (int i = 0; i < 100; ++i) numbers.push_back(i);
  } catch (const std::bad_alloc&) {
    fmt::print("failing_resource(fail_index 2): push_back threw std::bad_alloc at size {}\n", numbers.size());
  }

  int runs = 0;
  pmrheap::testing::check_all_allocation_failures(*pmrheap::c_resource::instance(), [&runs](auto& mr) {
    ++runs;
    std::pmr::vector<std::pmr::string> names(&mr);
    for (int i = 0; i < 3; ++i) names.emplace_back(fmt::format("a name too long for the small buffer #{}", i));
  });
  fmt::print("check_all_allocation_failures: {} runs, every induced failure handled without a leak\n", runs);

  std::vector<pmrheap::debug_error_kind> found;
  pmrheap::debug_options options;
  options.on_error = [&found](const pmrheap::debug_error& e) { found.push_back(e.kind); };
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);
  auto* block = static_cast<unsigned char*>(debug.allocate(24));
  unsigned char* volatile past_the_end = block + 24;  // volatile: hides the bug from the compiler's checks
  *past_the_end = 0;                                  // one byte past the end, into the canary
  debug.deallocate(block, 24);                        // overrun
  debug.deallocate(block, 24);                        // double free
  void* kept = debug.allocate(100);
  debug.deallocate(kept, 50);  // size mismatch (freed anyway, with the recorded size)
  void* leaked = debug.allocate(8);
  debug.report_leaks();  // leak
  debug.deallocate(leaked, 8);
  fmt::print("debug_resource found:");
  for (auto kind : found) fmt::print(" [{}]", kind);
  fmt::print("\nstatistics: {}\n", debug.statistics());
}

}  // namespace

int main() {
  fmt::print("pmrheap tour\n");
  c_resource_section();
  page_resource_section();
  reallocate_section();
  testing_section();
  fmt::print("\nEverything above is explained in docs/resources.md.\n");
}
