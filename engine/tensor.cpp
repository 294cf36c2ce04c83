#include "engine/tensor.h"

#include <sstream>

namespace knotnet {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::u8: return 1;
    case DType::i32: return 4;
  }
  KN_THROW("unknown dtype");
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::u8: return "u8";
    case DType::i32: return "i32";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  KN_THROW("unknown device '", s, "': expected cpu or cuda");
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  KN_CHECK(dims.size() <= kMaxRank, "a shape has at most ", kMaxRank, " dimensions, got ", dims.size());
  for (int64_t d : dims) {
    KN_CHECK(d >= 0, "negative dimension ", d);
    dims_[rank_++] = d;
  }
}

int64_t Shape::operator[](int i) const {
  KN_CHECK(i >= 0 && i < rank_, "dimension ", i, " out of range for shape ", str());
  return dims_[i];
}

int64_t& Shape::operator[](int i) {
  KN_CHECK(i >= 0 && i < rank_, "dimension ", i, " out of range for shape ", str());
  return dims_[i];
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

Shape Shape::with_batch(int64_t n) const {
  KN_CHECK(rank_ < kMaxRank, "cannot add a batch dimension to ", str());
  Shape s;
  s.rank_ = rank_ + 1;
  s.dims_[0] = n;
  for (int i = 0; i < rank_; ++i) s.dims_[i + 1] = dims_[i];
  return s;
}

Shape Shape::drop_batch() const {
  KN_CHECK(rank_ >= 1, "cannot drop the batch dimension of a scalar shape");
  Shape s;
  s.rank_ = rank_ - 1;
  for (int i = 1; i < rank_; ++i) s.dims_[i - 1] = dims_[i];
  return s;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '(';
  for (int i = 0; i < rank_; ++i) os << (i ? ", " : "") << dims_[i];
  os << ')';
  return os.str();
}

Tensor Tensor::reshaped(Shape s) const {
  KN_CHECK(s.numel() == numel(), "cannot reshape ", shape.str(), " to ", s.str());
  return Tensor(data, s, dtype, device);
}

Tensor Tensor::first(int64_t n) const {
  KN_CHECK(shape.rank() >= 1 && n >= 0 && n <= shape[0], "cannot take ", n, " rows of ", shape.str());
  Shape s = shape;
  s[0] = n;
  return Tensor(data, s, dtype, device);
}

std::string Tensor::describe() const {
  return detail::concat(dtype_name(dtype), ' ', device_name(device), ' ', shape.str());
}

}  // namespace knotnet
