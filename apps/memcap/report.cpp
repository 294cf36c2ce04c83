#include "apps/memcap/report.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/memcap/train_knots_runs.h"
#include "engine/error.h"

namespace knotnet::memcap {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Bytes as MiB with one decimal; "–" for unknown.
std::string mib(const json& bytes) {
  if (!bytes.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes.get<double>() / 1048576.0);
  return buf;
}

std::string number(const json& v, const char* format = "%.0f") {
  if (!v.is_number()) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v.get<double>());
  return buf;
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

// A Markdown table cell: no pipes or line breaks.
std::string cell(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|')
      out += "\\|";
    else if (ch == '\n')
      out += ' ';
    else
      out += ch;
  }
  return out.empty() ? "–" : out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string csv_value(const json& v) { return v.is_null() ? "" : csv_field(text(v)); }

void write_text(const fs::path& p, const std::string& s) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp);
    KN_CHECK(out, "cannot write ", tmp.string());
    out << s;
    KN_CHECK(out.good(), "cannot write ", tmp.string());
  }
  fs::rename(tmp, p);
}

std::string environment_lines(const json& e) {
  std::ostringstream md;
  md << "- Card: " << text(e.at("card"));
  if (!e.at("driver").is_null()) md << ", driver " << text(e.at("driver"));
  if (!e.at("card_memory_mib").is_null()) md << ", " << text(e.at("card_memory_mib")) << " MiB";
  md << "; run on " << text(e.at("date")) << " with `--device " << text(e.at("device")) << "`\n";
  md << "- Memory measured by: " << text(e.at("memory_method")) << "\n";
  md << "- Command: `" << text(e.at("memcap_command")) << "`\n";
  return md.str();
}

// The software of the first run that wrote a summary (knotnet, CUDA runtime, cuDNN).
std::string versions_line(const json& runs) {
  for (const json& r : runs) {
    if (!r.contains("summary") || !r.at("summary").contains("versions")) continue;
    const json& v = r.at("summary").at("versions");
    std::string line = "- Software: knotnet " + text(v.value("knotnet", json()));
    if (v.contains("cuda_runtime")) line += ", CUDA runtime " + text(v.at("cuda_runtime"));
    if (v.contains("cudnn")) line += ", cuDNN " + text(v.at("cudnn"));
    if (v.contains("compiler")) line += ", " + text(v.at("compiler"));
    return line + "\n";
  }
  return "";
}

// ---- two-jobs -------------------------------------------------------------------------------

void two_jobs_report(const json& r, std::ostringstream& md, std::ostringstream& csv,
                     std::vector<std::string>& commands) {
  const json& s = r.at("settings");
  md << "## Two training processes on one card\n\n";
  md << environment_lines(r.at("environment"));
  json runs = json::array();
  for (const json& p : r.at("policies"))
    for (const json& j : p.at("jobs")) runs.push_back(j);
  md << versions_line(runs);
  md << "- Each process: `--model " << text(s.at("model")) << " --batch " << text(s.at("batch")) << " --optimizer "
     << text(s.at("optimizer")) << " --epochs " << text(s.at("epochs")) << " --steps-per-epoch "
     << text(s.at("steps_per_epoch")) << "` on " << text(s.at("data")) << " (" << text(s.at("image_shape"))
     << " images); B starts once A is training\n\n";
  md << "| policy | job | outcome | first error line | memory held (MiB) | measured by | images/s | seconds |\n";
  md << "|---|---|---|---|---:|---|---:|---:|\n";
  csv << "policy,job,status,exit,error,memory_bytes,memory_source,images_per_s,seconds,start_s,end_s,"
         "a_running_when_b_started\n";
  std::ostringstream notes;
  for (const json& p : r.at("policies")) {
    const std::string policy = p.at("policy");
    if (p.contains("skipped")) {
      md << "| " << policy << " | – | skipped: " << cell(text(p.at("skipped"))) << " | | | | | |\n";
      continue;
    }
    for (const json& j : p.at("jobs")) {
      std::string outcome = text(j.at("status"));
      if (!j.at("exit").is_null()) outcome += " (exit " + text(j.at("exit")) + ")";
      md << "| " << policy << " | " << text(j.at("job")) << " | " << cell(outcome) << " | " << cell(text(j.at("error")))
         << " | " << mib(j.at("memory_bytes")) << " | " << cell(text(j.at("memory_source"))) << " | "
         << number(j.at("images_per_second")) << " | " << number(j.at("seconds"), "%.1f") << " |\n";
      csv << csv_field(policy) << "," << csv_value(j.at("job")) << "," << csv_value(j.at("status")) << ","
          << csv_value(j.at("exit")) << "," << csv_value(j.at("error")) << "," << csv_value(j.at("memory_bytes")) << ","
          << csv_value(j.at("memory_source")) << "," << csv_value(j.at("images_per_second")) << ","
          << csv_value(j.at("seconds")) << "," << csv_value(j.at("start_s")) << "," << csv_value(j.at("end_s")) << ","
          << (p.at("a_running_when_b_started").get<bool>() ? "true" : "false") << "\n";
      commands.push_back(text(j.at("command")));
    }
    const bool a_completed = p.at("jobs").at(0).at("status") == "completed";
    notes << "- " << policy << ": B started " << number(p.at("jobs").at(1).at("start_s"), "%.1f") << " s after A, on "
          << text(p.at("a_ready_by")) << "; "
          << (p.at("a_running_when_b_started").get<bool>()
                  ? "A was still running then; both were alive together for " + number(p.at("overlap_s"), "%.1f") + " s"
              : a_completed
                  ? std::string("A had already ended, so B did not meet A's memory (raise --steps or --epochs)")
                  : std::string("A had already failed, so B did not meet A's memory"))
          << "\n";
  }
  md << "\n" << notes.str() << "\n";
}

// ---- sweep ----------------------------------------------------------------------------------

// "1040.0 (3 runs)", "≤ 1040.0 (8 runs, cut short)", "> 2048.0 (…)", "–".
std::string budget_cell(const json& pol) {
  if (!pol.contains("search")) return "–";
  const json& s = pol.at("search");
  if (s.value("runs", 0) == 0) return "–";
  const std::string runs = std::to_string(s.value("runs", 0)) + (s.value("runs", 0) == 1 ? " run" : " runs");
  if (s.at("smallest_ok_bytes").is_number()) {
    std::string v = mib(s.at("smallest_ok_bytes"));
    if (!s.value("converged", false)) v = "≤ " + v;
    return v + " (" + runs + ")";
  }
  if (s.at("largest_fail_bytes").is_number()) return "> " + mib(s.at("largest_fail_bytes")) + " (" + runs + ")";
  return "– (" + runs + ")";
}

const json* torch_row(const json& torch, int64_t batch) {
  for (const json& t : torch.at("results"))
    if (t.value("batch", int64_t{0}) == batch) return &t;
  return nullptr;
}

// Draws memory against batch size; returns the line for the report.
std::string plot_sweep(const json& r, const std::vector<std::string>& policies, const fs::path& dir) {
  const fs::path png = dir / "memory_vs_batch.png";
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "memcap: note: gnuplot not found; memory_vs_batch.png is not drawn (sweep.csv is written)\n");
    fs::remove(png);
    return "No plot: gnuplot was not found where the report was made (sweep.csv holds the figures).\n";
  }
  // Columns: batch, plan, per policy (peak, smallest budget), PyTorch (allocated, reserved, process); MiB, "?" unknown.
  const bool torch = r.at("torch").value("status", "") == "measured";
  std::ostringstream dat;
  for (const json& row : r.at("rows")) {
    auto v = [](const json& bytes) { return bytes.is_number() ? mib(bytes) : std::string("?"); };
    dat << row.at("batch").get<int64_t>() << " " << v(row.at("plan_bytes"));
    for (const std::string& p : policies) {
      const json& pol = row.at("policies").at(p);
      dat << " " << v(pol.value("measured_peak_bytes", json()));
      const json s = pol.value("search", json::object());
      dat << " " << (s.value("converged", false) ? v(s.value("smallest_ok_bytes", json())) : "?");
    }
    const json* t = torch ? torch_row(r.at("torch"), row.at("batch").get<int64_t>()) : nullptr;
    for (const char* k : {"peak_allocated_bytes", "peak_reserved_bytes", "process_bytes"})
      dat << " " << (t ? v((*t).value(k, json())) : "?");
    dat << "\n";
  }
  const fs::path data = dir / "memory_vs_batch.dat", script = dir / "memory_vs_batch.gp",
                 tmp = dir / "memory_vs_batch.tmp.png";
  write_text(data, dat.str());
  const json& e = r.at("environment");
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,600 noenhanced font ',10'\n";
  gp << "set output '" << tmp.string() << "'\n";
  gp << "set datafile missing '?'\nset grid\nset key top left\nset logscale x 2\nset logscale y 2\n";
  gp << "set xlabel 'batch size'\nset ylabel 'MiB'\n";
  const bool cpu = text(e.at("device")) == "cpu";
  if (cpu) gp << "set ylabel 'MiB (CPU run: peak resident memory)'\n";
  gp << "set title 'memory against batch size: " << text(r.at("settings").at("model")) << " on "
     << (cpu ? std::string("the CPU") : text(e.at("card"))) << ", " << text(e.at("date")) << "'\n";
  gp << "plot '" << data.string() << "' using 1:2 with linespoints lw 2 title 'knotnet plan'";
  int col = 3;
  for (const std::string& p : policies) {
    gp << ", '' using 1:" << col << " with linespoints title 'knotnet " << p << ": measured peak'";
    gp << ", '' using 1:" << col + 1 << " with linespoints dt 2 title 'knotnet " << p
       << ": smallest budget that trains'";
    col += 2;
  }
  if (torch) {
    gp << ", '' using 1:" << col << " with linespoints title 'PyTorch: peak allocated'";
    gp << ", '' using 1:" << col + 1 << " with linespoints title 'PyTorch: peak reserved'";
    gp << ", '' using 1:" << col + 2 << " with linespoints dt 3 title 'PyTorch: process'";
  }
  gp << "\n";
  int rc = 1;
  for (const char* terminal : {"pngcairo", "png"}) {  // some gnuplot builds lack pngcairo
    std::string s = gp.str();
    if (std::string(terminal) == "png") s.replace(s.find("pngcairo"), 8, "png");
    write_text(script, s);
    rc = std::system(("gnuplot '" + script.string() + "' >/dev/null 2>&1").c_str());
    if (rc == 0 && fs::exists(tmp)) break;
  }
  fs::remove(script);
  fs::remove(data);
  if (rc != 0 || !fs::exists(tmp)) {
    std::fprintf(stderr, "memcap: note: gnuplot failed; memory_vs_batch.png is not drawn\n");
    return "No plot: gnuplot failed where the report was made (sweep.csv holds the figures).\n";
  }
  fs::rename(tmp, png);
  return "![memory against batch size](memory_vs_batch.png)\n";
}

void sweep_report(const json& r, const fs::path& dir, std::ostringstream& md, std::ostringstream& csv,
                  std::vector<std::string>& commands) {
  const json& s = r.at("settings");
  std::vector<std::string> policies = s.at("policies");
  md << "## Memory against batch size\n\n";
  md << environment_lines(r.at("environment"));
  json runs = json::array();
  for (const json& row : r.at("rows"))
    for (const std::string& p : policies) runs.push_back(row.at("policies").at(p).value("run", json::object()));
  md << versions_line(runs);
  md << "- Each run: `--model " << text(s.at("model")) << " --optimizer " << text(s.at("optimizer"))
     << " --epochs 1 --steps-per-epoch " << text(s.at("steps_per_epoch")) << "` on " << text(s.at("data")) << " ("
     << text(s.at("image_shape")) << " images). Smallest budget: `--gpu-mem` searched to "
     << text(s.at("resolution_mib")) << " MiB from the measured figures, at most " << text(s.at("max_search_runs"))
     << " runs per cell\n\n";

  md << "| batch | plan (MiB) | CUDA context (MiB) |";
  std::string rule = "|---:|---:|---:|";
  for (const std::string& p : policies) {
    md << " " << p << ": measured peak (MiB) | " << p << ": smallest budget (MiB) | " << p << ": images/s |";
    rule += "---:|---:|---:|";
  }
  md << " PyTorch peak allocated (MiB) | PyTorch peak reserved (MiB) | PyTorch process (MiB) |\n";
  md << rule << "---:|---:|---:|\n";
  csv << "batch,plan_bytes,plan_bytes_without_reuse,context_bytes";
  for (const std::string& p : policies)
    csv << "," << p << "_measured_peak_bytes," << p << "_smallest_budget_bytes," << p << "_budget_converged," << p
        << "_search_runs," << p << "_images_per_s";
  csv << ",torch_peak_allocated_bytes,torch_peak_reserved_bytes,torch_process_bytes\n";

  std::ostringstream notes;
  const json& torch = r.at("torch");
  for (const json& row : r.at("rows")) {
    const int64_t batch = row.at("batch");
    md << "| " << batch << " | " << mib(row.at("plan_bytes")) << " | " << mib(row.value("context_bytes", json()))
       << " |";
    csv << batch << "," << csv_value(row.at("plan_bytes")) << ","
        << csv_value(row.value("plan_bytes_without_reuse", json())) << ","
        << csv_value(row.value("context_bytes", json()));
    commands.push_back(text(row.at("plan_command")));
    for (const std::string& p : policies) {
      const json& pol = row.at("policies").at(p);
      const json run = pol.value("run", json::object());
      const json search = pol.value("search", json::object());
      md << " " << mib(pol.value("measured_peak_bytes", json())) << " | " << cell(budget_cell(pol)) << " | "
         << number(run.value("images_per_second", json())) << " |";
      csv << "," << csv_value(pol.value("measured_peak_bytes", json())) << ","
          << csv_value(search.value("smallest_ok_bytes", json())) << ","
          << (search.value("converged", false) ? "true" : "false") << "," << search.value("runs", 0) << ","
          << csv_value(run.value("images_per_second", json()));
      if (run.contains("command")) commands.push_back(text(run.at("command")));
      const std::string status = text(run.value("status", json("?")));
      if (status == "skipped")
        notes << "- batch " << batch << ", " << p << ": skipped: " << text(run.value("error", json())) << "\n";
      else if (status != "completed")
        notes << "- batch " << batch << ", " << p << ": the budget-free run " << status << ": "
              << text(run.value("error", json())) << "\n";
      else if (search.contains("note"))
        notes << "- batch " << batch << ", " << p << ": " << text(search.at("note")) << "\n";
      if (search.value("failure", json()).is_string())
        notes << "- batch " << batch << ", " << p << ": at " << mib(search.at("largest_fail_bytes"))
              << " MiB training did not run: " << text(search.at("failure")) << "\n";
      for (const json& t : search.value("tries", json::array())) commands.push_back(text(t.at("command")));
    }
    const json* t = torch_row(torch, batch);
    auto tv = [&](const char* k) { return t ? (*t).value(k, json()) : json(); };
    md << " " << mib(tv("peak_allocated_bytes")) << " | " << mib(tv("peak_reserved_bytes")) << " | "
       << mib(tv("process_bytes")) << " |\n";
    csv << "," << csv_value(tv("peak_allocated_bytes")) << "," << csv_value(tv("peak_reserved_bytes")) << ","
        << csv_value(tv("process_bytes")) << "\n";
  }
  md << "\n";
  if (torch.value("status", "") == "measured") {
    md << "PyTorch " << text(torch.at("torch")) << " (cuDNN " << text(torch.at("cudnn")) << ") on "
       << text(torch.at("card")) << ": " << text(torch.at("precision")) << ", " << text(torch.at("optimizer"))
       << ", cudnn.benchmark " << (torch.value("cudnn_benchmark", false) ? "on" : "off")
       << "; process memory baseline: " << text(torch.at("baseline")) << ".\n\n";
    commands.push_back(text(torch.at("command")));
  } else {
    md << "PyTorch: not measured: " << text(torch.at("why")) << ".\n\n";
  }
  if (!notes.str().empty()) md << notes.str() << "\n";
  md << plot_sweep(r, policies, dir) << "\n";
}

}  // namespace

void write_report(const fs::path& dir) {
  const auto two = read_json_file(dir / "two_jobs.json");
  const auto sweep = read_json_file(dir / "sweep.json");
  KN_CHECK(two || sweep, "memcap report: ", dir.string(),
           " holds neither two_jobs.json nor sweep.json (run two-jobs or sweep with --out ", dir.string(), ")");
  std::ostringstream md;
  std::vector<std::string> commands;
  md << "# memcap: GPU memory under knotnet's allocation policies\n\n"
     << "Made by `memcap report` from the raw results beside this file (two_jobs.json, sweep.json); the method is in "
        "docs/memcap.md. Memory in MiB (2^20 bytes).\n\n";
  try {
    if (two) {
      std::ostringstream csv;
      two_jobs_report(*two, md, csv, commands);
      write_text(dir / "two_jobs.csv", csv.str());
    }
    if (sweep) {
      std::ostringstream csv;
      sweep_report(*sweep, dir, md, csv, commands);
      write_text(dir / "sweep.csv", csv.str());
    }
  } catch (const nlohmann::json::exception& e) {
    KN_THROW("memcap report: the results in ", dir.string(), " are not what memcap writes (", e.what(), ")");
  }
  md << "## Commands\n\nEvery train_knots and PyTorch command memcap ran for these results:\n\n```\n";
  for (const std::string& c : commands)
    if (!c.empty()) md << c << "\n";
  md << "```\n";
  write_text(dir / "memcap.md", md.str());
}

}  // namespace knotnet::memcap
