// MessagePages: a view's two pages — its content, or a centred message saying
// why there is none yet ("Open a project…", "Run `dmoe deviation`…", a file
// error). Shared by the analysis views so none of them shows a blank area.
#pragma once
#include <QStackedWidget>

class QLabel;

namespace dmoe::views {

class MessagePages : public QStackedWidget {
  Q_OBJECT
 public:
  // `messageName` is the message label's objectName (tests find it by that).
  MessagePages(QWidget* content, const QString& messageName, QWidget* parent = nullptr);
  // New pages filling `owner` edge to edge (its only child, in a margin-less layout).
  static MessagePages* fill(QWidget* owner, QWidget* content, const QString& messageName);

  void setMessage(const QString& text);  // the text, shown when showMessage() is current
  QString message() const;
  void showMessage();
  void showContent();

 private:
  QLabel* label_;
  QWidget* content_;
};

}  // namespace dmoe::views
