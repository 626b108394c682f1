// SPDX-License-Identifier: MIT
// Must fail in debug builds (the ASan build is one): rewind with a mark of another arena is an
// error that debug builds report and abort on. Exits 0, an unexpected pass, if rewind returns.
#include <cstdio>

#include "pmrheap/arena_resource.hpp"

int main() {
  pmrheap::arena_resource arena;
  pmrheap::arena_resource other;
  static_cast<void>(arena.allocate(64));
  static_cast<void>(arena.rewind(other.mark()));
  std::puts("arena_rewind_foreign_mark: rewind accepted another arena's mark");
  return 0;
}
