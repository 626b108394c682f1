// SPDX-License-Identifier: MIT
// Compiler and build switches shared by every pmrheap header. All macros are PMRHEAP_-prefixed.
#ifndef PMRHEAP_DETAIL_CONFIG_HPP
#define PMRHEAP_DETAIL_CONFIG_HPP

#include <cstdio>
#include <cstdlib>

// Symbols the library exports. The library is built with hidden visibility, so everything callable
// from outside carries this.
#if defined(_WIN32) && defined(PMRHEAP_SHARED_BUILD)
#  define PMRHEAP_API __declspec(dllexport)
#elif defined(_WIN32) && defined(PMRHEAP_SHARED)
#  define PMRHEAP_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define PMRHEAP_API __attribute__((visibility("default")))
#else
#  define PMRHEAP_API
#endif

// The same for library pmrheap_testing, a DLL of its own in a Windows shared build.
#if defined(_WIN32) && defined(PMRHEAP_TESTING_SHARED_BUILD)
#  define PMRHEAP_TESTING_API __declspec(dllexport)
#elif defined(_WIN32) && defined(PMRHEAP_SHARED)
#  define PMRHEAP_TESTING_API __declspec(dllimport)
#elif defined(__GNUC__)
#  define PMRHEAP_TESTING_API __attribute__((visibility("default")))
#else
#  define PMRHEAP_TESTING_API
#endif

// Slow paths (refills, error reporting) stay out of line so the inline fast paths stay small.
#if defined(__GNUC__)
#  define PMRHEAP_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#  define PMRHEAP_NOINLINE __declspec(noinline)
#else
#  define PMRHEAP_NOINLINE
#endif

// For the rare function whose own stack frame would be a cost (stack capture, where every frame
// an unwinder walks is time): inlined even where the compiler's heuristics would not.
#if defined(__GNUC__)
#  define PMRHEAP_ALWAYS_INLINE __attribute__((always_inline)) inline
#elif defined(_MSC_VER)
#  define PMRHEAP_ALWAYS_INLINE __forceinline
#else
#  define PMRHEAP_ALWAYS_INLINE inline
#endif

// Internal invariant checks: on in debug builds, gone with NDEBUG. Every use states the broken rule
// in a sentence. Checks on *arguments* never use this: bad arguments get a defined error instead.
#ifndef NDEBUG
#  define PMRHEAP_ASSERT(cond, message) \
    ((cond) ? static_cast<void>(0) : ::pmrheap::detail::assert_failed(#cond, message, __FILE__, __LINE__))
#else
#  define PMRHEAP_ASSERT(cond, message) static_cast<void>(0)
#endif

namespace pmrheap::detail {

[[noreturn]] inline void assert_failed(const char* cond, const char* message, const char* file, int line) noexcept {
  std::fprintf(stderr, "pmrheap: internal check failed at %s:%d: %s (%s)\n", file, line, message, cond);
  std::abort();
}

}  // namespace pmrheap::detail

#endif  // PMRHEAP_DETAIL_CONFIG_HPP
