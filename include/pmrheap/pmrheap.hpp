// SPDX-License-Identifier: MIT
// Umbrella header of the pmrheap library: every resource and the platform layer. It needs nothing
// but the C++ standard library; the testing kit is <pmrheap/testing.hpp> (library pmrheap_testing)
// and the Boost.Container adapters are <pmrheap/boost.hpp>.
#ifndef PMRHEAP_PMRHEAP_HPP
#define PMRHEAP_PMRHEAP_HPP

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/huge_pages.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform/pages.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"
#include "pmrheap/stack_fallback_resource.hpp"
#include "pmrheap/synchronized_resource.hpp"
#include "pmrheap/version.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

#endif  // PMRHEAP_PMRHEAP_HPP
