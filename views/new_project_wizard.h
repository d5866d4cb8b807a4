// NewProjectWizard: File ▸ New Project… — a project for your own corpus and
// base without writing JSON by hand. Three pages:
//
//  1. Corpus — a folder; its languages (<id>.jsonl, .jsonl.gz, .jsonl.zst,
//     .json) with file, size and a sample at once, and the documents and bad
//     lines as `dmoe corpus scan` counts them in the background; tick each
//     language as training or new.
//  2. Base — a Hugging Face checkpoint folder (summarized from its headers:
//     family, layers, parameters, dtypes, files, tokenizer; a family the
//     workbench does not load, or one without a tokenizer, is refused with the
//     reason), or a small model to pretrain by shape preset (parameter counts).
//  3. Settings — G, ε, the held-out and pretrain shares (help from the schema),
//     the project's name and file.
//
// Finishing writes the file through project/new_project.h, the same code as
// `dmoe project new`, validated as on load; problems are listed on the page and
// nothing is written. The corpus folder is only read.
#pragma once
#include <QString>
#include <QStringList>
#include <QWizard>

class QTableWidget;

namespace dmoe::views {

class NewCorpusPage;
class NewBasePage;
class NewSettingsPage;

class NewProjectWizard : public QWizard {
  Q_OBJECT
 public:
  enum PageId { CorpusPage, BasePage, SettingsPage };
  explicit NewProjectWizard(QWidget* parent = nullptr);

  // The written project file (after accept()).
  QString projectFile() const { return written_; }

  // For tests and scripted use: what the pages hold.
  void setCorpusFolder(const QString& folder);
  QTableWidget* languageTable() const;
  void setRole(const QString& id, const QString& role);  // "train", "new" or "" (left out)
  QStringList trainingLanguages() const;
  QStringList newLanguages() const;
  void setCheckpoint(const QString& folder);  // empty: pretrain
  void setPreset(const QString& name);
  QString baseSummary() const;
  void setProjectFile(const QString& file);
  QString problems() const;  // the last refusal on the settings page
  bool countsDone() const;   // the background document count finished

  void accept() override;

 private:
  NewCorpusPage* corpus_;
  NewBasePage* base_;
  NewSettingsPage* settings_;
  QString written_;
};

}  // namespace dmoe::views
