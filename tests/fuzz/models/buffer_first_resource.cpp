// SPDX-License-Identifier: MIT
// The fuzz target of buffer_first_resource over c_resource.
#include "pmrheap/buffer_first_resource.hpp"

#include <span>

#include "models/buffer_first_model.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

subject make_buffer_first(const std::uint8_t* setup) {
  struct holder {
    explicit holder(const std::uint8_t* s)
        : buffer(s), top(std::span<std::byte>(buffer.data(), buffer.size()), pmrheap::c_resource::instance()) {}
    buffer_storage buffer;
    pmrheap::buffer_first_resource top;
  };
  auto h = std::make_shared<holder>(setup);
  return {
      {h, &h->top},
      std::make_unique<buffer_first_model<pmrheap::buffer_first_resource>>(h->top, h->buffer.data(), h->buffer.size())};
}

const target_registration buffer_first_target{{"buffer_first",
                                               "buffer_first_resource(c_resource), buffer size and offset from setup",
                                               nullptr, make_buffer_first, 2}};

}  // namespace
}  // namespace pmrheap::fuzz::models
