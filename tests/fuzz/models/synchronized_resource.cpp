// SPDX-License-Identifier: MIT
// The fuzz target of synchronized_resource: an arena over c_resource behind the lock, held to the
// arena's model (models/arena_model.hpp).
#include "pmrheap/synchronized_resource.hpp"

#include "models/arena_model.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

subject make_synchronized_arena(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t initial) : arena(initial, pmrheap::c_resource::instance()), top(&arena) {}
    pmrheap::arena_resource arena;
    pmrheap::synchronized_resource<> top;
  };
  auto h = std::make_shared<holder>(arena_initial_capacity(setup));
  return {
      {h, &h->top}, std::make_unique<arena_model>(h->arena), pmrheap::test::catalog_detail::release_synchronized_arena};
}

const target_registration synchronized_arena_target{
    {"synchronized_arena", "synchronized_resource(arena_resource(c_resource))", nullptr, make_synchronized_arena, 1}};

}  // namespace
}  // namespace pmrheap::fuzz::models
