// SPDX-License-Identifier: MIT
// Every resource of tests/support/resources.hpp that takes its memory from the process, driven
// into a lowered address-space limit (RLIMIT_AS) in a child process: it fails cleanly
// (pmrheap::out_of_memory, try_allocate nullptr), loses and corrupts nothing it already handed
// out, and works again once memory is given back (docs/reliability.md, "Exhaustion"). POSIX only;
// the limit is read back from /proc on Linux.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/sanitizer.hpp"
#include "pmrheap/resource.hpp"
#include "support/address_space.hpp"
#include "support/resources.hpp"

#if defined(__linux__)
#  include <sys/resource.h>
#  include <sys/wait.h>
#  include <unistd.h>
#  define PMRHEAP_TEST_RLIMIT 1
#else
#  define PMRHEAP_TEST_RLIMIT 0
#endif

#if PMRHEAP_HAS_ASAN
extern "C" void __sanitizer_purge_allocator();  // <sanitizer/allocator_interface.h>, not shipped by g++ 12

// The C heap's answer at the limit is nullptr; ASan's default is to report and die, and its report
// cannot start the symbolizer under the limit (the child hangs). ASAN_OPTIONS still overrides this.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

#if PMRHEAP_TEST_RLIMIT
namespace {

// ASan keeps freed blocks in a quarantine (to report a later use) instead of giving them back;
// draining it makes memory freed memory available, as it is without ASan.
void drain_quarantine() noexcept {
#  if PMRHEAP_HAS_ASAN
  __sanitizer_purge_allocator();
#  endif
}

constexpr std::size_t block_bytes = std::size_t{1} << 20;
// How far above its current size the child's address space may grow.
constexpr std::size_t headroom = std::size_t{64} << 20;
// The loop gives up (a failure: the limit did not bite) after this many blocks.
constexpr std::size_t max_blocks = 4 * headroom / block_bytes;
// What the child reports when the platform does not apply the limit at all.
constexpr const char* not_applied = "not applied";

struct held {
  unsigned char* p;
  std::size_t bytes;
  std::size_t alignment;
};

unsigned char pattern(std::size_t block, std::size_t i) noexcept { return static_cast<unsigned char>(block * 31 + i); }

void fill(const held& b, std::size_t id) noexcept {
  for (std::size_t i = 0; i < b.bytes; i += 512) b.p[i] = pattern(id, i);
  b.p[b.bytes - 1] = pattern(id, b.bytes - 1);
}

bool intact(const held& b, std::size_t id) noexcept {
  for (std::size_t i = 0; i < b.bytes; i += 512)
    if (b.p[i] != pattern(id, i)) return false;
  return b.p[b.bytes - 1] == pattern(id, b.bytes - 1);
}

// Runs in the child. Returns "" when every promise held, not_applied, or what went wrong.
std::string drive_into_limit(const pmrheap::test::resource_entry& entry) {
  auto r = entry.make();
  std::vector<held> blocks;
  blocks.reserve(max_blocks + 1);  // no growth of our own bookkeeping under the limit

  const std::size_t now = pmrheap::test::address_space_size();
  if (now == 0) return "cannot read VmSize from /proc/self/status";
  rlimit limit{};
  getrlimit(RLIMIT_AS, &limit);
  limit.rlim_cur = static_cast<rlim_t>(now + headroom);
  if (setrlimit(RLIMIT_AS, &limit) != 0) return fmt::format("setrlimit(RLIMIT_AS, {}) failed", now + headroom);
  rlimit check{};
  getrlimit(RLIMIT_AS, &check);
  if (check.rlim_cur != limit.rlim_cur) return not_applied;  // qemu-user accepts the call and ignores it

  // Into the limit. Alignments vary so both strategies of a resource are driven.
  const std::size_t alignments[] = {16, 4096, 64};
  std::size_t failed_alignment = 0;
  for (std::size_t i = 0; i < max_blocks && failed_alignment == 0; ++i) {
    const std::size_t alignment = alignments[i % 3];
    void* p = r->try_allocate(block_bytes, alignment);
    if (p == nullptr) {
      failed_alignment = alignment;
      break;
    }
    if (!pmrheap::detail::is_aligned(p, alignment)) return fmt::format("block {} is not aligned to {}", i, alignment);
    blocks.push_back({static_cast<unsigned char*>(p), block_bytes, alignment});
    fill(blocks.back(), i);
  }
  if (failed_alignment == 0) return fmt::format("{} MiB allocated under a {} MiB headroom", max_blocks, headroom >> 20);
  if (blocks.empty()) return "the very first block failed: the headroom is too small to test anything";

  // At the limit: allocate throws out_of_memory naming the request, try_allocate says nullptr.
  try {
    void* p = r->allocate(block_bytes, failed_alignment);
    r->deallocate(p, block_bytes, failed_alignment);
    return "try_allocate failed, and then allocate of the same request succeeded";
  } catch (const pmrheap::out_of_memory& e) {
    if (e.bytes() != block_bytes || e.alignment() != failed_alignment)
      return fmt::format("out_of_memory names {} bytes, alignment {}", e.bytes(), e.alignment());
  } catch (const std::bad_alloc&) {
    return "allocate threw a std::bad_alloc that is not pmrheap::out_of_memory";
  }
  // Growing a block past the limit fails and leaves it as it was.
  held& last = blocks.back();
  try {
    void* moved = pmrheap::reallocate(*r, last.p, last.bytes, 32 * block_bytes, last.alignment);
    last.p = static_cast<unsigned char*>(moved);  // possible only if the resource remapped within the limit
    last.bytes = 32 * block_bytes;
    fill(last, blocks.size() - 1);
  } catch (const std::bad_alloc&) {
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (!intact(blocks[i], i)) return fmt::format("block {} of {} changed at the limit", i, blocks.size());

  // Memory given back is usable again.
  const std::size_t count = blocks.size();
  if (entry.release_all != nullptr) {
    entry.release_all(*r);
  } else {
    const held b = blocks.back();
    r->deallocate(b.p, b.bytes, b.alignment);
    drain_quarantine();
    void* p = r->try_allocate(block_bytes, b.alignment);
    if (p == nullptr) return "one block freed at the limit, and the same request still fails";
    r->deallocate(p, block_bytes, b.alignment);
    blocks.pop_back();
    for (const held& h : blocks) r->deallocate(h.p, h.bytes, h.alignment);
  }
  drain_quarantine();
  blocks.clear();
  for (std::size_t i = 0; i < count / 2; ++i) {
    void* p = r->try_allocate(block_bytes, alignments[i % 3]);
    if (p == nullptr) return fmt::format("after freeing everything, block {} of {} failed", i, count / 2);
    blocks.push_back({static_cast<unsigned char*>(p), block_bytes, alignments[i % 3]});
    fill(blocks.back(), i);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i)
    if (!intact(blocks[i], i)) return fmt::format("block {} changed after the limit", i);
  if (entry.release_all != nullptr) {
    entry.release_all(*r);
  } else {
    for (const held& h : blocks) r->deallocate(h.p, h.bytes, h.alignment);
  }
  return fmt::format("ok: {} blocks of 1 MiB before the limit", count);
}

// Runs drive_into_limit in a child process, which reports through a pipe.
std::string in_child(const pmrheap::test::resource_entry& entry) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    alarm(120);  // a child stuck at the limit dies instead of hanging the suite
    close(fds[0]);
    std::string result;
    try {
      result = drive_into_limit(entry);
    } catch (const std::exception& e) {
      result = fmt::format("exception: {}", e.what());
    }
    const ssize_t written = write(fds[1], result.data(), result.size());
    _exit(written == static_cast<ssize_t>(result.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string report;
  char buffer[256];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) report += fmt::format(" (child ended with status {:#x})", status);
  return report;
}

}  // namespace
#endif

TEST_CASE("exhaustion: at the RLIMIT_AS limit every resource fails cleanly, keeps its blocks, and recovers" *
          doctest::skip(!PMRHEAP_TEST_RLIMIT)) {
#if PMRHEAP_TEST_RLIMIT
  if (pmrheap::detail::running_on_valgrind()) {
    // The limit would bind valgrind's own memory too (its shadow grows with every block, and
    // freed blocks wait in its 20 MB free queue), so valgrind, not the resource, runs out first.
    MESSAGE("not run under valgrind: RLIMIT_AS limits valgrind itself");
    return;
  }
  std::size_t driven = 0;
  for (const auto& entry : pmrheap::test::all_resources()) {
    if (!entry.address_space_limit) continue;
    CAPTURE(entry.name);
    const std::string report = in_child(entry);
    if (report == not_applied) {
      MESSAGE("RLIMIT_AS is not applied on this platform (qemu-user ignores it); " << entry.name << " not driven");
      continue;
    }
    MESSAGE(entry.name << ": " << report);
    CHECK(report.rfind("ok: ", 0) == 0);
    ++driven;
  }
  MESSAGE(driven << " resources driven into the limit");
#endif
}
