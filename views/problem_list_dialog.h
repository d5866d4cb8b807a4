// ProblemListDialog: shows why an input was rejected — one row per problem,
// its location (JSON path, file:line or file) and what was expected — as
// dmoe::ValidationError reports them. Shown with open() (window-modal, not
// blocking), so callers and tests keep running while it is up.
#pragma once
#include <QDialog>
#include <vector>

#include "util/error.h"

class QTreeWidget;

namespace dmoe::views {

class ProblemListDialog : public QDialog {
  Q_OBJECT
 public:
  ProblemListDialog(const QString& title, const QString& summary, const std::vector<dmoe::Problem>& problems,
                    QWidget* parent = nullptr);
  QTreeWidget* list() const { return list_; }

 private:
  QTreeWidget* list_;
};

}  // namespace dmoe::views
