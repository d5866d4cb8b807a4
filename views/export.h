// Export of what the analysis views show: a widget as PNG or SVG (vector,
// through QSvgGenerator), its data as CSV; and the "Export…" button that
// offers all three with save dialogs. Files are written atomically.
#pragma once
#include <QList>
#include <QString>
#include <QStringList>
#include <functional>

class QToolButton;
class QWidget;

namespace dmoe::views {

struct CsvTable {
  QStringList header;
  QList<QStringList> rows;
};

// RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled; "\n" line ends.
QString toCsv(const CsvTable& table);

// Throw std::exception naming the file on failure.
void writeCsv(const QString& file, const CsvTable& table);
void writePng(QWidget& widget, const QString& file);
void writeSvg(QWidget& widget, const QString& file, const QString& title);

// A "Export…" tool button with PNG / SVG / CSV entries; `baseName` seeds the file names,
// `target` is the widget drawn, `table` the data written. Failures show a message box.
QToolButton* createExportButton(QWidget* parent, const QString& baseName, std::function<QWidget*()> target,
                                std::function<CsvTable()> table);

}  // namespace dmoe::views
