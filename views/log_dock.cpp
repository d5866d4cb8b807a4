#include "log_dock.h"

#include <QAction>
#include <QFontDatabase>
#include <QPlainTextEdit>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCharFormat>
#include <QTextCursor>

namespace dmoe::views {

namespace {

constexpr int kMaxLines = 20000;

// Translucent tints over the palette's base colour, with the palette's own text
// colour on top: legible whether the base is white or near-black.
QTextCharFormat formatFor(Severity severity) {
  QTextCharFormat format;
  if (severity == Severity::Warning) format.setBackground(QColor(255, 170, 0, 70));
  if (severity == Severity::Error) {
    format.setBackground(QColor(255, 50, 50, 80));
    format.setFontWeight(QFont::Bold);
  }
  return format;
}

}  // namespace

LogDock::LogDock(QWidget* parent) : QDockWidget(tr("Log"), parent), edit_(new QPlainTextEdit(this)) {
  setObjectName("logDock");
  edit_->setObjectName("logText");
  edit_->setReadOnly(true);
  edit_->setLineWrapMode(QPlainTextEdit::NoWrap);
  edit_->setMaximumBlockCount(kMaxLines);
  edit_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  edit_->setContextMenuPolicy(Qt::ActionsContextMenu);
  auto* copy = new QAction(tr("Copy"), edit_);
  copy->setShortcut(QKeySequence::Copy);
  connect(copy, &QAction::triggered, edit_, &QPlainTextEdit::copy);
  auto* clearAction = new QAction(tr("Clear"), edit_);
  connect(clearAction, &QAction::triggered, this, &LogDock::clear);
  edit_->addActions({copy, clearAction});
  setWidget(edit_);
}

void LogDock::appendLine(const QString& text, Severity severity) {
  QScrollBar* bar = edit_->verticalScrollBar();
  const bool atBottom = bar->value() == bar->maximum();
  QTextCursor cursor(edit_->document());
  cursor.movePosition(QTextCursor::End);
  if (!edit_->document()->isEmpty()) cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
  cursor.insertText(text, formatFor(severity));
  // Follow new output unless the user scrolled up to read.
  if (atBottom) bar->setValue(bar->maximum());
}

void LogDock::appendEvent(const QJsonObject& event) {
  for (const EventLine& line : describeEvent(event)) appendLine(line.text, line.severity);
}

void LogDock::clear() { edit_->clear(); }

QString LogDock::text() const { return edit_->toPlainText(); }

}  // namespace dmoe::views
