// A new project file from a few choices — the corpus folder, which of its
// languages train and which are held back as new, the base (a Hugging Face
// checkpoint folder or a small model to pretrain, by shape preset), G, ε and
// the data slices — written only once it validates as every project file does
// on load. Shared by `dmoe project new` and the GUI's New Project wizard.
// Every other setting keeps the schema's default (`dmoe project describe`).
// Not here: reading or checking a project (project/project.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "project/project.h"
#include "util/json.h"

namespace dmoe {

// A shape for base_model.kind "pretrain" (Llama family), by name.
struct ModelPreset {
  std::string name, help;
  Json config;  // base_model.config
  // Parameters of the model with a `vocabSize` tokenizer (tied embeddings).
  std::int64_t parameters(std::int64_t vocabSize) const;
};
// micro, demo (the first demo's shape, the schema's defaults), small, base.
const std::vector<ModelPreset>& modelPresets();

struct NewProjectOptions {
  std::filesystem::path file;  // the *.dmoe.json to write
  std::string name;            // empty: the file's stem
  std::filesystem::path corpus;
  std::string textKey = "text";
  std::vector<std::string> languages;     // training languages (ids = corpus file stems)
  std::vector<std::string> newLanguages;  // held back for adaptation / LayerMoE
  std::filesystem::path checkpoint;       // a Hugging Face checkpoint folder; empty: pretrain
  std::string preset = "demo";            // the shape to pretrain (no checkpoint)
  std::int64_t vocabSize = 8000;          // the tokenizer to train (no checkpoint)
  std::int64_t groups = 0;                // G; 0: min(6, languages)
  double epsilon = 0.6;                   // ε (layer_selection, threshold mode)
  double heldoutFraction = 0.1;
  double pretrainFraction = 0.5;          // of the rest, pretrains the base (no checkpoint)
  std::filesystem::path runsDir;          // empty: runs/<file stem> beside the file
};

// The project document. Paths inside the project file's folder are written
// relative to it, others absolute. InputError for an unknown preset, or a
// checkpoint that is not one, of a family the workbench does not load, or
// without a tokenizer. The languages are checked when it is validated.
Json newProjectDocument(const NewProjectOptions& options);

// Writes the document atomically after validating it as a load does
// (ValidationError with every JSON path — a language without a corpus file or
// in both lists, G above the languages, a number that is NaN, … — and nothing written).
// An existing file is replaced only with `overwrite`, and only when it is a
// project file (whyNotAProjectFile: a corpus file or any other file never is);
// InputError naming it otherwise. Returns the loaded project.
Project writeNewProject(const NewProjectOptions& options, bool overwrite);

}  // namespace dmoe
