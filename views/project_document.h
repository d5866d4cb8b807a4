// ProjectDocument: the open project as the GUI sees it — the one owner of the
// dmoe::Project, with its file, dirty state and change notification. Every
// view reads the project through it, and every edit goes through modify(), so
// the window title, the unsaved-changes prompt and the views stay in step.
// Loading and saving are the core's (validation, atomic minimal writes).
#pragma once
#include <QObject>
#include <QString>
#include <functional>
#include <optional>

#include "project/project.h"

namespace dmoe::views {

class ProjectDocument : public QObject {
  Q_OBJECT
 public:
  explicit ProjectDocument(QObject* parent = nullptr);

  bool hasProject() const { return project_.has_value(); }
  const dmoe::Project& project() const { return *project_; }  // requires hasProject()
  QString filePath() const;
  QString displayName() const;  // the project's name, else its file name
  bool isDirty() const { return dirty_; }

  // Replaces the open project. Throws dmoe::ValidationError (every problem) or
  // dmoe::InputError (unreadable file); the open project is then unchanged.
  void load(const QString& file);
  void close();
  // Applies an edit and marks the project dirty.
  void modify(const std::function<void(dmoe::Project&)>& edit);
  // Atomic. Throw std::exception on failure (the project stays dirty).
  void save();
  // Relative paths in the file keep their text, so they resolve against the new folder.
  void saveAs(const QString& file);

 signals:
  void changed();  // loaded, edited, saved under a new name, or closed
  void dirtyChanged(bool dirty);

 private:
  void setDirty(bool dirty);
  std::optional<dmoe::Project> project_;
  bool dirty_ = false;
};

}  // namespace dmoe::views
