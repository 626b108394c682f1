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

// arena_resource over a caller's buffer. setup[0]: the buffer's size, (setup[0] * 61) % 9000 bytes
// (0: no buffer), at offset setup[0] % 16 of a 16-aligned array; nodes from the C heap. The arena
// model, told where the buffer is.
subject make_arena_in_buffer(const std::uint8_t* setup) {
  struct holder {
    explicit holder(std::size_t size, std::size_t skew)
        : top(storage + skew, size, pmrheap::c_resource::instance()), size(size) {}
    alignas(16) unsigned char storage[9000 + 16];
    pmrheap::arena_resource top;
    std::size_t size;
  };
  auto h = std::make_shared<holder>(std::size_t{setup[0]} * 61 % 9000, setup[0] % 16u);
  return {{h, &h->top},
          std::make_unique<arena_model>(h->top, h->storage + setup[0] % 16u, h->size),
          pmrheap::test::catalog_detail::release<pmrheap::arena_resource>};
}

const target_registration arena_c_resource_target{{"arena_c_resource",
                                                   "arena_resource(c_resource), initial capacity from setup", nullptr,
                                                   make_arena<pmrheap::c_resource>, 1}};
const target_registration arena_page_resource_target{{"arena_page_resource",
                                                      "arena_resource(page_resource), initial capacity from setup",
                                                      nullptr, make_arena<pmrheap::page_resource>, 1}};
const target_registration arena_buffer_target{{"arena_buffer",
                                               "arena_resource(caller's buffer, c_resource), buffer size and offset "
                                               "from setup",
                                               nullptr, make_arena_in_buffer, 1}};

}  // namespace
}  // namespace pmrheap::fuzz::models
