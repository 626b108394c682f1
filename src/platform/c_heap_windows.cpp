// SPDX-License-Identifier: MIT
// c_heap.hpp on Windows: _aligned_malloc / _aligned_free and _msize / _aligned_msize.
#include <malloc.h>

#include "c_heap.hpp"

namespace pmrheap::platform::c_heap {

void* aligned_allocate(std::size_t bytes, std::size_t alignment) noexcept {
  return ::_aligned_malloc(bytes, alignment);
}

void aligned_free(void* p) noexcept { ::_aligned_free(p); }

std::size_t usable_size(void* p) noexcept { return ::_msize(p); }

std::size_t aligned_usable_size(void* p, std::size_t alignment) noexcept {
#if defined(_MSC_VER) || defined(_UCRT)
  return ::_aligned_msize(p, alignment, 0);
#else
  // mingw-w64 on the old msvcrt.dll has no _aligned_msize. 0 makes an over-aligned block refuse to
  // grow in place, which is always a correct answer (shrinking does not ask).
  static_cast<void>(p);
  static_cast<void>(alignment);
  return 0;
#endif
}

}  // namespace pmrheap::platform::c_heap
