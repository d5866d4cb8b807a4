#include "stage_queue.h"

#include <QTimer>
#include <utility>

#include "stage_runner.h"

namespace dmoe::views {

StageQueue::StageQueue(StageRunner& runner, QObject* parent) : QObject(parent), runner_(runner) {
  connect(&runner_, &StageRunner::finished, this, &StageQueue::onFinished);
}

int StageQueue::enqueue(const QString& title, const QStringList& arguments, const QString& workingDirectory) {
  StageJob job{nextId_++, title, arguments, workingDirectory};
  pending_.push_back(job);
  emit changed();
  if (!current_) startNext();
  return job.id;
}

void StageQueue::remove(int id) {
  const auto removed = pending_.removeIf([id](const StageJob& j) { return j.id == id; });
  if (removed) emit changed();
}

void StageQueue::clearPending() {
  if (pending_.isEmpty()) return;
  pending_.clear();
  emit changed();
}

void StageQueue::cancel() {
  if (current_) runner_.cancel();
}

void StageQueue::startNext() {
  if (current_ || pending_.isEmpty() || runner_.isRunning()) return;
  current_ = pending_.takeFirst();
  emit changed();
  emit jobStarted(*current_);
  runner_.start(current_->arguments, current_->workingDirectory);
}

void StageQueue::onFinished(int exitCode) {
  if (!current_) return;  // a command started on the runner directly, not through the queue
  const StageJob job = *std::exchange(current_, std::nullopt);
  const bool cancelled = runner_.wasCancelled();
  emit jobFinished(job, exitCode, cancelled);
  if ((exitCode != 0 || cancelled) && !pending_.isEmpty()) {
    const int dropped = int(pending_.size());
    pending_.clear();
    emit stopped(job, dropped);
  }
  emit changed();
  // After every receiver of this finish has run: the next job sees their updates.
  QTimer::singleShot(0, this, &StageQueue::startNext);
}

}  // namespace dmoe::views
