#include "engine/budget.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "engine/format.h"

namespace knotnet {

size_t MemoryBudget::bytes(size_t device_total) const {
  if (!set) return device_total;
  return fraction ? static_cast<size_t>(value * double(device_total)) : static_cast<size_t>(value);
}

std::string MemoryBudget::str() const {
  if (!set) return "none";
  if (fraction) return detail::concat(value, " of the card");
  return format_bytes(static_cast<size_t>(value));
}

MemoryBudget parse_memory_budget(const std::string& text) {
  auto bad = [&]() {
    KN_THROW("--gpu-mem '", text,
             "': expected a size such as 6GiB, 512MiB, 1.5GB or a fraction of the card in (0, 1] such as 0.5");
  };
  if (text.empty()) bad();
  size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
    bad();
  }
  if (!std::isfinite(number) || number <= 0) bad();
  std::string unit = text.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  MemoryBudget b;
  b.set = true;
  if (unit.empty()) {
    // A bare number: a fraction when at most 1, else bytes.
    if (number <= 1.0) {
      b.fraction = true;
      b.value = number;
      return b;
    }
    if (number != std::floor(number)) bad();
    b.value = number;
    return b;
  }
  double scale = 0;
  if (unit == "b") scale = 1;
  else if (unit == "k" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") scale = 1e3;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "tb") scale = 1e12;
  else bad();
  b.value = std::floor(number * scale);
  if (b.value < 1) bad();
  return b;
}

size_t check_budget_limit(const MemoryBudget& budget, const DeviceMemory& dev) {
  // Without a budget, the limit is what is free on the card; with one, the budget, and never
  // more than is free.
  size_t limit = budget.set ? budget.bytes(dev.total) : dev.free + dev.context;
  if (budget.set && dev.free + dev.context < limit) limit = dev.free + dev.context;
  return limit;
}

BudgetCheck check_budget(const MemoryPlan& plan, int64_t batch, const MemoryBudget& budget, const DeviceMemory& dev,
                         const std::function<size_t(int64_t)>& plan_for_batch) {
  BudgetCheck c;
  c.needed = plan.total_bytes() + dev.context;
  const size_t limit = check_budget_limit(budget, dev);
  c.budget = limit;
  c.fits = c.needed <= limit;
  // Largest batch whose plan fits: exponential search up, then bisection.
  auto fits = [&](int64_t b) { return plan_for_batch(b) + dev.context <= limit; };
  if (fits(1)) {
    int64_t lo = 1, hi = 2;
    while (fits(hi) && hi < (int64_t(1) << 24)) lo = hi, hi *= 2;
    if (fits(hi)) lo = hi;
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    c.largest_batch = lo;
  }
  if (c.fits) return c;
  std::ostringstream os;
  os << "the model does not fit the GPU memory budget at batch " << batch << ":\n";
  os << "  needed  " << format_bytes(c.needed) << " (plan " << format_bytes(plan.total_bytes()) << " + CUDA context "
     << format_bytes(dev.context) << ")\n";
  os << "  budget  " << format_bytes(limit);
  if (budget.set) os << " (--gpu-mem " << budget.str() << ")";
  os << "; card " << format_bytes(dev.total) << ", free " << format_bytes(dev.free);
  size_t others = dev.total > dev.free + dev.context ? dev.total - dev.free - dev.context : 0;
  os << ", held by other processes " << format_bytes(others) << "\n";
  os << "  largest buffers:\n";
  for (MemoryPlan::Id id : plan.largest(5)) {
    const BufferDecl& b = plan.buffer(id);
    os << "    " << b.name << " " << dtype_name(b.dtype) << b.shape.str() << " " << format_bytes(b.bytes) << " ("
       << role_name(b.role) << ")\n";
  }
  if (c.largest_batch > 0)
    os << "  the largest batch that fits is " << c.largest_batch << " (--batch " << c.largest_batch << ")\n";
  else
    os << "  not even batch 1 fits: raise --gpu-mem or use a smaller model\n";
  os << "  nothing was allocated and training did not start";
  c.report = os.str();
  return c;
}

}  // namespace knotnet
