// GroupEditor: the group editor of the workbench — the language groups (one
// column per expert) that the group stage computed, edited by hand: drag a
// language between columns, add or remove a group, reset to the computed
// groups, undo/redo every edit. Each column shows its minimum within-group
// cosine similarity (from the similarity stage's matrix), updated live; empty
// and lopsided groups are flagged. "Apply" stores the groups in the project as
// grouping.method = "manual" through ProjectDocument (dirty state, Save).
// Not here: running `dmoe group` again, which the lead's Stages menu does.
#pragma once
#include <QStringList>
#include <QWidget>
#include <filesystem>
#include <string>
#include <vector>

class QHBoxLayout;
class QLabel;
class QMimeData;
class QPushButton;
class QStackedWidget;
class QUndoStack;

namespace dmoe::views {

class ProjectDocument;

// The drag payload of a language: its id as UTF-8.
inline constexpr char kLanguageMimeType[] = "application/x-dmoe-language-id";

class GroupEditor : public QWidget {
  Q_OBJECT
 public:
  using Groups = std::vector<std::vector<std::string>>;  // language ids; group g = expert g

  GroupEditor(ProjectDocument& document, QWidget* parent = nullptr);

  // Reads <runsDir>/group/groups.json and <runsDir>/similarity/similarity.json.
  // Starts from the project's manual groups when it has them, else the computed
  // ones; clears the undo history. Missing or unreadable files: a message saying
  // which stage to run.
  void reload(const std::filesystem::path& runsDir);

  bool isReady() const;  // both files read
  const Groups& groups() const { return groups_; }
  const Groups& computedGroups() const { return computed_; }
  // 1 for a single language, NaN for an empty group.
  std::vector<double> minSimilarities() const;
  QStringList warnings() const;  // empty and lopsided groups, languages in no group
  bool canApply() const;         // every group non-empty, every project language exactly once

  // Each edit is one undoable step; no-ops push nothing.
  void moveLanguage(const std::string& id, int toGroup);
  // A drop on group `toGroup`'s list: moves the language a kLanguageMimeType payload names. False for other data.
  bool dropLanguage(const QMimeData& data, int toGroup);
  void addGroup();
  void removeGroup(int group);  // its languages join the group before it (the next, for the first)
  void resetToComputed();
  // Writes grouping.method = "manual", manual = groups(), groups = their count. False when !canApply().
  bool apply();

  QUndoStack& undoStack() const { return *undoStack_; }

 private:
  friend class SetGroupsCommand;
  void setGroups(const Groups& groups);  // no undo step: the command's
  void pushEdit(const Groups& after, const QString& text);
  void showMessage(const QString& text);
  void refresh();  // columns, similarity labels, warnings and buttons from groups_
  QWidget* makeColumn(int group);
  QString languageText(const std::string& id) const;
  QString languageName(const std::string& id) const;
  QString itemText(const std::string& id) const;  // a list entry: "Name (label)", or the label
  int listWidth() const;  // fits the project's longest entry (capped), so every column has the same width
  int groupOf(const std::string& id) const;

  ProjectDocument& document_;
  QUndoStack* undoStack_;
  QStackedWidget* pages_;
  QLabel* message_;
  QHBoxLayout* columnsLayout_;
  std::vector<QWidget*> columns_;
  QLabel* warnings_;
  QPushButton *addButton_, *resetButton_, *undoButton_, *redoButton_, *applyButton_;

  Groups computed_, groups_;
  std::vector<std::string> languages_;       // the similarity matrix's order
  std::vector<std::vector<double>> distance_;  // 1 − cosine similarity
};

}  // namespace dmoe::views
