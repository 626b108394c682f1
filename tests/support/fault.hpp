// SPDX-License-Identifier: MIT
// Tests that touching an address faults, without crashing the suite: the touch happens in a forked
// child, which reports through its exit status. POSIX only.
#ifndef PMRHEAP_TESTS_SUPPORT_FAULT_HPP
#define PMRHEAP_TESTS_SUPPORT_FAULT_HPP

#if !defined(_WIN32)
#  include <doctest/doctest.h>

#  include <csignal>
#  include <sys/wait.h>
#  include <unistd.h>

namespace pmrheap::test {

enum class touch { read, write };

/// True when reading or writing the byte at `p` raises SIGSEGV or SIGBUS; false when it does not.
/// The child installs its own handler (ASan allows that by default), touches `p` and exits with
/// 42 from the handler or 0 after a touch that worked.
inline bool faults(const void* p, touch how) {
  constexpr int faulted = 42;
  const ::pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct sigaction action {};
    action.sa_handler = [](int) { ::_exit(faulted); };
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, nullptr);
    ::sigaction(SIGBUS, &action, nullptr);
    auto* byte = static_cast<volatile unsigned char*>(const_cast<void*>(p));
    if (how == touch::write) {
      *byte = 1;
    } else {
      static_cast<void>(*byte);
    }
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
