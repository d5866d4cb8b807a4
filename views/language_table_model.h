// LanguageTableModel: the project's languages (training languages, then the
// new languages held back for adaptation) with their corpus statistics, as a
// table model for any view. It holds data only; statistics come from the
// corpus-statistics artifact and are read by the caller (see setStatistics).
#pragma once
#include <QAbstractTableModel>
#include <QVector>
#include <optional>

#include "project/project.h"
#include "util/json.h"

namespace dmoe::views {

class LanguageTableModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column {
    Id, Tag, Name, Set, Documents, Characters, Tokens,
    PretrainDocuments, ContinualDocuments, HeldoutDocuments,  // the data protocol's slices (SPEC 1.0)
    ColumnCount
  };
  // Raw values for sorting: numbers as qlonglong (-1 when unknown), text as QString.
  static constexpr int SortRole = Qt::UserRole;

  explicit LanguageTableModel(QObject* parent = nullptr);

  // nullptr clears the table. Statistics already set are kept for languages that remain.
  void setProject(const dmoe::Project* project);
  // Statistics keyed by language id: {"<id>": {"documents": n, "characters": n, "pretrain_documents": n, "continual_documents": n,
  // "heldout_documents": n, "tokens": n}, ...}; any field may be absent ("—").
  // Values for ids the project does not list are ignored.
  void setStatistics(const dmoe::Json& byLanguage);
  void clearStatistics() { setStatistics(dmoe::Json::object()); }

  bool isNewLanguage(int row) const { return rows_.at(row).isNew; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    dmoe::Language language;
    bool isNew = false;
    std::optional<qint64> documents, characters, tokens, pretrain, continual, heldout;
  };
  static void applyStatistics(Row& row, const dmoe::Json& byLanguage);
  std::optional<qint64> number(const Row& row, int column) const;

  QVector<Row> rows_;
  dmoe::Json statistics_ = dmoe::Json::object();
};

}  // namespace dmoe::views
