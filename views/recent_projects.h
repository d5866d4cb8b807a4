// RecentProjects: the most recently opened project files, newest first, kept
// in QSettings (at most kMax; files that no longer exist are pruned on read).
#pragma once
#include <QString>
#include <QStringList>

namespace dmoe::views {

class RecentProjects {
 public:
  static constexpr int kMax = 8;
  static QStringList files();           // existing files only; prunes the stored list
  static void add(const QString& file);  // moves it to the front
  static void clear();
};

}  // namespace dmoe::views
