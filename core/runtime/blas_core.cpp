#include "runtime/blas_core.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace dmoe {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::optional<std::string>(v) : std::nullopt;
}

}  // namespace

CpuFeatures parseCpuinfo(const std::string& text) {
  CpuFeatures cpu;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty() && !cpu.flags.empty()) break;  // end of the first processor
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "vendor_id") cpu.vendor = value;
    if (key == "model name") cpu.model = value;
    if (key == "flags") {
      std::istringstream words(value);
      for (std::string w; words >> w;) cpu.flags.insert(w);
    }
  }
  return cpu;
}

CpuFeatures currentCpuFeatures() {
  std::ifstream in("/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  return parseCpuinfo(text.str());
}

int openBlasCoreLevel(const std::string& core) {
  static const std::map<std::string, int> levels = {
      {"katmai", 0},      {"coppermine", 0},   {"northwood", 0},      {"prescott", 0},   {"banias", 0},
      {"athlon", 0},      {"opteron", 0},      {"opteron_sse3", 0},   {"atom", 0},       {"nano", 0},
      {"core2", 1},       {"penryn", 1},       {"dunnington", 1},     {"nehalem", 2},    {"barcelona", 2},
      {"sandybridge", 3}, {"bulldozer", 3},    {"piledriver", 3},     {"steamroller", 3}, {"excavator", 3},
      {"haswell", 4},     {"zen", 4},          {"skylakex", 5},       {"cooperlake", 6}, {"sapphirerapids", 6}};
  const auto it = levels.find(lower(core));
  return it == levels.end() ? -1 : it->second;
}

std::string bestOpenBlasCore(const CpuFeatures& cpu) {
  const bool avx512 = cpu.has("avx512f") && cpu.has("avx512bw") && cpu.has("avx512vl") && cpu.has("avx512dq") &&
                      cpu.has("avx512cd");
  if (avx512) return cpu.has("avx512_bf16") ? "COOPERLAKE" : "SKYLAKEX";
  if (cpu.has("avx2") && cpu.has("fma")) return cpu.vendor == "AuthenticAMD" ? "ZEN" : "HASWELL";
  if (cpu.has("avx")) return "SANDYBRIDGE";
  return "";
}

BlasCoreEnvironment BlasCoreEnvironment::current() {
  BlasCoreEnvironment e;
  e.coretype = env(kOpenBlasCoreVar);
  e.chosen = env(kChosenCoreVar);
  e.rejected = env(kRejectedCoreVar);
  e.reported = loadedOpenBlasCore();
  return e;
}

BlasCoreDecision decideBlasCore(const BlasCoreEnvironment& env, const CpuFeatures& cpu) {
  if (env.reported.empty()) return {BlasCoreAction::keep, "", "the BLAS is not OpenBLAS: nothing to choose"};
  if (env.coretype && env.chosen && *env.coretype == *env.chosen)
    return {BlasCoreAction::verify, *env.coretype, "chosen by dmoe from the CPU flags (OpenBLAS found a lesser core)"};
  if (env.coretype)
    return {BlasCoreAction::keep, "", "set in the environment (OPENBLAS_CORETYPE=" + *env.coretype + "), kept"};
  if (env.rejected)
    return {BlasCoreAction::keep, "",
            "OpenBLAS's own choice (dmoe's choice " + *env.rejected + " failed its check: not loaded, or products that disagree with double precision)"};
  const std::string best = bestOpenBlasCore(cpu);
  const int reportedLevel = openBlasCoreLevel(env.reported);
  if (!best.empty() && reportedLevel >= 0 && reportedLevel < openBlasCoreLevel(best))
    return {BlasCoreAction::choose, best, "chosen by dmoe from the CPU flags (OpenBLAS found " + env.reported + ")"};
  return {BlasCoreAction::keep, "", "OpenBLAS's own choice"};
}

void rejectChosenCore(const std::string& core) {
  ::unsetenv(kOpenBlasCoreVar);
  ::unsetenv(kChosenCoreVar);
  ::setenv(kRejectedCoreVar, core.c_str(), 1);
}

namespace {
// OpenBLAS's own queries, when the process has OpenBLAS loaded (libblas.so.3
// of Debian's openblas packages pulls libopenblas.so.0 in globally).
std::string callOpenBlas(const char* symbol) {
  using Query = char* (*)();
  auto query = reinterpret_cast<Query>(::dlsym(RTLD_DEFAULT, symbol));
  const char* value = query ? query() : nullptr;
  return value ? trim(value) : "";
}
}  // namespace

std::string loadedOpenBlasCore() { return callOpenBlas("openblas_get_corename"); }
std::string loadedOpenBlasConfig() { return callOpenBlas("openblas_get_config"); }

bool setOpenBlasThreads(int threads) {
  using Set = void (*)(int);
  auto set = reinterpret_cast<Set>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set) set(threads);
  return set != nullptr;
}

}  // namespace dmoe
