#include "export.h"

#include <QBuffer>
#include <QDir>
#include <QFileDialog>
#include <QImage>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QSvgGenerator>
#include <QToolButton>
#include <QWidget>
#include <stdexcept>

#include "util/atomic_file.h"

namespace dmoe::views {

namespace {

QString csvField(const QString& field) {
  if (!field.contains(',') && !field.contains('"') && !field.contains('\n') && !field.contains('\r')) return field;
  return '"' + QString(field).replace('"', "\"\"") + '"';
}

QString csvLine(const QStringList& fields) {
  QStringList quoted;
  for (const QString& f : fields) quoted << csvField(f);
  return quoted.join(',') + '\n';
}

void writeBytes(const QString& file, const QByteArray& bytes) {
  dmoe::writeFileAtomic(file.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

}  // namespace

QString toCsv(const CsvTable& table) {
  QString csv = csvLine(table.header);
  for (const QStringList& row : table.rows) csv += csvLine(row);
  return csv;
}

void writeCsv(const QString& file, const CsvTable& table) { writeBytes(file, toCsv(table).toUtf8()); }

void writePng(QWidget& widget, const QString& file) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  if (!widget.grab().toImage().save(&buffer, "PNG")) throw std::runtime_error(file.toStdString() + ": PNG encoding failed");
  writeBytes(file, bytes);
}

void writeSvg(QWidget& widget, const QString& file, const QString& title) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  QSvgGenerator generator;
  generator.setOutputDevice(&buffer);
  generator.setSize(widget.size());
  generator.setViewBox(QRect(QPoint(0, 0), widget.size()));
  generator.setTitle(title);
  generator.setDescription(QStringLiteral("DMoE Workbench"));
  {
    QPainter painter(&generator);
    // The widget paints itself with QPainter, so the SVG holds vector shapes and text.
    widget.render(&painter, QPoint(), QRegion(), QWidget::DrawChildren);
  }
  writeBytes(file, bytes);
}

QToolButton* createExportButton(QWidget* parent, const QString& baseName, std::function<QWidget*()> target,
                                std::function<CsvTable()> table) {
  auto* button = new QToolButton(parent);
  button->setObjectName("exportButton");
  button->setText(QObject::tr("Export…"));
  button->setToolTip(QObject::tr("Save the picture as PNG or SVG, or the numbers as CSV"));
  button->setPopupMode(QToolButton::InstantPopup);
  auto* menu = new QMenu(button);
  // One entry per format: the dialog, then the writer; errors are shown, never thrown into Qt.
  auto add = [=](const QString& text, const QString& suffix, const QString& filter,
                 std::function<void(const QString&)> write) {
    QAction* action = menu->addAction(text);
    QObject::connect(action, &QAction::triggered, button, [=] {
      const QString file = QFileDialog::getSaveFileName(button, text, QDir::home().filePath(baseName + suffix), filter);
      if (file.isEmpty()) return;
      try {
        write(file);
      } catch (const std::exception& e) {
        QMessageBox::warning(button, QObject::tr("Export failed"), QString::fromUtf8(e.what()));
      }
    });
  };
  add(QObject::tr("Image (PNG)…"), ".png", QObject::tr("PNG images (*.png)"),
      [=](const QString& f) { writePng(*target(), f); });
  add(QObject::tr("Vector image (SVG)…"), ".svg", QObject::tr("SVG images (*.svg)"),
      [=](const QString& f) { writeSvg(*target(), f, baseName); });
  add(QObject::tr("Data (CSV)…"), ".csv", QObject::tr("CSV files (*.csv)"),
      [=](const QString& f) { writeCsv(f, table()); });
  button->setMenu(menu);
  return button;
}

}  // namespace dmoe::views
