// ReLU on the CPU. Backward reads the OUTPUT, not the input: dx = dy where y > 0, else 0. (The
// output is what the model keeps anyway, and y > 0 exactly when x > 0; at x = 0 the gradient
// taken is 0, like Keras and PyTorch.)
#pragma once

#include <cstdint>

namespace knotnet::cpu {

// x, y: (count); y may alias x.
template <typename T>
void relu_forward(const T* x, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

// y, dy, dx: (count); dx may alias dy.
template <typename T>
void relu_backward(const T* y, const T* dy, T* dx, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

}  // namespace knotnet::cpu
