// The memory plan: every buffer a model will ever use is declared here, with its size,
// alignment and lifetime, before anything is allocated. finalize() assigns offsets so that
// buffers whose lifetimes overlap never share bytes, and buffers whose lifetimes do not overlap
// may; one allocation of total_bytes() then backs them all (engine/arena.h).
//
// Lifetimes are inclusive ranges of step indices. A model with L layers numbers its steps:
// forward of layer i is step i, backward of layer i is step 2L-1-i, the optimizer update 2L.
// Parameters, gradients and optimizer state live for the whole plan (Lifetime::always()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/format.h"
#include "engine/tensor.h"

namespace knotnet {

enum class Role : uint8_t {
  input,            // the batch fed to the model (images, labels)
  parameter,        // trainable weights
  gradient,         // gradients of the parameters
  optimizer_state,  // per-parameter optimizer slots (moments, accumulators)
  statistics,       // non-trainable persistent state (batch-norm running mean and variance)
  activation,       // a layer's output, kept as long as forward or backward needs it
  activation_grad,  // the gradient flowing back into a layer's output
  saved,            // what a layer keeps from forward for its backward (BN mean, pool argmax)
  scratch,          // temporary memory inside one step (im2col columns, reductions)
  workspace,        // library workspace (cuDNN)
  output,           // results read back by the host (loss, correct count)
};
const char* role_name(Role r);

struct Lifetime {
  int first = 0;
  int last = 0;
  static constexpr int kForever = 1 << 30;
  static Lifetime always() { return {0, kForever}; }
  static Lifetime at(int step) { return {step, step}; }
  bool overlaps(const Lifetime& o) const { return first <= o.last && o.first <= last; }
  std::string str() const;
};

struct BufferDecl {
  std::string name;
  Role role;
  Shape shape;
  DType dtype;
  size_t bytes;
  size_t align;
  Lifetime life;
  size_t reserve = 0;  // the bytes a plan made without the library gave it (>= bytes); see reserve()
};

class MemoryPlan {
 public:
  using Id = int;
  static constexpr size_t kDefaultAlign = 256;  // cudaMalloc's own alignment; fine for AVX too

  Id declare(std::string name, Role role, Shape shape, DType dtype, Lifetime life,
             size_t align = kDefaultAlign);
  // Widens a buffer's lifetime to cover `life` too (used when a later layer reads it in place).
  void extend(Id id, Lifetime life);
  // Says that a plan made without asking the library (a plan-only model, which the budget was
  // checked against) gave this buffer `bytes` >= its own size. finalize() then also tries the
  // layout of those sizes, so the total never exceeds that plan's: the greedy placement is not
  // monotone, and smaller buffers alone can pack worse.
  void reserve(Id id, size_t bytes);
  // Assigns offsets. No declarations afterwards. reuse = false lays every buffer out one after
  // another (the no-reuse layout): what tests compare the reusing plan against.
  void finalize(bool reuse = true);
  bool finalized() const { return finalized_; }

  size_t size() const { return buffers_.size(); }
  const BufferDecl& buffer(Id id) const;
  size_t offset(Id id) const;
  size_t total_bytes() const;             // the arena's size, with lifetime reuse
  size_t total_without_reuse() const;     // the sum of every buffer, aligned
  size_t bytes_by_role(Role r) const;     // sum of buffer sizes of one role (no reuse)
  // Ids of the largest buffers, largest first.
  std::vector<Id> largest(size_t count) const;
  // One row per buffer: name, role, shape, bytes, offset, lifetime; then the totals.
  std::string table() const;

 private:
  void lay_out_sequentially();
  size_t place(const std::vector<Id>& order, const std::vector<size_t>& sizes, std::vector<size_t>& offsets) const;
  size_t search(const std::vector<size_t>& sizes, std::vector<size_t>& offsets) const;
  std::vector<BufferDecl> buffers_;
  std::vector<size_t> offsets_;
  size_t total_ = 0;
  bool finalized_ = false;
};

}  // namespace knotnet
