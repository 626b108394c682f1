// SPDX-License-Identifier: MIT
// The fuzz targets of arena_resource over c_resource and over page_resource (arena_model,
// models/arena_model.hpp).
#include "models/arena_model.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/page_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

template <class Upstream>
subject make_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : top(initial, Upstream::instance()) {}
    pmrheap::arena_resource top;
  };
  auto h = std::make_shared<holder>(arena_initial_capacity(setup));
  return {{h, &h->top},
          std::make_unique<arena_model>(h->top),
          pmrheap::test::catalog_detail::release<pmrheap::arena_resource>};
}

const target_registration arena_c_resource_target{{"arena_c_resource",
                                                   "arena_resource(c_resource), initial capacity from setup", nullptr,
                                                   make_arena<pmrheap::c_resource>, 1}};
const target_registration arena_page_resource_target{{"arena_page_resource",
                                                      "arena_resource(page_resource), initial capacity from setup",
                                                      nullptr, make_arena<pmrheap::page_resource>, 1}};

}  // namespace
}  // namespace pmrheap::fuzz::models
