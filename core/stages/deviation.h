// The deviation stage (`dmoe deviation`, SPEC §1.1): for every project
// language, the base model fine-tuned on that language alone (same settings,
// token budget and seed for all: deviation.*), and the parameter deviation
// Δθ = θ_fine-tuned − θ_base recorded as
//   - per layer and module kind, the L2 norm ‖Δθ‖₂ — the deviation heatmap.
//     Kinds: "attention" (all attention tensors), "ffn" (the FFN's weight
//     matrices, no biases: SPEC 1.4's score), "norms" (layer norms), "all"
//     (every tensor of the layer); plus the non-layer tensors by name;
//   - the flattened FFN weight deltas (F32, gate/up/down or h_to_4h/4h_to_h
//     concatenated in registration order) of the layers the similarity stage
//     needs, one safetensors tensor "layers.<l>" per layer — on disk, not in memory.
//
// With similarity.split_half (and the weights fingerprint) each language is
// also fine-tuned on each half of its continual slice (alternate documents;
// same settings, budget and seed), for the similarity stage's reliability check.
//
// Output <runs_dir>/deviation/: <lang>/{settings.json, metrics.jsonl,
// ffn_delta.safetensors, half_a/ and half_b/ (settings.json, metrics.jsonl,
// ffn_delta.safetensors) when split, norms.json (written last: the language is done)},
// deviation.json + deviation.csv (the languages × layers tables; format and
// reader: results/deviation_file.h), manifest.json.
// deviation.json also holds "stationarity" (train/stationarity.h): r and r⊥
// at the base over the kept layers' FFN gradients, each language's gradient
// from its first deviation step's batch weighted by its continual tokens —
// measured after the fine-tunes (it changes none of them; one step's cost per
// language). A deviation.json from before gets it on the next (skipped) run.
// Languages are independent: after a crash at language k, a re-run with the
// same inputs resumes at k. Of a torchrun job, the languages split over its
// processes (runtime/distributed.h), each fine-tuned alone as in one process.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "results/deviation_file.h"
#include "project/project.h"

namespace dmoe {

// The layers whose FFN deltas are kept for the similarity stage (similarity.layer_set
// last / list: those layers; all / selected: every layer).
std::vector<std::int64_t> deltaLayersToKeep(const Project& project, std::int64_t numLayers);

// Whether the stage also fine-tunes each language's two halves
// (similarity.split_half with the weights fingerprint): two more fine-tunes
// per language, so the stage takes 3× as long.
bool deviationSplitsHalves(const Project& project);
// A language's FFN deltas: <deviation>/<lang>/ffn_delta.safetensors, or with
// half 0 / 1 its split half's, <lang>/half_a|half_b/ffn_delta.safetensors.
std::filesystem::path deltaFile(const Project& project, const std::string& language, int half = -1);

void runDeviation(const Project& project, Reporter& reporter, bool force);

// The stationarity diagnostic alone, at the base, on the "continual" slice
// (what the stage records) or the "pretrain" slice (the base's own training
// data, weighted as pretraining weighted it: a converged base gives r below
// r⊥ there — the yardstick for the continual value). Writes nothing; reports
// result "stationarity" and returns it.
Json baseStationarity(const Project& project, const std::string& slice, Reporter& reporter);

}  // namespace dmoe
