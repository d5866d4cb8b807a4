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
  writeFileAtomic(dir_ / "manifest.json", Json{{"inputs", inputs_}, {"outputs", outputs}}.dump(2) + "\n");
}

bool StageFolder::run(bool force, Reporter& reporter, const std::string& what, const fs::path& product,
                      const std::function<Json()>& compute) {
  if (!force && upToDate() && fs::exists(product)) {
    reporter.log(what + " is up to date: " + product.string());
    return false;
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
