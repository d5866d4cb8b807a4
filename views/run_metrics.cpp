#include "run_metrics.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <algorithm>

#include "event_text.h"
#include "pipeline/stage_catalog.h"

namespace dmoe::views {

namespace {

// Drops the points at or after `step` (a restarted or resumed run rewrites them).
void truncateFrom(QVector<QPointF>& points, double step) {
  while (!points.isEmpty() && points.back().x() >= step) points.pop_back();
}

// Position of a run's top folder in the pipeline; unknown folders sort last.
int pipelineRank(const QString& id) {
  const QString top = id.section('/', 0, 0);
  const auto& stages = stageCatalog();
  for (size_t i = 0; i < stages.size(); ++i)
    if (top == QString::fromStdString(stages[i].name)) return int(i);
  return int(stages.size());
}

}  // namespace

double RunCurves::lastStep() const {
  double last = 0;
  for (const QVector<QPointF>& points : scalars)
    if (!points.isEmpty()) last = std::max(last, points.back().x());
  return last;
}

void RunCurves::add(double step, const QJsonObject& values) {
  if (step <= lastStep()) {
    for (QVector<QPointF>& points : scalars) truncateFrom(points, step);
    for (QVector<QPointF>& points : evalPpl) truncateFrom(points, step);
  }
  for (auto it = values.begin(); it != values.end(); ++it) {
    if (it.key() == "step") continue;
    if (it.value().isDouble()) {
      scalars[it.key()].push_back({step, it.value().toDouble()});
    } else if (it.key() == "eval_ppl" && it.value().isObject()) {
      const QJsonObject ppl = it.value().toObject();
      for (auto l = ppl.begin(); l != ppl.end(); ++l)
        if (l.value().isDouble()) evalPpl[l.key()].push_back({step, l.value().toDouble()});
    }
  }
}

RunMetrics::RunMetrics(QObject* parent) : QObject(parent) {}

void RunMetrics::load(const std::filesystem::path& runsDir) {
  runsDir_ = runsDir;
  runs_.clear();
  problems_.clear();
  const QString root = QString::fromStdString(runsDir.string());
  if (!runsDir.empty() && QFileInfo(root).isDir()) {
    QDirIterator it(root, {"metrics.jsonl"}, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
      const QString file = it.next();
      QFile in(file);
      if (!in.open(QIODevice::ReadOnly)) {
        problems_ << tr("%1: cannot be read: %2").arg(QDir::toNativeSeparators(file), in.errorString());
        continue;
      }
      const QString id = QDir(root).relativeFilePath(QFileInfo(file).path());
      RunCurves curves;
      curves.id = id;
      const QByteArray bytes = in.readAll();
      const QList<QByteArray> lines = bytes.split('\n');
      for (int i = 0; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        if (line.isEmpty()) continue;
        const bool unterminated = i == lines.size() - 1;  // the trainer may be appending it right now
        const std::optional<QJsonObject> object = parseEventLine(line);
        if (!object || !object->value("step").isDouble()) {
          if (!unterminated)
            problems_ << tr("%1:%2: expected a JSON object with a numeric \"step\"")
                             .arg(QDir::toNativeSeparators(file))
                             .arg(i + 1);
          continue;
        }
        curves.add(object->value("step").toDouble(), *object);
      }
      runs_.insert(id, curves);
    }
  }
  emit reset();
}

QString RunMetrics::runIdOf(const QString& runPath) const {
  if (runsDir_.empty()) return QDir::cleanPath(runPath);
  const QString relative = QDir(QString::fromStdString(runsDir_.string())).relativeFilePath(runPath);
  return relative.startsWith("..") ? QDir::cleanPath(runPath) : relative;
}

void RunMetrics::addEvent(const QJsonObject& event) {
  if (event.value("event").toString() != "metrics") return;
  const QString runPath = event.value("run").toString();
  const QJsonObject values = event.value("values").toObject();
  if (runPath.isEmpty() || !event.value("step").isDouble()) return;
  const QString id = runIdOf(runPath);
  const bool added = !runs_.contains(id);
  RunCurves& curves = runs_[id];
  curves.id = id;
  curves.add(event.value("step").toDouble(), values);
  if (added) emit runAdded(id);
  emit runUpdated(id);
}

QStringList RunMetrics::runIds() const {
  QStringList ids = runs_.keys();
  std::stable_sort(ids.begin(), ids.end(), [](const QString& a, const QString& b) {
    const int ra = pipelineRank(a), rb = pipelineRank(b);
    return ra != rb ? ra < rb : a < b;
  });
  return ids;
}

const RunCurves* RunMetrics::run(const QString& id) const {
  auto it = runs_.constFind(id);
  return it == runs_.constEnd() ? nullptr : &*it;
}

}  // namespace dmoe::views
