#include "io/checkpoint.h"

#include <hdf5.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "engine/device_copy.h"
#include "io/h5_check.h"

namespace knotnet {

namespace {

constexpr const char* kFormat = "knotnet-checkpoint";
constexpr int64_t kFormatVersion = 1;

// Closes an HDF5 id with the right function when it goes out of scope.
class Id {
 public:
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() {
    if (id_ >= 0) close_(id_);
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

hid_t native_type(DType t) {
  switch (t) {
    case DType::f32: return H5T_NATIVE_FLOAT;
    case DType::f64: return H5T_NATIVE_DOUBLE;
    case DType::u8: return H5T_NATIVE_UINT8;
    case DType::i32: return H5T_NATIVE_INT32;
  }
  KN_THROW("unknown dtype");
}

void write_string_attr(hid_t obj, const char* name, const std::string& value) {
  Id type(KN_H5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  KN_H5_CHECK(H5Tset_size(type, value.empty() ? 1 : value.size()));
  Id space(KN_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Id attr(KN_H5_CHECK(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  KN_H5_CHECK(H5Awrite(attr, type, padded.data()));
}

void write_int_attr(hid_t obj, const char* name, int64_t value) {
  Id space(KN_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Id attr(KN_H5_CHECK(H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  KN_H5_CHECK(H5Awrite(attr, H5T_NATIVE_INT64, &value));
}

void write_double_attr(hid_t obj, const char* name, double value) {
  Id space(KN_H5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Id attr(KN_H5_CHECK(H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  KN_H5_CHECK(H5Awrite(attr, H5T_NATIVE_DOUBLE, &value));
}

void write_shape_attr(hid_t obj, const char* name, const Shape& shape) {
  std::vector<int64_t> dims;
  for (int d = 0; d < shape.rank(); ++d) dims.push_back(shape[d]);
  hsize_t n = dims.size();
  Id space(KN_H5_CHECK(H5Screate_simple(1, &n, nullptr)), H5Sclose);
  Id attr(KN_H5_CHECK(H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT)), H5Aclose);
  KN_H5_CHECK(H5Awrite(attr, H5T_NATIVE_INT64, dims.data()));
}

Shape read_shape_attr(hid_t obj, const char* name, const std::string& path) {
  KN_CHECK(H5Aexists(obj, name) > 0, "checkpoint ", path, " has no attribute '", name, "'");
  Id attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  Id space(KN_H5_CHECK(H5Aget_space(attr)), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  KN_CHECK(n == 1 || n == 3, "checkpoint ", path, ": attribute '", name, "' should hold 1 or 3 dimensions, holds ", n);
  std::vector<int64_t> d(static_cast<size_t>(n));
  KN_H5_CHECK(H5Aread(attr, H5T_NATIVE_INT64, d.data()));
  for (int64_t v : d) KN_CHECK(v > 0, "checkpoint ", path, ": attribute '", name, "' has a non-positive dimension");
  return n == 3 ? Shape{d[0], d[1], d[2]} : Shape{d[0]};
}

std::string read_string_attr(hid_t obj, const char* name, const std::string& path) {
  KN_CHECK(H5Aexists(obj, name) > 0, "checkpoint ", path, " has no attribute '", name, "'");
  Id attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  Id type(KN_H5_CHECK(H5Aget_type(attr)), H5Tclose);
  KN_CHECK(H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type), "checkpoint ", path, ": attribute '", name,
           "' is not a fixed-length string");
  std::string s(H5Tget_size(type), '\0');
  KN_H5_CHECK(H5Aread(attr, type, s.data()));
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

int64_t read_int_attr(hid_t obj, const char* name, const std::string& path) {
  KN_CHECK(H5Aexists(obj, name) > 0, "checkpoint ", path, " has no attribute '", name, "'");
  Id attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  int64_t v = 0;
  KN_H5_CHECK(H5Aread(attr, H5T_NATIVE_INT64, &v));
  return v;
}

double read_double_attr(hid_t obj, const char* name, const std::string& path) {
  KN_CHECK(H5Aexists(obj, name) > 0, "checkpoint ", path, " has no attribute '", name, "'");
  Id attr(KN_H5_CHECK(H5Aopen(obj, name, H5P_DEFAULT)), H5Aclose);
  double v = 0;
  KN_H5_CHECK(H5Aread(attr, H5T_NATIVE_DOUBLE, &v));
  return v;
}

// Host copy of a tensor (the model may live on the GPU; on the CPU this is a plain copy).
std::vector<char> to_host(const Tensor& t) {
  std::vector<char> out(t.bytes());
  copy_to_host(t, out.data());
  return out;
}

void write_tensor(hid_t parent, const std::string& name, const Tensor& t) {
  std::vector<hsize_t> dims;
  for (int d = 0; d < t.shape.rank(); ++d) dims.push_back(static_cast<hsize_t>(t.shape[d]));
  Id space(KN_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)), H5Sclose);
  Id ds(KN_H5_CHECK(H5Dcreate2(parent, name.c_str(), native_type(t.dtype), space, H5P_DEFAULT, H5P_DEFAULT,
                               H5P_DEFAULT)),
        H5Dclose);
  std::vector<char> host = to_host(t);
  KN_H5_CHECK(H5Dwrite(ds, native_type(t.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()));
}

void read_tensor(hid_t parent, const std::string& name, const Tensor& t, const std::string& path,
                 const std::string& label) {
  KN_CHECK(H5Lexists(parent, name.c_str(), H5P_DEFAULT) > 0, "checkpoint ", path, " has no tensor '", label, "'");
  Id ds(KN_H5_CHECK(H5Dopen2(parent, name.c_str(), H5P_DEFAULT)), H5Dclose);
  Id space(KN_H5_CHECK(H5Dget_space(ds)), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  bool same = rank == t.shape.rank();
  for (int d = 0; same && d < rank; ++d) same = static_cast<int64_t>(dims[static_cast<size_t>(d)]) == t.shape[d];
  KN_CHECK(same, "checkpoint ", path, ": tensor '", label, "' does not have the model's shape ", t.shape.str());
  if (t.device == Device::cpu) {
    KN_H5_CHECK(H5Dread(ds, native_type(t.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data));
    return;
  }
  std::vector<char> host(t.bytes());  // a GPU model's buffer: read on the host, then copy over
  KN_H5_CHECK(H5Dread(ds, native_type(t.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()));
  copy_from_host(host.data(), t);
}

nlohmann::json optimizer_json(const OptimizerConfig& c) {
  return {{"name", c.name},       {"lr", c.lr},       {"momentum", c.momentum}, {"nesterov", c.nesterov},
          {"rho", c.rho},         {"beta1", c.beta1}, {"beta2", c.beta2},       {"epsilon", c.epsilon},
          {"initial_accumulator", c.initial_accumulator}};
}

OptimizerConfig optimizer_from_json(const nlohmann::json& j) {
  OptimizerConfig c;
  c.name = j.at("name").get<std::string>();
  c.lr = j.at("lr").get<double>();
  c.momentum = j.at("momentum").get<double>();
  c.nesterov = j.at("nesterov").get<bool>();
  c.rho = j.at("rho").get<double>();
  c.beta1 = j.at("beta1").get<double>();
  c.beta2 = j.at("beta2").get<double>();
  c.epsilon = j.at("epsilon").get<double>();
  c.initial_accumulator = j.at("initial_accumulator").get<double>();
  return c;
}

hid_t open_checkpoint(const std::string& path) {
  quiet_hdf5_errors();
  KN_CHECK(std::filesystem::exists(path), "checkpoint ", path, " does not exist");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  KN_CHECK(f >= 0, "checkpoint ", path, " is not a readable HDF5 file");
  return f;
}

// fsync of a file or directory; best effort (a file system without fsync is not an error).
void sync_path(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void save_checkpoint(const std::string& path, const Model& model, const std::string& spec_text, int64_t epoch,
                     const std::string& trainer_state) {
  model.require_no_step_in_flight("save_checkpoint");
  quiet_hdf5_errors();
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path tmp = target;
  tmp += ".tmp-" + std::to_string(::getpid());
  try {
    hid_t fid = H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    KN_CHECK(fid >= 0, "cannot create checkpoint ", tmp.string(), " (is the directory writable?)");
    Id file(fid, H5Fclose);
    write_string_attr(file, "format", kFormat);
    write_int_attr(file, "format_version", kFormatVersion);
    write_string_attr(file, "spec", spec_text);
    write_shape_attr(file, "input_shape", model.input_shape());
    write_int_attr(file, "batch", model.batch());
    write_string_attr(file, "dtype", dtype_name(model.options().dtype));
    write_int_attr(file, "seed", static_cast<int64_t>(model.options().seed));
    write_string_attr(file, "optimizer", optimizer_json(model.options().optimizer).dump());
    write_double_attr(file, "lr", model.optimizer().lr());
    write_int_attr(file, "epoch", epoch);
    write_int_attr(file, "step", model.step_count());
    write_string_attr(file, "trainer_state", trainer_state);
    Id weights(KN_H5_CHECK(H5Gcreate2(file, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), H5Gclose);
    std::string current;
    std::unique_ptr<Id> group;
    for (const Model::Param& p : model.parameters()) {
      if (p.layer != current) {
        group.reset();
        group = std::make_unique<Id>(
            KN_H5_CHECK(H5Gcreate2(weights, p.layer.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), H5Gclose);
        current = p.layer;
      }
      write_tensor(*group, p.name, p.value);
    }
    group.reset();
    Id opt(KN_H5_CHECK(H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), H5Gclose);
    auto state = model.optimizer_state();
    for (size_t i = 0; i < state.size(); ++i) write_tensor(opt, "slot" + std::to_string(i), state[i]);
    KN_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL));
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);  // a failed write (a full disk, say) leaves nothing behind
    throw;
  }
  // On disk before it takes the real name, and the rename on disk before we return, so that
  // even a power cut leaves either the old checkpoint or the new one.
  sync_path(tmp);
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp);
    KN_THROW("cannot move checkpoint into place at ", target.string(), ": ", ec.message());
  }
  sync_path(target.parent_path().empty() ? fs::path(".") : target.parent_path());
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  Id file(open_checkpoint(path), H5Fclose);
  KN_CHECK(H5Aexists(file, "format") > 0 && read_string_attr(file, "format", path) == kFormat, path,
           " is not a knotnet checkpoint (no format attribute '", kFormat, "')");
  int64_t version = read_int_attr(file, "format_version", path);
  KN_CHECK(version == kFormatVersion, "checkpoint ", path, " has format version ", version, "; this knotnet reads ",
           kFormatVersion);
  CheckpointInfo info;
  info.spec_text = read_string_attr(file, "spec", path);
  info.input_shape = read_shape_attr(file, "input_shape", path);
  info.batch = read_int_attr(file, "batch", path);
  std::string dt = read_string_attr(file, "dtype", path);
  info.dtype = dt == "f64" ? DType::f64 : DType::f32;
  info.seed = static_cast<uint64_t>(read_int_attr(file, "seed", path));
  try {
    info.optimizer = optimizer_from_json(nlohmann::json::parse(read_string_attr(file, "optimizer", path)));
  } catch (const nlohmann::json::exception& e) {
    KN_THROW("checkpoint ", path, ": unreadable optimizer attribute (", e.what(), ")");
  }
  info.lr = read_double_attr(file, "lr", path);
  info.epoch = read_int_attr(file, "epoch", path);
  info.step = read_int_attr(file, "step", path);
  info.trainer_state = read_string_attr(file, "trainer_state", path);
  return info;
}

void load_checkpoint(const std::string& path, Model& model) {
  model.require_no_step_in_flight("load_checkpoint");
  CheckpointInfo info = read_checkpoint_info(path);
  Id file(open_checkpoint(path), H5Fclose);
  KN_CHECK(H5Lexists(file, "weights", H5P_DEFAULT) > 0, "checkpoint ", path, " has no /weights group");
  Id weights(KN_H5_CHECK(H5Gopen2(file, "weights", H5P_DEFAULT)), H5Gclose);
  for (const Model::Param& p : model.parameters()) {
    KN_CHECK(H5Lexists(weights, p.layer.c_str(), H5P_DEFAULT) > 0, "checkpoint ", path, " has no weights for layer '",
             p.layer, "'");
    Id group(KN_H5_CHECK(H5Gopen2(weights, p.layer.c_str(), H5P_DEFAULT)), H5Gclose);
    read_tensor(group, p.name, p.value, path, p.layer + "/" + p.name);
  }
  auto state = model.optimizer_state();
  if (!state.empty() && info.optimizer.name == model.options().optimizer.name) {
    Id opt(KN_H5_CHECK(H5Gopen2(file, "optimizer", H5P_DEFAULT)), H5Gclose);
    for (size_t i = 0; i < state.size(); ++i) read_tensor(opt, "slot" + std::to_string(i), state[i], path, "optimizer/slot" + std::to_string(i));
  }
  model.optimizer().set_lr(info.lr);
  model.set_step_count(info.step);
}

std::unique_ptr<Model> model_from_checkpoint(const std::string& path, int64_t batch, Device device,
                                             ConvSearch conv_search) {
  CheckpointInfo info = read_checkpoint_info(path);
  ModelOptions opt;
  opt.batch = batch;
  opt.device = device;
  opt.conv_search = conv_search;
  opt.dtype = info.dtype;
  opt.seed = info.seed;
  opt.optimizer = info.optimizer;
  auto model = std::make_unique<Model>(parse_spec(info.spec_text, path + " (spec attribute)"), opt, info.input_shape);
  load_checkpoint(path, *model);
  return model;
}

}  // namespace knotnet
