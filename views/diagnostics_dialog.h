// Help ▸ Runtime Diagnostics: what `dmoe info` reports about the machine the
// stages compute on — LibTorch build, CPU and its bf16 units, the BLAS library
// and OpenBLAS kernel set (and who chose it), measured 1024² matrix-product
// GFLOP/s in fp32 and bf16, threads, GPUs. The dialog runs `dmoe info` through
// a StageRunner and only displays its `result` event: it measures nothing itself.
#pragma once
#include <QDialog>
#include <QJsonObject>

class QLabel;
class QTableWidget;

namespace dmoe::views {

class StageRunner;

class DiagnosticsDialog : public QDialog {
  Q_OBJECT
 public:
  // cliPath: the dmoe binary to ask (the main window's runner's program).
  explicit DiagnosticsDialog(const QString& cliPath, QWidget* parent = nullptr);

  void refresh();  // runs `dmoe info` again (done once on construction)
  QTableWidget* table() const { return table_; }
  QLabel* status() const { return status_; }

 signals:
  void refreshed(bool ok);

 private:
  void display(const QJsonObject& runtime);

  StageRunner* runner_;
  QTableWidget* table_;
  QLabel* status_;
  bool gotResult_ = false;
  QString startFailure_;  // why the last `dmoe info` did not start, if it did not
};

}  // namespace dmoe::views
