// dmoe-bench: how fast the workbench trains and runs a model of a given
// family (Llama by default; --family any row of model/model_family.h, e.g.
// bloom) and shape on this machine. Training goes through the shared Trainer
// (AdamW, clipping, metrics file: everything a real run pays for) on random
// token windows; inference is forward passes under NoGradGuard. Prints one
// JSON object: training and inference tokens/s (medians over the timed steps,
// after warm-up), and the process's peak resident memory (VmHWM). With
// --tokenizer and --text, also the tokenizer's encode speed over that file.
// benchmarks/reference_train.py is the same model and loop in PyTorch.
// Under torchrun (runtime/distributed.h) the job trains: --job data-parallel
// (the trainer's all-reduce, one global batch of --batch rows; what pretrain
// and the DMoE stages do) or --job independent (every process its own model
// and batch, no communication; what the deviation stage does per language),
// and rank 0 prints the job's training tokens/s (inference is not timed).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>

#include <unistd.h>

#include "corpus/jsonl_reader.h"
#include "model/causal_lm.h"
#include "model/model_family.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "runtime/process_environment.h"
#include "util/error.h"
#include "util/owned_paths.h"
#include "tokenizer/tokenizer_throughput.h"
#include "train/sequence_sampler.h"
#include <torch/csrc/autograd/profiler_legacy.h>

#include "train/autocast_guard.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using namespace dmoe;

namespace {

// Peak resident set size in MiB, from /proc/self/status (Linux).
double peakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      double kib = 0;
      status >> kib;
      return kib / 1024.0;
    }
    status.ignore(1 << 20, '\n');
  }
  return 0;
}

// Documents of a jsonl corpus file (.jsonl/.json), else one text per line.
std::vector<std::string> readTexts(const fs::path& file) {
  std::vector<std::string> texts;
  if (file.extension() == ".jsonl" || file.extension() == ".json") {
    JsonlReader reader(file);
    for (Document d; reader.next(d);) texts.push_back(std::move(d.text));
  } else {
    std::ifstream in(file);
    if (!in) throw InputError("cannot read " + file.string());
    for (std::string line; std::getline(in, line);) texts.push_back(line);
  }
  return texts;
}

// Forward FLOPs per token (matrix products only, as every FLOP/s figure
// counts them): 2 per weight of every projection — attention's q, k, v and
// output, the MLP (gated: 3 matrices of D × F; BLOOM: 2 of D × 4D) and the LM
// head — plus the attention products QKᵀ and AV over the whole T×T square
// (the causal mask is applied to a full product). Training = 3× forward.
double forwardFlopsPerToken(const ModelConfig& c, std::int64_t seq) {
  const bool bloom = modelFamily(c.model_type).implementation == Implementation::Bloom;
  const double d = static_cast<double>(c.hidden_size), f = static_cast<double>(c.intermediate_size);
  const double queries = static_cast<double>(c.head_dim * c.num_attention_heads);
  const double keys = static_cast<double>(c.head_dim * c.num_key_value_heads);
  const double projections = 2 * (d * queries + 2 * d * keys + queries * d);
  const double mlp = 2 * (bloom ? 2 : 3) * d * f;
  const double perLayer = projections + mlp + 2 * 2 * static_cast<double>(seq) * queries;
  return static_cast<double>(c.num_hidden_layers) * perLayer + 2 * d * static_cast<double>(c.vocab_size);
}

// The model's config.json from the flags, in the family's own key names, so
// the config reader applies the family's defaults (and refuses what it lacks).
ModelConfig benchConfig(const std::string& familyName, std::int64_t hidden, std::int64_t layers, std::int64_t heads,
                        std::int64_t kvHeads, std::int64_t ffn, std::int64_t vocab, std::int64_t seq) {
  const ModelFamily& family = modelFamily(familyName);
  Json json{{"model_type", familyName},           {"vocab_size", vocab},      {"hidden_size", hidden},
            {family.layersKey, layers},           {family.headsKey, heads},   {"tie_word_embeddings", true},
            {family.implementation == Implementation::Bloom ? "seq_length" : "max_position_embeddings", seq},
            {family.epsKey, 1e-5}};
  if (family.implementation != Implementation::Bloom) {
    json["num_key_value_heads"] = kvHeads;
    json["intermediate_size"] = ffn;
  }
  return ModelConfig::fromHfJson(json, "dmoe-bench flags");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  prepareProcessEnvironment(argv);
  std::string familyName = "llama";
  std::int64_t hidden = 192, layers = 8, heads = 4, kvHeads = 2, ffn = 512, vocab = 4000;
  std::int64_t seq = 128, batch = 16, steps = 20, warmup = 3;
  int threads = 0;
  std::string device = "cpu", precision = "fp32", tokenizerPath, textFile, profileFile, jobMode = "data-parallel";
  CLI::App app{"dmoe-bench — training/inference tokens per second and peak memory of a model of one family (tied "
               "embeddings, random weights); prints JSON. Defaults: the demo config of projects/udhr-18.dmoe.json."};
  std::vector<std::string> families;
  for (const ModelFamily& f : modelFamilies())
    if (f.hubMoe == HubMoe::None) families.push_back(f.modelType);
  app.add_option("--family", familyName, "model_type of the model (BLOOM: ALiBi, LayerNorms, biases, a 4·D GELU MLP)")
      ->check(CLI::IsMember(families))->capture_default_str();
  app.add_option("--hidden", hidden, "hidden_size");
  app.add_option("--layers", layers, "num_hidden_layers (BLOOM: n_layer)");
  app.add_option("--heads", heads, "num_attention_heads (BLOOM: n_head)");
  auto* kvOption = app.add_option("--kv-heads", kvHeads, "num_key_value_heads (not BLOOM: one per head)");
  auto* ffnOption = app.add_option("--ffn", ffn, "intermediate_size (not BLOOM: 4 · hidden)");
  app.add_option("--vocab", vocab, "vocab_size");
  app.add_option("--seq", seq, "Tokens per sequence");
  app.add_option("--batch", batch, "Sequences per step (one micro-batch)");
  app.add_option("--steps", steps, "Timed steps (training and inference each)");
  app.add_option("--warmup", warmup, "Untimed steps before timing");
  app.add_option("--threads", threads, "CPU threads (0 = every core, shared by a job's processes on this machine)");
  app.add_option("--job", jobMode, "Under torchrun: data-parallel (one global batch, gradients all-reduced) or independent "
                                   "(a model and batch per process, as the deviation stage's languages)")
      ->check(CLI::IsMember({"data-parallel", "independent"}));
  app.add_option("--device", device, "auto | cpu | cuda");
  app.add_option("--precision", precision, "fp32 | bf16 | auto (the project setting: bf16 autocast, fp32 master weights)")
      ->check(CLI::IsMember({"fp32", "bf16", "auto"}));
  app.add_option("--profile", profileFile,
                 "Write LibTorch's operator trace of the training run to this file (Chrome trace JSON: open it in "
                 "Perfetto or chrome://tracing; benchmarks/README.md shows how to total it per operator)");
  app.add_option("--tokenizer", tokenizerPath, "Also time this tokenizer (tokenizer.model, tokenizer.json or a checkpoint folder)");
  app.add_option("--text", textFile, "Texts for --tokenizer: a jsonl corpus file, or plain text (one text per line)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // a bad flag or value: exit 2, as every dmoe command
    app.exit(e);
    return 2;
  }

  try {
    joinJob(readLaunchEnvironment([](const char* name) { return std::getenv(name); }));
    struct Leave {
      ~Leave() { leaveJob(); }
    } leave;
    const bool job = jobSize() > 1;
    std::optional<SoloScope> alone;  // --job independent: every process trains as a job of one
    if (jobMode == "independent") alone.emplace();
    configureThreads(threads);
    device = resolveDevice(device);
    configurePrecision(precision, device);
    if (modelFamily(familyName).implementation == Implementation::Bloom && (kvOption->count() || ffnOption->count()))
      throw InputError("--kv-heads and --ffn do not apply to BLOOM (one key/value head per head, an MLP of 4 · hidden)");
    const ModelConfig c = benchConfig(familyName, hidden, layers, heads, kvHeads, ffn, vocab, seq);
    torch::manual_seed(1);
    auto model = buildCausalLM(c);
    model->to(torch::Device(device));

    std::vector<std::uint32_t> tokens(1 << 20);
    std::mt19937 gen(7);  // any tokens will do; the order does not need to be portable
    for (auto& t : tokens) t = static_cast<std::uint32_t>(gen() % c.vocab_size);
    SequenceSampler sampler({{"random", tokens.data(), static_cast<std::int64_t>(tokens.size()), 1.0}}, seq, 1);

    TrainerOptions o;
    // The schema's defaults first (AdamW's β 0.9, 0.999 and ε 1e-8, as the peer's), then the bench's own.
    o.settings = settingsDefaults<TrainingSettings>("/base_model/pretrain");
    o.settings.steps = warmup + steps;
    o.settings.learning_rate = 1e-3;
    o.settings.schedule = "cosine";
    o.settings.warmup_fraction = 0.05;
    o.settings.weight_decay = 0.1;
    o.settings.grad_clip = 1.0;
    o.settings.seq_len = seq;
    o.settings.batch_sequences = batch;
    o.settings.micro_batch = batch;
    o.device = device;
    o.runDir = scratchPath(fs::temp_directory_path() / "dmoe-bench");  // this process's scratch folder
    o.checkpoints = false;  // a benchmark keeps nothing (a checkpoint save is not a step's cost)
    CollectingSink sink;
    Trainer trainer(model, sampler, o, Reporter(sink, "bench"));
    {
      std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
      if (!profileFile.empty()) profile = std::make_unique<torch::autograd::profiler::RecordProfile>(profileFile);
      trainer.run();
    }
    removeMade(o.runDir);
    std::vector<double> trainRates;
    for (const Json& e : sink.events)
      if (e.value("event", "") == "metrics" && e["step"].get<std::int64_t>() > warmup)
        trainRates.push_back(e["values"]["tokens_per_s"].get<double>());

    double trainRate = median(trainRates);
    if (job) {
      // The job's tokens/s: data parallel, every process counts the global batch; independent, their sum.
      alone.reset();
      torch::Tensor rate = torch::full({1}, trainRate / (jobMode == "independent" ? 1.0 : jobSize()), torch::kFloat64);
      allReduceSum({rate});
      trainRate = rate.item<double>();
      if (jobRank() != 0) return 0;
      Json out{{"implementation", "dmoe (LibTorch C++)"}, {"processes", jobSize()}, {"job", jobMode},
               {"threads_per_process", torch::get_num_threads()}, {"config", c.toHfJson()}, {"seq", seq},
               {"batch", batch}, {"steps", steps}, {"train_tokens_per_s", trainRate}, {"peak_rss_mib_rank0", peakRssMiB()}};
      std::cout << out.dump(2) << '\n';
      return 0;
    }
    std::vector<double> inferRates;
    {
      torch::NoGradGuard noGrad;
      model->eval();
      torch::Tensor input = sampler.next(batch).inputIds.to(torch::Device(device));
      for (std::int64_t i = 0; i < warmup + steps; ++i) {
        auto start = std::chrono::steady_clock::now();
        torch::Tensor logits;
        {
          Bf16Autocast autocast{torch::Device(device)};
          logits = model->forward(input);
        }
        if (logits.is_cuda()) logits.sum().item<double>();  // wait for the GPU
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (i >= warmup) inferRates.push_back(static_cast<double>(input.numel()) / s);
      }
    }
    std::int64_t parameters = 0;
    for (const auto& p : model->parameters()) parameters += p.numel();
    const double flopsPerToken = forwardFlopsPerToken(c, seq);
    const double inferRate = median(inferRates);
    const RuntimeInfo runtime = runtimeInfo(/*measure=*/device == "cpu");
    const double peak = computesInBf16(device) ? runtime.matmul_gflops_bf16 : runtime.matmul_gflops_fp32;
    Json out{{"implementation", "dmoe (LibTorch C++)"},
             {"torch", compat::torchVersion()},
             {"device", device},
             {"threads", runtime.threads},
             {"precision", computesInBf16(device) ? "bf16" : "fp32"},
             {"blas_core", runtime.blas_core},
             {"config", c.toHfJson()},
             {"parameters", parameters},
             {"seq", seq},
             {"batch", batch},
             {"steps", steps},
             {"train_tokens_per_s", trainRate},
             {"inference_tokens_per_s", inferRate},
             {"model_gflops_train", 3 * flopsPerToken * trainRate / 1e9},
             {"model_gflops_inference", flopsPerToken * inferRate / 1e9},
             {"matmul_peak_gflops", peak}};
    if (peak > 0) {
      out["train_share_of_peak"] = 3 * flopsPerToken * trainRate / 1e9 / peak;
      out["inference_share_of_peak"] = flopsPerToken * inferRate / 1e9 / peak;
    }
    out["peak_rss_mib"] = peakRssMiB();
    if (!tokenizerPath.empty()) {
      if (textFile.empty()) throw InputError("--tokenizer needs --text FILE");
      std::unique_ptr<Tokenizer> tokenizer = loadTokenizer(tokenizerPath);
      TokenizerThroughput t = measureTokenizerThroughput(*tokenizer, readTexts(textFile));
      out["tokenizer"] = {{"path", tokenizerPath}, {"kind", tokenizer->kind()}, {"texts", t.texts},
                          {"bytes", t.bytes},      {"tokens", t.tokens},        {"seconds", t.seconds},
                          {"tokens_per_s", t.tokensPerSecond()}, {"bytes_per_s", t.bytesPerSecond()}};
    }
    std::cout << out.dump(2) << '\n';
    return 0;
  } catch (const InputError& e) {  // bad flags or files: exit 2, as every dmoe command
    std::cerr << "error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
}
