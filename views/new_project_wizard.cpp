#include "new_project_wizard.h"

#include <QButtonGroup>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>
#include <filesystem>
#include <map>

#include "model/checkpoint_summary.h"
#include "corpus/corpus_folder.h"
#include "project/new_project.h"
#include "project/project.h"
#include "stage_runner.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe::views {

namespace fs = std::filesystem;

namespace {

enum Column { TrainColumn, NewColumn, IdColumn, FileColumn, SizeColumn, DocumentsColumn, SampleColumn };

fs::path pathOf(const QString& text) { return fs::path(text.trimmed().toStdString()); }

// The schema's help text of a setting (`dmoe project describe`), for tooltips and labels.
QString schemaHelp(const std::string& pointer) {
  static const Json leaves = describeProjectSettings();
  for (const Json& leaf : leaves)
    if (leaf.value("pointer", "") == pointer) return QString::fromStdString(leaf.value("description", ""));
  return {};
}

QLabel* helpLabel(const QString& text, QWidget* parent) {
  auto* label = new QLabel(text, parent);
  label->setWordWrap(true);
  label->setStyleSheet("color: palette(mid);");
  return label;
}

QHBoxLayout* pathRow(QLineEdit* edit, QPushButton* browse) {
  auto* row = new QHBoxLayout;
  row->addWidget(edit, 1);
  row->addWidget(browse);
  return row;
}

}  // namespace

// Page 1: the corpus folder and each language's role.
class NewCorpusPage : public QWizardPage {
 public:
  explicit NewCorpusPage(QWidget* parent) : QWizardPage(parent) {
    setTitle(tr("Corpus"));
    setSubTitle(tr("A folder with one file per language: <id>.jsonl, .jsonl.gz (MADLAD-400), .jsonl.zst or .json, one "
                   "JSON object per line. It is only read."));
    folder_ = new QLineEdit(this);
    folder_->setObjectName("corpusFolder");
    auto* browse = new QPushButton(tr("Browse…"), this);
    textKey_ = new QLineEdit("text", this);
    textKey_->setObjectName("textKey");
    textKey_->setToolTip(schemaHelp("/corpus/text_key"));
    table_ = new QTableWidget(0, 7, this);
    table_->setObjectName("languageTable");
    table_->setHorizontalHeaderLabels({tr("Train"), tr("New"), tr("Language"), tr("File"), tr("Size"), tr("Documents"), tr("Sample")});
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->verticalHeader()->hide();
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    status_ = new QLabel(this);
    status_->setObjectName("corpusStatus");
    status_->setWordWrap(true);

    auto* form = new QFormLayout;
    form->addRow(tr("Folder"), pathRow(folder_, browse));
    form->addRow(tr("Text key"), textKey_);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(table_, 1);
    layout->addWidget(status_);
    registerField("corpus*", folder_);

    connect(browse, &QPushButton::clicked, this, [this] {
      const QString dir = QFileDialog::getExistingDirectory(this, tr("Corpus folder"), folder_->text());
      if (!dir.isEmpty()) setFolder(dir);
    });
    connect(folder_, &QLineEdit::editingFinished, this, [this] { list(); });
    connect(textKey_, &QLineEdit::editingFinished, this, [this] { list(); });
    connect(table_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* item) { roleChanged(item); });
  }

  void setFolder(const QString& dir) {
    folder_->setText(dir);
    list();
  }
  fs::path folder() const { return pathOf(folder_->text()); }
  std::string textKey() const { return textKey_->text().trimmed().toStdString(); }
  QTableWidget* table() const { return table_; }
  bool countsDone() const { return countsDone_; }

  void setRole(const QString& id, const QString& role) {
    for (int row = 0; row < table_->rowCount(); ++row)
      if (table_->item(row, IdColumn)->text() == id) {
        table_->item(row, TrainColumn)->setCheckState(role == "train" ? Qt::Checked : Qt::Unchecked);
        table_->item(row, NewColumn)->setCheckState(role == "new" ? Qt::Checked : Qt::Unchecked);
      }
  }
  QStringList ticked(int column) const {
    QStringList ids;
    for (int row = 0; row < table_->rowCount(); ++row)
      if (table_->item(row, column)->checkState() == Qt::Checked) ids << table_->item(row, IdColumn)->text();
    return ids;
  }
  bool isComplete() const override { return !ticked(TrainColumn).isEmpty(); }

 private:
  // Lists the folder at once (file, size, sample) and starts the document count in `dmoe corpus scan`.
  void list() {
    const QString listed = folder_->text().trimmed() + '\n' + textKey_->text().trimmed();
    if (listed == listed_) return;  // editingFinished also fires on focus loss: keep the user's ticks
    listed_ = listed;
    stopCounting();
    table_->setRowCount(0);
    countsDone_ = false;
    if (folder_->text().trimmed().isEmpty()) return;
    std::vector<CorpusFileInfo> files;
    try {
      files = listCorpusFolder(folder(), textKey());
    } catch (const std::exception& e) {
      status_->setText(QString::fromStdString(e.what()));
      emit completeChanged();
      return;
    }
    const QSignalBlocker block(table_);
    for (const CorpusFileInfo& f : files) {
      const int row = table_->rowCount();
      table_->insertRow(row);
      for (int column : {TrainColumn, NewColumn}) {
        auto* tick = new QTableWidgetItem;
        tick->setFlags(Qt::ItemIsUserCheckable | Qt::ItemIsEnabled);
        tick->setCheckState(column == TrainColumn && f.problem.empty() ? Qt::Checked : Qt::Unchecked);
        table_->setItem(row, column, tick);
      }
      table_->setItem(row, IdColumn, new QTableWidgetItem(QString::fromStdString(f.id)));
      table_->setItem(row, FileColumn, new QTableWidgetItem(QString::fromStdString(f.file.filename().string())));
      table_->setItem(row, SizeColumn, new QTableWidgetItem(QString::fromStdString(shortBytes(double(f.bytes)))));
      table_->setItem(row, DocumentsColumn, new QTableWidgetItem(tr("counting…")));
      const QString sample = QString::fromStdString(f.problem.empty() ? f.sample : f.problem).simplified();
      table_->setItem(row, SampleColumn, new QTableWidgetItem(sample));
      table_->item(row, SampleColumn)->setToolTip(sample);
    }
    table_->resizeColumnsToContents();
    status_->setText(files.empty() ? tr("No language file in this folder.")
                                   : tr("%1 languages. Tick Train for the languages the model learns, New for those "
                                        "held back to add later.").arg(files.size()));
    if (!files.empty()) startCounting();
    emit completeChanged();
  }

  // `dmoe corpus scan` of the listed folder in a runner of its own: a count
  // still running for an earlier listing is stopped and its late events never
  // reach this table.
  void startCounting() {
    runner_ = new StageRunner(this);
    connect(runner_, &StageRunner::event, this, [this](const QJsonObject& e) { onScanEvent(e); });
    connect(runner_, &StageRunner::finished, this, [this](int code) {
      countsDone_ = true;
      if (code != 0) status_->setText(tr("Counting documents failed (exit %1); the files are listed as found.").arg(code));
    });
    runner_->start({"corpus", "scan", QString::fromStdString(folder().string()), "--text-key",
                    QString::fromStdString(textKey())});
  }
  void stopCounting() {
    if (!runner_) return;
    disconnect(runner_, nullptr, this, nullptr);
    runner_->cancel(0);
    runner_->deleteLater();  // its destructor ends a command still running
    runner_ = nullptr;
  }

  void onScanEvent(const QJsonObject& e) {
    if (e.value("event").toString() != "result" || e.value("name").toString() != "corpus-file") return;
    const QJsonObject f = e.value("data").toObject();
    for (int row = 0; row < table_->rowCount(); ++row)
      if (table_->item(row, IdColumn)->text() == f.value("id").toString()) {
        QString text = f.contains("problem") ? tr("unreadable") : QString::number(f.value("documents").toInteger());
        if (f.value("bad_lines").toInteger() > 0) text += tr(" (%1 bad lines)").arg(f.value("bad_lines").toInteger());
        const QSignalBlocker block(table_);
        table_->item(row, DocumentsColumn)->setText(text);
        if (f.contains("problem")) table_->item(row, DocumentsColumn)->setToolTip(f.value("problem").toString());
      }
  }

  // A language trains or is new, not both.
  void roleChanged(QTableWidgetItem* item) {
    if ((item->column() == TrainColumn || item->column() == NewColumn) && item->checkState() == Qt::Checked) {
      const QSignalBlocker block(table_);
      table_->item(item->row(), item->column() == TrainColumn ? NewColumn : TrainColumn)->setCheckState(Qt::Unchecked);
    }
    emit completeChanged();
  }

  QLineEdit *folder_, *textKey_;
  QTableWidget* table_;
  QLabel* status_;
  StageRunner* runner_ = nullptr;  // the count of the listing shown
  bool countsDone_ = false;
  QString listed_;  // the folder and text key of the table shown
};

// Page 2: a checkpoint folder or a preset to pretrain.
class NewBasePage : public QWizardPage {
 public:
  explicit NewBasePage(QWidget* parent) : QWizardPage(parent) {
    setTitle(tr("Base model"));
    setSubTitle(schemaHelp("/base_model/kind"));
    checkpointButton_ = new QRadioButton(tr("A Hugging Face checkpoint folder"), this);
    pretrainButton_ = new QRadioButton(tr("Pretrain a small model on this corpus"), this);
    pretrainButton_->setChecked(true);
    checkpoint_ = new QLineEdit(this);
    checkpoint_->setObjectName("checkpointFolder");
    auto* browse = new QPushButton(tr("Browse…"), this);
    summary_ = new QLabel(this);
    summary_->setObjectName("baseSummary");
    summary_->setWordWrap(true);
    preset_ = new QComboBox(this);
    preset_->setObjectName("preset");
    vocab_ = new QSpinBox(this);
    vocab_->setRange(32, 1048576);
    vocab_->setValue(8000);
    vocab_->setToolTip(schemaHelp("/tokenizer/vocab_size"));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(pretrainButton_);
    auto* presetForm = new QFormLayout;
    presetForm->addRow(tr("Shape"), preset_);
    presetForm->addRow(tr("Tokenizer vocabulary (trained)"), vocab_);
    layout->addLayout(presetForm);
    layout->addWidget(checkpointButton_);
    layout->addLayout(pathRow(checkpoint_, browse));
    layout->addWidget(summary_);
    layout->addStretch(1);

    connect(browse, &QPushButton::clicked, this, [this] {
      const QString dir = QFileDialog::getExistingDirectory(this, tr("Checkpoint folder"), checkpoint_->text());
      if (!dir.isEmpty()) setCheckpoint(dir);
    });
    connect(checkpoint_, &QLineEdit::editingFinished, this, [this] { summarize(); });
    connect(checkpointButton_, &QRadioButton::toggled, this, [this] { summarize(); });
    connect(vocab_, &QSpinBox::valueChanged, this, [this] { fillPresets(); });
    connect(preset_, &QComboBox::currentIndexChanged, this, [this] { summarize(); });
    fillPresets();
  }

  void setCheckpoint(const QString& dir) {
    checkpoint_->setText(dir);
    (dir.isEmpty() ? pretrainButton_ : checkpointButton_)->setChecked(true);
    summarize();
  }
  void setPreset(const QString& name) { preset_->setCurrentIndex(std::max(0, preset_->findData(name))); }
  bool usesCheckpoint() const { return checkpointButton_->isChecked(); }
  fs::path checkpoint() const { return pathOf(checkpoint_->text()); }
  std::string preset() const { return preset_->currentData().toString().toStdString(); }
  std::int64_t vocabSize() const { return vocab_->value(); }
  QString summary() const { return summary_->text(); }
  bool isComplete() const override { return !usesCheckpoint() || usable_; }

 private:
  // "micro — d 64, 4 layers: … · 694 K parameters", counted for the chosen vocabulary.
  void fillPresets() {
    const QString chosen = preset_->currentData().toString();
    const QSignalBlocker block(preset_);
    preset_->clear();
    for (const ModelPreset& p : modelPresets())
      preset_->addItem(QString::fromStdString(p.name + " — " + p.help + " · " +
                                              shortCount(double(p.parameters(vocab_->value()))) + " parameters"),
                       QString::fromStdString(p.name));
    preset_->setCurrentIndex(std::max(0, preset_->findData(chosen.isEmpty() ? QString("demo") : chosen)));
  }

  void summarize() {
    usable_ = false;
    preset_->setEnabled(!usesCheckpoint());
    vocab_->setEnabled(!usesCheckpoint());
    if (!usesCheckpoint()) {
      summary_->setText(tr("The base is pretrained from scratch on each training language's pretrain slice; the "
                           "tokenizer is trained on the corpus."));
    } else if (checkpoint_->text().trimmed().isEmpty()) {
      summary_->setText(tr("Choose the checkpoint folder (config.json, *.safetensors, tokenizer)."));
    } else {
      try {
        const CheckpointSummary s = summarizeCheckpoint(checkpoint());
        QString text = QString::fromStdString(s.line());
        const std::string why = s.baseProblem();
        if (!why.empty()) text += tr("\nNot usable: %1").arg(QString::fromStdString(why));
        usable_ = why.empty();
        summary_->setText(text);
      } catch (const std::exception& e) {
        summary_->setText(QString::fromStdString(e.what()));
      }
    }
    emit completeChanged();
  }

  QRadioButton *checkpointButton_, *pretrainButton_;
  QLineEdit* checkpoint_;
  QLabel* summary_;
  QComboBox* preset_;
  QSpinBox* vocab_;
  bool usable_ = false;
};

// Page 3: G, ε, slices, name and file.
class NewSettingsPage : public QWizardPage {
 public:
  explicit NewSettingsPage(QWidget* parent) : QWizardPage(parent) {
    setTitle(tr("Settings"));
    setSubTitle(tr("Every other setting keeps its published default; change them later in the project panel."));
    groups_ = new QSpinBox(this);
    groups_->setObjectName("groups");
    epsilon_ = new QDoubleSpinBox(this);
    epsilon_->setRange(0, 1);
    epsilon_->setSingleStep(0.05);
    epsilon_->setValue(0.6);
    heldout_ = new QDoubleSpinBox(this);
    heldout_->setRange(0, 0.9);
    heldout_->setSingleStep(0.05);
    heldout_->setValue(0.1);
    pretrain_ = new QDoubleSpinBox(this);
    pretrain_->setRange(0, 1);
    pretrain_->setSingleStep(0.05);
    pretrain_->setValue(0.5);
    name_ = new QLineEdit(this);
    file_ = new QLineEdit(this);
    file_->setObjectName("projectFile");
    auto* browse = new QPushButton(tr("Save As…"), this);
    problems_ = new QLabel(this);
    problems_->setObjectName("newProjectProblems");
    problems_->setWordWrap(true);
    problems_->setStyleSheet("color: #b00020;");

    auto* form = new QFormLayout(this);
    form->addRow(tr("Groups G"), groups_);
    form->addRow(helpLabel(schemaHelp("/grouping/groups"), this));
    form->addRow(tr("ε"), epsilon_);
    form->addRow(helpLabel(schemaHelp("/layer_selection/epsilon"), this));
    form->addRow(tr("Held out"), heldout_);
    form->addRow(helpLabel(schemaHelp("/corpus/heldout/fraction"), this));
    form->addRow(tr("Pretrain share"), pretrain_);
    form->addRow(helpLabel(schemaHelp("/corpus/pretrain/fraction"), this));
    form->addRow(tr("Name"), name_);
    form->addRow(tr("Project file"), pathRow(file_, browse));
    form->addRow(problems_);
    registerField("projectFile*", file_);
    connect(browse, &QPushButton::clicked, this, [this] {
      const QString file = QFileDialog::getSaveFileName(this, tr("New project file"), file_->text(),
                                                        tr("DMoE projects (*.dmoe.json)"));
      if (!file.isEmpty()) file_->setText(file.endsWith(".dmoe.json") ? file : file + ".dmoe.json");
    });
  }

  // Fills what depends on the earlier pages each time the page is shown.
  void prepare(int trainingLanguages, bool pretrain, const QString& corpusFolder) {
    groups_->setRange(1, std::max(1, trainingLanguages));  // a value above the new range is clamped
    if (!groupsChosen_) groups_->setValue(std::min(6, std::max(1, trainingLanguages)));
    groupsChosen_ = true;
    pretrain_->setEnabled(pretrain);
    if (file_->text().isEmpty() && !corpusFolder.isEmpty()) {
      const fs::path corpus = pathOf(corpusFolder);
      file_->setText(QString::fromStdString((corpus.parent_path() / (corpus.filename().string() + ".dmoe.json")).string()));
    }
  }

  void fill(NewProjectOptions& o) const {
    o.groups = groups_->value();
    o.epsilon = epsilon_->value();
    o.heldoutFraction = heldout_->value();
    o.pretrainFraction = pretrain_->value();
    o.name = name_->text().trimmed().toStdString();
    o.file = pathOf(file_->text());
  }
  void setFile(const QString& file) { file_->setText(file); }
  void setProblems(const QString& text) { problems_->setText(text); }
  QString problems() const { return problems_->text(); }

 private:
  QSpinBox* groups_;
  QDoubleSpinBox *epsilon_, *heldout_, *pretrain_;
  QLineEdit *name_, *file_;
  QLabel* problems_;
  bool groupsChosen_ = false;  // G is the default the first time the page is shown, then the user's
};

NewProjectWizard::NewProjectWizard(QWidget* parent) : QWizard(parent) {
  setWindowTitle(tr("New Project"));
  setOption(QWizard::NoBackButtonOnStartPage);
  corpus_ = new NewCorpusPage(this);
  base_ = new NewBasePage(this);
  settings_ = new NewSettingsPage(this);
  setPage(CorpusPage, corpus_);
  setPage(BasePage, base_);
  setPage(SettingsPage, settings_);
  connect(this, &QWizard::currentIdChanged, this, [this](int id) {
    if (id == SettingsPage)
      settings_->prepare(int(trainingLanguages().size()), !base_->usesCheckpoint(),
                         QString::fromStdString(corpus_->folder().string()));
  });
  resize(900, 600);
}

void NewProjectWizard::setCorpusFolder(const QString& folder) { corpus_->setFolder(folder); }
QTableWidget* NewProjectWizard::languageTable() const { return corpus_->table(); }
void NewProjectWizard::setRole(const QString& id, const QString& role) { corpus_->setRole(id, role); }
QStringList NewProjectWizard::trainingLanguages() const { return corpus_->ticked(TrainColumn); }
QStringList NewProjectWizard::newLanguages() const { return corpus_->ticked(NewColumn); }
void NewProjectWizard::setCheckpoint(const QString& folder) { base_->setCheckpoint(folder); }
void NewProjectWizard::setPreset(const QString& name) { base_->setPreset(name); }
QString NewProjectWizard::baseSummary() const { return base_->summary(); }
void NewProjectWizard::setProjectFile(const QString& file) { settings_->setFile(file); }
QString NewProjectWizard::problems() const { return settings_->problems(); }
bool NewProjectWizard::countsDone() const { return corpus_->countsDone(); }

void NewProjectWizard::accept() {
  NewProjectOptions o;
  o.corpus = corpus_->folder();
  o.textKey = corpus_->textKey();
  for (const QString& id : trainingLanguages()) o.languages.push_back(id.toStdString());
  for (const QString& id : newLanguages()) o.newLanguages.push_back(id.toStdString());
  if (base_->usesCheckpoint()) o.checkpoint = base_->checkpoint();
  o.preset = base_->preset();
  o.vocabSize = base_->vocabSize();
  settings_->fill(o);
  bool overwrite = false;
  std::error_code ec;
  if (fs::exists(o.file, ec)) {
    if (QMessageBox::question(this, tr("Replace project?"),
                              tr("%1 exists. Replace it?").arg(QString::fromStdString(o.file.string()))) != QMessageBox::Yes)
      return;
    overwrite = true;
  }
  try {
    const Project p = writeNewProject(o, overwrite);
    written_ = QString::fromStdString(p.file.string());
    settings_->setProblems({});
    QWizard::accept();
  } catch (const ValidationError& e) {
    QString text = tr("Not written:");
    for (const Problem& p : e.problems())
      text += "\n" + QString::fromStdString(p.where + ": " + p.message);
    settings_->setProblems(text);
  } catch (const std::exception& e) {
    settings_->setProblems(tr("Not written: %1").arg(QString::fromStdString(e.what())));
  }
}

}  // namespace dmoe::views
