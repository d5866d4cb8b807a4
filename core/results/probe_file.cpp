#include "results/probe_file.h"

#include "results/json_reader.h"

namespace dmoe {

std::vector<ProbeTable::Row> ProbeTable::rowsFromJson(const JsonReader& in, const Json& languages,
                                                      const std::string& path, size_t experts) {
  if (!languages.is_object()) in.fail(path, "an object of languages");
  std::vector<Row> rows;
  for (const auto& [id, entry] : languages.items()) {
    const std::string at = path + "/" + id;
    Row row;
    row.language = id;
    const Json& ppl = in.at(entry, "ppl_per_expert", at);
    row.ppl = experts > 0 ? in.numbers(ppl, at + "/ppl_per_expert", experts) : in.numbers(ppl, at + "/ppl_per_expert");
    row.best = in.integer(in.at(entry, "best_expert", at), at + "/best_expert");
    if (row.best < 0 || row.best >= std::int64_t(row.ppl.size()))
      in.fail(at + "/best_expert", "an expert below " + std::to_string(row.ppl.size()));
    row.documents = entry.contains("documents") ? in.integer(entry["documents"], at + "/documents") : 0;
    rows.push_back(std::move(row));
  }
  return rows;
}

ProbeTable ProbeTable::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe probe");
  const Json& root = in.root();
  ProbeTable p;
  if (root.contains("model")) p.model = in.string(root["model"], "/model");
  const Json& experts = in.at(root, "experts", "");
  if (!experts.is_array()) in.fail("/experts", "a list of expert member lists");
  for (size_t e = 0; e < experts.size(); ++e) p.experts.push_back(in.strings(experts[e], "/experts/" + std::to_string(e)));
  p.rows = rowsFromJson(in, in.at(root, "languages", ""), "/languages", p.experts.size());
  return p;
}

Json ProbeTable::rowsJson(const std::vector<Row>& rows) {
  Json table = Json::object();
  for (const Row& r : rows) table[r.language] = {{"ppl_per_expert", r.ppl}, {"best_expert", r.best}, {"documents", r.documents}};
  return table;
}

Json ProbeTable::toJson() const { return Json{{"model", model}, {"experts", experts}, {"languages", rowsJson(rows)}}; }

}  // namespace dmoe
