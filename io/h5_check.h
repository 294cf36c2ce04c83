// Check macro for HDF5 C calls: a negative return (or invalid id) throws knotnet::Error with the
// call's text and the innermost message from HDF5's error stack. Callers silence HDF5's own
// printing with quiet_hdf5_errors() once, so users see one clear message instead of a trace.
#pragma once

#include <hdf5.h>

#include <string>

#include "engine/error.h"

namespace knotnet {

// Turns off HDF5's automatic error printing for this process (idempotent).
void quiet_hdf5_errors();
// The most specific description on HDF5's current error stack ("truncated file: eof = ..."),
// the one that tells a user why a call failed, or "" when the stack is empty.
std::string hdf5_error_message();

}  // namespace knotnet

#define KN_H5_CHECK(call)                                                                   \
  ([&]() {                                                                                  \
    auto kn_h5_ret_ = (call);                                                               \
    if (kn_h5_ret_ < 0) {                                                                   \
      std::string kn_h5_msg_ = ::knotnet::hdf5_error_message();                            \
      KN_THROW("HDF5 error in ", #call, kn_h5_msg_.empty() ? "" : ": ", kn_h5_msg_);        \
    }                                                                                       \
    return kn_h5_ret_;                                                                      \
  }())
