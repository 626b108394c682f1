// SPDX-License-Identifier: MIT
// Every resource of tests/support/resources.hpp against every bad input of
// tests/support/contract.hpp, plus the bad inputs that apply to one resource only: each gets its
// documented answer and the resource keeps working (docs/reliability.md, "Bad input").
// With PMRHEAP_BAD_INPUT_TABLE=1 in the environment it prints the markdown table of the docs.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pmrheap/testing.hpp"
#include "support/contract.hpp"
#include "support/resources.hpp"

using pmrheap::test::all_resources;
using pmrheap::test::bad_input;
using pmrheap::test::bad_inputs;
using pmrheap::test::resource_entry;
using pmrheap::test::still_works;

namespace {

/// A bad input only one configuration of all_resources() has (named exactly as there).
struct specific_bad_input {
  std::string_view resource;
  bad_input row;
};

// One entry per resource-specific bad input: a debug resource's wrong-size deallocate, a foreign
// pointer to a fixed buffer's owns(), ...
const std::vector<specific_bad_input>& specific_bad_inputs() {
  static const std::vector<specific_bad_input> rows = {
      {"validating_resource(c_resource)",
       {"deallocate with the wrong size or alignment",
        "pmrheap::testing::conformance_error naming the block; the block stays live",
        [](pmrheap::resource& r) {
          auto& v = dynamic_cast<pmrheap::testing::validating_resource&>(r);
          void* p = v.allocate(32, 16);
          CHECK_THROWS_WITH_AS(v.deallocate(p, 31, 16), doctest::Contains("the block has 32 bytes"),
                               pmrheap::testing::conformance_error);
          CHECK_THROWS_WITH_AS(v.deallocate(p, 32, 8), doctest::Contains("alignment 16"),
                               pmrheap::testing::conformance_error);
          CHECK(v.live_blocks() == 1);
          v.deallocate(p, 32, 16);
          CHECK(v.live_blocks() == 0);
        }}},
  };
  return rows;
}

const resource_entry* find_resource(std::string_view name) {
  for (const resource_entry& entry : all_resources())
    if (name == entry.name) return &entry;
  return nullptr;
}

void print_table() {
  std::string header = "| bad input | answer |";
  std::string rule = "|---|---|";
  for (const resource_entry& entry : all_resources()) {
    header += fmt::format(" {} |", entry.name);
    rule += "---|";
  }
  fmt::print("{}\n{}\n", header, rule);
  for (const bad_input& row : bad_inputs()) {
    fmt::print("| {} | {} |", row.input, row.answer);
    for (std::size_t i = 0; i < all_resources().size(); ++i) fmt::print(" ✓ |");
    fmt::print("\n");
  }
  for (const specific_bad_input& specific : specific_bad_inputs()) {
    fmt::print("| {} | {} |", specific.row.input, specific.row.answer);
    for (const resource_entry& entry : all_resources())
      fmt::print(" {} |", entry.name == specific.resource ? "✓" : "—");
    fmt::print("\n");
  }
}

}  // namespace

TEST_CASE("bad input: every resource x every bad input gets the documented answer and keeps working") {
  std::size_t cases = 0;
  for (const resource_entry& entry : all_resources()) {
    CAPTURE(entry.name);
    auto r = entry.make();
    for (const bad_input& row : bad_inputs()) {
      CAPTURE(row.input);
      row.check(*r);
      still_works(*r);
      ++cases;
    }
  }
  MESSAGE(cases << " cases: " << all_resources().size() << " resources x " << bad_inputs().size() << " bad inputs");
  CHECK(cases >= 2 * bad_inputs().size());  // at least c_resource and page_resource
}

TEST_CASE("bad input: resource-specific bad inputs") {
  for (const specific_bad_input& specific : specific_bad_inputs()) {
    CAPTURE(specific.resource);
    CAPTURE(specific.row.input);
    const resource_entry* entry = find_resource(specific.resource);
    REQUIRE(entry != nullptr);  // the name must match an entry of all_resources()
    auto r = entry->make();
    specific.row.check(*r);
    still_works(*r);
  }
  if (const char* print = std::getenv("PMRHEAP_BAD_INPUT_TABLE"); print != nullptr && *print == '1') print_table();
}
