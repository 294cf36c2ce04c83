// How a model takes its memory from the card (--alloc). knotnet's own way is `planned`; the
// others reproduce what the frameworks do, for the memcap experiments (docs/memcap.md):
//
//   planned       the memory plan's exact total, in one allocation (the default)
//   preallocate   all free memory but a reserve for the system, carved by the plan: TensorFlow's
//                 default (its MinSystemMemory reserve: 1800 MiB on compute capability 9, 1536 on 8,
//                 1050 on 7, 500 below; 225 MiB when under 2 GiB is free)
//   growth        every buffer its own allocation, made when the model is built, kept, never
//                 shared across lifetimes and never returned: the steady state of
//                 TensorFlow's allow_growth and of PyTorch's caching allocator
//   fraction=F    one arena of F x the card's total memory, carved by the plan:
//                 per_process_gpu_memory_fraction
//
// On the CPU only planned and growth mean something; the others need a card.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace knotnet {

enum class AllocPolicy : uint8_t { planned, preallocate, growth, fraction };

struct AllocOptions {
  AllocPolicy policy = AllocPolicy::planned;
  double fraction = 0;  // fraction=F only, in (0, 1]
  std::string str() const;  // as parse_alloc_policy reads it: "planned", "fraction=0.3"
  // True when the policy carves the plan out of one block (every policy but growth).
  bool one_block() const { return policy != AllocPolicy::growth; }
};

// "planned", "preallocate", "growth", "fraction=F" with F in (0, 1]. Throws naming the value.
AllocOptions parse_alloc_policy(const std::string& text);

// The memory TensorFlow leaves to the system when it preallocates (its MinSystemMemory), for
// `free` bytes available on a card of compute capability `cc_major`.
size_t tensorflow_system_reserve(size_t free, int cc_major);

}  // namespace knotnet
