#include "apps/train_knots/run_outputs.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace knotnet::app {

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    KN_CHECK(f, "cannot write ", tmp, " (is the output directory writable?)");
    f << text;
    f.flush();
    KN_CHECK(f, "failed writing ", tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  KN_CHECK(!ec, "cannot move ", tmp, " to ", path, ": ", ec.message());
}

void write_history_csv(const std::string& path, const std::vector<EpochLog>& history) {
  std::ostringstream os;
  os << "epoch,loss,acc,val_loss,val_acc,lr,images_per_s,seconds\n";
  char line[256];
  for (const EpochLog& e : history) {
    std::snprintf(line, sizeof line, "%lld,%.6f,%.6f,%s,%s,%.6g,%.1f,%.2f\n", static_cast<long long>(e.epoch), e.loss,
                  e.accuracy, e.has_validation ? std::to_string(e.val_loss).c_str() : "",
                  e.has_validation ? std::to_string(e.val_accuracy).c_str() : "", e.lr, e.images_per_second,
                  e.seconds);
    os << line;
  }
  write_file_atomically(path, os.str());
}

bool plot_history(const std::string& csv_path, const std::string& png_path, const std::string& title) {
  static bool warned = false;
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    if (!warned) std::fprintf(stderr, "note: gnuplot not found; history.png is not drawn (history.csv is written)\n");
    warned = true;
    return false;
  }
  std::string tmp = png_path + ".tmp.png";
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,420 noenhanced font ',10'\n";
  gp << "set output '" << tmp << "'\n";
  gp << "set datafile separator ','\nset key autotitle columnhead\nset grid\nset xlabel 'epoch'\n";
  gp << "set multiplot layout 1,2 title '" << title << "'\n";
  gp << "set title 'loss'\nplot '" << csv_path << "' using 1:2 with linespoints title 'train', '' using 1:4 with linespoints title 'validation'\n";
  gp << "set title 'accuracy'\nset yrange [0:1]\nplot '" << csv_path
     << "' using 1:3 with linespoints title 'train', '' using 1:5 with linespoints title 'validation'\n";
  gp << "unset multiplot\n";
  std::string script = png_path + ".gp";
  {
    std::ofstream f(script);
    f << gp.str();
  }
  int rc = std::system(("gnuplot '" + script + "' >/dev/null 2>&1").c_str());
  std::filesystem::remove(script);
  if (rc != 0) {
    // Some gnuplot builds lack pngcairo; the plain png terminal is always there.
    std::string plain = gp.str();
    plain.replace(plain.find("pngcairo"), 8, "png");
    {
      std::ofstream f(script);
      f << plain;
    }
    rc = std::system(("gnuplot '" + script + "' >/dev/null 2>&1").c_str());
    std::filesystem::remove(script);
  }
  if (rc != 0 || !std::filesystem::exists(tmp)) {
    std::fprintf(stderr, "note: gnuplot failed; history.png is not drawn\n");
    return false;
  }
  std::filesystem::rename(tmp, png_path);
  return true;
}

void write_json(const std::string& path, const nlohmann::json& j) { write_file_atomically(path, j.dump(2) + "\n"); }

nlohmann::json epoch_json(const EpochLog& e) {
  nlohmann::json j = {{"epoch", e.epoch}, {"loss", e.loss},   {"acc", e.accuracy},
                      {"lr", e.lr},       {"images_per_s", e.images_per_second}, {"seconds", e.seconds}};
  if (e.has_validation) {
    j["val_loss"] = e.val_loss;
    j["val_acc"] = e.val_accuracy;
  }
  return j;
}

EpochLog epoch_from_json(const nlohmann::json& j) {
  EpochLog e;
  e.epoch = j.at("epoch").get<int64_t>();
  e.loss = j.at("loss").get<double>();
  e.accuracy = j.at("acc").get<double>();
  e.lr = j.at("lr").get<double>();
  e.images_per_second = j.at("images_per_s").get<double>();
  e.seconds = j.at("seconds").get<double>();
  e.has_validation = j.contains("val_loss");
  if (e.has_validation) {
    e.val_loss = j.at("val_loss").get<double>();
    e.val_accuracy = j.at("val_acc").get<double>();
  }
  return e;
}

}  // namespace knotnet::app
