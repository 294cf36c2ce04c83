// Shapes, element types, devices and non-owning tensor views. Memory is owned by the arena
// (engine/arena.h); a Tensor only points into it. Layout is NHWC (channels last) throughout.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "engine/error.h"

namespace knotnet {

enum class DType : uint8_t { f32, f64, u8, i32 };
enum class Device : uint8_t { cpu, cuda };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* device_name(Device d);
// "cpu" or "cuda"; throws naming the bad value otherwise.
Device parse_device(const std::string& s);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }

// Up to four dimensions, outermost first: (N, H, W, C) for images, (N, F) for features.
class Shape {
 public:
  static constexpr int kMaxRank = 4;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  int rank() const { return rank_; }
  int64_t operator[](int i) const;
  int64_t& operator[](int i);
  int64_t numel() const;  // 1 for rank 0
  // The shape with a new outermost dimension, e.g. per-sample (H,W,C) -> (N,H,W,C).
  Shape with_batch(int64_t n) const;
  // The shape without its outermost dimension.
  Shape drop_batch() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const;  // "(2, 3, 4)"

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// A non-owning view: pointer, shape, element type and device. Contiguous, row-major.
struct Tensor {
  void* data = nullptr;
  Shape shape;
  DType dtype = DType::f32;
  Device device = Device::cpu;

  Tensor() = default;
  Tensor(void* d, Shape s, DType t, Device dev = Device::cpu) : data(d), shape(s), dtype(t), device(dev) {}

  int64_t numel() const { return shape.numel(); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  bool empty() const { return data == nullptr; }

  // Typed access; throws when T does not match the element type.
  template <typename T>
  T* as() const {
    KN_CHECK(dtype_of<T>() == dtype, "tensor holds ", dtype_name(dtype), ", accessed as ",
             dtype_name(dtype_of<T>()));
    return static_cast<T*>(data);
  }
  // The same memory under another shape of equal element count.
  Tensor reshaped(Shape s) const;
  // The first n rows along the outermost dimension (a smaller batch in a buffer planned for more).
  Tensor first(int64_t n) const;
  std::string describe() const;  // "f32 cpu (2, 3)"
};

// Calls f(T{}) with T the C++ type of a floating-point dtype; throws for other dtypes.
template <typename F>
decltype(auto) dispatch_float(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: KN_THROW("expected a floating-point tensor, got ", dtype_name(t));
  }
}

}  // namespace knotnet
