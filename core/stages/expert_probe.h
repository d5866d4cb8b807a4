// The expert probe (SPEC §1.8 step 1): a language's perplexity with every
// expert of a DMoE forced in turn (hard routing to e in every MoE layer), on
// the first documents of its held-out split (evaluation.max_documents_per_language,
// else 32; never training documents); its nearest expert is the argmin. The adapt stage uses it to pick
// the expert each new language's expert is copied from; `dmoe probe` runs it
// alone on the trained DMoE, for any project language whose token shards exist.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "model/dmoe_model.h"
#include "project/project.h"
#include "results/probe_file.h"

namespace dmoe {

// Probes `languageIds` (project languages) against the layout's experts,
// reporting progress per language and a log line each. Each row's best
// expert is the argmin of its PPLs (the first on ties). Leaves `model` with
// soft routing. Of a job (runtime/distributed.h, outside a SoloScope) every
// process must call it: the languages split over them, each gets the whole table.
std::vector<ProbeTable::Row> probeExperts(const Project& project, CausalLMImpl& model, const MoeLayout& layout,
                                          const std::vector<std::string>& languageIds, Reporter& reporter);

// `dmoe probe`: the probe on the trained DMoE (<runs_dir>/train/model),
// written atomically to <runs_dir>/probe/probe.json and reported as result
// "probe": {"model": fingerprint of the train stage, "experts": [[member ids
// of expert 0], ...], "languages": ProbeTable::rowsJson}. Empty `languageIds` = the
// adaptation languages (Project::adaptationLanguages). InputError when the
// DMoE is not trained yet, a language id is unknown or its shards are missing.
Json runProbe(const Project& project, Reporter& reporter, std::vector<std::string> languageIds);

}  // namespace dmoe
