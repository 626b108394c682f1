// SPDX-License-Identifier: MIT
// Umbrella header: every public pmrheap header.
#ifndef PMRHEAP_PMRHEAP_HPP
#define PMRHEAP_PMRHEAP_HPP

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/concurrent_arena_resource.hpp"
#include "pmrheap/buffer_first_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/debug_resource.hpp"
#include "pmrheap/default_resource_guard.hpp"
#include "pmrheap/failing_resource.hpp"
#include "pmrheap/fixed_buffer_resource.hpp"
#include "pmrheap/huge_pages.hpp"
#include "pmrheap/logging_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"
#include "pmrheap/stack_fallback_resource.hpp"
#include "pmrheap/stack_trace.hpp"
#include "pmrheap/synchronized_resource.hpp"
#include "pmrheap/virtual_arena_resource.hpp"

#endif  // PMRHEAP_PMRHEAP_HPP
