// SPDX-License-Identifier: MIT
// The catalog of resource configurations the cross-resource tests drive: every bad input
// (tests/bad_input.cpp), the address-space limit (tests/exhaustion.cpp) and several threads at once
// (tests/threads.cpp). A new resource, or a new configuration of one (an arena over another
// upstream), is ONE entry in all_resources(); its flags decide which of those tests take it.
// Framework-independent, so the fuzz harness can use it too.
#ifndef PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP
#define PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP

#include <memory>
#include <string_view>
#include <vector>

#include "pmrheap/c_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/testing.hpp"

namespace pmrheap::test {

/// One resource configuration, made fresh for every use.
struct resource_entry {
  std::string_view name;
  /// A new instance. The shared_ptr also owns whatever the resource stands on (buffer, upstream):
  /// make a holder struct with both and return an aliasing pointer, as validating_over() does.
  std::shared_ptr<pmrheap::resource> (*make)();
  /// Safe to call from several threads at once: tests/threads.cpp drives it from 4.
  bool thread_safe;
  /// tests/exhaustion.cpp drives it into a lowered RLIMIT_AS: true for resources that take their
  /// memory from the process (the C heap, OS mappings, directly or through an upstream) and
  /// promise a clean failure there. A fixed buffer is exhausted by its own size instead.
  bool address_space_limit;
  /// Frees every block at once (an arena's release()); nullptr for resources without it. Tests
  /// that use it forget the blocks they held instead of deallocating them.
  void (*release_all)(pmrheap::resource&) = nullptr;
};

/// `Upstream` made fresh, with a validating_resource over it.
template <class Upstream>
std::shared_ptr<pmrheap::resource> validating_over() {
  struct holder {
    Upstream upstream;
    pmrheap::testing::validating_resource validating{&upstream};
  };
  auto h = std::make_shared<holder>();
  return {h, &h->validating};
}

/// Every configuration, in the order the tests report them.
inline const std::vector<resource_entry>& all_resources() {
  static const std::vector<resource_entry> entries = {
      {"c_resource", [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::c_resource>()); }, true,
       true},
      {"page_resource", [] { return std::shared_ptr<pmrheap::resource>(std::make_shared<pmrheap::page_resource>()); },
       true, true},
      // Not under RLIMIT_AS: its bookkeeping (a std::map) allocates inside noexcept operations, so
      // at the limit it would terminate instead of failing. A test tool, not a resource to ship.
      {"validating_resource(c_resource)", validating_over<pmrheap::c_resource>, true, false},
  };
  return entries;
}

}  // namespace pmrheap::test

#endif  // PMRHEAP_TESTS_SUPPORT_RESOURCES_HPP
