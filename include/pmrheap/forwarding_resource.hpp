// SPDX-License-Identifier: MIT
// forwarding_resource: the base of every resource that passes requests on to another one. It owns
// the upstream pointer, gives a null upstream one meaning, and screens each request once, so an
// upstream that is not a pmrheap resource never sees a request it would answer with undefined
// behaviour.
#ifndef PMRHEAP_FORWARDING_RESOURCE_HPP
#define PMRHEAP_FORWARDING_RESOURCE_HPP

#include <cstddef>
#include <memory_resource>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/detail/config.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// A resource that forwards every operation to an upstream resource. Derive from it to decorate a
/// resource (count, log, lock, fail on purpose); override only the hooks you change and call the
/// forward_* members for the rest.
///
/// - **Null upstream**: a null `upstream` is std::pmr::null_memory_resource(). Every request that
///   reaches it fails cleanly (allocate throws std::bad_alloc, try_allocate returns nullptr); what
///   the derived resource serves from its own memory (a buffer, say) still works. Default
///   constructors of derived resources take std::pmr::get_default_resource() instead.
/// - **Screening**: a request goes on only when forwardable(): its alignment is a power of two and
///   its size, rounded up to the alignment, is at most PTRDIFF_MAX. Otherwise allocate throws what
///   every pmrheap resource throws (std::invalid_argument, pmrheap::out_of_memory) and the
///   non-throwing operations fail. A std upstream would otherwise see it: libstdc++ 12's
///   new_delete_resource wraps allocate(SIZE_MAX, 8) into a 0-byte request, and under
///   AddressSanitizer operator new aborts the process for sizes above PTRDIFF_MAX.
/// - **resize / remap** go through pmrheap::resize and pmrheap::remap: a std upstream can only
///   "resize" to the same size, a pmrheap upstream answers for itself.
/// - Zero-byte blocks are the shared contract's empty blocks: they never reach the upstream.
/// **Cost**: one screening (an add and two compares) and one virtual call per operation.
class PMRHEAP_API forwarding_resource : public resource {
 public:
  /// The resource requests are forwarded to; never null.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

  /// True when a request of `bytes` aligned to `alignment` may be passed to an upstream: `bytes` >
  /// 0, `alignment` a power of two, and `bytes` rounded up to it at most PTRDIFF_MAX.
  [[nodiscard]] static bool forwardable(std::size_t bytes, std::size_t alignment) noexcept {
    return bytes != 0 && detail::fits_in_object(bytes, alignment);
  }

 protected:
  /// Forwards to `upstream`; null means std::pmr::null_memory_resource().
  explicit forwarding_resource(std::pmr::memory_resource* upstream) noexcept;
  forwarding_resource(const forwarding_resource&) = delete;
  forwarding_resource& operator=(const forwarding_resource&) = delete;
  ~forwarding_resource() override;

  /// upstream_resource()->allocate after screening. **Fails**: std::invalid_argument for a bad
  /// alignment, pmrheap::out_of_memory for a size that cannot be an object, else what the upstream
  /// throws. Zero bytes: the empty block.
  void* forward_allocate(std::size_t bytes, std::size_t alignment) {
    if (!forwardable(bytes, alignment)) [[unlikely]]
      return refuse(bytes, alignment);
    return upstream_->allocate(bytes, alignment);
  }
  /// try_allocate on the upstream after screening: nullptr for anything it refuses or throws.
  [[nodiscard]] void* forward_try_allocate(std::size_t bytes, std::size_t alignment) noexcept;
  /// deallocate on the upstream; zero-byte blocks are the empty block and stay here.
  void forward_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
    if (bytes != 0) upstream_->deallocate(p, bytes, alignment);
  }
  /// resize on the upstream (pmrheap::resize, so any std::pmr upstream answers) after screening
  /// `new_bytes`: false for anything it refuses.
  [[nodiscard]] bool forward_resize(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                    std::size_t alignment) noexcept;
  /// remap on the upstream (pmrheap::remap) after screening `new_bytes`: nullptr for anything it
  /// refuses.
  [[nodiscard]] void* forward_remap(void* p, std::size_t old_bytes, std::size_t new_bytes,
                                    std::size_t alignment) noexcept;

  // The hooks forward unchanged; a derived resource overrides what it decorates.
  /// Forwards to the upstream (forward_allocate).
  void* do_allocate(std::size_t bytes, std::size_t alignment) override { return forward_allocate(bytes, alignment); }
  /// Forwards to the upstream (forward_deallocate).
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    forward_deallocate(p, bytes, alignment);
  }

 private:
  void* do_try_allocate(std::size_t bytes, std::size_t alignment) noexcept override {
    return forward_try_allocate(bytes, alignment);
  }
  bool do_resize(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    return forward_resize(p, old_bytes, new_bytes, alignment);
  }
  void* do_remap(void* p, std::size_t old_bytes, std::size_t new_bytes, std::size_t alignment) noexcept override {
    return forward_remap(p, old_bytes, new_bytes, alignment);
  }

  // The shared contract's answer to what is not forwardable: the empty block for zero bytes, else
  // the exception. Not through try_allocate, whose hook a decorator may have overridden.
  [[noreturn]] PMRHEAP_NOINLINE static void* refuse_throw(std::size_t bytes, std::size_t alignment);
  static void* refuse(std::size_t bytes, std::size_t alignment) {
    if (bytes == 0 && detail::is_pow2(alignment)) return detail::empty_block(alignment);
    refuse_throw(bytes, alignment);
  }

  std::pmr::memory_resource* upstream_;
  resource* native_upstream_;  ///< upstream_ as a pmrheap::resource, or null: no dynamic_cast per call.
};

}  // namespace pmrheap

#endif  // PMRHEAP_FORWARDING_RESOURCE_HPP
