#include "recent_projects.h"

#include <QFileInfo>
#include <QSettings>

namespace dmoe::views {

namespace {

const char* const kKey = "recentProjects";

void store(const QStringList& files) { QSettings().setValue(kKey, files); }

}  // namespace

QStringList RecentProjects::files() {
  const QStringList stored = QSettings().value(kKey).toStringList();
  QStringList existing;
  for (const QString& file : stored)
    if (QFileInfo::exists(file) && !existing.contains(file)) existing << file;
  while (existing.size() > kMax) existing.removeLast();
  if (existing != stored) store(existing);
  return existing;
}

void RecentProjects::add(const QString& file) {
  const QString absolute = QFileInfo(file).absoluteFilePath();
  QStringList list = files();
  list.removeAll(absolute);
  list.prepend(absolute);
  while (list.size() > kMax) list.removeLast();
  store(list);
}

void RecentProjects::clear() { store({}); }

}  // namespace dmoe::views
