// The group editor and the ε panel, offscreen, on a 5-language fixture
// project with hand-set similarities and layer scores: dropping a language on
// another group moves it, the minimum within-group similarities follow (by
// hand from the matrix below), undo/redo restore, empty and lopsided groups
// are flagged, Apply writes manual groups into the project JSON; moving ε or
// the mode updates the expanding layers and the parameter counts (by hand from
// dmoeParameterCounts' formula), Apply writes layer_selection; missing stage
// files show which stage to run. Screenshots: group-editor.png, epsilon-panel.png.
#include <QComboBox>
#include <QLabel>
#include <QListWidget>
#include <QMimeData>
#include <QPushButton>
#include <QSlider>
#include <QUndoStack>
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <memory>

#include "epsilon_panel.h"
#include "gui_test_support.h"
#include "group_editor.h"
#include "project/project.h"
#include "project_document.h"
#include "test_support.h"

using namespace dmoe;
using namespace dmoe::views;
namespace fs = std::filesystem;

namespace {

// The demo project's structure with five languages, two groups and top_k 1
// (so total and active parameters differ with E = 2).
const char* kProject = R"({
  "format": "dmoe-project/1",
  "name": "Five languages",
  "languages": [
    {"id": "deu", "tag": "de", "name": "German"},
    {"id": "fra", "tag": "fr", "name": "French"},
    {"id": "ita", "tag": "it", "name": "Italian"},
    {"id": "rus", "tag": "ru", "name": "Russian"},
    {"id": "ukr", "tag": "uk", "name": "Ukrainian"}
  ],
  "corpus": {"root": "corpus"},
  "tokenizer": {"kind": "train", "model_type": "unigram", "vocab_size": 4000},
  "base_model": {
    "kind": "pretrain",
    "config": {"model_type": "llama", "hidden_size": 100, "num_hidden_layers": 4, "num_attention_heads": 4,
               "num_key_value_heads": 2, "intermediate_size": 256, "max_position_embeddings": 128},
    "pretrain": {"steps": 10, "learning_rate": 2e-3, "seq_len": 64, "batch_sequences": 4, "micro_batch": 4}
  },
  "grouping": {"method": "maximin-exhaustive", "groups": 2},
  "layer_selection": {"epsilon": 0.6, "mode": "threshold"},
  "merge": {"top_k": 1},
  "runs_dir": "runs"
})";

// Similarities (order deu fra ita rus ukr). Computed groups {deu fra ita}
// (min 0.55) and {rus ukr} (0.90).
const char* kSimilarity = R"({
  "method": "exact", "languages": ["deu", "fra", "ita", "rus", "ukr"], "labels": ["de", "fr", "it", "ru", "uk"],
  "layers": [3],
  "matrix": [[1.00, 0.60, 0.55, 0.30, 0.25],
             [0.60, 1.00, 0.80, 0.20, 0.22],
             [0.55, 0.80, 1.00, 0.15, 0.18],
             [0.30, 0.20, 0.15, 1.00, 0.90],
             [0.25, 0.22, 0.18, 0.90, 1.00]],
  "per_layer": [{"layer": 3, "matrix": [[1.00, 0.60, 0.55, 0.30, 0.25],
                                        [0.60, 1.00, 0.80, 0.20, 0.22],
                                        [0.55, 0.80, 1.00, 0.15, 0.18],
                                        [0.30, 0.20, 0.15, 1.00, 0.90],
                                        [0.25, 0.22, 0.18, 0.90, 1.00]]}]
})";

const char* kGroups = R"({"method": "maximin-exhaustive", "method_used": "maximin-exhaustive", "groups": [
  {"expert": 0, "languages": ["deu", "fra", "ita"], "min_similarity": 0.55},
  {"expert": 1, "languages": ["rus", "ukr"], "min_similarity": 0.9}]})";

// L = 4 layers with s = 0, 0.5, 0.75, 1; base 5,000,000, one FFN 600,000, D = 100.
const char* kSelection = R"({"scores": [1.0, 2.0, 2.5, 3.0], "normalized": [0.0, 0.5, 0.75, 1.0],
  "epsilon": 0.6, "mode": "threshold", "layers": [2, 3], "hidden_size": 100,
  "parameters": {"base": 5000000, "ffn_per_layer": 600000}})";

struct Fixture {
  QTemporaryDir dir;
  fs::path root() const { return fs::path(dir.path().toStdString()); }
  fs::path projectFile() const { return root() / "five.dmoe.json"; }
  fs::path runs() const { return root() / "runs"; }
  Fixture() {
    test::writeText(projectFile(), kProject);
    // The project requires each language's corpus file; no stage reads them here.
    for (const char* id : {"deu", "fra", "ita", "rus", "ukr"})
      test::writeText(root() / "corpus" / (std::string(id) + ".jsonl"), "{\"text\": \"x\"}\n");
  }
  void writeRuns() const {
    test::writeText(runs() / "similarity" / "similarity.json", kSimilarity);
    test::writeText(runs() / "group" / "groups.json", kGroups);
    test::writeText(runs() / "select-layers" / "selection.json", kSelection);
  }
};

QString labelText(const QWidget& w, const QString& name) {
  auto* label = w.findChild<QLabel*>(name);
  return label ? label->text() : QStringLiteral("<no label %1>").arg(name);
}

// A drag of `id` out of `source` dropped on group `toGroup`: the payload is what
// the source list's model makes for the item (what Qt's drag carries).
void dragLanguage(GroupEditor& editor, QListWidget* source, const QString& id, int toGroup) {
  const auto items = source->findItems(QStringLiteral("(%1)").arg(id), Qt::MatchEndsWith);
  QCOMPARE(items.size(), 1);
  std::unique_ptr<QMimeData> data(source->model()->mimeData({source->indexFromItem(items.first())}));
  QVERIFY(data);
  QVERIFY(editor.dropLanguage(*data, toGroup));
}


}  // namespace

class TestGroupEditor : public QObject {
  Q_OBJECT

 private slots:
  void dragUndoApply() {
    Fixture f;
    f.writeRuns();
    ProjectDocument document;
    document.load(QString::fromStdString(f.projectFile().string()));
    GroupEditor editor(document);
    editor.resize(900, 420);
    editor.show();
    editor.reload(f.runs());
    QVERIFY(editor.isReady());
    QCOMPARE(editor.groups(), (GroupEditor::Groups{{"deu", "fra", "ita"}, {"rus", "ukr"}}));
    QCOMPARE(labelText(editor, "minSimilarity0"), QString("min similarity 0.550"));
    QCOMPARE(labelText(editor, "minSimilarity1"), QString("min similarity 0.900"));
    QCOMPARE(labelText(editor, "groupWarnings"), QString("No warnings."));
    auto* list1 = editor.findChild<QListWidget*>("groupList1");
    QVERIFY(list1);
    QCOMPARE(list1->count(), 2);
    QCOMPARE(list1->item(0)->text(), QString("Russian (ru)"));

    // German dropped on expert 2: {fr it} min 0.80; {ru uk de} min(0.90, 0.30, 0.25) = 0.25.
    dragLanguage(editor, editor.findChild<QListWidget*>("groupList0"), "de", 1);
    QMimeData text;
    text.setText("deu");
    QVERIFY(!editor.dropLanguage(text, 0));  // not a language payload
    QCOMPARE(editor.groups(), (GroupEditor::Groups{{"fra", "ita"}, {"rus", "ukr", "deu"}}));
    QCOMPARE(list1->count(), 3);
    QCOMPARE(editor.findChild<QListWidget*>("groupList0")->count(), 2);
    QCOMPARE(labelText(editor, "minSimilarity0"), QString("min similarity 0.800"));
    QCOMPARE(labelText(editor, "minSimilarity1"), QString("min similarity 0.250"));
    QVERIFY(!document.isDirty());  // nothing reaches the project before Apply

    editor.undoStack().undo();
    QCOMPARE(editor.groups(), editor.computedGroups());
    QCOMPARE(labelText(editor, "minSimilarity0"), QString("min similarity 0.550"));
    editor.undoStack().redo();
    QCOMPARE(labelText(editor, "minSimilarity1"), QString("min similarity 0.250"));

    // French too: sizes 1 and 4 — lopsided, a warning only; a lone language has no pair.
    editor.moveLanguage("fra", 1);
    QCOMPARE(labelText(editor, "minSimilarity0"), QString("min similarity — (one language)"));
    QVERIFY(labelText(editor, "groupWarnings").contains("Lopsided groups: sizes from 1 to 4"));
    QVERIFY(editor.canApply());
    editor.undoStack().undo();

    // An empty group blocks Apply; removing it (undo) clears the warning.
    editor.addGroup();
    QCOMPARE(editor.groups().size(), size_t(3));
    QCOMPARE(labelText(editor, "minSimilarity2"), QString("empty"));
    QVERIFY(labelText(editor, "groupWarnings").contains("Expert 2 is empty"));
    QVERIFY(!labelText(editor, "groupWarnings").contains("Lopsided"));  // sizes 3, 2 and the empty one
    QVERIFY(editor.findChild<QWidget*>("group2")->isVisible());
    QVERIFY(!editor.canApply());
    QVERIFY(!editor.findChild<QPushButton*>("applyGroups")->isEnabled());
    QVERIFY(!editor.apply());
    QVERIFY(test::saveScreenshot(editor, "group-editor.png"));
    editor.undoStack().undo();
    QVERIFY(!editor.findChild<QLabel*>("minSimilarity2"));
    QVERIFY(!labelText(editor, "groupWarnings").contains("empty"));

    // Removing expert 1 hands its languages to expert 2; reset brings the computed groups back.
    editor.removeGroup(0);
    QCOMPARE(editor.groups(), (GroupEditor::Groups{{"rus", "ukr", "deu", "fra", "ita"}}));
    editor.resetToComputed();
    QCOMPARE(editor.groups(), editor.computedGroups());
    editor.undoStack().undo();
    editor.undoStack().undo();
    QCOMPARE(editor.groups(), (GroupEditor::Groups{{"fra", "ita"}, {"rus", "ukr", "deu"}}));

    QVERIFY(editor.findChild<QPushButton*>("applyGroups")->isEnabled());
    editor.findChild<QPushButton*>("applyGroups")->click();
    QVERIFY(document.isDirty());
    document.save();
    const Json saved = Json::parse(test::readText(f.projectFile()));
    QCOMPARE(saved["grouping"]["method"].get<std::string>(), std::string("manual"));
    QCOMPARE(saved["grouping"]["manual"].get<GroupEditor::Groups>(),
             (GroupEditor::Groups{{"fra", "ita"}, {"rus", "ukr", "deu"}}));
    QCOMPARE(Project::load(f.projectFile()).grouping.manual.size(), size_t(2));  // still a valid project

    // Reopened, the editor starts from the project's manual groups; reset still knows the computed ones.
    editor.reload(f.runs());
    QCOMPARE(editor.groups(), (GroupEditor::Groups{{"fra", "ita"}, {"rus", "ukr", "deu"}}));
    QVERIFY(!editor.undoStack().canUndo());
  }

  void epsilonPreview() {
    Fixture f;
    f.writeRuns();
    ProjectDocument document;
    document.load(QString::fromStdString(f.projectFile().string()));
    EpsilonPanel panel(document);
    panel.resize(640, 320);
    panel.show();
    panel.reload(f.runs());
    QVERIFY(panel.isReady());
    // ε = 0.6, threshold: s ≥ 0.6 → layers 2, 3. E = 2, k = 1, D = 100:
    // total  = 5,000,000 + 2·((2−1)·600,000 + 100·2) = 6,200,400
    // active = 5,000,000 + 2·((1−1)·600,000 + 100·2) = 5,000,400
    QCOMPARE(panel.epsilon(), 0.6);
    QCOMPARE(panel.findChild<QSlider*>("epsilonSlider")->value(), 60);
    QCOMPARE(panel.previewLayers(), (std::vector<std::int64_t>{2, 3}));
    QCOMPARE(panel.previewCounts().total, std::int64_t(6200400));
    QCOMPARE(panel.previewCounts().active, std::int64_t(5000400));
    QCOMPARE(labelText(panel, "expandedLayers"), QString("layers 2, 3"));
    QCOMPARE(labelText(panel, "moeSummary"), QString("2 of 4 layers become MoE layers · 2 experts, top-1 routing"));
    QCOMPARE(labelText(panel, "parameterCounts"), QString("total 6.2 M · active 5.0 M per token (dense base 5.0 M)"));
    QVERIFY(!panel.findChild<QPushButton*>("applyEpsilon")->isEnabled());  // nothing changed yet

    // The slider drives the spin box and the preview: ε = 0.3 → layers 1, 2, 3,
    // total = 5,000,000 + 3·600,200 = 6,800,600.
    panel.findChild<QSlider*>("epsilonSlider")->setValue(30);
    QCOMPARE(panel.epsilon(), 0.3);
    QCOMPARE(labelText(panel, "expandedLayers"), QString("layers 1, 2, 3"));
    QCOMPARE(panel.previewCounts().total, std::int64_t(6800600));
    QVERIFY(labelText(panel, "parameterCounts").startsWith("total 6.8 M"));
    panel.setEpsilon(1.0);
    QCOMPARE(labelText(panel, "expandedLayers"), QString("layers 3"));
    panel.setEpsilon(0.0);
    QCOMPARE(panel.previewLayers().size(), size_t(4));

    // top-fraction: ⌈0.5·4⌉ = 2 highest → 2, 3; ⌈0.24·4⌉ = 1 → 3; ε = 0 → none.
    panel.setMode("top-fraction");
    QCOMPARE(panel.findChild<QComboBox*>("epsilonMode")->currentIndex(), 1);
    panel.setEpsilon(0.5);
    QCOMPARE(panel.previewLayers(), (std::vector<std::int64_t>{2, 3}));
    panel.setEpsilon(0.24);
    QCOMPARE(panel.previewLayers(), (std::vector<std::int64_t>{3}));
    QCOMPARE(panel.findChild<QSlider*>("epsilonSlider")->value(), 24);
    panel.setEpsilon(0.0);
    QCOMPARE(labelText(panel, "expandedLayers"), QString("no layer: select-layers refuses this ε"));
    QCOMPARE(panel.previewCounts().total, std::int64_t(5000000));
    panel.setEpsilon(0.5);
    QVERIFY(test::saveScreenshot(panel, "epsilon-panel.png"));

    // The expert count follows the project: three manual groups → E = 3.
    document.modify([](Project& p) {
      p.grouping.method = "manual";
      p.grouping.manual = {{"deu"}, {"fra", "ita"}, {"rus", "ukr"}};
    });
    QCOMPARE(panel.previewExperts(), std::int64_t(3));
    QCOMPARE(panel.previewCounts().total, std::int64_t(5000000 + 2 * (2 * 600000 + 300)));

    QVERIFY(panel.findChild<QPushButton*>("applyEpsilon")->isEnabled());
    QVERIFY(panel.apply());
    document.save();
    const Json saved = Json::parse(test::readText(f.projectFile()));
    QCOMPARE(saved["layer_selection"]["epsilon"].get<double>(), 0.5);
    QCOMPARE(saved["layer_selection"]["mode"].get<std::string>(), std::string("top-fraction"));
    QVERIFY(!panel.findChild<QPushButton*>("applyEpsilon")->isEnabled());
  }

  void missingStageFilesSayWhatToRun() {
    Fixture f;  // no runs folder
    ProjectDocument document;
    GroupEditor editor(document);
    EpsilonPanel panel(document);
    editor.reload(f.runs());
    QVERIFY(labelText(editor, "groupEditorMessage").contains("Open a project"));
    document.load(QString::fromStdString(f.projectFile().string()));
    editor.reload(f.runs());
    panel.reload(f.runs());
    QVERIFY(!editor.isReady());
    QVERIFY(!panel.isReady());
    QVERIFY(labelText(editor, "groupEditorMessage").contains("`dmoe group`"));
    QVERIFY(labelText(editor, "groupEditorMessage").contains("similarity.json is missing"));
    QVERIFY(labelText(panel, "epsilonPanelMessage").contains("`dmoe select-layers`"));
    QVERIFY(!editor.apply());
    editor.addGroup();  // ignored: nothing to edit
    QVERIFY(!editor.undoStack().canUndo());
  }
};

QTEST_MAIN(TestGroupEditor)
#include "test_group_editor.moc"
