// SPDX-License-Identifier: MIT
// synchronized_resource<std::mutex>, instantiated once here; the class is all in its header.
#include "pmrheap/synchronized_resource.hpp"

namespace pmrheap {

template class synchronized_resource<std::mutex>;

}  // namespace pmrheap
