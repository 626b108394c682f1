// SPDX-License-Identifier: MIT
// The fuzz target of smp_resource, driven from one thread (the threads and stress tests cover the
// rest).
#include "pmrheap/smp_resource.hpp"

#include "models/common.hpp"
#include "pmrheap/platform/pages.hpp"

namespace pmrheap::fuzz::models {
namespace {

const target_registration smp_resource_target{{"smp_resource", "smp_resource", make<smp_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
