#include "diagnostics_dialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "stage_runner.h"

namespace dmoe::views {

DiagnosticsDialog::DiagnosticsDialog(const QString& cliPath, QWidget* parent)
    : QDialog(parent), runner_(new StageRunner(this)), table_(new QTableWidget(0, 2, this)), status_(new QLabel(this)) {
  setWindowTitle(tr("Runtime Diagnostics"));
  runner_->setProgram(cliPath);
  table_->setHorizontalHeaderLabels({tr("What"), tr("Value")});
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->verticalHeader()->hide();
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  QPushButton* again = buttons->addButton(tr("Measure again"), QDialogButtonBox::ActionRole);
  connect(again, &QPushButton::clicked, this, &DiagnosticsDialog::refresh);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(status_);
  layout->addWidget(table_);
  layout->addWidget(buttons);
  resize(720, 380);

  connect(runner_, &StageRunner::event, this, [this](const QJsonObject& e) {
    if (e.value("event").toString() == "result" && e.value("name").toString() == "runtime") {
      gotResult_ = true;
      display(e.value("data").toObject());
    }
  });
  connect(runner_, &StageRunner::failedToStart, this, [this](const QString& why) { startFailure_ = why; });
  connect(runner_, &StageRunner::finished, this, [this](int code) {
    const bool ok = code == 0 && gotResult_;
    if (ok) status_->setText(tr("As the stages see it (<tt>dmoe info</tt>):"));
    else if (!startFailure_.isEmpty()) status_->setText(startFailure_);
    else status_->setText(tr("dmoe info failed (exit code %1)").arg(code));
    emit refreshed(ok);
  });
  refresh();
}

void DiagnosticsDialog::refresh() {
  if (runner_->isRunning()) return;
  gotResult_ = false;
  startFailure_.clear();
  status_->setText(tr("Measuring…"));
  runner_->start({"info"});
}

void DiagnosticsDialog::display(const QJsonObject& r) {
  const QLocale locale;
  const QJsonObject mm = r.value("matmul_1024_gflops").toObject();
  auto gflops = [&](const char* key) {
    return mm.contains(key) ? tr("%1 GFLOP/s").arg(locale.toString(mm.value(key).toDouble(), 'f', 1)) : tr("–");
  };
  const QList<QPair<QString, QString>> rows = {
      {tr("LibTorch"), r.value("torch_version").toString() + (r.value("cuda_built").toBool() ? " (CUDA)" : " (CPU)")},
      {tr("GPUs"), QString::number(r.value("cuda_devices").toInt())},
      {tr("CPU"), r.value("cpu").toString()},
      {tr("bf16 matrix units"), r.value("cpu_bf16_units").toBool() ? tr("yes (AVX512-BF16 or AMX)") : tr("no")},
      {tr("Threads"), QString::number(r.value("threads").toInt())},
      {tr("BLAS library"), r.value("blas").toString()},
      {tr("BLAS core"), r.value("blas_core").toString().isEmpty() ? tr("–") : r.value("blas_core").toString()},
      {tr("BLAS core chosen by"), r.value("blas_core_origin").toString()},
      {tr("Memory allocator"), r.value("allocator").toString()},
      {tr("1024² product, fp32"), gflops("fp32")},
      {tr("1024² product, bf16"), gflops("bf16")},
  };
  table_->setRowCount(static_cast<int>(rows.size()));
  for (int i = 0; i < rows.size(); ++i) {
    table_->setItem(i, 0, new QTableWidgetItem(rows[i].first));
    table_->setItem(i, 1, new QTableWidgetItem(rows[i].second));
  }
  table_->resizeColumnToContents(0);
}

}  // namespace dmoe::views
