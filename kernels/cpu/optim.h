// Optimizer updates on the CPU: one pass over flat (P) buffers of parameters, gradients and
// optimizer state, templated on float/double. The formulas are Keras 3's (keras/src/optimizers);
// engine/optimizers/*.cpp say where PyTorch differs. Non-obvious choice: arithmetic happens in
// T, the parameters' own type, with the hyper-parameters cast to T once per call, as Keras does
// (it casts the learning rate and the gradient to the variable's dtype).
#pragma once

#include <cmath>
#include <cstdint>

namespace knotnet::cpu {

// Plain SGD: p -= lr * g.
// p, g: (n)
template <typename T>
void sgd_step(T* p, const T* g, int64_t n, double lr) {
  const T a = static_cast<T>(lr);
  for (int64_t i = 0; i < n; ++i) p[i] -= a * g[i];
}

// SGD with momentum, Keras's form (the velocity carries the learning rate):
//   v = momentum * v - lr * g
//   p += v                                    (classic)
//   p += momentum * v - lr * g                (Nesterov, with the new v)
// p, g, v: (n)
template <typename T>
void sgd_momentum_step(T* p, const T* g, T* v, int64_t n, double lr, double momentum, bool nesterov) {
  const T a = static_cast<T>(lr);
  const T mu = static_cast<T>(momentum);
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) {
      const T vi = mu * v[i] - a * g[i];
      v[i] = vi;
      p[i] += mu * vi - a * g[i];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T vi = mu * v[i] - a * g[i];
      v[i] = vi;
      p[i] += vi;
    }
  }
}

// Adagrad, Keras 3's form (epsilon inside the square root):
//   acc += g^2
//   p -= lr * g / sqrt(acc + eps)
// p, g, acc: (n)
template <typename T>
void adagrad_step(T* p, const T* g, T* acc, int64_t n, double lr, double eps) {
  const T a = static_cast<T>(lr);
  const T e = static_cast<T>(eps);
  for (int64_t i = 0; i < n; ++i) {
    const T ai = acc[i] + g[i] * g[i];
    acc[i] = ai;
    p[i] -= a * g[i] / std::sqrt(ai + e);
  }
}

// RMSprop, Keras 3's uncentered form (epsilon inside the square root):
//   ms = rho * ms + (1 - rho) * g^2
//   inc = lr * g / sqrt(ms + eps)
//   without momentum: p -= inc
//   with momentum:    mom = momentum * mom + inc;  p -= mom
// p, g, ms: (n); mom: (n), or null when momentum is 0.
template <typename T>
void rmsprop_step(T* p, const T* g, T* ms, T* mom, int64_t n, double lr, double rho, double momentum, double eps) {
  const T a = static_cast<T>(lr);
  const T r = static_cast<T>(rho);
  const T r1 = static_cast<T>(1.0 - rho);
  const T mu = static_cast<T>(momentum);
  const T e = static_cast<T>(eps);
  if (mom) {
    for (int64_t i = 0; i < n; ++i) {
      const T si = r * ms[i] + r1 * (g[i] * g[i]);
      ms[i] = si;
      const T mi = mu * mom[i] + a * g[i] / std::sqrt(si + e);
      mom[i] = mi;
      p[i] -= mi;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T si = r * ms[i] + r1 * (g[i] * g[i]);
      ms[i] = si;
      p[i] -= a * g[i] / std::sqrt(si + e);
    }
  }
}

// Adam, Keras 3's form (bias correction folded into the step size; epsilon added to the
// uncorrected sqrt(v), the paper's "epsilon hat"):
//   m += (g - m) * (1 - beta1)
//   v += (g^2 - v) * (1 - beta2)
//   p -= alpha * m / (sqrt(v) + eps),   alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
// The caller computes alpha for step t (from 1). p, g, m, v: (n)
template <typename T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, double alpha, double beta1, double beta2, double eps) {
  const T al = static_cast<T>(alpha);
  const T b1 = static_cast<T>(1.0 - beta1);
  const T b2 = static_cast<T>(1.0 - beta2);
  const T e = static_cast<T>(eps);
  for (int64_t i = 0; i < n; ++i) {
    const T mi = m[i] + (g[i] - m[i]) * b1;
    const T vi = v[i] + (g[i] * g[i] - v[i]) * b2;
    m[i] = mi;
    v[i] = vi;
    p[i] -= al * mi / (std::sqrt(vi) + e);
  }
}

}  // namespace knotnet::cpu
