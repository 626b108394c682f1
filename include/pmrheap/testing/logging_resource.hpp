// SPDX-License-Identifier: MIT
// logging_resource: one line per allocate, deallocate, resize and remap, written to a FILE or
// handed to a callback (Zig's logging allocators).
#ifndef PMRHEAP_TESTING_LOGGING_RESOURCE_HPP
#define PMRHEAP_TESTING_LOGGING_RESOURCE_HPP

#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory_resource>
#include <string_view>

#include "pmrheap/forwarding_resource.hpp"

namespace pmrheap {

/// Which calls a logging_resource writes a line for.
enum class log_filter {
  all,       ///< every call
  failures,  ///< only failed ones: allocate and try_allocate failures, refused resizes and remaps
};

/// Forwards every call to `upstream` and describes it in one line (no trailing newline in the
/// callback; '\n' appended for a FILE):
///
///     allocate 10 bytes, alignment 1 -> 0x7ffc1c3e2a40
///     allocate 4096 bytes, alignment 8 -> failed
///     try_allocate 16 bytes, alignment 16 -> 0x55d4c3a2b1c0
///     resize 0x7ffc1c3e2a40 10 -> 5 bytes, alignment 1 -> ok
///     resize 0x7ffc1c3e2a40 5 -> 20 bytes, alignment 1 -> failed
///     remap 0x55d4c3a2b1c0 16 -> 4096 bytes, alignment 16 -> 0x55d4c3a2c000
///     deallocate 0x7ffc1c3e2a40 5 bytes, alignment 1
///
/// A failed allocate that throws something other than std::bad_alloc ends in "-> failed: " and the
/// exception's message (a bad alignment, say); the exception is passed on either way. Zero-byte
/// requests get the shared contract's empty block and are neither forwarded nor logged.
/// **Fails**: as the upstream; forwarding, screening and a null upstream as forwarding_resource.
/// **Cost**: a formatted line and a write per call.
/// **Thread safety**: as the upstream and the sink. A FILE line is written with one fwrite, so
/// lines from several threads do not mix; a callback must be safe to call from several threads if
/// the resource is shared.
class PMRHEAP_TESTING_API logging_resource final : public forwarding_resource {
 public:
  /// A callback that receives each log line, without its newline.
  using sink = std::function<void(std::string_view line)>;

  /// Writes to `out` (stderr by default). A null `upstream` is std::pmr::null_memory_resource()
  /// (forwarding_resource); a null `out` means stderr.
  explicit logging_resource(std::pmr::memory_resource* upstream, std::FILE* out = stderr,
                            log_filter filter = log_filter::all) noexcept;
  /// Hands each line to `callback`.
  logging_resource(std::pmr::memory_resource* upstream, sink callback, log_filter filter = log_filter::all);
  logging_resource(const logging_resource&) = delete;
  logging_resource& operator=(const logging_resource&) = delete;
  ~logging_resource() override;

  /// Which calls are logged.
  [[nodiscard]] log_filter filter() const noexcept { return filter_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override;

  void emit(bool failed, std::string_view text) noexcept;

  std::FILE* out_ = nullptr;
  sink sink_;
  log_filter filter_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_TESTING_LOGGING_RESOURCE_HPP
