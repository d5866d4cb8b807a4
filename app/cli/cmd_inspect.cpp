// `dmoe inspect <checkpoint-dir>`: what a Hugging Face checkpoint folder
// holds — architecture, parameter counts per module kind and per layer
// pattern, dtypes, weight files — read from the safetensors headers only
// (no tensor data is loaded). Module kinds come from the family's tensor table
// (model/model_family.h); a model_type without a row is described without them.
#include <iomanip>
#include <map>
#include <regex>
#include <set>

#include "checkpoint/hf_checkpoint.h"
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

Json inspect(const HfCheckpoint& checkpoint) {
  static const std::regex layerIndex(R"((^|\.)(layers|h|blocks)\.(\d+)\.)");
  std::int64_t total = 0, bytes = 0;
  std::set<std::string> layers;
  std::map<std::string, std::int64_t> byKind;
  Json dtypes = Json::object();
  std::map<std::string, Json> patterns;  // "model.layers.N.mlp.up_proj.weight|F32|[..]" → row
  const std::string modelType = checkpoint.config.value("model_type", "");
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
  return {{"dir", checkpoint.dir.string()},
          {"model_type", modelType},
          {"supported", family != nullptr},
          {"architectures", checkpoint.config.value("architectures", Json::array())},
          {"total_parameters", total},
          {"tensors", checkpoint.tensors.names().size()},
          {"bytes", bytes},
          {"layers", layers.size()},
          {"by_kind", byKind},
          {"dtypes", dtypes},
          {"files", files},
          {"patterns", rows},
          {"dmoe", checkpoint.config.value("dmoe", Json())}};
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
    if (info["dmoe"].is_object()) {  // docs/dmoe-checkpoint.md
      const Json& d = info["dmoe"];
      std::string layers;
      for (const Json& l : d.value("moe_layers", Json::array())) layers += (layers.empty() ? "" : ",") + l.dump();
      out << "  DMoE:         MoE layers " << layers << "; " << d.value("num_experts", 0) << " experts, top-"
          << d.value("num_experts_per_tok", 0) << " routing\n";
      const Json experts = d.value("experts", Json::array());
      for (size_t e = 0; e < experts.size(); ++e) {
        std::string members;
        for (const Json& id : experts[e]) members += " " + id.get<std::string>();
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
