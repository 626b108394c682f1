// SPDX-License-Identifier: MIT
// The fuzz target of c_resource: the C heap's rules (c_model, models/common.hpp).
#include "models/common.hpp"

namespace pmrheap::fuzz::models {
namespace {

const target_registration c_resource_target{{"c_resource", "c_resource", make<c_model>}};

}  // namespace
}  // namespace pmrheap::fuzz::models
