#include "engine/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <sstream>

namespace knotnet {

namespace {
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::input: return "input";
    case Role::parameter: return "parameter";
    case Role::gradient: return "gradient";
    case Role::optimizer_state: return "optimizer";
    case Role::statistics: return "statistics";
    case Role::activation: return "activation";
    case Role::activation_grad: return "act-grad";
    case Role::saved: return "saved";
    case Role::scratch: return "scratch";
    case Role::workspace: return "workspace";
    case Role::output: return "output";
  }
  return "?";
}

std::string Lifetime::str() const {
  if (first == 0 && last == kForever) return "always";
  if (first == last) return detail::concat(first);
  return detail::concat(first, "-", last);
}

MemoryPlan::Id MemoryPlan::declare(std::string name, Role role, Shape shape, DType dtype, Lifetime life,
                                   size_t align) {
  KN_CHECK(!finalized_, "buffer '", name, "' declared after the memory plan was finalized");
  KN_CHECK(align > 0 && (align & (align - 1)) == 0, "alignment of '", name, "' must be a power of two, got ", align);
  KN_CHECK(life.first <= life.last, "buffer '", name, "' has an empty lifetime ", life.first, "-", life.last);
  size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  buffers_.push_back({std::move(name), role, shape, dtype, bytes, align, life, bytes});
  return static_cast<Id>(buffers_.size() - 1);
}

void MemoryPlan::extend(Id id, Lifetime life) {
  KN_CHECK(!finalized_, "lifetime changed after the memory plan was finalized");
  auto& b = buffers_.at(static_cast<size_t>(id));
  b.life.first = std::min(b.life.first, life.first);
  b.life.last = std::max(b.life.last, life.last);
}

void MemoryPlan::reserve(Id id, size_t bytes) {
  KN_CHECK(!finalized_, "reserve after the memory plan was finalized");
  auto& b = buffers_.at(static_cast<size_t>(id));
  KN_CHECK(bytes >= b.bytes, "buffer '", b.name, "': a reserve of ", bytes, " B is smaller than its ", b.bytes, " B");
  b.reserve = bytes;
}

// Greedy placement: buffers (of `sizes`) in a given order, each to the lowest aligned offset that does not
// collide with an already placed buffer whose lifetime overlaps its own. Returns the end of the
// highest buffer.
size_t MemoryPlan::place(const std::vector<Id>& order, const std::vector<size_t>& sizes,
                         std::vector<size_t>& offsets) const {
  offsets.assign(buffers_.size(), 0);
  std::vector<Id> placed;
  size_t total = 0;
  for (Id id : order) {
    const BufferDecl& b = buffers_[id];
    const size_t bytes = sizes[static_cast<size_t>(id)];
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of overlapping placed buffers
    for (Id p : placed)
      if (buffers_[p].life.overlaps(b.life) && sizes[static_cast<size_t>(p)] > 0)
        busy.emplace_back(offsets[p], offsets[p] + sizes[static_cast<size_t>(p)]);
    std::sort(busy.begin(), busy.end());
    size_t off = 0;
    for (auto [lo, hi] : busy) {
      if (align_up(off, b.align) + bytes <= lo) break;
      off = std::max(off, hi);
    }
    off = align_up(off, b.align);
    offsets[id] = off;
    total = std::max(total, off + bytes);
    placed.push_back(id);
  }
  return total;
}

// The greedy placement in several orders, keeping the smallest total (the first on a tie):
// largest first, which keeps holes small and lands within a few percent of the peak of
// simultaneously live bytes for plain layer stacks; longest-lived first, then largest; largest
// bytes x steps first; and kJitteredOrders orders of longest-lived first with each lifetime
// scaled by a factor in [0.5, 1.5) from a fixed-seed generator (the same plan on every run and
// machine). The others matter once short-lived buffers are as large as the activations (a
// convolution's workspace alive at one step only). On the seed at batch 128 with cuDNN's
// workspaces sized by each convolution's input and output, the peak of live bytes is 1,360 MiB:
// largest first gave 1,756 MiB, longest-lived first 1,555, the jittered orders 1,422-1,433.
// The whole `train_knots plan --model seed --device cuda` command, 131 orders included, takes
// about 10 ms on the 2-core development machine.
constexpr int kJitteredOrders = 128;

// The smallest total over the orders above, for buffers of `sizes`; its offsets into `offsets`.
size_t MemoryPlan::search(const std::vector<size_t>& sizes, std::vector<size_t>& offsets) const {
  auto steps = [&](Id a) {
    const Lifetime& l = buffers_[a].life;
    return static_cast<double>(std::min(l.last, 1 << 16) - l.first + 1);
  };
  auto size = [&](Id a) { return sizes[static_cast<size_t>(a)]; };
  std::vector<Id> base(buffers_.size());
  std::iota(base.begin(), base.end(), 0);
  size_t best = 0;
  bool first = true;
  // Places the buffers in the order `less` sorts them into (stably), keeping the better plan.
  auto try_order = [&](const auto& less) {
    std::vector<Id> order = base;
    std::stable_sort(order.begin(), order.end(), less);
    std::vector<size_t> placed;
    const size_t total = place(order, sizes, placed);
    if (first || total < best) {
      best = total;
      offsets = std::move(placed);
      first = false;
    }
  };
  // Longest-lived first by key[id], then largest: the plain order (key = steps) and the jittered ones.
  std::vector<double> key(buffers_.size());
  auto by_key_then_size = [&](Id a, Id b) {
    const double ka = key[static_cast<size_t>(a)], kb = key[static_cast<size_t>(b)];
    if (ka != kb) return ka > kb;
    return size(a) > size(b);
  };
  try_order([&](Id a, Id b) { return size(a) > size(b); });
  for (Id i : base) key[static_cast<size_t>(i)] = steps(i);
  try_order(by_key_then_size);
  try_order([&](Id a, Id b) {
    return static_cast<double>(size(a)) * steps(a) > static_cast<double>(size(b)) * steps(b);
  });
  uint64_t state = 0x9E3779B97F4A7C15ull;  // splitmix64: portable, unlike std's distributions
  auto jitter = [&] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return 0.5 + static_cast<double>(z >> 11) * 0x1.0p-53;
  };
  for (int t = 0; t < kJitteredOrders; ++t) {
    for (Id i : base) key[static_cast<size_t>(i)] = steps(i) * jitter();
    try_order(by_key_then_size);
  }
  return best;
}

void MemoryPlan::finalize(bool reuse) {
  KN_CHECK(!finalized_, "memory plan finalized twice");
  if (!reuse) {
    lay_out_sequentially();
    finalized_ = true;
    return;
  }
  std::vector<size_t> sizes(buffers_.size()), reserves(buffers_.size());
  bool reserved = false;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    sizes[i] = buffers_[i].bytes;
    reserves[i] = buffers_[i].reserve;
    reserved = reserved || reserves[i] != sizes[i];
  }
  total_ = search(sizes, offsets_);
  if (reserved) {
    // The layout of the reserved sizes holds the real ones at the same offsets (same lifetimes,
    // each buffer no larger); its total, measured on the real sizes, bounds this plan's.
    std::vector<size_t> offsets;
    search(reserves, offsets);
    size_t total = 0;
    for (size_t i = 0; i < buffers_.size(); ++i) total = std::max(total, offsets[i] + sizes[i]);
    if (total < total_) {
      total_ = total;
      offsets_ = std::move(offsets);
    }
  }
  // Alignment can make the greedy packing a little worse than no reuse at all on plans with
  // little lifetime overlap; then lay the buffers out one after another instead.
  if (align_up(total_, kDefaultAlign) > total_without_reuse()) {
    lay_out_sequentially();
  } else {
    total_ = align_up(total_, kDefaultAlign);
  }
  finalized_ = true;
}

void MemoryPlan::lay_out_sequentially() {
  offsets_.assign(buffers_.size(), 0);
  size_t t = 0;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    offsets_[i] = align_up(t, buffers_[i].align);
    t = offsets_[i] + buffers_[i].bytes;
  }
  total_ = align_up(t, kDefaultAlign);
}

const BufferDecl& MemoryPlan::buffer(Id id) const {
  KN_CHECK(id >= 0 && static_cast<size_t>(id) < buffers_.size(), "no buffer with id ", id);
  return buffers_[static_cast<size_t>(id)];
}

size_t MemoryPlan::offset(Id id) const {
  KN_CHECK(finalized_, "offsets are known only after the memory plan is finalized");
  buffer(id);
  return offsets_[static_cast<size_t>(id)];
}

size_t MemoryPlan::total_bytes() const {
  KN_CHECK(finalized_, "the total is known only after the memory plan is finalized");
  return total_;
}

size_t MemoryPlan::total_without_reuse() const {
  size_t t = 0;
  for (const auto& b : buffers_) t = align_up(t, b.align) + b.bytes;
  return align_up(t, kDefaultAlign);
}

size_t MemoryPlan::bytes_by_role(Role r) const {
  size_t t = 0;
  for (const auto& b : buffers_)
    if (b.role == r) t += b.bytes;
  return t;
}

std::vector<MemoryPlan::Id> MemoryPlan::largest(size_t count) const {
  std::vector<Id> ids(buffers_.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](Id a, Id b) { return buffers_[a].bytes > buffers_[b].bytes; });
  if (ids.size() > count) ids.resize(count);
  return ids;
}

std::string MemoryPlan::table() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-10s %-22s %12s %12s  %s\n", "buffer", "role", "shape", "bytes",
                "offset", "lifetime");
  os << line;
  for (size_t i = 0; i < buffers_.size(); ++i) {
    const auto& b = buffers_[i];
    std::string shape = detail::concat(dtype_name(b.dtype), b.shape.str());
    std::string off = finalized_ ? std::to_string(offsets_[i]) : std::string("-");
    std::snprintf(line, sizeof line, "%-28s %-10s %-22s %12zu %12s  %s\n", b.name.c_str(), role_name(b.role),
                  shape.c_str(), b.bytes, off.c_str(), b.life.str().c_str());
    os << line;
  }
  size_t without = total_without_reuse();
  os << "total without lifetime reuse: " << format_bytes(without) << " (" << without << " B)\n";
  if (finalized_)
    os << "total with lifetime reuse:    " << format_bytes(total_) << " (" << total_ << " B)\n";
  return os.str();
}

}  // namespace knotnet
