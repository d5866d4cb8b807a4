#include "corpus_stats_file.h"

#include "util/atomic_file.h"
#include "util/error.h"

namespace dmoe::views {

namespace {
const char* const kFormat = "dmoe-corpus-stats/1";
}

std::filesystem::path corpusStatsFile(const dmoe::Project& project) {
  return project.layout().corpusStatsFile();
}

dmoe::Json readCorpusStatsByLanguage(const std::filesystem::path& file) {
  const dmoe::Json document = dmoe::Json::parse(dmoe::readFile(file), nullptr, false);
  if (document.is_discarded()) throw dmoe::InputError(file.string() + ": not valid JSON");
  if (!document.is_object() || document.value("format", "") != kFormat)
    throw dmoe::InputError(file.string() + ": expected \"format\": \"" + kFormat + "\"");
  const auto languages = document.find("languages");
  if (languages == document.end() || !languages->is_array())
    throw dmoe::InputError(file.string() + ": /languages: expected an array");

  dmoe::Json byLanguage = dmoe::Json::object();
  for (std::size_t i = 0; i < languages->size(); ++i) {
    const dmoe::Json& entry = (*languages)[i];
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string())
      throw dmoe::InputError(file.string() + ": /languages/" + std::to_string(i) + ": expected an object with an \"id\"");
    byLanguage[entry["id"].get<std::string>()] = entry;
  }
  return byLanguage;
}

}  // namespace dmoe::views
