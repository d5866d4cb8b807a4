// StageRunner: runs one headless `dmoe` command as a child process and turns
// its `--events jsonl` stdout into Qt signals, one parsed event per line.
//
// This is how the GUI computes anything: the work happens in the `dmoe`
// process, never on the GUI thread, so the GUI and batch mode always compute
// the same thing. One runner runs one command at a time; the run queue and the
// live charts of later views are built on top of it. It does not interpret
// events (see event_text.h for the readable form).
#pragma once
#include <QByteArray>
#include <QJsonObject>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTimer>

namespace dmoe::views {

class StageRunner : public QObject {
  Q_OBJECT
 public:
  explicit StageRunner(QObject* parent = nullptr);
  // A command still running is terminated (then killed after a grace period).
  ~StageRunner() override;

  // The `dmoe` binary: $DMOE_CLI, else <app dir>/../dmoe (the build puts
  // dmoe-workbench in app/gui/ and dmoe in app/), else <app dir>/dmoe
  // (installed side by side). Empty when none exists.
  static QString locateCli();

  void setProgram(const QString& cliPath) { program_ = cliPath; }  // default: locateCli()
  const QString& program() const { return program_; }

  // Processes per stage on this machine (default 1). With more, a command
  // that runs in a job (pipeline/stage_catalog.h: `run` and the stage
  // commands) starts through torchrun (Debian python3-torch) as that many
  // processes; rank 0's events are the stream, as with one process. Other
  // commands start as one process.
  void setProcesses(int processes) { processes_ = processes < 1 ? 1 : processes; }
  int processes() const { return processes_; }
  // torchrun on $PATH; empty when not installed.
  static QString locateLauncher();
  // torchrun's arguments for `dmoe --events jsonl <arguments…>` as `processes` local processes.
  static QStringList launcherArguments(const QString& cliPath, int processes, const QStringList& arguments);

  // Starts `dmoe --events jsonl <arguments...>`. Returns false (and emits
  // nothing) when a command is already running; a missing binary is reported
  // through failedToStart + finished(-1) like any other start failure.
  bool start(const QStringList& arguments, const QString& workingDirectory = {});
  bool isRunning() const { return process_ != nullptr; }
  const QStringList& arguments() const { return arguments_; }  // of the current or last command

  // Asks the command to stop (SIGTERM, so a stage can save a resumable state)
  // and kills it if it is still running after `graceMs` (a job: at least 60 s,
  // torchrun's own grace for its processes). finished() follows.
  void cancel(int graceMs = 5000);
  bool wasCancelled() const { return cancelled_; }  // of the current or last command

 signals:
  void started();
  void event(const QJsonObject& event);           // one per JSON object line on stdout
  void outputLine(const QString& line);           // stdout lines that are not JSON objects
  void errorLine(const QString& line);            // stderr, line by line
  void failedToStart(const QString& reason);
  // Always the last signal of a command: its exit code, or -1 if it crashed,
  // was killed, or never started.
  void finished(int exitCode);

 private:
  void readStdout();
  void readStderr();
  void onFinished(int exitCode, QProcess::ExitStatus status);
  void onError(QProcess::ProcessError error);
  void emitStdoutLine(const QByteArray& line);
  void endRun(int exitCode);

  QString program_;
  int processes_ = 1;
  QString launcher_;  // torchrun, when the current command runs as a job; else empty
  bool job_ = false;
  QStringList arguments_;
  QProcess* process_ = nullptr;
  QByteArray stdoutBuffer_, stderrBuffer_;
  QTimer killTimer_;
  bool cancelled_ = false;
};

}  // namespace dmoe::views
