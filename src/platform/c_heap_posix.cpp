// SPDX-License-Identifier: MIT
// c_heap.hpp on POSIX systems: posix_memalign, and the usable size from malloc_usable_size
// (glibc, musl) or malloc_size (macOS).
#include <cstdlib>

#include "c_heap.hpp"

#if defined(__APPLE__)
#  include <malloc/malloc.h>
#else
#  include <malloc.h>
#endif

namespace pmrheap::platform::c_heap {

void* aligned_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  void* p = nullptr;
  return ::posix_memalign(&p, alignment, bytes) == 0 ? p : nullptr;
}

void aligned_free(void* p) noexcept { std::free(p); }

std::size_t usable_size(void* p) noexcept {
#if defined(__APPLE__)
  return ::malloc_size(p);
#else
  return ::malloc_usable_size(p);
#endif
}

// posix_memalign's blocks are ordinary malloc blocks: free and the usable size work on them.
std::size_t aligned_usable_size(void* p, std::size_t) noexcept { return usable_size(p); }

}  // namespace pmrheap::platform::c_heap
