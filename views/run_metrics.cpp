#include "run_metrics.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <algorithm>
#include <cmath>

#include "event_text.h"
#include "pipeline/stage_catalog.h"
#include "results/run_layout.h"

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

// ".../stage1" for a run id ".../stage2" (RunLayout::trainingStageIn); empty for any other id.
QString stageOneOf(const QString& id) {
  const std::filesystem::path run(id.toStdString());
  if (run != RunLayout::trainingStageIn(run.parent_path(), 2)) return {};
  return QString::fromStdString(RunLayout::trainingStageIn(run.parent_path(), 1).generic_string());
}

// A run's length and tokens per optimizer step, from the settings.json the trainer writes before its first step.
struct TrainingBudget {
  double steps = 0, tokensPerStep = 0;
  QString problem;  // non-empty: unknown, and why
};

TrainingBudget readBudget(const QString& folder) {
  const QString file = QDir::toNativeSeparators(QDir(folder).filePath("settings.json"));
  QFile in(file);
  if (!in.exists()) return {0, 0, RunMetrics::tr("%1 is missing").arg(file)};
  if (!in.open(QIODevice::ReadOnly)) return {0, 0, RunMetrics::tr("%1: cannot be read: %2").arg(file, in.errorString())};
  QJsonParseError error;
  const QJsonDocument document = QJsonDocument::fromJson(in.readAll(), &error);
  if (!document.isObject())
    return {0, 0, RunMetrics::tr("%1: expected a JSON object (%2)").arg(file, error.errorString())};
  const QJsonObject training = document.object().value("training").toObject();
  double value[3] = {};
  const char* keys[3] = {"steps", "batch_sequences", "seq_len"};
  for (int i = 0; i < 3; ++i) {
    value[i] = training.value(keys[i]).toDouble(0);
    if (!(value[i] >= 1) || value[i] != std::floor(value[i]))
      return {0, 0, RunMetrics::tr("%1: /training/%2: expected a positive integer").arg(file, keys[i])};
  }
  return {value[0], value[1] * value[2], {}};
}

void prependPoints(QMap<QString, QVector<QPointF>>& into, const QMap<QString, QVector<QPointF>>& earlier) {
  for (auto it = earlier.begin(); it != earlier.end(); ++it) into[it.key()] = it.value() + into.value(it.key());
}

}  // namespace

RunCurves RunCurves::inTokens() const {
  RunCurves out = *this;
  for (auto* curves : {&out.scalars, &out.evalPpl})
    for (QVector<QPointF>& points : *curves)
      for (QPointF& p : points) p.setX(tokensAt(p.x()));
  return out;
}

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
      readTokens(curves);
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
  if (!curves.knowsTokens()) readTokens(curves);  // written before the first step: known from the first event on
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

QString RunMetrics::earlierStage(const QString& id) const {
  const QString before = stageOneOf(id);
  return runs_.contains(before) ? before : QString();
}

std::optional<RunCurves> RunMetrics::tokenCurves(const QString& id, bool withEarlierStage) const {
  const RunCurves* curves = run(id);
  if (!curves || !curves->knowsTokens()) return std::nullopt;
  RunCurves out = curves->inTokens();
  const RunCurves* before = withEarlierStage ? run(earlierStage(id)) : nullptr;
  if (before && before->knowsTokens()) {
    const RunCurves first = before->inTokens();
    prependPoints(out.scalars, first.scalars);
    prependPoints(out.evalPpl, first.evalPpl);
  }
  return out;
}

// A run id is a path under the runs folder, or an absolute path for a live run outside it.
QString RunMetrics::folderOf(const QString& id) const {
  return QDir(QString::fromStdString(runsDir_.string())).filePath(id);
}

void RunMetrics::readTokens(RunCurves& run) const {
  run.tokensPerStep = run.tokenOffset = 0;
  const TrainingBudget own = readBudget(folderOf(run.id));
  run.tokensNote = own.problem;
  if (!own.problem.isEmpty()) return;
  const QString stageOne = stageOneOf(run.id);
  if (!stageOne.isEmpty() && QFileInfo(folderOf(stageOne)).isDir()) {
    const TrainingBudget before = readBudget(folderOf(stageOne));
    if (!before.problem.isEmpty()) {
      run.tokensNote = tr("it continues %1, whose tokens are unknown: %2").arg(stageOne, before.problem);
      return;
    }
    run.tokenOffset = before.steps * before.tokensPerStep;
  }
  run.tokensPerStep = own.tokensPerStep;
}

}  // namespace dmoe::views
