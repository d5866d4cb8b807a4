// `dmoe inspect <checkpoint-dir>`: what a Hugging Face checkpoint folder
// holds — architecture, parameter counts per module kind and per layer
// pattern, dtypes, weight files — read from the safetensors headers only
// (no tensor data is loaded). Module kinds come from the family's tensor table
// (model/model_family.h); a model_type without a row is described without them.
// For a family the workbench loads, config.json is checked against the
// weights as a load would check it (model/load_model.h) and any disagreement
// shown; the rest of config.json is shown as written, whatever its types.
#include <iomanip>
#include <map>
#include <regex>
#include <set>

#include "checkpoint/hf_checkpoint.h"
#include "model/load_model.h"
#include "model/model_family.h"
#include "cli_context.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe::cli {

namespace {

// "1234567 (1.23 M)"
std::string humanCount(std::int64_t n) {
  return n < 1000 ? std::to_string(n) : std::to_string(n) + " (" + shortCount(static_cast<double>(n)) + ")";
}

// config.json's `key` when it is a string, else "" (a file may hold anything there).
std::string stringKey(const Json& config, const std::string& key) {
  const auto it = config.find(key);
  return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A JSON value as text: a string without its quotes, anything else as written.
std::string text(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

// Why a family the workbench loads could not be built from this config.json
// (a missing key, a size the weights disagree with); null when it could, or
// when the family is not one the workbench loads. Memory is not considered.
Json configProblem(const HfCheckpoint& checkpoint) {
  if (!findModelFamily(stringKey(checkpoint.config, "model_type"))) return nullptr;
  try {
    readModelConfig(checkpoint, -1);
  } catch (const InputError& e) {
    return e.what();
  }
  return nullptr;
}

Json inspect(const HfCheckpoint& checkpoint) {
  static const std::regex layerIndex(R"((^|\.)(layers|h|blocks)\.(\d+)\.)");
  std::int64_t total = 0, bytes = 0;
  std::set<std::string> layers;
  std::map<std::string, std::int64_t> byKind;
  Json dtypes = Json::object();
  std::map<std::string, Json> patterns;  // "model.layers.N.mlp.up_proj.weight|F32|[..]" → row
  const std::string modelType = stringKey(checkpoint.config, "model_type");
  const ModelFamily* family = findModelFamily(modelType);
  for (const std::string& name : checkpoint.tensors.names()) {
    const safetensors::TensorEntry& e = checkpoint.tensors.entry(name);
    std::int64_t n = e.numel();
    total += n;
    bytes += static_cast<std::int64_t>(e.byteSize());
    const std::string kind = family ? moduleKindName(parameterModule(*family, name).kind) : "";
    if (family) byKind[kind] += n;
    Json& d = dtypes[safetensors::dtypeName(e.dtype)];
    if (d.is_null()) d = {{"tensors", 0}, {"parameters", 0}};
    d["tensors"] = d["tensors"].get<int>() + 1;
    d["parameters"] = d["parameters"].get<std::int64_t>() + n;

    std::smatch m;
    std::string pattern = name;
    if (std::regex_search(name, m, layerIndex)) {
      layers.insert(m[3].str());
      pattern = m.prefix().str() + m[1].str() + m[2].str() + ".N." + m.suffix().str();
    }
    std::string key = pattern + "|" + safetensors::dtypeName(e.dtype) + "|" + shapeText(e.shape);
    Json& row = patterns[key];
    if (row.is_null())
      row = {{"pattern", pattern}, {"dtype", safetensors::dtypeName(e.dtype)}, {"shape", e.shape}, {"count", 0}};
    if (family) row["kind"] = kind;
    row["count"] = row["count"].get<int>() + 1;
  }
  Json files = Json::array();
  for (const fs::path& f : checkpoint.tensors.files()) files.push_back(f.filename().string());
  Json rows = Json::array();
  for (auto& [key, row] : patterns) rows.push_back(row);
  Json architectures = Json::array();
  if (checkpoint.config.contains("architectures") && checkpoint.config["architectures"].is_array())
    for (const Json& a : checkpoint.config["architectures"]) architectures.push_back(text(a));
  return {{"dir", checkpoint.dir.string()},
          {"model_type", modelType},
          {"supported", family != nullptr},
          {"config_problem", configProblem(checkpoint)},
          {"architectures", architectures},
          {"total_parameters", total},
          {"tensors", checkpoint.tensors.names().size()},
          {"bytes", bytes},
          {"layers", layers.size()},
          {"by_kind", byKind},
          {"dtypes", dtypes},
          {"files", files},
          {"patterns", rows},
          {"dmoe", checkpoint.config.contains("dmoe") ? checkpoint.config["dmoe"] : Json()}};
}

}  // namespace

void addInspectCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "inspect", "Describe a Hugging Face checkpoint folder: architecture, parameters per module kind, dtypes, files");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("checkpoint-dir", *dir, "Folder with config.json and model.safetensors (or shards with the index)")
      ->required();
  cmd->callback([&ctx, dir] {
    Json info = inspect(HfCheckpoint::open(*dir));
    ctx.reporter("inspect").result("checkpoint", info);
    std::ostream& out = ctx.out();
    std::string architectures;
    for (const Json& a : info["architectures"]) architectures += (architectures.empty() ? "" : ", ") + a.get<std::string>();
    out << info["dir"].get<std::string>() << '\n'
        << "  architecture: " << info["model_type"].get<std::string>()
        << (architectures.empty() ? "" : " (" + architectures + ")") << '\n'
        << "  parameters:   " << humanCount(info["total_parameters"].get<std::int64_t>()) << " in "
        << info["tensors"].get<std::size_t>() << " tensors, " << info["bytes"].get<std::int64_t>() << " bytes\n"
        << "  layers:       " << info["layers"].get<std::size_t>() << '\n';
    if (!info["config_problem"].is_null())
      out << "  loading:      refused: "
          << info["config_problem"].get<std::string>() << '\n';
    if (info["dmoe"].is_object()) {  // docs/dmoe-checkpoint.md; shown as written (the check above validates it)
      const Json& d = info["dmoe"];
      auto field = [&](const char* key) { return d.contains(key) ? text(d[key]) : std::string("?"); };
      std::string layers;
      if (d.contains("moe_layers") && d["moe_layers"].is_array())
        for (const Json& l : d["moe_layers"]) layers += (layers.empty() ? "" : ",") + l.dump();
      out << "  DMoE:         MoE layers " << layers << "; " << field("num_experts") << " experts, top-"
          << field("num_experts_per_tok") << " routing\n";
      const Json experts = d.contains("experts") && d["experts"].is_array() ? d["experts"] : Json::array();
      for (size_t e = 0; e < experts.size(); ++e) {
        std::string members;
        if (experts[e].is_array())
          for (const Json& id : experts[e]) members += " " + text(id);
        out << "    expert " << e << ":" << members << '\n';
      }
    }
    if (!info["supported"].get<bool>())
      out << "  per module kind: unknown; model_type '" << info["model_type"].get<std::string>()
          << "' is not a supported family (" << supportedModelTypes() << ")\n";
    else
      out << "  per module kind:\n";
    for (const auto& [kind, n] : info["by_kind"].items())
      out << "    " << std::left << std::setw(12) << kind << ' ' << humanCount(n.get<std::int64_t>()) << '\n';
    out << "  dtypes:\n";
    for (const auto& [dtype, d] : info["dtypes"].items())
      out << "    " << std::left << std::setw(12) << dtype << ' ' << d["tensors"].get<int>() << " tensors, "
          << humanCount(d["parameters"].get<std::int64_t>()) << " parameters\n";
    out << "  files:\n";
    for (const Json& f : info["files"]) out << "    " << f.get<std::string>() << '\n';
    out << "  tensors (N = layer index):\n";
    for (const Json& row : info["patterns"])
      out << "    " << std::left << std::setw(56) << row["pattern"].get<std::string>() << ' ' << std::setw(6)
          << row["dtype"].get<std::string>() << ' ' << std::setw(16) << shapeText(row["shape"].get<std::vector<std::int64_t>>()) << " x"
          << row["count"].get<int>() << '\n';
  });
}

}  // namespace dmoe::cli
