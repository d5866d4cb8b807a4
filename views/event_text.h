// The readable form of one event of the `--events jsonl` stream (see
// core/events/event_sink.h), for log panes: a few lines of text, each with a
// severity so warnings and errors can be highlighted. Progress events have no
// text: they drive progress bars instead. Also the parser of the stream's lines.
#pragma once
#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <optional>

namespace dmoe::views {

enum class Severity { Info, Warning, Error };

struct EventLine {
  QString text;
  Severity severity = Severity::Info;
};

QList<EventLine> describeEvent(const QJsonObject& event);

// One line of the stream (or of a metrics.jsonl) as the GUI reads it: the
// JSON object it holds, or nullopt for anything else (text, another JSON
// value, broken bytes). The one parser of those lines; never throws.
std::optional<QJsonObject> parseEventLine(const QByteArray& line);

}  // namespace dmoe::views
