// SPDX-License-Identifier: MIT
// boost_resource_adaptor: a boost::container::pmr::memory_resource over a std::pmr::memory_resource,
// so Boost's own pmr containers run on pmrheap resources. Needs Boost.Container (headers and, for
// Boost's pmr containers, libboost_container); nothing else in pmrheap does.
#ifndef PMRHEAP_BOOST_BOOST_RESOURCE_ADAPTOR_HPP
#define PMRHEAP_BOOST_BOOST_RESOURCE_ADAPTOR_HPP

#include <boost/container/pmr/memory_resource.hpp>

#include <cstddef>
#include <memory_resource>
#include <stdexcept>

#include "pmrheap/detail/align.hpp"
#include "pmrheap/resource.hpp"

namespace pmrheap {

/// Boost.Container's memory_resource, which is a class of its own and not a std one, forwarding
/// to a std::pmr::memory_resource: `boost::container::pmr::vector<int> v(&adaptor)` allocates from
/// the std resource behind it. Boost's pmr allocator is a version-1 allocator, so containers on it
/// never grow in place; for that use resizable_allocator (docs/growth.md).
/// Boost's memory_resource is not a pmrheap::resource, so this is not a forwarding_resource, but it
/// follows the same rules: a null upstream is std::pmr::null_memory_resource(), and a request is
/// screened once before the upstream sees it.
/// **Fails**: allocate throws std::invalid_argument for an alignment that is not a power of two
/// and pmrheap::out_of_memory for a size that cannot be an object (rounded up above PTRDIFF_MAX),
/// without calling the upstream (std resources would wrap or misbehave); otherwise whatever the
/// upstream throws.
/// **Thread safety**: as the upstream.
class boost_resource_adaptor final : public boost::container::pmr::memory_resource {
 public:
  /// Over std::pmr::get_default_resource() (read now).
  boost_resource_adaptor() noexcept : boost_resource_adaptor(std::pmr::get_default_resource()) {}
  /// Over `upstream`; null is std::pmr::null_memory_resource(), which refuses every request.
  explicit boost_resource_adaptor(std::pmr::memory_resource* upstream) noexcept
      : upstream_(upstream != nullptr ? upstream : std::pmr::null_memory_resource()) {}

  /// The std resource every call goes to.
  [[nodiscard]] std::pmr::memory_resource* upstream_resource() const noexcept { return upstream_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (!detail::fits_in_object(bytes, alignment)) throw_allocation_failure(bytes, alignment);
    return upstream_->allocate(bytes, alignment);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override {
    upstream_->deallocate(p, bytes, alignment);
  }
  /// Equal to another adaptor whose upstream is equal to this one's.
  [[nodiscard]] bool do_is_equal(const boost::container::pmr::memory_resource& other) const noexcept override {
    if (this == &other) return true;
    const auto* adaptor = dynamic_cast<const boost_resource_adaptor*>(&other);
    return adaptor != nullptr && upstream_->is_equal(*adaptor->upstream_);
  }

  std::pmr::memory_resource* upstream_;
};

}  // namespace pmrheap

#endif  // PMRHEAP_BOOST_BOOST_RESOURCE_ADAPTOR_HPP
