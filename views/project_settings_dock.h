// ProjectSettingsDock: the "Project" dock — every setting the project file
// can hold, as a read-only tree (section ▸ setting = value) built from the
// schema's description of the settings. Values written in the file are shown
// upright; defaults the file leaves out are shown in italics. Each setting's
// description, type, default and range are its tooltip. Editing belongs to
// later views.
#pragma once
#include <QDockWidget>

#include "project/project.h"

class QTreeWidget;

namespace dmoe::views {

class ProjectSettingsDock : public QDockWidget {
  Q_OBJECT
 public:
  explicit ProjectSettingsDock(QWidget* parent = nullptr);
  void setProject(const dmoe::Project* project);  // nullptr clears
  QTreeWidget* tree() const { return tree_; }

 private:
  QTreeWidget* tree_;
};

}  // namespace dmoe::views
