// Copies between host memory and tensors on either device, for code that reads or writes
// model buffers from the host (checkpoints, callbacks, the model's batches and results). CPU
// tensors: memcpy/memset. CUDA tensors: cudaMemcpyAsync/cudaMemsetAsync on the compute stream.
// Non-obvious choice: the synchronous forms wait on the compute stream (never the whole
// device), so a copy sees every kernel enqueued before it, in stream order. In a build without
// CUDA a CUDA tensor is an error that says so.
#pragma once

#include "engine/tensor.h"

namespace knotnet {

// dst (t.bytes() bytes of host memory) <- t. Returns when dst holds the data.
void copy_to_host(const Tensor& t, void* dst);
// t <- src (t.bytes() bytes of host memory). Returns when t holds the data.
void copy_from_host(const void* src, const Tensor& t);
// t <- src, enqueued on the compute stream (CUDA; a plain copy on the CPU). src must stay
// unchanged until the host next waits on the compute stream (the model's step ends with one).
void copy_from_host_async(const void* src, const Tensor& t);
// to <- from, same bytes and device, enqueued on the compute stream (CUDA).
void copy_tensor_async(const Tensor& from, const Tensor& to);
// t <- zero bytes, enqueued on the compute stream (CUDA).
void zero_fill_async(const Tensor& t);
// Blocks until the compute stream is idle (CUDA); nothing on the CPU.
void wait_compute(Device device);

}  // namespace knotnet
