// Stage folders and manifests (see the header).
#include "stages/stage_folder.h"

#include "runtime/device.h"

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

StageFolder::StageFolder(std::filesystem::path dir, Json inputs) : dir_(std::move(dir)), inputs_(std::move(inputs)) {
  const std::string precision = computePrecisionTag();
  if (!precision.empty()) inputs_["precision"] = precision;
}

namespace {
Json readJsonOrNull(const fs::path& file) {
  if (!fs::exists(file)) return Json();
  try {
    return readJsonFile(file);
  } catch (const InputError&) {
    return Json();  // a damaged record counts as absent: the stage recomputes
  }
}
// The folder's outputs as {relative path: size}: every regular file except the
// records themselves, training checkpoints (resume state, checked when read),
// scratch files and nested stage folders (their own manifests cover them).
Json outputFiles(const fs::path& dir) {
  Json files = Json::object();
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    if (it->is_directory()) {
      if (name == "checkpoints" || name.rfind(".", 0) == 0 || fs::exists(path / "manifest.json")) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file() || name.find(".tmp-") != std::string::npos) continue;
    const fs::path relative = path.lexically_relative(dir);
    if (relative == "manifest.json" || relative == "inputs.json") continue;
    files[relative.generic_string()] = static_cast<std::int64_t>(it->file_size());
  }
  return files;
}

// The first output the manifest recorded that is missing or has another size
// now, as "<path> is missing" / "<path> changed size (…)"; empty when none (or
// the manifest predates the record).
std::string changedOutput(const fs::path& dir, const Json& manifest) {
  const Json files = manifest.value("files", Json::object());  // kept alive: items() refers to it
  for (const auto& [relative, size] : files.items()) {
    const fs::path file = dir / relative;
    std::error_code ec;
    const auto now = fs::file_size(file, ec);
    if (ec) return file.string() + " is missing";
    if (static_cast<std::int64_t>(now) != size.get<std::int64_t>())
      return file.string() + " changed size (" + std::to_string(now) + " bytes, " + std::to_string(size.get<std::int64_t>()) +
             " when the stage completed)";
  }
  return {};
}
}  // namespace

bool StageFolder::upToDate() const {
  Json manifest = readJsonOrNull(dir_ / "manifest.json");
  return manifest.is_object() && manifest.value("inputs", Json()) == inputs_;
}

void StageFolder::begin(bool force, Reporter& reporter) {
  const bool sameRun = readJsonOrNull(dir_ / "inputs.json") == inputs_;
  if (fs::exists(dir_) && (force || !sameRun)) {
    if (!force && !fs::is_empty(dir_)) reporter.log("inputs changed since the last run: recomputing " + dir_.string());
    fs::remove_all(dir_);
  }
  fs::create_directories(dir_);
  fs::remove(dir_ / "manifest.json");
  writeFileAtomic(dir_ / "inputs.json", inputs_.dump(2) + "\n");
}

void StageFolder::complete(const Json& outputs) const {
  writeFileAtomic(dir_ / "manifest.json",
                  Json{{"inputs", inputs_}, {"outputs", outputs}, {"files", outputFiles(dir_)}}.dump(2) + "\n");
}

bool StageFolder::run(bool force, Reporter& reporter, const std::string& what, const fs::path& product,
                      const std::function<Json()>& compute) {
  if (!force && upToDate() && fs::exists(product)) {
    const std::string changed = changedOutput(dir_, readJsonOrNull(dir_ / "manifest.json"));
    if (changed.empty()) {
      reporter.log(what + " is up to date: " + product.string());
      return false;
    }
    reporter.warning(changed + " since the stage completed: recomputing " + dir_.string(), "");
  }
  begin(force, reporter);
  complete(compute());
  return true;
}

Json StageFolder::outputs() const {
  Json manifest = readJsonOrNull(dir_ / "manifest.json");
  if (!manifest.is_object()) throw InputError((dir_ / "manifest.json").string() + ": the stage has not completed");
  return manifest.value("outputs", Json::object());
}

std::string StageFolder::fingerprint(const fs::path& dir, const std::string& makerCommand) {
  const fs::path manifest = dir / "manifest.json";
  if (!fs::exists(manifest))
    throw InputError(manifest.string() + " is missing: run `" + makerCommand + "` first (or `dmoe run`)");
  return Hasher().addFile(manifest).hex();
}

}  // namespace dmoe
