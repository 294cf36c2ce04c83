// The CUDA emulator's streams and events (tests/cuda_emu/README.md).
//
// Work given to a stream (a kernel, an asynchronous copy or memset, a cuDNN call) is queued, not
// run. It runs only when the host waits for it: cudaStreamSynchronize, cudaEventSynchronize,
// cudaDeviceSynchronize, a synchronous cudaMemcpy, an asynchronous copy into pageable host memory
// (synchronous in CUDA too), and the calls that synchronise in CUDA (cudaFree, cudaFreeHost,
// cudaStreamDestroy). The waiting thread then runs queued work, one piece at a time, picking at
// random (seeded by KNOTNET_EMU_SEED) among the streams whose next piece may run: each stream in
// its own order, after the events it was told to wait for, and the legacy default stream ordered
// with the blocking streams as CUDA orders it (cudaStreamNonBlocking streams are not). Each wait
// runs in one of three orders, at random: lazy (only the work it waits for and what that work
// depends on), mixed (other streams' work interleaved with it), or others first (every other
// piece of work that may run goes before it). KNOTNET_EMU_WAIT_ORDER=lazy|mixed|others-first
// fixes the order, for a test that needs one to see a fault every time.
//
// So work runs as late as CUDA allows, or as early, and work on two streams that no event orders
// runs in either order. A missing cudaStreamWaitEvent lets a kernel read a buffer before the copy
// into it has run; a host that reads pinned memory before waiting for the copy into it reads old
// bytes; a host that refills a pinned buffer before the copy out of it has run sends the new
// bytes. The tests comparing results see each of these. KNOTNET_EMU_SYNC=1 runs every piece of
// work as it is queued instead, which tells an ordering fault from any other.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "emu_internal.h"

struct kn_emu_stream {
  struct Work {
    uint64_t id;
    std::vector<uint64_t> after;  // ids that must have run first (besides this stream's order)
    std::function<void()> run;    // empty for event records and waits
  };
  bool blocking = true;    // ordered with the legacy default stream
  bool destroyed = false;  // by cudaStreamDestroy; deleted once its queue is empty
  std::deque<Work> queue;
  uint64_t last = 0;  // id of the last work queued here
};

struct kn_emu_event {
  uint64_t recorded = 0;  // id of the record most recently queued; 0 before the first
  // The virtual clock when that record ran (kept alive by the queued record itself, which may
  // run after the event is destroyed); negative until it has run.
  std::shared_ptr<int64_t> time;
};

namespace kn_emu {
namespace {

struct Queue {
  kn_emu_stream legacy;
  std::vector<kn_emu_stream*> streams;  // created, and not yet deleted after cudaStreamDestroy
  std::unordered_map<uint64_t, kn_emu_stream*> pending;  // queued work not yet run, by id
  uint64_t next_id = 0;
  std::mt19937_64 rng;
  bool run_at_once = false;

  Queue() {
    rng.seed(kn_emu::seed());
    const char* sync = std::getenv("KNOTNET_EMU_SYNC");
    run_at_once = sync && *sync && std::string(sync) != "0";
  }

  // Deletes a destroyed stream whose queue has run empty.
  void retire(kn_emu_stream* s) {
    streams.erase(std::remove(streams.begin(), streams.end(), s), streams.end());
    delete s;
  }

  bool done(uint64_t id) const { return id == 0 || pending.count(id) == 0; }

  kn_emu_stream& stream(cudaStream_t s) { return s ? *s : legacy; }

  bool ready(const kn_emu_stream& s) const {
    if (s.queue.empty()) return false;
    const auto& a = s.queue.front().after;
    return std::all_of(a.begin(), a.end(), [&](uint64_t id) { return done(id); });
  }

  // The ids of the pending work that must run for `id` to have run: it, the work queued before
  // it on its stream, and, transitively, what all of those wait for.
  std::unordered_set<uint64_t> needed_for(uint64_t id) const {
    std::unordered_set<uint64_t> need;
    std::vector<uint64_t> todo{id};
    while (!todo.empty()) {
      const uint64_t x = todo.back();
      todo.pop_back();
      if (done(x) || need.count(x)) continue;
      for (const auto& w : pending.at(x)->queue) {
        if (need.insert(w.id).second) todo.insert(todo.end(), w.after.begin(), w.after.end());
        if (w.id == x) break;
      }
    }
    return need;
  }

  enum class Order { lazy, mixed, others_first };

  Order wait_order() {
    const char* v = std::getenv("KNOTNET_EMU_WAIT_ORDER");
    if (!v || !*v) return static_cast<Order>(rng() % 3);
    const std::string o(v);
    if (o == "lazy") return Order::lazy;
    if (o == "mixed") return Order::mixed;
    if (o == "others-first") return Order::others_first;
    std::fprintf(stderr, "[cuda-emu] KNOTNET_EMU_WAIT_ORDER=%s: expected lazy, mixed or others-first\n", v);
    std::abort();
  }

  // Runs one piece of queued work that may run now, chosen at random among the streams. With
  // `need`: from the needed work only, or, when others_first, from the rest while any may run.
  void run_one(const std::unordered_set<uint64_t>* need = nullptr, bool others_first = false) {
    std::vector<kn_emu_stream*> needed, others;
    auto consider = [&](kn_emu_stream* s) {
      if (!ready(*s)) return;
      (need && need->count(s->queue.front().id) == 0 ? others : needed).push_back(s);
    };
    consider(&legacy);
    for (kn_emu_stream* s : streams) consider(s);
    const std::vector<kn_emu_stream*>& candidates = others_first && !others.empty() ? others : needed;
    if (candidates.empty()) {
      // Cannot happen: work only ever waits on work queued before it.
      std::fprintf(stderr, "[cuda-emu] queued work waits for work that can never run\n");
      std::abort();
    }
    kn_emu_stream* s = candidates[rng() % candidates.size()];
    kn_emu_stream::Work w = std::move(s->queue.front());
    s->queue.pop_front();
    pending.erase(w.id);  // first: work that throws must not stay pending forever
    if (s->destroyed && s->queue.empty()) retire(s);
    if (w.run) w.run();
  }

  // Runs queued work until the work with this id has run, in a wait order (above).
  void run_until_done(uint64_t id) {
    if (done(id)) return;
    const Order order = wait_order();
    const std::unordered_set<uint64_t> need = order == Order::mixed ? std::unordered_set<uint64_t>{} : needed_for(id);
    while (!done(id)) run_one(order == Order::mixed ? nullptr : &need, order == Order::others_first);
  }

  void run_all() {
    while (!pending.empty()) run_one();
  }
};

Queue& queue() {
  static Queue q;
  return q;
}

}  // namespace

uint64_t enqueue(cudaStream_t stream, std::function<void()> work, uint64_t after) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  Queue& q = queue();
  kn_emu_stream& s = q.stream(stream);
  if (s.destroyed) {
    std::fprintf(stderr, "[cuda-emu] work queued on a stream after cudaStreamDestroy\n");
    std::abort();
  }
  kn_emu_stream::Work w{++q.next_id, {}, std::move(work)};
  if (!q.done(after)) w.after.push_back(after);
  if (&s == &q.legacy) {
    for (const kn_emu_stream* other : q.streams)
      if (other->blocking && !q.done(other->last)) w.after.push_back(other->last);
  } else if (s.blocking && !q.done(q.legacy.last)) {
    w.after.push_back(q.legacy.last);
  }
  const uint64_t id = w.id;
  s.last = id;
  q.pending.emplace(id, &s);
  s.queue.push_back(std::move(w));
  if (q.run_at_once) wait_for(id);
  return id;
}

void wait_for(uint64_t id) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  queue().run_until_done(id);
}

void wait_for_all() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  queue().run_all();
}

namespace {
uint64_t virtual_ns = 0;  // guarded by device_lock()
}  // namespace

void advance_clock(uint64_t ns) {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  virtual_ns += ns;
}

uint64_t clock_now() {
  std::lock_guard<std::recursive_mutex> lock(device_lock());
  return virtual_ns;
}

}  // namespace kn_emu

using kn_emu::fail;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  *s = new kn_emu_stream;
  (*s)->blocking = (flags & cudaStreamNonBlocking) == 0;
  kn_emu::queue().streams.push_back(*s);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }

// Returns at once, as CUDA's does: the stream's queued work still runs when waited for, and the
// stream is deleted when its queue has run empty.
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return fail(cudaErrorInvalidValue, "cudaStreamDestroy of the default stream");
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  s->destroyed = true;
  if (s->queue.empty()) kn_emu::queue().retire(s);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  kn_emu::wait_for(kn_emu::queue().stream(s).last);
  return kn_emu::async_error();
}

cudaError_t cudaDeviceSynchronize() {
  kn_emu::wait_for_all();
  return kn_emu::async_error();
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new kn_emu_event;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }

// The records already queued need nothing from the event itself.
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return fail(cudaErrorInvalidValue, "cudaEventRecord on a null event");
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  auto time = std::make_shared<int64_t>(-1);
  e->time = time;
  e->recorded = kn_emu::enqueue(s, [time] { *time = static_cast<int64_t>(kn_emu::clock_now()); });
  return cudaSuccess;
}

// The virtual time between two records that have run (emu_internal.h): cudaErrorNotReady before
// then, as CUDA's is, and cudaErrorInvalidResourceHandle for an event never recorded.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null argument");
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  if (!start->time || !end->time)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime on an event never recorded");
  if (*start->time < 0 || *end->time < 0) return cudaErrorNotReady;
  *ms = static_cast<float>(static_cast<double>(*end->time - *start->time) * 1e-6);
  return cudaSuccess;
}

// Waits for the record queued last before this call, as CUDA does; an event never recorded
// makes no wait.
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  if (!e) return fail(cudaErrorInvalidValue, "cudaStreamWaitEvent on a null event");
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  if (e->recorded != 0) kn_emu::enqueue(s, nullptr, e->recorded);
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidValue, "cudaEventSynchronize on a null event");
  std::lock_guard<std::recursive_mutex> lock(kn_emu::device_lock());
  kn_emu::wait_for(e->recorded);
  return kn_emu::async_error();
}
