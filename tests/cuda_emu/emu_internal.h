// What the CUDA emulator's parts share among themselves (tests/cuda_emu/README.md): the one lock,
// error reporting, the allocation tables, the grid scheduler and the device's work queue. Not
// seen by the code under test, which sees only include/cuda_runtime.h and include/cudnn.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include <cuda_runtime.h>

namespace kn_emu {

// Everything the emulated device does, queueing and running work, happens under this lock,
// whichever OS thread asks.
std::recursive_mutex& device_lock();

// Records e as the calling thread's last error, prints why, and returns e.
cudaError_t fail(cudaError_t e, const std::string& why);
// An error found while running queued work (a launch failure): printed now, and from then on
// returned by every synchronising call and by cudaGetLastError/cudaPeekAtLastError on every
// thread. It is sticky, as CUDA's launch failures are: the context is unusable after one.
void fail_async(cudaError_t e, const std::string& why);
// The sticky asynchronous error; cudaSuccess while there is none.
cudaError_t async_error();

// Whether [p, p + bytes) lies inside one live pinned host allocation; bytes >= 1.
bool in_pinned_memory(const void* p, size_t bytes);

// The seed of every random choice the emulator makes: KNOTNET_EMU_SEED, default 1.
uint64_t seed();

// Runs every thread of every block of a grid now; returns what went wrong, or "" (emu_runtime.cpp).
std::string run_grid_now(dim3 grid, dim3 block, const std::function<void()>& thread);

// The device's work queue (emu_streams.cpp). enqueue() appends work to a stream (nullptr: the
// legacy default stream), to run after the stream's earlier work and, when `after` is not 0,
// after the work with that id; it returns the new work's id. Work runs only inside the waits.
uint64_t enqueue(cudaStream_t stream, std::function<void()> work, uint64_t after = 0);
void wait_for(uint64_t id);  // runs queued work until the work with this id has run
void wait_for_all();         // runs all queued work (cudaDeviceSynchronize)

// The device's virtual clock, in nanoseconds: queued work advances it when it runs, by a cost
// that depends only on the work (a kernel: 1 ns per thread launched; a stand-in cuDNN call: 1 ns
// per 1,024 multiplies), so that cudaEventElapsedTime, and choices made by timing, come out the
// same on every run and every machine.
void advance_clock(uint64_t ns);
uint64_t clock_now();

}  // namespace kn_emu
