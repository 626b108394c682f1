// SPDX-License-Identifier: MIT
// Tests the generated include/pmrheap/version.hpp: the numbers agree with the version string made
// from the same meson project version, and the umbrella header brings them in.
#include <doctest/doctest.h>

#include <string>

#include "pmrheap/pmrheap.hpp"

#ifndef PMRHEAP_VERSION
#  error "pmrheap/pmrheap.hpp must include pmrheap/version.hpp"
#endif

TEST_CASE("version: the numbers are the parts of the version string") {
  const std::string text = PMRHEAP_VERSION_STRING;
  const auto first = text.find('.');
  const auto second = text.find('.', first + 1);
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(std::stoi(text.substr(0, first)) == PMRHEAP_VERSION_MAJOR);
  CHECK(std::stoi(text.substr(first + 1, second - first - 1)) == PMRHEAP_VERSION_MINOR);
  CHECK(std::stoi(text.substr(second + 1)) == PMRHEAP_VERSION_PATCH);
}

TEST_CASE("version: PMRHEAP_VERSION is major * 10000 + minor * 100 + patch") {
  CHECK(PMRHEAP_VERSION == PMRHEAP_VERSION_MAJOR * 10000 + PMRHEAP_VERSION_MINOR * 100 + PMRHEAP_VERSION_PATCH);
  // Usable in #if, where it is meant to be tested.
#if PMRHEAP_VERSION < 200
  FAIL("this batch is version 0.2.0 or later");
#endif
  CHECK(PMRHEAP_VERSION_MINOR < 100);
  CHECK(PMRHEAP_VERSION_PATCH < 100);
}
