// StageQueue: the commands the user launched, run one after another on the
// window's StageRunner (one `dmoe` process at a time, since stages of one
// project read each other's outputs). A command that fails or is cancelled
// stops the queue: later commands were launched expecting it to succeed.
// It only sequences; what a command means is the caller's (MainWindow, the
// Runs view, the adaptation wizard all enqueue here).
#pragma once
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <optional>

namespace dmoe::views {

class StageRunner;

struct StageJob {
  int id = 0;              // unique per queue; callers match finished jobs by it
  QString title;           // "Train", "Run all stages"
  QStringList arguments;   // after `dmoe --events jsonl`
  QString workingDirectory;
};

class StageQueue : public QObject {
  Q_OBJECT
 public:
  explicit StageQueue(StageRunner& runner, QObject* parent = nullptr);

  // Appends a job (starting it at once when nothing runs); returns its id.
  int enqueue(const QString& title, const QStringList& arguments, const QString& workingDirectory = {});
  // Pending jobs only; the running one is stopped with cancel().
  void remove(int id);
  void clearPending();
  // Cancels the running job (SIGTERM, so the stage saves a resumable state); the queue stops.
  void cancel();

  const QList<StageJob>& pending() const { return pending_; }
  const std::optional<StageJob>& current() const { return current_; }
  bool isBusy() const { return current_.has_value(); }
  StageRunner& runner() const { return runner_; }

 signals:
  void jobStarted(const StageJob& job);
  // exitCode as StageRunner::finished; cancelled when cancel() stopped it.
  void jobFinished(const StageJob& job, int exitCode, bool cancelled);
  // The pending jobs were dropped because `job` failed or was cancelled.
  void stopped(const StageJob& job, int dropped);
  void changed();  // pending list or current job changed

 private:
  void startNext();
  void onFinished(int exitCode);

  StageRunner& runner_;
  QList<StageJob> pending_;
  std::optional<StageJob> current_;
  int nextId_ = 1;
};

}  // namespace dmoe::views
