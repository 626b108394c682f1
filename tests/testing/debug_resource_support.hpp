// SPDX-License-Identifier: MIT
// Shared by tests/testing/debug_resource*.cpp (one test program each, split along the seams of
// src/testing/: records, quarantine, options, the rest): the recording handler and helpers.
#ifndef PMRHEAP_TESTS_TESTING_DEBUG_RESOURCE_SUPPORT_HPP
#define PMRHEAP_TESTS_TESTING_DEBUG_RESOURCE_SUPPORT_HPP

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
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/testing.hpp"
#include "pmrheap/testing/debug_resource.hpp"  // IWYU pragma: export
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/testing/fmt.hpp"
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

[[maybe_unused]] bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

[[maybe_unused]] bool symbolised() { return std::string(pmrheap::stack_trace::symbolizer()) == "libbacktrace"; }

// A validating_resource below a debug_resource, on the heap: ThreadSanitizer knows a std::mutex by
// its address and never sees it destroyed, so one on the stack where another test case had a
// validating_resource *above* a debug_resource looks like a lock-order inversion.
[[maybe_unused]] std::unique_ptr<pmrheap::testing::validating_resource> validating_backing() {
  return std::make_unique<pmrheap::testing::validating_resource>(pmrheap::c_resource::instance());
}

[[maybe_unused]] unsigned char* bytes_of(void* p) { return static_cast<unsigned char*>(p); }

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

#endif  // PMRHEAP_TESTS_TESTING_DEBUG_RESOURCE_SUPPORT_HPP
