#include "project_document.h"

#include <QFileInfo>
#include <filesystem>

namespace dmoe::views {

ProjectDocument::ProjectDocument(QObject* parent) : QObject(parent) {}

QString ProjectDocument::filePath() const {
  return project_ ? QString::fromStdString(project_->file.string()) : QString();
}

QString ProjectDocument::displayName() const {
  if (!project_) return {};
  if (!project_->name.empty()) return QString::fromStdString(project_->name);
  return QFileInfo(filePath()).fileName();
}

void ProjectDocument::load(const QString& file) {
  dmoe::Project loaded = dmoe::Project::load(std::filesystem::absolute(file.toStdString()));
  project_ = std::move(loaded);
  setDirty(false);
  emit changed();
}

void ProjectDocument::close() {
  project_.reset();
  setDirty(false);
  emit changed();
}

void ProjectDocument::modify(const std::function<void(dmoe::Project&)>& edit) {
  if (!project_) return;
  edit(*project_);
  setDirty(true);
  emit changed();
}

void ProjectDocument::save() {
  if (!project_) return;
  project_->save();
  setDirty(false);
}

void ProjectDocument::saveAs(const QString& file) {
  if (!project_) return;
  const std::filesystem::path target = std::filesystem::absolute(file.toStdString());
  *project_ = project_->relocated(target);  // relative paths keep naming the same folders
  project_->save();
  setDirty(false);
  emit changed();
}

void ProjectDocument::setDirty(bool dirty) {
  if (dirty_ == dirty) return;
  dirty_ = dirty;
  emit dirtyChanged(dirty);
}

}  // namespace dmoe::views
