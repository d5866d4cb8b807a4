#include "stage_runner.h"

#include <QCoreApplication>
#include <algorithm>
#include <QFileInfo>
#include <QStandardPaths>
#include <utility>

#include "event_text.h"
#include "pipeline/stage_catalog.h"

namespace dmoe::views {

namespace {

// Splits complete lines off the front of `buffer`; a trailing partial line stays.
QList<QByteArray> takeLines(QByteArray& buffer) {
  QList<QByteArray> lines;
  qsizetype start = 0;
  for (qsizetype end = buffer.indexOf('\n'); end >= 0; end = buffer.indexOf('\n', start)) {
    QByteArray line = buffer.mid(start, end - start);
    if (line.endsWith('\r')) line.chop(1);
    lines.push_back(line);
    start = end + 1;
  }
  buffer.remove(0, start);
  return lines;
}

}  // namespace

StageRunner::StageRunner(QObject* parent) : QObject(parent), program_(locateCli()) {
  killTimer_.setSingleShot(true);
  killTimer_.setTimerType(Qt::PreciseTimer);  // the grace period is a promise, not a hint
  connect(&killTimer_, &QTimer::timeout, this, [this] {
    if (process_) process_->kill();
  });
}

StageRunner::~StageRunner() {
  if (!process_) return;
  process_->disconnect(this);
  process_->terminate();
  if (!process_->waitForFinished(3000)) {
    process_->kill();
    process_->waitForFinished(1000);
  }
}

QString StageRunner::locateCli() {
  const QString fromEnv = qEnvironmentVariable("DMOE_CLI");
  if (!fromEnv.isEmpty()) return fromEnv;
  const QString appDir = QCoreApplication::applicationDirPath();
  for (const QString& candidate : {appDir + "/../dmoe", appDir + "/dmoe"}) {
    const QFileInfo info(candidate);
    if (info.isFile() && info.isExecutable()) return info.canonicalFilePath();
  }
  return {};
}

QString StageRunner::locateLauncher() { return QStandardPaths::findExecutable("torchrun"); }

QStringList StageRunner::launcherArguments(const QString& cliPath, int processes, const QStringList& arguments) {
  // --redirects/--tee 2: Debian 12's torchrun (1.13 on Python 3.11) fails on
  // their default 0; 2 tees stderr and leaves stdout, the event stream, alone.
  return QStringList{"--standalone", "--nproc_per_node", QString::number(processes), "--redirects", "2", "--tee", "2",
                     "--no_python", cliPath, "--events", "jsonl"} +
         arguments;
}

bool StageRunner::start(const QStringList& arguments, const QString& workingDirectory) {
  if (process_) return false;
  arguments_ = arguments;
  cancelled_ = false;
  stdoutBuffer_.clear();
  stderrBuffer_.clear();

  process_ = new QProcess(this);
  if (!workingDirectory.isEmpty()) process_->setWorkingDirectory(workingDirectory);
  connect(process_, &QProcess::started, this, &StageRunner::started);
  connect(process_, &QProcess::readyReadStandardOutput, this, &StageRunner::readStdout);
  connect(process_, &QProcess::readyReadStandardError, this, &StageRunner::readStderr);
  connect(process_, &QProcess::finished, this, &StageRunner::onFinished);
  connect(process_, &QProcess::errorOccurred, this, &StageRunner::onError);

  job_ = processes_ > 1 && !arguments.isEmpty() && commandRunsInJob(arguments.first().toStdString());
  launcher_ = job_ ? locateLauncher() : QString();
  if (program_.isEmpty() || (job_ && launcher_.isEmpty())) {
    // Reported asynchronously, like a QProcess start failure, so callers see one code path.
    QMetaObject::invokeMethod(
        this, [this] { onError(QProcess::FailedToStart); }, Qt::QueuedConnection);
    return true;
  }
  if (job_)
    process_->start(launcher_, launcherArguments(program_, processes_, arguments));
  else
    process_->start(program_, QStringList{"--events", "jsonl"} + arguments);
  return true;
}

void StageRunner::cancel(int graceMs) {
  if (!process_ || process_->state() == QProcess::NotRunning) return;
  cancelled_ = true;
  process_->terminate();
  killTimer_.start(job_ ? std::max(graceMs, 60000) : graceMs);
}

void StageRunner::readStdout() {
  if (!process_) return;
  stdoutBuffer_ += process_->readAllStandardOutput();
  for (const QByteArray& line : takeLines(stdoutBuffer_)) emitStdoutLine(line);
}

void StageRunner::readStderr() {
  if (!process_) return;
  stderrBuffer_ += process_->readAllStandardError();
  for (const QByteArray& line : takeLines(stderrBuffer_))
    if (!line.trimmed().isEmpty()) emit errorLine(QString::fromUtf8(line));
}

void StageRunner::emitStdoutLine(const QByteArray& line) {
  if (line.trimmed().isEmpty()) return;
  if (const std::optional<QJsonObject> object = parseEventLine(line))
    emit event(*object);
  else
    emit outputLine(QString::fromUtf8(line));
}

void StageRunner::onFinished(int exitCode, QProcess::ExitStatus status) {
  readStdout();
  readStderr();
  // The last line may lack its newline.
  if (!stdoutBuffer_.isEmpty()) emitStdoutLine(std::exchange(stdoutBuffer_, {}));
  if (!stderrBuffer_.trimmed().isEmpty()) emit errorLine(QString::fromUtf8(std::exchange(stderrBuffer_, {})));
  endRun(status == QProcess::NormalExit ? exitCode : -1);
}

void StageRunner::onError(QProcess::ProcessError error) {
  // Every other error is followed by QProcess::finished.
  if (error != QProcess::FailedToStart || !process_) return;
  QString reason;
  if (program_.isEmpty())
    reason = tr("The dmoe command-line tool was not found (set DMOE_CLI to its path).");
  else if (job_ && launcher_.isEmpty())
    reason = tr("torchrun was not found: install Debian's python3-torch to run stages as %1 processes, or set "
                "Stages ▸ Processes per Stage to 1.")
                 .arg(processes_);
  else
    reason = tr("Could not start %1: %2").arg(job_ ? launcher_ : program_, process_->errorString());
  emit failedToStart(reason);
  endRun(-1);
}

void StageRunner::endRun(int exitCode) {
  killTimer_.stop();
  process_->disconnect(this);
  process_->deleteLater();
  process_ = nullptr;
  emit finished(exitCode);
}

}  // namespace dmoe::views
