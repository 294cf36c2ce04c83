// memcap's flags, as parsed by main.cpp, and the helpers that read its list-valued flags.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace knotnet::memcap {

// Flags both experiments share: what to train and how memcap runs the training processes.
struct CommonFlags {
  std::string data;                   // HDF5 file (required)
  std::string model = "seed";         // named spec or spec file
  std::string optimizer = "adagrad";  // the original question's optimizer
  double lr = 0.01;
  std::string device = "cuda";    // cuda or cpu
  std::string split;              // passed to fit when set
  int threads = 0;                // fit's reader threads (0: all cores)
  std::string out;                // results: raw JSON and the report
  std::string work;               // the training runs' own directories (default: OUT/runs)
  std::string train_knots;        // the train_knots binary (default: beside memcap)
  double run_timeout_s = 300;     // one training process at most
  double deadline_s = 0;          // the whole experiment at most (0: none)
  std::vector<std::string> argv;  // memcap's own command line, for the report
};

struct TwoJobsFlags {
  CommonFlags common;
  int64_t batch = 128;
  int64_t steps = 40;
  int64_t epochs = 1;
  std::string policies = "planned,preallocate,growth,fraction=0.3";
  double ready_timeout_s = 60;  // how long to wait for A to be training before starting B
  double alloc_grace_s = 2;     // once A's memory is allocated, B starts this much later at most
};

struct SweepFlags {
  CommonFlags common;
  std::string batches = "32,64,128,256,512,1024";
  std::string policies = "planned,growth";
  int64_t steps = 10;
  std::string torch = "/usr/bin/python3";  // "none": no PyTorch comparison
  std::string torch_script;                // default: bench/torch_memory.py, found from here or memcap
  bool torch_cudnn_benchmark = false;
  int64_t resolution_mib = 16;
  int max_search_runs = 8;  // per policy and batch size
};

// "a,b,c" -> {"a","b","c"}; empty items are an error naming the flag.
std::vector<std::string> split_list(const std::string& text, const std::string& flag);
// Positive integers, e.g. --batches 32,64.
std::vector<int64_t> parse_batches(const std::string& text);
// Allocation policies, checked with the engine's parser; on the CPU only planned and growth.
std::vector<std::string> parse_policies(const std::string& text, const std::string& device);

// A policy as a directory name: "fraction=0.3" -> "fraction-0.3".
std::string policy_dir_name(const std::string& policy);

}  // namespace knotnet::memcap
