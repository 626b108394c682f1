// SPDX-License-Identifier: MIT
// Reads the kernel's flags for the mapping that holds an address (/proc/self/smaps, "VmFlags"), so
// tests can check advice such as MADV_HUGEPAGE ("hg") without timing anything. Linux only.
#ifndef PMRHEAP_TESTS_SUPPORT_VM_FLAGS_HPP
#define PMRHEAP_TESTS_SUPPORT_VM_FLAGS_HPP

#if defined(__linux__)
#  include <cstddef>
#  include <cstdint>
#  include <fstream>
#  include <sstream>
#  include <string>
#  include <sys/mman.h>

namespace pmrheap::test {

/// The VmFlags line of the mapping containing `p` (e.g. "rd wr mr mw me ac hg"), or "" when no
/// mapping contains it.
inline std::string vm_flags(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    // Mapping headers start with "start-end "; attribute lines start with a capitalised key.
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space &&
        line.find_first_not_of("0123456789abcdef") == dash) {
      const std::uintptr_t start = std::stoull(line.substr(0, dash), nullptr, 16);
      const std::uintptr_t end = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
      inside = start <= addr && addr < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line.substr(8) + " ";
    }
  }
  return "";
}

/// True when the mapping containing `p` carries the two-letter VmFlags entry `flag`.
inline bool has_vm_flag(const void* p, const char* flag) {
  return vm_flags(p).find(std::string(" ") + flag + " ") != std::string::npos;
}

/// Whether a mapping advised with MADV_HUGEPAGE shows "hg" here at all, found by advising one
/// directly: false when `huge_page_size` is 0 (no transparent huge pages), and under qemu-user,
/// which accepts the advice without passing it on. Tests expect "hg" on pmrheap's mappings exactly
/// when this is true, so they stay strict on a real kernel and honest under emulation.
inline bool huge_advice_visible(std::size_t huge_page_size) {
  if (huge_page_size == 0) return false;
  static const bool visible = [huge_page_size] {
    const std::size_t bytes = 2 * huge_page_size;
    void* const p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    const bool shown = ::madvise(p, bytes, MADV_HUGEPAGE) == 0 && has_vm_flag(p, "hg");
    ::munmap(p, bytes);
    return shown;
  }();
  return visible;
}

}  // namespace pmrheap::test

#endif  // __linux__
#endif  // PMRHEAP_TESTS_SUPPORT_VM_FLAGS_HPP
