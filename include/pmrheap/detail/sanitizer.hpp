// SPDX-License-Identifier: MIT
// Poisoning hooks for AddressSanitizer (and Valgrind when its headers are present). Outside such
// builds every hook is an empty inline function, so resources call them unconditionally.
// PMRHEAP_HAS_TSAN marks ThreadSanitizer builds, for the few places that must act differently.
#ifndef PMRHEAP_DETAIL_SANITIZER_HPP
#define PMRHEAP_DETAIL_SANITIZER_HPP

#include <cstddef>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#  define PMRHEAP_HAS_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define PMRHEAP_HAS_ASAN 1
#  endif
#endif
#ifndef PMRHEAP_HAS_ASAN
#  define PMRHEAP_HAS_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#  define PMRHEAP_HAS_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define PMRHEAP_HAS_TSAN 1
#  endif
#endif
#ifndef PMRHEAP_HAS_TSAN
#  define PMRHEAP_HAS_TSAN 0
#endif

#if PMRHEAP_HAS_ASAN
#  include <sanitizer/asan_interface.h>
#endif

#if defined(PMRHEAP_USE_VALGRIND) && __has_include(<valgrind/memcheck.h>)
#  include <valgrind/memcheck.h>
#  define PMRHEAP_HAS_VALGRIND 1
#else
#  define PMRHEAP_HAS_VALGRIND 0
#endif

namespace pmrheap::detail {

/// Marks [p, p + n) as not to be touched until unpoisoned.
inline void poison(const void* p, std::size_t n) noexcept {
#if PMRHEAP_HAS_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#endif
#if PMRHEAP_HAS_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
  static_cast<void>(p);
  static_cast<void>(n);
}

/// Marks [p, p + n) as handed out.
inline void unpoison(const void* p, std::size_t n) noexcept {
#if PMRHEAP_HAS_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#if PMRHEAP_HAS_VALGRIND
  // Defined, not undefined: resources unpoison ranges that can include live bytes (the concurrent
  // fixed buffer unpoisons whole 8-byte granules; a resize re-unpoisons a block's tail), and
  // MAKE_MEM_UNDEFINED would erase what valgrind knows about bytes already written there. ASan's
  // unpoisoning has no such effect. Valgrind still reports any touch of poisoned memory.
  VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
  static_cast<void>(p);
  static_cast<void>(n);
}

/// True when [p] is poisoned (always false outside ASan builds). For tests.
[[nodiscard]] inline bool is_poisoned(const void* p) noexcept {
#if PMRHEAP_HAS_ASAN
  return __asan_address_is_poisoned(p) != 0;
#else
  static_cast<void>(p);
  return false;
#endif
}

/// True when the program runs under valgrind, in any build: its client request where the build
/// has it (PMRHEAP_USE_VALGRIND), else its preload library in LD_PRELOAD, which valgrind sets for
/// every dynamically linked program. Used by stack capture (docs/testing/debug_resource.md) and by
/// tests: valgrind replaces malloc and aborts where the C library would fail (alignments above
/// 16 MiB, an aligned operator new that should throw).
[[nodiscard]] inline bool running_on_valgrind() noexcept {
#if PMRHEAP_HAS_VALGRIND
  if (RUNNING_ON_VALGRIND != 0) return true;
#endif
  static const bool preloaded = [] {
    const char* const preload = std::getenv("LD_PRELOAD");
    return preload != nullptr && std::strstr(preload, "vgpreload") != nullptr;
  }();
  return preloaded;
}

}  // namespace pmrheap::detail

#endif  // PMRHEAP_DETAIL_SANITIZER_HPP
