// SPDX-License-Identifier: MIT
// Must fail under AddressSanitizer: a read of a block that a rewind freed is a use of poisoned
// memory, on arena_resource and on virtual_arena_resource (argv[1] "virtual"). Exits 0, an
// unexpected pass, if the block was not poisoned.
#include <cstdio>
#include <cstring>

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/arena_scope.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

template <class Arena>
int use_after_rewind(Arena& arena) {
  // A block before the scope: its mark then lies in a node the rewind keeps, so the read below
  // hits poisoned node memory, not a node given back.
  static_cast<void>(arena.allocate(16));
  volatile unsigned char* block = nullptr;
  {
    pmrheap::arena_scope scope(arena);
    block = static_cast<volatile unsigned char*>(arena.allocate(64));
    block[0] = 1;
  }
  if (!pmrheap::detail::is_poisoned(const_cast<unsigned char*>(block))) {
    std::puts("arena_use_after_rewind: the block was not poisoned by the rewind");
    return 0;
  }
  block[0] = 2;  // ASan: use-after-poison
  std::puts("arena_use_after_rewind: the write after the rewind was not caught");
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "virtual") == 0) {
    pmrheap::virtual_arena_resource arena(std::size_t{1} << 20);
    return use_after_rewind(arena);
  }
  pmrheap::arena_resource arena;
  return use_after_rewind(arena);
}
