// The expert probe and `dmoe probe` (see the header).
#include "stages/expert_probe.h"

#include <algorithm>
#include <cmath>

#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "stages/stage_folder.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/stage_inputs.h"
#include "model/load_model.h"
#include "train/perplexity.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

std::vector<ProbeTable::Row> probeExperts(const Project& project, CausalLMImpl& model, const MoeLayout& layout,
                                        const std::vector<std::string>& languageIds, Reporter& reporter) {
  const std::shared_ptr<Routing> routing = routingOf(model);
  PerplexityOptions options;
  options.window = project.evaluation.window;
  const std::int64_t maxDocuments =
      project.evaluation.max_documents_per_language > 0 ? project.evaluation.max_documents_per_language : 32;
  auto labelOf = [&](const std::string& id) {
    const Language* l = project.findLanguage(id);
    return l ? l->label() : id;
  };
  // Of a job, process r probes languages r, r + N, …; the rows (documents,
  // then NLL and tokens per expert) are summed over the processes (the
  // others' rows are zeros: exact), so every process has the whole table.
  const auto n = static_cast<std::int64_t>(languageIds.size()), experts = layout.numExperts;
  torch::Tensor sums = torch::zeros({n, 1 + 2 * experts}, torch::kFloat64);
  for (std::int64_t i = processRank(); i < n; i += processCount()) {
    if (processCount() == 1) throwIfCancelled();  // in a job every process must reach the sum
    TokenShard shard(tokenShardFile(project, languageIds[static_cast<size_t>(i)], "heldout"));
    const std::int64_t count = std::min<std::int64_t>(shard.documentCount(), maxDocuments);
    std::vector<TokenSpan> documents;
    for (std::int64_t d = 0; d < count; ++d) documents.push_back(shard.document(d));
    sums[i][0] = static_cast<double>(count);
    for (std::int64_t e = 0; e < experts; ++e) {
      routing->hardAll(e);
      const NllTotal total = documentsNll(model, documents, options);
      sums[i][1 + 2 * e] = total.nll;
      sums[i][2 + 2 * e] = static_cast<double>(total.tokens);
    }
  }
  allReduceSum({sums});
  std::vector<ProbeTable::Row> probes;
  for (std::int64_t i = 0; i < n; ++i) {
    ProbeTable::Row probe;
    probe.language = languageIds[static_cast<size_t>(i)];
    probe.documents = static_cast<std::int64_t>(sums[i][0].item<double>());
    for (std::int64_t e = 0; e < experts; ++e) {
      NllTotal total;
      total.nll = sums[i][1 + 2 * e].item<double>();
      total.tokens = static_cast<std::int64_t>(sums[i][2 + 2 * e].item<double>());
      probe.ppl.push_back(total.perplexity());
    }
    probe.best = static_cast<std::int64_t>(std::min_element(probe.ppl.begin(), probe.ppl.end()) -
                                                 probe.ppl.begin());
    std::string line = labelOf(probe.language) + ": probe PPL per expert";
    for (double v : probe.ppl) line += " " + std::to_string(static_cast<long long>(std::lround(v)));
    std::string members;
    for (const std::string& id : layout.expertLanguages[static_cast<size_t>(probe.best)])
      members += (members.empty() ? "" : " ") + labelOf(id);
    reporter.log(line + " → expert " + std::to_string(probe.best) + " (" + members + ")");
    probes.push_back(std::move(probe));
    reporter.progress(i + 1, n, "languages");
  }
  routing->soft();
  return probes;
}

Json runProbe(const Project& project, Reporter& reporter, std::vector<std::string> languageIds) {
  reporter.started();
  if (languageIds.empty())
    for (const Language& l : project.adaptationLanguages()) languageIds.push_back(l.id);
  if (languageIds.empty())
    throw InputError(project.file.string() + ": the project lists no new_languages to probe; name languages with --languages");
  std::string known;
  for (const Language& l : project.allLanguages()) known += (known.empty() ? "" : ", ") + l.id;
  for (const std::string& id : languageIds) {
    if (!project.findLanguage(id))
      throw InputError("unknown language '" + id + "': " + project.file.string() + " has " + known);
    const fs::path shard = tokenShardFile(project, id, "heldout");
    if (!fs::exists(shard))
      throw InputError(shard.string() + " is missing: tokenize the corpus first (`dmoe run --until tokens " +
                       project.file.string() + "`)");
  }
  const fs::path trainDir = project.layout().trainDir(), modelDir = RunLayout::modelIn(trainDir);
  if (!fs::exists(trainDir / "manifest.json") || !fs::exists(modelDir / "config.json"))
    throw InputError("the DMoE is not trained yet: " + trainDir.string() + " has no complete run; run `dmoe train " +
                     project.file.string() + "` (or `dmoe run`) first");
  const std::string fingerprint = StageFolder::fingerprint(trainDir, "dmoe train");

  std::shared_ptr<CausalLMImpl> model = loadCausalLM(modelDir, resolveDevice(project.device));
  const auto layout = readMoeLayout(model->config(), (modelDir / "config.json").string());
  if (!layout) throw InputError((modelDir / "config.json").string() + ": not a DMoE model (no \"dmoe\" section)");
  ProbeTable table;
  table.model = fingerprint;
  table.experts = layout->expertLanguages;
  table.rows = probeExperts(project, *model, *layout, languageIds, reporter);
  const Json out = table.toJson();
  const fs::path file = project.layout().probeFile();
  fs::create_directories(file.parent_path());
  writeFileAtomic(file, dumpJson(out, 1) + "\n");
  reporter.artifact(file, "probe");
  reporter.result("probe", out);
  reporter.finished("done");
  return out;
}

}  // namespace dmoe
