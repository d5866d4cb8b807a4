#include "message_pages.h"

#include <QLabel>
#include <QVBoxLayout>

namespace dmoe::views {

MessagePages::MessagePages(QWidget* content, const QString& messageName, QWidget* parent)
    : QStackedWidget(parent), label_(new QLabel(this)), content_(content) {
  label_->setObjectName(messageName);
  label_->setAlignment(Qt::AlignCenter);
  label_->setWordWrap(true);
  addWidget(label_);
  addWidget(content_);
}

MessagePages* MessagePages::fill(QWidget* owner, QWidget* content, const QString& messageName) {
  auto* pages = new MessagePages(content, messageName, owner);
  auto* layout = new QVBoxLayout(owner);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(pages);
  return pages;
}

void MessagePages::setMessage(const QString& text) { label_->setText(text); }
QString MessagePages::message() const { return label_->text(); }
void MessagePages::showMessage() { setCurrentWidget(label_); }
void MessagePages::showContent() { setCurrentWidget(content_); }

}  // namespace dmoe::views
