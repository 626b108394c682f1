// SPDX-License-Identifier: MIT
// Tests platform::unmap at Linux's mapping count limit (vm.max_map_count): blocks that merged into
// one kernel mapping need a split to be freed one by one, which the kernel refuses at the limit;
// no mapping may be lost for it (include/pmrheap/platform/pages.hpp, unmap()).
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"

#if defined(__linux__)
#  include <cerrno>
#  include <cstring>
#  include <fcntl.h>
#  include <sys/mman.h>
#  include <sys/wait.h>
#  include <unistd.h>

namespace {

using pmrheap::platform::page_size;

// Reads a whole /proc file through `buffer` and counts its lines, without allocating: at the limit
// a malloc that needs a new mapping would fail. -1 when the file cannot be read.
long count_lines(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static char buffer[1 << 16];
  long lines = 0;
  for (;;) {
    const ::ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      lines = -1;
      break;
    }
    if (n == 0) break;
    for (::ssize_t i = 0; i < n; ++i) lines += buffer[i] == '\n' ? 1 : 0;
  }
  ::close(fd);
  return lines;
}

long map_count() { return count_lines("/proc/self/maps"); }

long max_map_count() {
  std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  if (f == nullptr) return -1;
  long value = -1;
  if (std::fscanf(f, "%ld", &value) != 1) value = -1;
  std::fclose(f);
  return value;
}

// True when no page of [p, p + page) is mapped: mincore answers ENOMEM for unmapped memory.
bool unmapped(void* p) {
  unsigned char resident = 0;
  return ::mincore(p, page_size(), &resident) != 0 && errno == ENOMEM;
}

void say(const char* text) { static_cast<void>(::write(2, text, std::strlen(text))); }

// The child's scenario; its exit code says what went wrong (0: nothing).
int at_the_limit(long limit) {
  constexpr std::size_t slots = 1 << 20;
  // Blocks are recorded in a static array, so the scenario itself maps nothing on the way.
  static void* blocks[slots];
  pmrheap::page_resource pages;
  const std::size_t page = page_size();
  const long before = map_count();
  if (before < 0) return 10;
  // Fill up to the limit and well past it: blocks then merge into existing mappings, which is
  // where an unmap needs a split.
  std::size_t n = 0;
  std::size_t past_limit = 0;
  while (n < slots && past_limit < 2048) {
    void* const p = pages.try_allocate(page, 2 * page);
    if (p == nullptr) break;
    static_cast<unsigned char*>(p)[0] = 1;
    blocks[n++] = p;
    if (past_limit > 0 || (n % 1024 == 0 && map_count() >= limit - 16)) ++past_limit;
  }
  if (past_limit == 0) return 11;  // never reached the limit
  // A block from the middle of a kernel mapping (the pages on both sides mapped, so freeing it
  // needs a split): once another unmap frees a slot, it must be gone.
  std::size_t m = n / 2;
  const auto bytes = [](void* p) { return static_cast<unsigned char*>(p); };
  while (m < n && (unmapped(bytes(blocks[m]) - page) || unmapped(bytes(blocks[m]) + page))) ++m;
  if (m == n) return 15;  // no block was merged with its neighbours
  void* const middle = blocks[m];
  pages.deallocate(middle, page, 2 * page);
  blocks[m] = nullptr;
  const bool middle_gone_at_once = unmapped(middle);
  for (std::size_t i = 0; i < 256; ++i) {
    pages.deallocate(blocks[i], page, 2 * page);
    blocks[i] = nullptr;
  }
  if (!unmapped(middle)) return 12;
  for (std::size_t i = 0; i < n; ++i)
    if (blocks[i] != nullptr) pages.deallocate(blocks[i], page, 2 * page);
  if (pmrheap::platform::deferred_unmaps() != 0) return 13;
  const long after = map_count();
  if (after < 0) return 10;
  if (after > before) {  // mappings were lost
    char text[96];
    std::snprintf(text, sizeof text, "%ld mappings before, %ld after freeing every block\n", before, after);
    say(text);
    return 14;
  }
  say(middle_gone_at_once ? "the middle block was unmapped at once\n"
                          : "the middle block was unmapped after the next unmaps\n");
  return 0;
}

}  // namespace

TEST_CASE("platform::unmap at vm.max_map_count: a block freed from a merged mapping is unmapped, none is lost") {
  const long limit = max_map_count();
  if (limit < 0 || limit > 1'000'000) {
    MESSAGE("skipped: vm.max_map_count is " << limit << ", too large to reach in a test (or unreadable)");
    return;
  }
  if (pmrheap::detail::running_on_valgrind()) {
    // valgrind keeps its own table of client mappings, far smaller than the kernel's limit
    // (it aborts the run when the table is full), so the kernel's limit cannot be reached under it.
    MESSAGE("skipped under valgrind: its mapping table is smaller than vm.max_map_count");
    return;
  }
  if (const char* wrapper = std::getenv("MESON_EXE_WRAPPER"); wrapper != nullptr && *wrapper != '\0') {
    // Under qemu-user (the cross targets) the guest's mappings are qemu's own: /proc/self/maps is
    // emulated and the kernel's limit applies to qemu's host mappings, so it cannot be reached here.
    MESSAGE("skipped: run under an emulator (" << std::string(wrapper) << "), whose map count is not the kernel's");
    return;
  }
  if (page_size() != 4096) {
    MESSAGE("skipped: the page size is not 4 KiB");
    return;
  }
  std::fflush(nullptr);
  const ::pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::alarm(120);  // bounded in time, whatever happens
    std::_Exit(at_the_limit(limit));
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  CAPTURE(code);
  if (PMRHEAP_HAS_ASAN && code == 11) {
    MESSAGE("skipped under ASan: its allocator reached the limit first");
    return;
  }
  // 10: /proc/self/maps unreadable, 11: the limit was not reached, 12: the middle block stayed
  // mapped, 13: ranges still deferred after everything was freed, 14: mappings lost, 15: no block
  // sat inside a merged mapping.
  CHECK(code == 0);
}

#else

// Windows releases whole allocations (VirtualFree never splits one) and other systems have no
// such limit to reach: nothing to test there.
TEST_CASE("platform::unmap at vm.max_map_count (Linux only)" * doctest::skip(true)) {}

#endif
