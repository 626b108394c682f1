// SPDX-License-Identifier: MIT
// Shows memory resources swapped in unit tests: a debug_resource as the default resource catching a
// leak, check_all_allocation_failures catching a swallowed std::bad_alloc, and failing_resource
// driving an error path. A doctest program with its own main; explained in docs/testing/.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <memory_resource>
#include <optional>
#include <string>
#include <vector>

#include "pmrheap/pmrheap.hpp"
#include "pmrheap/testing.hpp"

// ---- code under test -----------------------------------------------------------------------------

// Allocates through the default resource and never frees: a leak no test would see.
std::pmr::string* remember_greeting(const char* name) {
  std::pmr::polymorphic_allocator<> alloc;  // std::pmr::get_default_resource()
  return alloc.new_object<std::pmr::string>(fmt::format("hello {}, and welcome back", name));
}

// Exception-safe: if any allocation fails, everything built so far is freed on the way out.
std::pmr::vector<std::pmr::string> build_names(std::pmr::memory_resource& mr) {
  std::pmr::vector<std::pmr::string> names(&mr);
  for (const char* n : {"arena resource", "page resource", "fixed buffer resource", "debug resource"})
    names.emplace_back(n);
  return names;
}

// The bug: a failed allocation is caught and the function "succeeds" with a missing entry.
std::pmr::vector<std::pmr::string> build_names_swallowing(std::pmr::memory_resource& mr) {
  std::pmr::vector<std::pmr::string> names(&mr);
  for (const char* n : {"arena resource", "page resource", "fixed buffer resource", "debug resource"}) try {
      names.emplace_back(n);
    } catch (const std::bad_alloc&) {
      // Deliberately swallowed.
    }
  return names;
}

// An error path by design: out of memory is reported as "no result".
std::optional<std::pmr::vector<int>> load_numbers(std::pmr::memory_resource& mr, int count) {
  try {
    std::pmr::vector<int> numbers(&mr);
    for (int i = 0; i < count; ++i) numbers.push_back(i * i);
    return numbers;
  } catch (const std::bad_alloc&) {
    return std::nullopt;
  }
}

// ---- the tests ----------------------------------------------------------------------------------

TEST_CASE("(1) a debug_resource as the default resource catches a leak, with its stack trace") {
  std::vector<pmrheap::debug_error> errors;
  pmrheap::debug_options options;
  options.on_error = [&errors](const pmrheap::debug_error& e) { errors.push_back(e); };
  pmrheap::debug_resource debug(pmrheap::c_resource::instance(), options);

  std::pmr::string* greeting = nullptr;
  {
    pmrheap::default_resource_guard guard(&debug);
    greeting = remember_greeting("Ada");
  }
  CHECK(debug.blocks_in_use() == 2);  // the string object and its characters
  CHECK(debug.report_leaks() == 2);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].kind == pmrheap::debug_error_kind::leak);
  CHECK(errors[0].message.find("allocated at:") != std::string::npos);
  // With libbacktrace the trace leads back into this file, with lines. (Which function names
  // appear depends on what the optimiser inlined.)
  if (std::string(pmrheap::stack_trace::symbolizer()) == "libbacktrace")
    CHECK(errors[0].message.find("unit_test_swap.cpp:") != std::string::npos);
  // The leak is made on purpose: say so, or a reader of a passing run's output takes it for a bug.
  fmt::print(
      "---- expected: the deliberate leak of test (1), as debug_resource reports it ----\n{}"
      "---- end of the expected report ----\n",
      errors[0].message);

  std::pmr::polymorphic_allocator<>(&debug).delete_object(greeting);  // clean up for the next test
  CHECK(debug.blocks_in_use() == 0);
}

TEST_CASE("(2) check_all_allocation_failures: exception-safe code passes, a swallowed bad_alloc does not") {
  auto& backing = *pmrheap::c_resource::instance();
  pmrheap::testing::check_all_allocation_failures(backing, [](std::pmr::memory_resource& mr) {
    // Allocate outside CHECK(): doctest's CHECK catches what its expression throws, which would
    // itself swallow the std::bad_alloc.
    const auto names = build_names(mr);
    CHECK(names.size() == 4);
  });

  std::string report;
  try {
    pmrheap::testing::check_all_allocation_failures(backing,
                                                    [](std::pmr::memory_resource& mr) { build_names_swallowing(mr); });
  } catch (const pmrheap::testing::allocation_failure_error& e) {
    CHECK(e.problem() == pmrheap::testing::allocation_failure_problem::swallowed_bad_alloc);
    report = e.what();
  }
  REQUIRE_FALSE(report.empty());  // the check must catch the bug
  CHECK(report.find("swallowed") != std::string::npos);
  fmt::print(
      "---- expected: the swallowed std::bad_alloc of test (2), as the check reports it ----\n{}"
      "---- end of the expected report ----\n",
      report);
}

TEST_CASE("(3) failing_resource drives the out-of-memory path of load_numbers") {
  pmrheap::failing_resource works(pmrheap::c_resource::instance());
  CHECK(load_numbers(works, 100).value().size() == 100);
  const std::size_t allocations = works.allocations();

  for (std::size_t fail_at = 0; fail_at < allocations; ++fail_at) {
    pmrheap::failing_resource failing(pmrheap::c_resource::instance(), fail_at);
    CHECK_FALSE(load_numbers(failing, 100).has_value());
    CHECK(failing.has_induced_failure());
    CHECK(failing.allocated_bytes() == failing.freed_bytes());  // nothing leaked on the error path
  }
}
