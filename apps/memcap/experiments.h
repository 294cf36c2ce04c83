// memcap's experiments, each writing its raw results (JSON) into --out and then the report:
//   two-jobs  two training processes on one card under each allocation policy (two_jobs.cpp)
//   sweep     memory against batch size: plan, measured peak, smallest budget that runs, and
//             PyTorch on the same card (sweep.cpp)
#pragma once

#include "apps/memcap/options.h"

namespace knotnet::memcap {

// Each returns the process exit status: 0 when the experiment ran (whatever its runs did).
int run_two_jobs(const TwoJobsFlags& f);
int run_sweep(const SweepFlags& f);

}  // namespace knotnet::memcap
