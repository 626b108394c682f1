// SPDX-License-Identifier: MIT
// stack_fallback_resource<N> is a template over buffer_first_resource, which holds all the logic.
// This file compiles the common size once, so users of stack_fallback_resource<4096> (declared
// extern in the header) share its code and vtable instead of instantiating them in every file.
#include "pmrheap/stack_fallback_resource.hpp"

namespace pmrheap {

template class stack_fallback_resource<4096>;

}  // namespace pmrheap
