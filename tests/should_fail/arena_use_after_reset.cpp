// SPDX-License-Identifier: MIT
// Must fail under AddressSanitizer: a write to an arena block after reset() is a use of poisoned
// memory (registered in tests/meson.build with should_fail only in ASan builds). If the block was
// not poisoned the program exits 0, and meson reports an unexpected pass.
#include <cstdio>

#include "pmrheap/arena_resource.hpp"

int main() {
  pmrheap::arena_resource arena;
  auto* block = static_cast<volatile unsigned char*>(arena.allocate(64));
  block[0] = 1;
  arena.reset(pmrheap::reset_mode::retain_capacity);  // the node is kept: the memory is still mapped
  if (!pmrheap::detail::is_poisoned(const_cast<unsigned char*>(block))) {
    std::puts("arena_use_after_reset: the block was not poisoned by reset()");
    return 0;
  }
  block[0] = 2;  // ASan: use-after-poison
  std::puts("arena_use_after_reset: the write after reset() was not caught");
  return 0;
}
