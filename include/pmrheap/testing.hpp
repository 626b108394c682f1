// SPDX-License-Identifier: MIT
// Umbrella header of the testing kit (library pmrheap_testing, which links fmt and libbacktrace):
// conformance checks, validating_resource, failing_resource, debug_resource, logging_resource,
// default_resource_guard, stack traces and the fmt formatters for all of them.
#ifndef PMRHEAP_TESTING_HPP
#define PMRHEAP_TESTING_HPP

#include "pmrheap/testing/conformance.hpp"
#include "pmrheap/testing/debug_resource.hpp"
#include "pmrheap/testing/default_resource_guard.hpp"
#include "pmrheap/testing/failing_resource.hpp"
#include "pmrheap/testing/fmt.hpp"
#include "pmrheap/testing/logging_resource.hpp"
#include "pmrheap/testing/stack_trace.hpp"
#include "pmrheap/testing/validating_resource.hpp"

#endif  // PMRHEAP_TESTING_HPP
