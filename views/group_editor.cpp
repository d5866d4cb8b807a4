#include "group_editor.h"

#include <QAction>
#include <QDragEnterEvent>
#include <QDragMoveEvent>
#include <QDropEvent>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QPushButton>
#include <QScrollArea>
#include <QStackedWidget>
#include <QUndoStack>
#include <QVBoxLayout>
#include <algorithm>
#include <functional>
#include <limits>

#include "methods/grouping.h"
#include "project_document.h"
#include "results/groups_file.h"
#include "results/similarity_file.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe::views {

// One edit: the whole grouping before and after (groups are small, and one
// command type then serves moves, adds, removes and resets alike).
class SetGroupsCommand : public QUndoCommand {
 public:
  SetGroupsCommand(GroupEditor& editor, GroupEditor::Groups before, GroupEditor::Groups after, const QString& text)
      : QUndoCommand(text), editor_(editor), before_(std::move(before)), after_(std::move(after)) {}
  void undo() override { editor_.setGroups(before_); }
  void redo() override { editor_.setGroups(after_); }

 private:
  GroupEditor& editor_;
  GroupEditor::Groups before_, after_;
};

namespace {

// A group's list: drags out a language's id, and a drop hands the payload to
// `onDrop` instead of inserting an item (the editor owns the groups, the list only shows them).
class LanguageList : public QListWidget {
 public:
  LanguageList(std::function<bool(const QMimeData&)> onDrop, QWidget* parent)
      : QListWidget(parent), onDrop_(std::move(onDrop)) {
    setDragEnabled(true);
    setAcceptDrops(true);
    setDragDropMode(QAbstractItemView::DragDrop);
    setDefaultDropAction(Qt::MoveAction);
    setSelectionMode(QAbstractItemView::SingleSelection);
  }

 protected:
  QStringList mimeTypes() const override { return {QString::fromLatin1(kLanguageMimeType)}; }
  QMimeData* mimeData(const QList<QListWidgetItem*>& items) const override {
    if (items.isEmpty()) return nullptr;
    auto* data = new QMimeData;
    data->setData(kLanguageMimeType, items.first()->data(Qt::UserRole).toString().toUtf8());
    return data;
  }
  void dragEnterEvent(QDragEnterEvent* event) override { acceptLanguage(event); }
  void dragMoveEvent(QDragMoveEvent* event) override { acceptLanguage(event); }
  void dropEvent(QDropEvent* event) override {
    if (!onDrop_(*event->mimeData())) return event->ignore();
    // Copy, so the source list removes nothing: the editor has refilled every list.
    event->setDropAction(Qt::CopyAction);
    event->accept();
  }

 private:
  void acceptLanguage(QDragMoveEvent* event) {
    if (!event->mimeData()->hasFormat(kLanguageMimeType)) return event->ignore();
    event->setDropAction(Qt::MoveAction);
    event->accept();
  }
  std::function<bool(const QMimeData&)> onDrop_;
};

}  // namespace

GroupEditor::GroupEditor(ProjectDocument& document, QWidget* parent)
    : QWidget(parent), document_(document), undoStack_(new QUndoStack(this)), pages_(new QStackedWidget(this)),
      message_(new QLabel(this)), warnings_(new QLabel(this)) {
  setObjectName("groupEditor");
  message_->setObjectName("groupEditorMessage");
  message_->setAlignment(Qt::AlignCenter);
  message_->setWordWrap(true);
  message_->setTextFormat(Qt::MarkdownText);
  pages_->addWidget(message_);

  auto* editorPage = new QWidget(pages_);
  auto* pageLayout = new QVBoxLayout(editorPage);
  auto* toolbar = new QHBoxLayout;
  addButton_ = new QPushButton(tr("Add group"), editorPage);
  resetButton_ = new QPushButton(tr("Reset to computed"), editorPage);
  undoButton_ = new QPushButton(tr("Undo"), editorPage);
  redoButton_ = new QPushButton(tr("Redo"), editorPage);
  applyButton_ = new QPushButton(tr("Apply to project"), editorPage);
  applyButton_->setObjectName("applyGroups");
  applyButton_->setToolTip(tr("Store these groups in the project as manual groups (grouping.method = \"manual\")"));
  for (QPushButton* b : {addButton_, resetButton_, undoButton_, redoButton_}) toolbar->addWidget(b);
  toolbar->addStretch();
  toolbar->addWidget(applyButton_);
  pageLayout->addLayout(toolbar);

  auto* scroll = new QScrollArea(editorPage);
  scroll->setWidgetResizable(true);
  auto* columnsHost = new QWidget(scroll);
  columnsLayout_ = new QHBoxLayout(columnsHost);
  columnsLayout_->addStretch();
  scroll->setWidget(columnsHost);
  pageLayout->addWidget(scroll, 1);

  warnings_->setObjectName("groupWarnings");
  warnings_->setWordWrap(true);
  pageLayout->addWidget(warnings_);
  pages_->addWidget(editorPage);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(pages_);

  // Shortcuts while focus is in the editor, so other views keep their own undo.
  QAction* undo = undoStack_->createUndoAction(this, tr("Undo"));
  undo->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Z));
  QAction* redo = undoStack_->createRedoAction(this, tr("Redo"));
  redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
  for (QAction* a : {undo, redo}) {
    a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    addAction(a);
  }
  connect(addButton_, &QPushButton::clicked, this, &GroupEditor::addGroup);
  connect(resetButton_, &QPushButton::clicked, this, &GroupEditor::resetToComputed);
  connect(undoButton_, &QPushButton::clicked, undoStack_, &QUndoStack::undo);
  connect(redoButton_, &QPushButton::clicked, undoStack_, &QUndoStack::redo);
  connect(undoStack_, &QUndoStack::canUndoChanged, undoButton_, &QPushButton::setEnabled);
  connect(undoStack_, &QUndoStack::canRedoChanged, redoButton_, &QPushButton::setEnabled);
  connect(applyButton_, &QPushButton::clicked, this, &GroupEditor::apply);
  undoButton_->setEnabled(false);
  redoButton_->setEnabled(false);
  showMessage(tr("Open a project to edit its language groups."));
}

void GroupEditor::showMessage(const QString& text) {
  message_->setText(text);
  pages_->setCurrentWidget(message_);
}

bool GroupEditor::isReady() const { return pages_->currentIndex() == 1; }

void GroupEditor::reload(const fs::path& runsDir) {
  undoStack_->clear();
  computed_.clear();
  groups_.clear();
  languages_.clear();
  distance_.clear();
  if (!document_.hasProject()) return showMessage(tr("Open a project to edit its language groups."));
  try {
    const RunLayout runs(runsDir);
    const SimilarityResult sim = SimilarityResult::read(runs.similarityFile());
    computed_ = LanguageGroups::read(runs.groupsFile()).groups;
    languages_ = sim.languages;
    distance_ = similarityToDistance(sim.combined);
    checkDistanceMatrix(distance_);
  } catch (const std::exception& e) {
    computed_.clear();
    return showMessage(tr("**No language groups to edit yet.**\n\nRun `dmoe similarity` and then `dmoe group` "
                          "(Stages menu) to compute them.\n\n%1")
                           .arg(QString::fromStdString(e.what())));
  }
  const GroupingSettings& grouping = document_.project().grouping;
  groups_ = grouping.method == "manual" && !grouping.manual.empty() ? grouping.manual : computed_;
  pages_->setCurrentIndex(1);
  refresh();
}

int GroupEditor::groupOf(const std::string& id) const {
  for (size_t g = 0; g < groups_.size(); ++g)
    if (std::find(groups_[g].begin(), groups_[g].end(), id) != groups_[g].end()) return int(g);
  return -1;
}

std::vector<double> GroupEditor::minSimilarities() const {
  std::vector<double> out;
  for (const auto& group : groups_) {
    std::vector<int> indices;
    for (const std::string& id : group) {
      const auto at = std::find(languages_.begin(), languages_.end(), id);
      if (at != languages_.end()) indices.push_back(int(at - languages_.begin()));
    }
    out.push_back(group.empty() ? std::numeric_limits<double>::quiet_NaN()
                                : 1.0 - largestWithinGroupDistance(distance_, {indices}).front());
  }
  return out;
}

QStringList GroupEditor::warnings() const {
  QStringList out;
  size_t smallest = std::numeric_limits<size_t>::max(), largest = 0;  // over non-empty groups
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].empty()) {
      out << tr("Expert %1 is empty: move a language into it or remove it before applying.").arg(g);
      continue;
    }
    smallest = std::min(smallest, groups_[g].size());
    largest = std::max(largest, groups_[g].size());
  }
  if (largest > smallest + 1)
    out << tr("Lopsided groups: sizes from %1 to %2 (balanced groups differ by at most 1). Allowed for manual "
              "groups, but small groups give their expert less data.")
               .arg(smallest)
               .arg(largest);
  if (document_.hasProject()) {
    QStringList missing;
    for (const Language& l : document_.project().languages)
      if (groupOf(l.id) < 0) missing << QString::fromStdString(l.label());
    if (!missing.isEmpty())
      out << tr("In no group: %1 (the similarity stage ran on other languages: re-run `dmoe similarity` and "
                "`dmoe group`).")
                 .arg(missing.join(", "));
  }
  return out;
}

bool GroupEditor::canApply() const {
  if (!isReady() || !document_.hasProject() || groups_.empty()) return false;
  size_t placed = 0;
  for (const auto& group : groups_) {
    if (group.empty()) return false;
    placed += group.size();
  }
  const auto& languages = document_.project().languages;
  return placed == languages.size() &&
         std::all_of(languages.begin(), languages.end(), [&](const Language& l) { return groupOf(l.id) >= 0; });
}

void GroupEditor::setGroups(const Groups& groups) {
  groups_ = groups;
  refresh();
}

void GroupEditor::pushEdit(const Groups& after, const QString& text) {
  if (after == groups_) return;
  undoStack_->push(new SetGroupsCommand(*this, groups_, after, text));
}

void GroupEditor::moveLanguage(const std::string& id, int toGroup) {
  const int from = groupOf(id);
  if (from < 0 || toGroup < 0 || toGroup >= int(groups_.size()) || from == toGroup) return;
  Groups after = groups_;
  auto& source = after[size_t(from)];
  source.erase(std::find(source.begin(), source.end(), id));
  after[size_t(toGroup)].push_back(id);
  pushEdit(after, tr("Move %1 to expert %2").arg(languageText(id)).arg(toGroup + 1));
}

bool GroupEditor::dropLanguage(const QMimeData& data, int toGroup) {
  if (!data.hasFormat(kLanguageMimeType)) return false;
  moveLanguage(data.data(kLanguageMimeType).toStdString(), toGroup);
  return true;
}

void GroupEditor::addGroup() {
  if (!isReady()) return;
  Groups after = groups_;
  after.emplace_back();
  pushEdit(after, tr("Add expert %1").arg(after.size()));
}

void GroupEditor::removeGroup(int group) {
  if (group < 0 || group >= int(groups_.size()) || groups_.size() < 2) return;
  Groups after = groups_;
  auto& heir = after[size_t(group == 0 ? 1 : group - 1)];
  heir.insert(heir.end(), after[size_t(group)].begin(), after[size_t(group)].end());
  after.erase(after.begin() + group);
  pushEdit(after, tr("Remove expert %1").arg(group + 1));
}

void GroupEditor::resetToComputed() {
  if (isReady()) pushEdit(computed_, tr("Reset to computed groups"));
}

bool GroupEditor::apply() {
  if (!canApply()) return false;
  const Groups groups = groups_;
  document_.modify([&](Project& p) {
    p.grouping.method = "manual";
    p.grouping.manual = groups;
    p.grouping.groups = std::int64_t(groups.size());
  });
  return true;
}

QString GroupEditor::languageName(const std::string& id) const {
  const Language* l = document_.hasProject() ? document_.project().findLanguage(id) : nullptr;
  return l ? QString::fromStdString(l->name) : QString();
}

QString GroupEditor::languageText(const std::string& id) const {
  const Language* l = document_.hasProject() ? document_.project().findLanguage(id) : nullptr;
  return QString::fromStdString(l ? l->label() : id);
}

QString GroupEditor::itemText(const std::string& id) const {
  const QString name = languageName(id);
  return name.isEmpty() ? languageText(id) : QStringLiteral("%1 (%2)").arg(name, languageText(id));
}

int GroupEditor::listWidth() const {
  const QFontMetrics metrics = fontMetrics();
  const int least = metrics.horizontalAdvance(QStringLiteral("Arabic, Standard (ar)"));
  int widest = least;
  if (document_.hasProject())
    for (const Language& l : document_.project().languages) widest = std::max(widest, metrics.horizontalAdvance(itemText(l.id)));
  return std::min(widest, 2 * least) + 24;  // longer names scroll within their list; the tooltip shows them whole
}

QWidget* GroupEditor::makeColumn(int group) {
  auto* box = new QGroupBox(columnsLayout_->parentWidget());
  box->setObjectName(QStringLiteral("group%1").arg(group));
  auto* layout = new QVBoxLayout(box);
  auto* similarity = new QLabel(box);
  similarity->setObjectName(QStringLiteral("minSimilarity%1").arg(group));
  similarity->setToolTip(tr("The smallest cosine similarity between two languages of this group"));
  auto* list = new LanguageList([this, group](const QMimeData& data) { return dropLanguage(data, group); }, box);
  list->setObjectName(QStringLiteral("groupList%1").arg(group));
  auto* remove = new QPushButton(tr("Remove"), box);
  remove->setObjectName(QStringLiteral("removeGroup%1").arg(group));
  remove->setToolTip(tr("Remove this group; its languages join the neighbouring group"));
  connect(remove, &QPushButton::clicked, this, [this, group] { removeGroup(group); });
  layout->addWidget(similarity);
  layout->addWidget(list, 1);
  layout->addWidget(remove);
  return box;
}

void GroupEditor::refresh() {
  while (columns_.size() < groups_.size()) {
    columns_.push_back(makeColumn(int(columns_.size())));
    columnsLayout_->insertWidget(int(columns_.size()) - 1, columns_.back());
    columns_.back()->show();  // a child added to a visible widget stays hidden until shown
  }
  while (columns_.size() > groups_.size()) {  // never during a drop: moves keep the group count
    delete columns_.back();
    columns_.pop_back();
  }
  const std::vector<double> minimum = minSimilarities();
  const int width = listWidth();
  for (size_t g = 0; g < groups_.size(); ++g) {
    QWidget* column = columns_[g];
    static_cast<QGroupBox*>(column)->setTitle(tr("Expert %1 · %n language(s)", nullptr, int(groups_[g].size())).arg(g));
    auto* label = column->findChild<QLabel*>(QStringLiteral("minSimilarity%1").arg(g));
    if (groups_[g].empty())
      label->setText(tr("empty"));
    else if (groups_[g].size() == 1)
      label->setText(tr("min similarity — (one language)"));
    else
      label->setText(tr("min similarity %1").arg(minimum[g], 0, 'f', 3));
    auto* list = column->findChild<QListWidget*>(QStringLiteral("groupList%1").arg(g));
    list->setMinimumWidth(width);
    list->clear();
    for (const std::string& id : groups_[g]) {
      auto* item = new QListWidgetItem(itemText(id), list);
      item->setData(Qt::UserRole, QString::fromStdString(id));
      item->setToolTip(itemText(id) + QStringLiteral(" — ") + QString::fromStdString(id));
    }
    column->findChild<QPushButton*>(QStringLiteral("removeGroup%1").arg(g))->setEnabled(groups_.size() > 1);
  }
  const QStringList problems = warnings();
  warnings_->setText(problems.isEmpty() ? tr("No warnings.") : QStringLiteral("⚠ ") + problems.join(QStringLiteral("\n⚠ ")));
  QFont font = warnings_->font();
  font.setBold(!problems.isEmpty());
  warnings_->setFont(font);
  applyButton_->setEnabled(canApply());
}

}  // namespace dmoe::views
