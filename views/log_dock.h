// LogDock: the "Log" dock — a read-only monospace pane that shows what the
// GUI and the stages it runs report: the event stream in readable form,
// stderr of the `dmoe` process, and the window's own messages, with warnings
// and errors highlighted in tints that read on light and dark palettes.
#pragma once
#include <QDockWidget>
#include <QJsonObject>

#include "event_text.h"

class QPlainTextEdit;

namespace dmoe::views {

class LogDock : public QDockWidget {
  Q_OBJECT
 public:
  explicit LogDock(QWidget* parent = nullptr);

  void appendLine(const QString& text, Severity severity = Severity::Info);
  void appendEvent(const QJsonObject& event);
  void clear();
  QString text() const;  // everything shown, for tests and copying

 private:
  QPlainTextEdit* edit_;
};

}  // namespace dmoe::views
