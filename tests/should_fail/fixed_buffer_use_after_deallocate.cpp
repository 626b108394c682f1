// SPDX-License-Identifier: MIT
// Must fail under AddressSanitizer: a write to the last block of a fixed_buffer_resource after
// deallocate() gave its bytes back is a use of poisoned memory (registered in tests/meson.build
// with should_fail only in ASan builds). If the block was not poisoned the program exits 0, and
// meson reports an unexpected pass.
#include <cstddef>
#include <cstdio>

#include "pmrheap/fixed_buffer_resource.hpp"

int main() {
  alignas(std::max_align_t) std::byte buffer[256];
  pmrheap::fixed_buffer_resource fixed(buffer, sizeof buffer);
  static_cast<void>(fixed.allocate(32));
  auto* block = static_cast<volatile unsigned char*>(fixed.allocate(64));
  block[63] = 1;
  fixed.deallocate(const_cast<unsigned char*>(block), 64);  // the last block: its bytes are free again
  if (fixed.used() != 32 || !pmrheap::detail::is_poisoned(const_cast<unsigned char*>(block) + 63)) {
    std::puts("fixed_buffer_use_after_deallocate: the last block was not reclaimed and poisoned");
    return 0;
  }
  block[63] = 2;  // ASan: use-after-poison
  std::puts("fixed_buffer_use_after_deallocate: the write after deallocate() was not caught");
  return 0;
}
