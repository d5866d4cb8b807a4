#include "event_text.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonValue>
#include <QStringList>

namespace dmoe::views {

namespace {

constexpr int kMaxDataChars = 240;

QString compactJson(const QJsonValue& value) {
  QString text;
  if (value.isObject())
    text = QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
  else if (value.isArray())
    text = QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
  else
    text = value.toVariant().toString();
  if (text.size() > kMaxDataChars) text = text.left(kMaxDataChars) + QStringLiteral("…");
  return text;
}

QString metricsText(const QJsonObject& values) {
  QStringList parts;
  for (auto it = values.begin(); it != values.end(); ++it) {
    const QJsonValue v = it.value();
    if (v.isObject() || v.isArray()) continue;  // per-language tables: the Runs charts show them
    parts << it.key() + '=' + (v.isDouble() ? QString::number(v.toDouble(), 'g', 5) : compactJson(v));
  }
  return parts.join(QStringLiteral("  "));
}

}  // namespace

QList<EventLine> describeEvent(const QJsonObject& event) {
  const QString kind = event.value("event").toString();
  const QString prefix = QStringLiteral("[%1s] %2: ")
                             .arg(event.value("t").toDouble(), 7, 'f', 2)
                             .arg(event.value("stage").toString());
  if (kind == "progress") return {};
  if (kind == "stage") {
    const QString status = event.value("status").toString();
    QString text = prefix + status;
    if (event.contains("info")) text += ' ' + compactJson(event.value("info"));
    return {{text, status == "failed"      ? Severity::Error
                   : status == "cancelled" ? Severity::Warning
                                           : Severity::Info}};
  }
  if (kind == "log") return {{prefix + event.value("message").toString()}};
  if (kind == "warning") {
    QString text = prefix + QStringLiteral("warning: ") + event.value("message").toString();
    if (event.contains("where")) text += QStringLiteral(" (%1)").arg(event.value("where").toString());
    return {{text, Severity::Warning}};
  }
  if (kind == "error") {
    QList<EventLine> lines{{prefix + QStringLiteral("error: ") + event.value("message").toString(), Severity::Error}};
    for (const QJsonValue& p : event.value("problems").toArray()) {
      const QJsonObject problem = p.toObject();
      lines.push_back({QStringLiteral("    %1: %2").arg(problem.value("where").toString(),
                                                      problem.value("message").toString()),
                       Severity::Error});
    }
    return lines;
  }
  if (kind == "artifact")
    return {{prefix + QStringLiteral("wrote %1 (%2)").arg(event.value("path").toString(),
                                                          event.value("kind").toString())}};
  if (kind == "result")
    return {{prefix + event.value("name").toString() + QStringLiteral(" = ") + compactJson(event.value("data"))}};
  if (kind == "metrics")
    return {{prefix + QStringLiteral("step %1  ").arg(event.value("step").toInteger()) +
             metricsText(event.value("values").toObject())}};
  // An event kind this GUI does not know yet: show it whole rather than drop it.
  return {{prefix + compactJson(event)}};
}

std::optional<QJsonObject> parseEventLine(const QByteArray& line) {
  QJsonParseError error;
  const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
  if (error.error != QJsonParseError::NoError || !doc.isObject()) return std::nullopt;
  return doc.object();
}

}  // namespace dmoe::views
