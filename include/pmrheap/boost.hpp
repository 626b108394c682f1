// SPDX-License-Identifier: MIT
// Umbrella header of the Boost.Container adapters (header-only; needs Boost.Container 1.74+):
// resizable_allocator, a version-2 allocator that lets boost::container::vector grow in place, and
// boost_resource_adaptor, Boost's pmr memory_resource over a std one.
#ifndef PMRHEAP_BOOST_HPP
#define PMRHEAP_BOOST_HPP

#include "pmrheap/boost/boost_resource_adaptor.hpp"
#include "pmrheap/boost/resizable_allocator.hpp"

#endif  // PMRHEAP_BOOST_HPP
