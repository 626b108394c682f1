// SPDX-License-Identifier: MIT
// Tests that touching an address faults, without crashing the suite: the touch happens in a forked
// child, which reports through its exit status. POSIX only.
#ifndef PMRHEAP_TESTS_SUPPORT_FAULT_HPP
#define PMRHEAP_TESTS_SUPPORT_FAULT_HPP

#if !defined(_WIN32)
#  include <doctest/doctest.h>

#  include <csignal>
#  include <cstdio>
#  include <sys/wait.h>
#  include <unistd.h>

#  include "pmrheap/detail/sanitizer.hpp"

namespace pmrheap::test {

enum class touch { read, write };

/// Where faults() puts the byte it reads: valgrind's translation drops a load whose value is never
/// used, and then the read never happens.
inline volatile unsigned char fault_sink = 0;
/// The byte the child touches (for valgrind's error reporting, turned off around the touch).
inline const void* fault_target = nullptr;

/// True when reading or writing the byte at `p` raises SIGSEGV or SIGBUS; false when it does not.
/// The child installs its own handler (ASan allows that by default), touches `p` and exits with
/// 42 from the handler or 0 after a touch that worked. Under valgrind memcheck would report the
/// touch of a protected (or merely poisoned) byte as an invalid access, and valgrind then replaces
/// the child's exit status with its --error-exitcode; so the child turns address errors off for
/// that byte, and only a real fault counts, as everywhere else.
inline bool faults(const void* p, touch how) {
  constexpr int faulted = 42;
  std::fflush(nullptr);  // or a child that exits under valgrind prints the parent's pending output again
  const ::pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    fault_target = p;
    struct sigaction action {};
    action.sa_handler = [](int) {
#  if PMRHEAP_HAS_VALGRIND
      VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(fault_target, 1);
#  endif
      ::_exit(faulted);
    };
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, nullptr);
    ::sigaction(SIGBUS, &action, nullptr);
#  if PMRHEAP_HAS_VALGRIND
    VALGRIND_DISABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
#  endif
    auto* byte = static_cast<volatile unsigned char*>(const_cast<void*>(p));
    if (how == touch::write) {
      *byte = 1;
    } else {
      fault_sink = *byte;
    }
#  if PMRHEAP_HAS_VALGRIND
    VALGRIND_ENABLE_ADDR_ERROR_REPORTING_IN_RANGE(p, 1);
#  endif
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status) == faulted;
}

}  // namespace pmrheap::test

#endif  // !_WIN32
#endif  // PMRHEAP_TESTS_SUPPORT_FAULT_HPP
