// RunMetrics: the training curves of a project — every run folder's
// metrics.jsonl under the runs folder (pretrain, deviation/<lang>,
// train/stage1, baselines/…/train, adapt/train, …) plus the live `metrics`
// events of the command running now — as points (step, value) per run and
// quantity, and where each run's steps fall in training tokens. The data
// model of the Runs view and the adaptation wizard: it parses and stores,
// views only draw. It does not write to the runs folder.
//
// A metrics line is {"step", "loss", "lr", …numbers…, "eval_ppl": {lang: ppl}}
// (core/train/trainer.h); a live event carries the same values and the run
// folder in "run" (docs/events.md). A point whose step is not after the run's
// last one means the run restarted or resumed from a checkpoint: the points
// from that step on are dropped first, exactly as the trainer truncates
// metrics.jsonl, so the curve always matches the file.
//
// Training tokens: the trainer writes settings.json before its first step;
// its training.batch_sequences × training.seq_len are the tokens of one
// optimizer step. A run ".../stage2" beside a ".../stage1" folder (the DMoE's,
// a variant baseline's, a LayerMoE expansion's) starts where stage 1 ended,
// at stage 1's steps × its tokens per step, so the two stages chain; every
// other run starts at 0. A run whose settings.json (or, for a stage 2, its
// stage 1's) is missing or unreadable keeps steps only: tokensNote says why,
// nothing is guessed. Settings are read with the metrics (load()) and, for a
// live run, at its events until they are known.
#pragma once
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QPointF>
#include <QString>
#include <QStringList>
#include <QVector>
#include <filesystem>
#include <optional>

namespace dmoe::views {

struct RunCurves {
  QString id;                               // run folder relative to the runs folder, "/" separated
  QMap<QString, QVector<QPointF>> scalars;  // "loss", "lr", "router_loss", "eval_ppl_mean", … → (step, value)
  QMap<QString, QVector<QPointF>> evalPpl;  // language id → (step, held-out PPL)
  // Training tokens after `step`: tokenOffset + step × tokensPerStep. tokensPerStep is 0 while the
  // tokens are unknown (no readable settings.json); tokensNote then says why.
  double tokensPerStep = 0;
  double tokenOffset = 0;
  QString tokensNote;
  bool knowsTokens() const { return tokensPerStep > 0; }
  double tokensAt(double step) const { return tokenOffset + step * tokensPerStep; }
  // These curves with x = training tokens; needs knowsTokens().
  RunCurves inTokens() const;
  double lastStep() const;                  // 0 when empty
  void add(double step, const QJsonObject& values);  // one metrics line
};

class RunMetrics : public QObject {
  Q_OBJECT
 public:
  explicit RunMetrics(QObject* parent = nullptr);

  // Rereads every metrics.jsonl under `runsDir` (empty: forget everything) and each run's settings.json.
  // Lines that are not metrics objects are skipped and counted (problems()),
  // except an unterminated last line: a run still appending to the file.
  void load(const std::filesystem::path& runsDir);
  // A `metrics` event of the running command; other events are ignored.
  void addEvent(const QJsonObject& event);

  // In pipeline order (pretrain, deviation/…, merge/…, train/…, baselines/…, adapt/…), then by name.
  QStringList runIds() const;
  const RunCurves* run(const QString& id) const;
  // The known run that stage 2 `id` continues (".../stage1" for ".../stage2"); empty for any other run.
  QString earlierStage(const QString& id) const;
  // Run `id` with x = training tokens; with `withEarlierStage`, preceded by the points of its
  // earlierStage() when that one's tokens are known. nullopt when `id`'s tokens are unknown.
  std::optional<RunCurves> tokenCurves(const QString& id, bool withEarlierStage) const;
  // "file:line: what is wrong" for the lines load() skipped.
  const QStringList& problems() const { return problems_; }
  // The run folder of an event's "run" path, as a run id.
  QString runIdOf(const QString& runPath) const;

 signals:
  void reset();                       // load() replaced everything
  void runAdded(const QString& id);   // a live event started a run not seen before
  void runUpdated(const QString& id); // points were added to a run

 private:
  QString folderOf(const QString& id) const;
  void readTokens(RunCurves& run) const;

  std::filesystem::path runsDir_;
  QMap<QString, RunCurves> runs_;
  QStringList problems_;
};

}  // namespace dmoe::views
