// SPDX-License-Identifier: MIT
// Umbrella header: every public pmrheap header.
#ifndef PMRHEAP_PMRHEAP_HPP
#define PMRHEAP_PMRHEAP_HPP

#include "pmrheap/arena_resource.hpp"
#include "pmrheap/c_resource.hpp"
#include "pmrheap/page_resource.hpp"
#include "pmrheap/platform.hpp"
#include "pmrheap/reset_mode.hpp"
#include "pmrheap/resource.hpp"

#endif  // PMRHEAP_PMRHEAP_HPP
