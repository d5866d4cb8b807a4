#include "project_settings_dock.h"

#include <QHash>
#include <QHeaderView>
#include <QStringList>
#include <QTreeWidget>

namespace dmoe::views {

namespace {

constexpr int kMaxValueChars = 80;

QString valueText(const dmoe::Json& value) {
  if (value.is_string()) return QString::fromStdString(value.get<std::string>());
  if (value.is_array() && !value.empty() && value.front().is_object())
    return ProjectSettingsDock::tr("%n entries", nullptr, int(value.size()));
  QString text = QString::fromStdString(value.dump());
  if (text.size() > kMaxValueChars) text = text.left(kMaxValueChars) + QStringLiteral("…");
  return text;
}

QString tooltipFor(const dmoe::Json& leaf, bool isDefault) {
  QStringList lines{QStringLiteral("<b>%1</b>").arg(QString::fromStdString(leaf.value("pointer", "")).toHtmlEscaped())};
  if (leaf.contains("description"))
    lines << QString::fromStdString(leaf["description"].get<std::string>()).toHtmlEscaped();
  QStringList facts;
  if (leaf.contains("type")) facts << ProjectSettingsDock::tr("type: %1").arg(valueText(leaf["type"]));
  if (leaf.contains("default")) facts << ProjectSettingsDock::tr("default: %1").arg(valueText(leaf["default"]));
  if (leaf.contains("minimum")) facts << ProjectSettingsDock::tr("minimum: %1").arg(valueText(leaf["minimum"]));
  if (leaf.contains("exclusiveMinimum"))
    facts << ProjectSettingsDock::tr("greater than: %1").arg(valueText(leaf["exclusiveMinimum"]));
  if (leaf.contains("maximum")) facts << ProjectSettingsDock::tr("maximum: %1").arg(valueText(leaf["maximum"]));
  if (leaf.contains("enum")) facts << ProjectSettingsDock::tr("one of: %1").arg(valueText(leaf["enum"]));
  if (!facts.isEmpty()) lines << facts.join(QStringLiteral(" · ")).toHtmlEscaped();
  if (isDefault) lines << ProjectSettingsDock::tr("<i>Not in the file: the default applies.</i>");
  return lines.join(QStringLiteral("<br>"));
}

}  // namespace

ProjectSettingsDock::ProjectSettingsDock(QWidget* parent)
    : QDockWidget(tr("Project"), parent), tree_(new QTreeWidget(this)) {
  setObjectName("projectDock");
  tree_->setObjectName("projectSettingsTree");
  tree_->setColumnCount(2);
  tree_->setHeaderLabels({tr("Setting"), tr("Value")});
  tree_->setAlternatingRowColors(true);
  tree_->setUniformRowHeights(true);
  tree_->header()->setSectionResizeMode(0, QHeaderView::Interactive);
  tree_->header()->resizeSection(0, tree_->fontMetrics().horizontalAdvance(QStringLiteral("sample_documents_per_lang")));
  tree_->header()->setStretchLastSection(true);
  setWidget(tree_);
}

void ProjectSettingsDock::setProject(const dmoe::Project* project) {
  tree_->clear();
  if (!project) return;
  const dmoe::Json document = project->toJson();
  QHash<QString, QTreeWidgetItem*> sections;  // "/base_model/config" → its item

  for (const dmoe::Json& leaf : dmoe::describeProjectSettings()) {
    const QString pointer = QString::fromStdString(leaf.value("pointer", ""));
    const QStringList parts = pointer.split('/', Qt::SkipEmptyParts);
    if (parts.isEmpty()) continue;

    QTreeWidgetItem* parent = nullptr;
    QString path;
    for (qsizetype i = 0; i + 1 < parts.size(); ++i) {
      path += '/' + parts[i];
      QTreeWidgetItem*& section = sections[path];
      if (!section) {
        section = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(tree_);
        section->setText(0, parts[i]);
        section->setFirstColumnSpanned(true);
      }
      parent = section;
    }

    const dmoe::Json::json_pointer where(pointer.toStdString());
    const bool inFile = document.contains(where);
    auto* item = parent ? new QTreeWidgetItem(parent) : new QTreeWidgetItem(tree_);
    item->setText(0, parts.last());
    if (inFile)
      item->setText(1, valueText(document.at(where)));
    else if (leaf.contains("default"))
      item->setText(1, valueText(leaf["default"]));
    const bool isDefault = !inFile;
    if (isDefault) {
      QFont font = item->font(1);
      font.setItalic(true);
      item->setFont(1, font);
    }
    const QString tip = tooltipFor(leaf, isDefault);
    item->setToolTip(0, tip);
    item->setToolTip(1, tip);
  }
  tree_->expandToDepth(0);
}

}  // namespace dmoe::views
