// SPDX-License-Identifier: MIT
// Must fail under AddressSanitizer: a write to a virtual_arena_resource block after
// reset(retain_capacity) is a use of poisoned memory (registered in tests/meson.build with
// should_fail only in ASan builds). If the block was not poisoned the program exits 0, and meson
// reports an unexpected pass.
#include <cstddef>
#include <cstdio>

#include "pmrheap/virtual_arena_resource.hpp"

int main() {
  pmrheap::virtual_arena_resource arena(std::size_t{1} << 20);
  auto* block = static_cast<volatile unsigned char*>(arena.allocate(64));
  block[0] = 1;
  // retain_capacity keeps the pages committed: without poisoning the write would simply succeed.
  arena.reset(pmrheap::reset_mode::retain_capacity);
  if (arena.committed() == 0 || !pmrheap::detail::is_poisoned(const_cast<unsigned char*>(block))) {
    std::puts("virtual_arena_use_after_reset: the block was not poisoned by reset(), or not kept committed");
    return 0;
  }
  block[0] = 2;  // ASan: use-after-poison
  std::puts("virtual_arena_use_after_reset: the write after reset() was not caught");
  return 0;
}
