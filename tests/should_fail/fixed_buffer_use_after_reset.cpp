// SPDX-License-Identifier: MIT
// Must fail under AddressSanitizer: a write to a fixed_buffer_resource block after reset() is a use
// of poisoned memory (registered in tests/meson.build with should_fail only in ASan builds). If the
// block was not poisoned the program exits 0, and meson reports an unexpected pass.
#include <cstddef>
#include <cstdio>

#include "pmrheap/fixed_buffer_resource.hpp"

int main() {
  alignas(std::max_align_t) std::byte buffer[256];
  pmrheap::fixed_buffer_resource fixed(buffer, sizeof buffer);
  auto* block = static_cast<volatile unsigned char*>(fixed.allocate(64));
  block[0] = 1;
  fixed.reset();  // the buffer is still the caller's array: only the poisoning can catch the write
  if (!pmrheap::detail::is_poisoned(const_cast<unsigned char*>(block))) {
    std::puts("fixed_buffer_use_after_reset: the block was not poisoned by reset()");
    return 0;
  }
  block[0] = 2;  // ASan: use-after-poison
  std::puts("fixed_buffer_use_after_reset: the write after reset() was not caught");
  return 0;
}
