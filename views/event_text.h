// The readable form of one event of the `--events jsonl` stream (see
// core/events/event_sink.h), for log panes: a few lines of text, each with a
// severity so warnings and errors can be highlighted. Progress events have no
// text: they drive progress bars instead.
#pragma once
#include <QJsonObject>
#include <QList>
#include <QString>

namespace dmoe::views {

enum class Severity { Info, Warning, Error };

struct EventLine {
  QString text;
  Severity severity = Severity::Info;
};

QList<EventLine> describeEvent(const QJsonObject& event);

}  // namespace dmoe::views
