// SPDX-License-Identifier: MIT
// The fuzz target of stack_fallback_resource<4096> over c_resource: buffer_first's model around the
// inline buffer.
#include "pmrheap/stack_fallback_resource.hpp"

#include <cstdio>
#include <cstdlib>

#include "models/buffer_first_model.hpp"
#include "pmrheap/c_resource.hpp"

namespace pmrheap::fuzz::models {
namespace {

subject make_stack_fallback(const std::uint8_t*) {
  using R = pmrheap::stack_fallback_resource<4096>;
  auto r = std::make_shared<R>(pmrheap::c_resource::instance());
  // The inline buffer is somewhere inside the object: its first byte is the first one owns() claims.
  const auto* object = reinterpret_cast<const std::byte*>(r.get());
  const std::byte* base = nullptr;
  for (std::size_t i = 0; i < sizeof(R) && base == nullptr; ++i)
    if (r->owns(object + i)) base = object + i;
  if (base == nullptr) {
    std::fprintf(stderr, "pmrheap fuzz: owns() claims no byte of a stack_fallback_resource\n");
    std::abort();
  }
  return {r, std::make_unique<buffer_first_model<R>>(*r, base, R::capacity())};
}

const target_registration stack_fallback_target{
    {"stack_fallback", "stack_fallback_resource<4096>(c_resource)", nullptr, make_stack_fallback, 0}};

}  // namespace
}  // namespace pmrheap::fuzz::models
