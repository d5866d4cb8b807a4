#include "problem_list_dialog.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QStringList>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace dmoe::views {

ProblemListDialog::ProblemListDialog(const QString& title, const QString& summary,
                                     const std::vector<dmoe::Problem>& problems, QWidget* parent)
    : QDialog(parent), list_(new QTreeWidget(this)) {
  setObjectName("problemListDialog");
  setWindowTitle(title);
  setAttribute(Qt::WA_DeleteOnClose);

  auto* label = new QLabel(summary, this);
  label->setWordWrap(true);
  label->setTextInteractionFlags(Qt::TextSelectableByMouse);

  list_->setObjectName("problemList");
  list_->setRootIsDecorated(false);
  list_->setAlternatingRowColors(true);
  list_->setHeaderLabels({tr("Where"), tr("Problem")});
  list_->header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  list_->setWordWrap(true);
  QStringList plain;
  for (const dmoe::Problem& p : problems) {
    auto* item = new QTreeWidgetItem(list_, {QString::fromStdString(p.where), QString::fromStdString(p.message)});
    item->setToolTip(1, item->text(1));
    plain << item->text(0) + ": " + item->text(1);
  }

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  QPushButton* copy = buttons->addButton(tr("Copy"), QDialogButtonBox::ActionRole);
  connect(copy, &QPushButton::clicked, this, [plain] { QApplication::clipboard()->setText(plain.join('\n')); });
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(label);
  layout->addWidget(list_, 1);
  layout->addWidget(buttons);
  resize(720, 360);
}

}  // namespace dmoe::views
