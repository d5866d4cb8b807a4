// RunMetrics: the training curves of a project — every run folder's
// metrics.jsonl under the runs folder (pretrain, deviation/<lang>,
// train/stage1, baselines/…/train, adapt/train, …) plus the live `metrics`
// events of the command running now — as points (step, value) per run and
// quantity. The data model of the Runs view and the adaptation wizard: it
// parses and stores, views only draw.
//
// A metrics line is {"step", "loss", "lr", …numbers…, "eval_ppl": {lang: ppl}}
// (core/train/trainer.h); a live event carries the same values and the run
// folder in "run" (docs/events.md). A point whose step is not after the run's
// last one means the run restarted or resumed from a checkpoint: the points
// from that step on are dropped first, exactly as the trainer truncates
// metrics.jsonl, so the curve always matches the file.
#pragma once
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QPointF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <filesystem>

namespace dmoe::views {

struct RunCurves {
  QString id;                               // run folder relative to the runs folder, "/" separated
  QMap<QString, QVector<QPointF>> scalars;  // "loss", "lr", "router_loss", "eval_ppl_mean", … → (step, value)
  QMap<QString, QVector<QPointF>> evalPpl;  // language id → (step, held-out PPL)
  double lastStep() const;                  // 0 when empty
  void add(double step, const QJsonObject& values);  // one metrics line
};

class RunMetrics : public QObject {
  Q_OBJECT
 public:
  explicit RunMetrics(QObject* parent = nullptr);

  // Rereads every metrics.jsonl under `runsDir` (empty: forget everything).
  // Lines that are not metrics objects are skipped and counted (problems()),
  // except an unterminated last line: a run still appending to the file.
  void load(const std::filesystem::path& runsDir);
  // A `metrics` event of the running command; other events are ignored.
  void addEvent(const QJsonObject& event);

  // In pipeline order (pretrain, deviation/…, merge/…, train/…, baselines/…, adapt/…), then by name.
  QStringList runIds() const;
  const RunCurves* run(const QString& id) const;
  // "file:line: what is wrong" for the lines load() skipped.
  const QStringList& problems() const { return problems_; }
  // The run folder of an event's "run" path, as a run id.
  QString runIdOf(const QString& runPath) const;

 signals:
  void reset();                       // load() replaced everything
  void runAdded(const QString& id);   // a live event started a run not seen before
  void runUpdated(const QString& id); // points were added to a run

 private:
  std::filesystem::path runsDir_;
  QMap<QString, RunCurves> runs_;
  QStringList problems_;
};

}  // namespace dmoe::views
