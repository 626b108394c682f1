// SPDX-License-Identifier: MIT
// The fuzz target of validating_resource (testing kit) over c_resource: c_resource's rules, plus the
// validating resource's own checks, read at the end of each input.
#include "models/common.hpp"

namespace pmrheap::fuzz::models {
namespace {

const target_registration validating_c_resource_target{
    {"validating_c_resource", "validating_resource(c_resource)", make<c_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
