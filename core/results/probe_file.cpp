#include "results/probe_file.h"

#include "results/json_reader.h"

namespace dmoe {

ProbeTable ProbeTable::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe probe");
  const Json& root = in.root();
  ProbeTable p;
  const Json& experts = in.at(root, "experts", "");
  if (!experts.is_array()) in.fail("/experts", "a list of expert member lists");
  for (size_t e = 0; e < experts.size(); ++e) p.experts.push_back(in.strings(experts[e], "/experts/" + std::to_string(e)));
  const Json& languages = in.at(root, "languages", "");
  if (!languages.is_object()) in.fail("/languages", "an object of languages");
  for (const auto& [id, entry] : languages.items()) {
    const std::string path = "/languages/" + id;
    Row row;
    row.language = id;
    row.ppl = in.numbers(in.at(entry, "ppl_per_expert", path), path + "/ppl_per_expert", p.experts.size());
    row.best = in.integer(in.at(entry, "best_expert", path), path + "/best_expert");
    if (row.best < 0 || row.best >= std::int64_t(p.experts.size()))
      in.fail(path + "/best_expert", "an expert below " + std::to_string(p.experts.size()));
    row.documents = entry.contains("documents") ? in.integer(entry["documents"], path + "/documents") : 0;
    p.rows.push_back(std::move(row));
  }
  return p;
}

}  // namespace dmoe
