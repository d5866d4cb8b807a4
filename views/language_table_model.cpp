#include "language_table_model.h"

#include <QFont>
#include <QLocale>

namespace dmoe::views {

namespace {

std::optional<qint64> countField(const dmoe::Json& stats, const char* key) {
  const auto it = stats.find(key);
  if (it == stats.end() || !it->is_number()) return std::nullopt;
  return it->get<qint64>();
}

QString formatCount(qint64 value) {
  QLocale locale;
  locale.setNumberOptions(locale.numberOptions() & ~QLocale::OmitGroupSeparator);  // "12,345" even in the C locale
  return locale.toString(value);
}

}  // namespace

LanguageTableModel::LanguageTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void LanguageTableModel::setProject(const dmoe::Project* project) {
  beginResetModel();
  rows_.clear();
  if (project) {
    auto add = [this](const dmoe::Language& language, bool isNew) {
      Row row;
      row.language = language;
      row.isNew = isNew;
      applyStatistics(row, statistics_);
      rows_.push_back(row);
    };
    for (const dmoe::Language& l : project->languages) add(l, false);
    for (const dmoe::Language& l : project->new_languages) add(l, true);
  }
  endResetModel();
}

void LanguageTableModel::setStatistics(const dmoe::Json& byLanguage) {
  statistics_ = byLanguage.is_object() ? byLanguage : dmoe::Json::object();
  for (Row& row : rows_) applyStatistics(row, statistics_);
  if (!rows_.isEmpty()) emit dataChanged(index(0, Documents), index(rowCount() - 1, ColumnCount - 1));
}

void LanguageTableModel::applyStatistics(Row& row, const dmoe::Json& byLanguage) {
  const auto it = byLanguage.find(row.language.id);
  const dmoe::Json stats = it != byLanguage.end() && it->is_object() ? *it : dmoe::Json::object();
  row.documents = countField(stats, "documents");
  row.characters = countField(stats, "characters");
  row.tokens = countField(stats, "tokens");
  row.pretrain = countField(stats, "pretrain_documents");
  row.continual = countField(stats, "continual_documents");
  row.heldout = countField(stats, "heldout_documents");
}

std::optional<qint64> LanguageTableModel::number(const Row& row, int column) const {
  switch (column) {
    case Documents: return row.documents;
    case Characters: return row.characters;
    case Tokens: return row.tokens;
    case PretrainDocuments: return row.pretrain;
    case ContinualDocuments: return row.continual;
    case HeldoutDocuments: return row.heldout;
    default: return std::nullopt;
  }
}

int LanguageTableModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : rows_.size(); }

int LanguageTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant LanguageTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rows_.size()) return {};
  const Row& row = rows_.at(index.row());
  const int column = index.column();
  const bool numeric = column >= Documents;

  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case Id: return QString::fromStdString(row.language.id);
        case Tag: return QString::fromStdString(row.language.tag);
        case Name: return QString::fromStdString(row.language.name);
        case Set: return row.isNew ? tr("new (held back)") : tr("training");
        default: {
          const auto value = number(row, column);
          return value ? formatCount(*value) : QStringLiteral("—");
        }
      }
    case SortRole:
      if (numeric) return number(row, column).value_or(-1);
      if (column == Set) return row.isNew ? 1 : 0;
      return data(index, Qt::DisplayRole).toString().toLower();
    case Qt::TextAlignmentRole:
      return int(Qt::AlignVCenter | (numeric ? Qt::AlignRight : Qt::AlignLeft));
    case Qt::FontRole:
      if (row.isNew) {
        QFont font;
        font.setItalic(true);
        return font;
      }
      return {};
    case Qt::ToolTipRole:
      if (column == Set)
        return row.isNew ? tr("A new language: held back from pretraining, grouping and expert training; "
                              "the adaptation stage adds it later.")
                         : tr("A training language: in the base model's corpus and in the language groups.");
      if (numeric && !number(row, column))
        return tr("Not computed yet: run Stages ▸ Compute statistics (tokens need a trained tokenizer).");
      return {};
    default:
      return {};
  }
}

QVariant LanguageTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::TextAlignmentRole)
    return int(Qt::AlignVCenter | (section >= Documents ? Qt::AlignRight : Qt::AlignLeft));
  if (role == Qt::ToolTipRole && section == PretrainDocuments)
    return tr("Documents that pretrain the base (and sample its tokenizer); none for new languages or a checkpoint base");
  if (role == Qt::ToolTipRole && section == ContinualDocuments)
    return tr("Documents the base never saw: deviation, DMoE training, baselines and adaptation read only these");
  if (role == Qt::ToolTipRole && section == HeldoutDocuments)
    return tr("Documents in the deterministic held-out slice used by every evaluation");
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case Id: return tr("Id");
    case Tag: return tr("Tag");
    case Name: return tr("Name");
    case Set: return tr("Set");
    case Documents: return tr("Documents");
    case Characters: return tr("Characters");
    case Tokens: return tr("Tokens");
    case PretrainDocuments: return tr("Pretrain docs");
    case ContinualDocuments: return tr("Continual docs");
    case HeldoutDocuments: return tr("Held-out docs");
    default: return {};
  }
}

}  // namespace dmoe::views
