// `dmoe routing`: where a trained mixture of experts (the DMoE, or any
// checkpoint with MoE layers) sends each project language's held-out tokens,
// per MoE layer, under its learned (soft) routing: the share of tokens whose
// top router probability is each expert, and the mean router probability.
// Documents as the evaluation reads them (the first
// evaluation.max_documents_per_language, 0 = all; each up to the evaluation
// window or the model's context). Written to <runs_dir>/routing/<model>.json
// (results/routing_file.h: train.json for the DMoE), which the Routing tab reads.
#pragma once
#include <filesystem>

#include "events/event_sink.h"
#include "model/causal_lm.h"
#include "project/project.h"
#include "results/routing_file.h"

namespace dmoe {

// The table for every project language (languages, then new_languages).
// InputError when the model has no MoE layer or a held-out shard is missing.
RoutingTable measureRouting(const Project& project, CausalLMImpl& model, Reporter& reporter);

// Loads `modelDir` (empty: <runs_dir>/train/model), measures, writes its routing file
// atomically and reports it as result "routing".
RoutingTable runRouting(const Project& project, Reporter& reporter, std::filesystem::path modelDir);

}  // namespace dmoe
